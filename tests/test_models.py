"""Encoders, heads and kNN: shapes, parameter counts from the paper's layer sizes, EdgeConv forms, training."""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest
import torch

from crosspoint.models import blas
from crosspoint.models.dgcnn import (
    SEG_HEAD_PREFIXES,
    EdgeConv,
    PartSegModel,
    _neighbour_sum,
    _neighbour_sum_blocked,
    set_edgeconv_form,
    use_direct_edgeconv,
)
from crosspoint.models.heads import image_head, point_head
from crosspoint.models.knn import knn, knn_brute_force
from crosspoint.models.registry import IMAGE_MODELS, POINT_MODELS, build_image_encoder, build_point_encoder
from crosspoint.training.augment import (
    ImageAugment,
    PointAugment,
    augment_points,
    make_generator,
    normalize_images,
)
from crosspoint.training.losses import crosspoint_loss

torch.set_num_threads(2)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def lin_bn(cin: int, cout: int) -> int:
    """A 1x1 layer without bias followed by batch norm (weight + bias)."""
    return cin * cout + 2 * cout


# ---------------------------------------------------------------- shapes and parameter counts


def test_dgcnn_shape_and_param_count():
    torch.manual_seed(0)
    m = build_point_encoder("dgcnn", k=10)
    # EdgeConv on [x_j - x_i, x_i]: 2*C_in -> 64, 2*64 -> 64, 2*64 -> 128, 2*128 -> 256; 512 -> 1024.
    expected = lin_bn(6, 64) + lin_bn(128, 64) + lin_bn(128, 128) + lin_bn(256, 256) + lin_bn(512, 1024)
    assert n_params(m) == expected == 617_856
    out = m(torch.randn(3, 64, 3))
    assert out.shape == (3, 2048) and m.out_dim == 2048
    assert build_point_encoder("dgcnn", emb_dims=256).out_dim == 512


def test_dgcnn_seg_shape_and_param_count():
    torch.manual_seed(0)
    m = build_point_encoder("dgcnn_seg", k=10)
    transform = (
        lin_bn(6, 64)
        + lin_bn(64, 128)  # EdgeConv 64, 128
        + lin_bn(128, 1024)
        + lin_bn(1024, 512)
        + lin_bn(512, 256)
        + 256 * 9
        + 9  # final 256 -> 3x3 with bias
    )
    edges = lin_bn(6, 64) + lin_bn(64, 64) + lin_bn(128, 64) + lin_bn(64, 64) + lin_bn(128, 64)
    expected = transform + edges + lin_bn(192, 1024)
    assert n_params(m) == expected
    m.eval()
    out = m(torch.randn(2, 64, 3))
    assert out.shape == (2, 1024) and m.out_dim == 1024
    # The transform net starts as the identity.
    t = m.transform(torch.randn(2, 64, 3), knn(torch.randn(2, 64, 3), 10))
    torch.testing.assert_close(t, torch.eye(3).expand(2, 3, 3))


def test_pointnet_shape_and_param_count():
    m = build_point_encoder("pointnet")
    widths = (3, 64, 64, 64, 128, 1024)
    assert n_params(m) == sum(lin_bn(a, b) for a, b in pairwise(widths))
    assert m(torch.randn(2, 50, 3)).shape == (2, 1024) and m.out_dim == 1024


def resnet_expected(bottleneck: bool, depths: tuple[int, ...]) -> int:
    """Parameter count of a ResNet trunk without fc, from the layer sizes."""

    def conv_bn(k: int, cin: int, cout: int) -> int:
        return k * k * cin * cout + 2 * cout

    total = conv_bn(7, 3, 64)
    cin = 64
    exp = 4 if bottleneck else 1
    for width, depth in zip((64, 128, 256, 512), depths, strict=True):
        for j in range(depth):
            out = width * exp
            if bottleneck:
                total += conv_bn(1, cin, width) + conv_bn(3, width, width) + conv_bn(1, width, out)
            else:
                total += conv_bn(3, cin, width) + conv_bn(3, width, width)
            if j == 0 and (cin != out or width != 64):
                total += conv_bn(1, cin, out)
            cin = out
    return total


def test_resnet_param_counts_and_small_images():
    r18, r50 = build_image_encoder("resnet18"), build_image_encoder("resnet50")
    assert n_params(r18) == resnet_expected(False, (2, 2, 2, 2)) == 11_176_512
    assert n_params(r50) == resnet_expected(True, (3, 4, 6, 3)) == 23_508_032
    assert (r18.out_dim, r50.out_dim) == (512, 2048)
    with torch.no_grad():
        for size in (32, 64):
            assert r18(torch.randn(2, 3, size, size)).shape == (2, 512)
        assert r50.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 2048)


def test_heads_match_paper_sizes():
    ph, ih = point_head(2048), image_head(2048)
    assert n_params(ph) == (2048 * 1024 + 1024) + 2 * 1024 + (1024 * 256 + 256)
    assert n_params(ih) == 2048 * 512 + 2 * 512 + 512 * 256  # no biases in the Linear layers
    assert ph(torch.randn(4, 2048)).shape == (4, 256)
    assert ih(torch.randn(4, 2048)).shape == (4, 256)
    assert point_head(1024)(torch.randn(3, 1024)).shape == (3, 256)
    assert image_head(512)(torch.randn(3, 512)).shape == (3, 256)


def test_unknown_names_rejected():
    assert POINT_MODELS == ("dgcnn", "dgcnn_seg", "pointnet")
    assert IMAGE_MODELS == ("resnet18", "resnet50")
    with pytest.raises(ValueError, match="unknown point model"):
        build_point_encoder("pointnet++")
    with pytest.raises(ValueError, match="unknown image model"):
        build_image_encoder("vit")


def test_part_seg_model_loads_encoder_strictly():
    torch.manual_seed(0)
    model = PartSegModel(16, 50, k=8)
    pretrained = build_point_encoder("dgcnn_seg", k=8)
    model.encoder.load_state_dict(pretrained.state_dict())  # strict by default
    keys = set(model.state_dict())
    enc_keys = {"encoder." + k for k in pretrained.state_dict()}
    head_keys = keys - enc_keys
    assert enc_keys <= keys and head_keys
    assert all(k.startswith(SEG_HEAD_PREFIXES) for k in head_keys)
    assert not any(k.startswith(SEG_HEAD_PREFIXES) for k in enc_keys)
    head_params = lin_bn(16, 64) + lin_bn(1280, 256) + lin_bn(256, 256) + lin_bn(256, 128) + 128 * 50
    assert n_params(model) == n_params(pretrained) + head_params
    onehot = torch.nn.functional.one_hot(torch.tensor([3, 7]), 16).float()
    logits = model(torch.randn(2, 64, 3), onehot)
    assert logits.shape == (2, 64, 50)
    model.eval()
    with torch.no_grad():
        x = torch.randn(2, 64, 3)
        torch.testing.assert_close(model(x, onehot), model(x, onehot))  # dropout off in eval


# ---------------------------------------------------------------- kNN


def test_knn_matches_brute_force_and_chunking():
    torch.manual_seed(0)
    x = torch.randn(3, 200, 5)
    idx = knn(x, 12)
    ref = knn_brute_force(x, 12)
    assert idx.shape == (3, 200, 12) and idx.dtype == torch.long
    d = torch.cdist(x, x)
    # Same neighbour distances (robust to equal-distance ties); with random data, same indices.
    torch.testing.assert_close(d.gather(2, idx), d.gather(2, ref), rtol=0, atol=1e-5)
    assert (idx == ref).float().mean() > 0.999
    assert (idx[..., 0] == torch.arange(200)).all()  # each point is its own nearest neighbour
    for max_elems in (1, 777, 200 * 200, 2 * 200 * 200 + 1):  # rows-only, mixed and batch-block chunking
        assert torch.equal(knn(x, 12, max_elems=max_elems), idx)
    with pytest.raises(ValueError, match="between 1 and"):
        knn(x, 201)


def test_knn_ignores_autocast():
    torch.manual_seed(1)
    x = torch.randn(2, 100, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        idx = knn(x, 10)
    assert torch.equal(idx, knn(x, 10))


# ---------------------------------------------------------------- EdgeConv forms


def test_neighbour_sums_match_loops():
    gen = torch.Generator().manual_seed(0)
    flat = torch.randint(0, 30, (30, 4), generator=gen)
    x = torch.randn(30, 6, generator=gen, dtype=torch.double)
    fwd = torch.stack([x[flat[i]].sum(0) for i in range(30)])
    bwd = torch.stack(
        [
            sum((x[i] * (flat[i] == p).sum() for i in range(30)), torch.zeros(6, dtype=x.dtype))
            for p in range(30)
        ]
    )
    for fn in (_neighbour_sum, _neighbour_sum_blocked):
        torch.testing.assert_close(fn(flat, x, transpose=False), fwd)
        torch.testing.assert_close(fn(flat, x, transpose=True), bwd)


def test_openblas_linear_matches_torch_linear():
    """The DGCNN's per-point layers (OpenBLAS products on the CPU) equal ``F.linear`` to float32
    rounding, in value and in every gradient; float64 (and CUDA, bf16) goes to ``F.linear`` itself."""
    torch.manual_seed(2)
    x = torch.randn(4, 50, 24, requires_grad=True)
    w = torch.randn(40, 24, requires_grad=True)
    b = torch.randn(40, requires_grad=True)
    assert blas.portable(x, w)
    y, ref = blas.linear(x, w, b), torch.nn.functional.linear(x, w, b)
    assert y.shape == ref.shape == (4, 50, 40)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    for got, want in zip(torch.autograd.grad(y, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert blas.linear(x, w).grad_fn.name().startswith("_OpenBLASLinear")
    x64, w64 = x.detach().double(), w.detach().double()
    assert not blas.portable(x64, w64)
    assert torch.equal(blas.linear(x64, w64), torch.nn.functional.linear(x64, w64))


def test_openblas_linear_of_a_sample_does_not_depend_on_its_batch():
    """Each sample (dimension 0) is one OpenBLAS call of its own: its output bits are the same alone,
    in any batch and at any position (one call over all rows would move about half of them)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 250, 64, generator=gen)
    w = torch.randn(64, 64, generator=gen)
    whole = blas.linear(x, w)
    assert torch.equal(blas.linear(x[2:3], w)[0], whole[2])
    assert torch.equal(blas.linear(x[1:6], w), whole[1:6])
    perm = torch.tensor([6, 0, 5, 1, 4, 2, 3])
    assert torch.equal(blas.linear(x[perm], w), whole[perm])


@pytest.mark.parametrize("name", ["dgcnn", "dgcnn_seg"])
@pytest.mark.parametrize("form", ["auto", "pointwise"])
def test_fast_edgeconv_forms_equal_direct(name, form):
    torch.manual_seed(0)
    fast = set_edgeconv_form(build_point_encoder(name, k=10), form)
    direct = use_direct_edgeconv(copy.deepcopy(fast))
    assert {m.form for m in direct.modules() if isinstance(m, EdgeConv)} == {"direct"}
    x = torch.randn(4, 96, 3)
    for train in (True, False):
        fast.train(train)
        direct.train(train)
        torch.testing.assert_close(fast(x), direct(x), rtol=1e-4, atol=1e-4)
    # gradients agree too (train mode)
    fast.train()
    direct.train()
    fast(x).square().mean().backward()
    direct(x).square().mean().backward()
    for (n1, p1), (_, p2) in zip(fast.named_parameters(), direct.named_parameters(), strict=True):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-3, atol=1e-5, msg=n1)
    # running statistics updated identically
    for (n1, b1), (_, b2) in zip(fast.named_buffers(), direct.named_buffers(), strict=True):
        torch.testing.assert_close(b1.float(), b2.float(), rtol=1e-4, atol=1e-5, msg=n1)


@pytest.mark.parametrize("train", [True, False])
def test_fused_edgeconv_exact_in_float64(train):
    """The fused BN/max EdgeConv equals the direct form to float64 rounding, incl. negative BN scales
    (max taken at the smallest neighbour) and the gradients w.r.t. inputs, weights and BN affine."""
    torch.manual_seed(1)
    fused = EdgeConv(5, (7,)).double()
    bn = fused.layers[0].bn
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -0.5, 2.0, -1.5, 0.3, 1e-3, -0.1], dtype=torch.double))
        bn.bias.copy_(torch.randn(7, dtype=torch.double))
        bn.running_mean.copy_(torch.randn(7, dtype=torch.double))
        bn.running_var.copy_(torch.rand(7, dtype=torch.double) + 0.5)
    direct = copy.deepcopy(fused)
    direct.form = "direct"
    fused.train(train)
    direct.train(train)
    x = torch.randn(3, 40, 5, dtype=torch.double, requires_grad=True)
    idx = knn(x, 8)
    fused.max_elems = 8 * 7 * 5  # several blocks
    y_f, y_d = fused(x, idx), direct(x, idx)
    torch.testing.assert_close(y_f, y_d, rtol=1e-10, atol=1e-10)
    g_f = torch.autograd.grad((y_f * torch.sin(y_f)).sum(), [x, *fused.parameters()])
    g_d = torch.autograd.grad((y_d * torch.sin(y_d)).sum(), [x, *direct.parameters()])
    for a, b in zip(g_f, g_d, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    for a, b in zip(fused.buffers(), direct.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- training and mixed precision


def _tiny_batch(n_obj: int = 8, n_pts: int = 128, px: int = 32):
    gen = make_generator(0)
    cloud = torch.randn(n_obj, n_pts, 3, generator=gen) * torch.tensor([1.0, 0.5, 0.2])
    cloud = cloud + torch.randn(n_obj, 1, 3, generator=gen)
    v1 = augment_points(cloud, PointAugment(), gen)
    v2 = augment_points(cloud, PointAugment(), gen)
    images = torch.randint(0, 256, (n_obj, px, px, 3), generator=gen, dtype=torch.uint8)
    return v1, v2, normalize_images(images, ImageAugment())


def test_few_steps_lower_the_loss():
    torch.manual_seed(0)
    enc, img = build_point_encoder("dgcnn", k=10, emb_dims=128), build_image_encoder("resnet18")
    ph, ih = point_head(enc.out_dim), image_head(img.out_dim)
    params = [p for m in (enc, img, ph, ih) for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    v1, v2, images = _tiny_batch(n_pts=64)
    losses = []
    for _ in range(10):
        z1, z2 = ph(enc(v1)), ph(enc(v2))
        total, imid, cmid = crosspoint_loss(z1, z2, ih(img(images)))
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses


def test_no_nan_under_bf16_autocast():
    torch.manual_seed(0)
    enc, ph, ih = build_point_encoder("dgcnn", k=10, emb_dims=256), point_head(512), image_head(512)
    v1, v2, _ = _tiny_batch(n_obj=4, n_pts=64)
    img_feat = torch.randn(4, 512, requires_grad=True)  # stands in for the image encoder's output
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z1, z2 = ph(enc(v1)), ph(enc(v2))
        assert z1.dtype == torch.bfloat16  # autocast is really active
        total, imid, cmid = crosspoint_loss(z1, z2, ih(img_feat))
    assert total.dtype == torch.float32 and torch.isfinite(total)
    total.backward()
    assert torch.isfinite(img_feat.grad).all()
    for m in (enc, ph, ih):
        for name, p in m.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_sort_based_counts_equal_bincount():
    """The CUDA path's counts (sort + binary search, no host sync) equal ``bincount``'s, zeros included."""
    from crosspoint.models.dgcnn import _counts_by_sort

    gen = torch.Generator().manual_seed(0)
    for n, size in ((1, 5), (7, 0), (50, 400), (1000, 20 * 1000)):
        index = torch.randint(0, n, (size,), generator=gen)
        assert torch.equal(_counts_by_sort(index, n), torch.bincount(index, minlength=n))
