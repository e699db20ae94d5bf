"""DGCNN encoders (classification and part-segmentation layouts) and the part-segmentation model.

EdgeConv (Wang et al., 2019) computes for each point ``i`` and each of its ``k`` nearest
neighbours ``j`` the edge feature ``[x_j - x_i ; x_i]``, applies a shared 1x1 layer ``W`` with batch
norm and LeakyReLU(0.2), and takes the max over the ``k`` neighbours. The neighbour graph is
rebuilt in feature space before every block (the "dynamic" graph).

Per-point form. Split ``W = [W1 | W2]`` along its input; then
``W [x_j - x_i ; x_i] = W1 x_j + (W2 - W1) x_i``, so the first layer is applied to the ``N`` points
(two ``[N, C] x [C, C']`` matmuls) and only its output is gathered over the ``k`` neighbours,
instead of building the ``[N, k, 2C]`` edge tensor and multiplying it: ``k`` times fewer
multiply-adds. Batch norm still uses the statistics of all ``B*N*k`` edge values, so the result is
identical to the direct form (kept, for checking, behind :func:`use_direct_edgeconv` /
:func:`set_edgeconv_form`). For one-layer blocks (all of the classification DGCNN) the default
``auto`` form also fuses batch norm, LeakyReLU and the max over k (:class:`_EdgeMaxNorm`), so no
``[B, N, k, C']`` tensor is kept for the backward pass; measured 1.5x (N=1024) to 2.5x (N=512)
faster than the direct form for a training step on CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from crosspoint import exact
from crosspoint.models.blas import linear
from crosspoint.models.knn import DEFAULT_MAX_ELEMS, gather_neighbours, knn
from crosspoint.models.pointnet import LinearBNAct


def _counts(index: Tensor, n: int) -> Tensor:
    """How often each of ``0 .. n-1`` occurs in the int64 ``index`` (int64 ``[n]``). On the CPU
    ``bincount``; elsewhere from a sort and a binary search, which need no device-to-host copy (CUDA's
    ``bincount`` reads the index's extremes back to size its output: a sync in every forward)."""
    if index.device.type == "cpu":
        return torch.bincount(index, minlength=n)
    return _counts_by_sort(index, n)


def _counts_by_sort(index: Tensor, n: int) -> Tensor:
    edges = torch.searchsorted(torch.sort(index).values, torch.arange(n + 1, device=index.device))
    return edges.diff()


def _neighbour_sum(flat: Tensor, x: Tensor, *, transpose: bool) -> Tensor:
    """Sparse adjacency products for a neighbour table ``flat [R, k]`` (indices into the R rows of ``x``).

    ``transpose=False``: ``out[i] = sum_j x[flat[i, j]]``; ``transpose=True``: ``out[p] = sum of x[i]
    over the rows i whose neighbours include p``. Done as a CSR sparse matmul (no ``[R, k, C]`` tensor);
    where the device lacks sparse CSR support, as a gather / index_add in blocks.
    """
    r, k = flat.shape
    cols = flat.reshape(-1)
    ones = torch.ones(r * k, dtype=x.dtype, device=x.device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            if transpose:
                order = torch.argsort(cols, stable=True)
                counts = _counts(cols, r)
                crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
                adj = torch.sparse_csr_tensor(crow, order // k, ones, (r, r))
            else:
                crow = torch.arange(0, r * k + 1, k, device=x.device)
                adj = torch.sparse_csr_tensor(crow, cols, ones, (r, r))
            return adj @ x
    except (RuntimeError, NotImplementedError):
        return _neighbour_sum_blocked(flat, x, transpose=transpose)


def _neighbour_sum_blocked(flat: Tensor, x: Tensor, *, transpose: bool) -> Tensor:
    """:func:`_neighbour_sum` with a gather / index_add over row blocks of bounded size."""
    r, k = flat.shape
    out = torch.zeros_like(x)
    step = max(1, DEFAULT_MAX_ELEMS // (k * x.shape[1]))
    for r0 in range(0, r, step):
        r1 = min(r, r0 + step)
        idx = flat[r0:r1].reshape(-1)
        if transpose:
            out.index_add_(0, idx, x[r0:r1].repeat_interleave(k, dim=0))
        else:
            out[r0:r1] = x.index_select(0, idx).view(r1 - r0, k, -1).sum(1)
    return out


class _EdgeMaxNorm(torch.autograd.Function):
    """``max_j LeakyReLU(BN(a[idx[i, j]] + c[i]))`` without materialising the ``[B, N, k, C]`` values.

    Batch norm is a per-channel affine map ``s * (e - mean) + beta`` with ``s = gamma / std``, and
    LeakyReLU is increasing, so the max over the k neighbours is taken at the neighbour with the
    largest ``a`` (``s >= 0``) or the smallest (``s < 0``). The batch statistics over all ``B*N*k``
    edge values are sums over points: ``sum e = sum_p deg(p) a_p + k sum_i c_i`` and, with centred
    ``a'``, ``c'``, ``sum (e - mean)^2 = sum_p deg(p) a'_p^2 + 2 sum_i c'_i . S_i + k sum_i c'_i^2``,
    where ``deg(p)`` counts how often point p is a neighbour and ``S_i = sum_j a'[idx[i, j]]``. The
    backward pass is batch norm's exact gradient written with the same sums, so the result equals
    (up to rounding) gather -> BN -> LeakyReLU -> max; the only ``k``-sized work is a gather in
    forward (one ``[B*N, C]`` column of neighbours at a time) and a scatter in backward (in blocks of
    bounded size).
    """

    @staticmethod
    def forward(ctx, a, c, gamma, beta, idx, bn, slope, max_elems):
        with torch.autocast(device_type=a.device.type, enabled=False):
            return _EdgeMaxNorm._forward(ctx, a, c, gamma, beta, idx, bn, slope, max_elems)

    @staticmethod
    def _forward(ctx, a, c, gamma, beta, idx, bn, slope, max_elems):
        b, n, ch = a.shape
        k = idx.shape[-1]
        bn_rows, m = b * n, b * n * k
        dt = torch.promote_types(a.dtype, torch.float32)
        a2 = a.detach().to(dt).reshape(bn_rows, ch)
        c2 = c.detach().to(dt).reshape(bn_rows, ch)
        offs = torch.arange(b, device=idx.device).view(b, 1, 1) * n
        flat = (idx + offs).reshape(bn_rows, k)
        training = bn.training or bn.running_mean is None
        deg = _counts(flat.reshape(-1), bn_rows).to(dt)
        if training:  # centre a by its degree-weighted mean and c by its mean: mean(e) = mean_a + mean_c
            mean_a, mean_c = (deg @ a2) / m, c2.mean(dim=0)
        else:  # running statistics: centre a by the running mean
            mean_a, mean_c = bn.running_mean.to(dt), torch.zeros(ch, dtype=dt, device=a.device)
        ac, cc = a2 - mean_a, c2 - mean_c  # e - mean = ac[j] + cc[i]
        if training:
            nb_sum = _neighbour_sum(flat, ac, transpose=False)  # S_i = sum_j ac[idx[i, j]]
            var = (deg @ ac.square() + 2 * (cc * nb_sum).sum(0) + k * cc.square().sum(0)) / m
            if bn.track_running_stats and bn.running_mean is not None:
                with torch.no_grad():
                    bn.num_batches_tracked.add_(1)
                    mom = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                    bn.running_mean.lerp_((mean_a + mean_c).to(bn.running_mean.dtype), mom)
                    unbiased = var * (m / max(m - 1, 1))
                    bn.running_var.lerp_(unbiased.to(bn.running_var.dtype), mom)
        else:
            nb_sum = ac.new_empty(0)
            var = bn.running_var.to(dt)
        std = exact.tensor_sqrt(var + bn.eps)  # torch.sqrt differs between CPUs
        g = gamma.detach().to(dt)
        scale = g / std
        # BN is increasing in e where scale >= 0: the max is at the largest a there, else at the smallest,
        # i.e. at the largest sign * a.
        sign = torch.where(scale >= 0, 1.0, -1.0).to(dt)
        signed = ac * sign
        # Running max over the k neighbour columns (ties: the first column), one [B*N, C] gather at a
        # time: faster on the CPU than gathering [B*N, k, C] and reducing its middle dimension. The
        # winning column is tracked in a small integer type as max(pick, j * (cand > ext)) -- j grows, so
        # this is "j where cand wins" -- which is 6x faster on the CPU than a masked_fill_ of int64.
        pick_dtype = torch.uint8 if k <= 255 else torch.long
        ext = signed.index_select(0, flat[:, 0])
        pick = torch.zeros(bn_rows, ch, dtype=pick_dtype, device=a.device)
        for j in range(1, k):
            cand = signed.index_select(0, flat[:, j])
            torch.maximum(pick, (cand > ext).to(pick_dtype).mul_(j), out=pick)
            ext = torch.maximum(ext, cand)
        ext *= sign
        sel = flat.gather(1, pick.long())  # [B*N, C] flat index of the chosen neighbour
        xhat = (ext + cc) / std
        y = g * xhat + beta.detach().to(dt)
        out = torch.where(y > 0, y, y * slope)
        ctx.save_for_backward(ac, cc, xhat, y, sel, nb_sum, flat, deg, scale, std)
        ctx.training = training
        ctx.shape = (b, n, ch, k)
        ctx.slope = slope
        ctx.max_elems = max_elems
        ctx.dtypes = (a.dtype, c.dtype, gamma.dtype, beta.dtype)
        return out.view(b, n, ch).to(a.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        with torch.autocast(device_type=grad_out.device.type, enabled=False):
            return _EdgeMaxNorm._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        ac, cc, xhat, y, sel, nb_sum, flat, deg, scale, std = ctx.saved_tensors
        b, n, ch, k = ctx.shape
        m = b * n * k
        go = grad_out.reshape(b * n, ch).to(ac.dtype)
        gy = torch.where(y > 0, go, go * ctx.slope)
        d_gamma, d_beta = (gy * xhat).sum(0), gy.sum(0)
        sparse = scale * gy  # d loss / d e at the chosen edge of each (point, channel)
        grad_a = torch.zeros_like(ac).scatter_add_(0, sel, sparse)
        grad_c = sparse.clone()
        if ctx.training:
            # Batch statistics: every edge m also gets -scale * (mean(gy) + xhat_m * mean(gy * xhat)).
            # Summed over the edges that use point p as neighbour: sum xhat = (deg_p ac_p + T_p) / std with
            # T_p = sum of cc_i over the points i having p as a neighbour; over the k edges of point i:
            # sum xhat = (S_i + k cc_i) / std with S_i = sum_j ac[idx[i, j]].
            g_mean, gx_mean = d_beta / m, d_gamma / m
            t = _neighbour_sum(flat, cc, transpose=True)
            deg1 = deg.unsqueeze(1)
            grad_a -= scale * (deg1 * g_mean + (deg1 * ac + t) / std * gx_mean)
            grad_c -= scale * (k * g_mean + (nb_sum + k * cc) / std * gx_mean)
        da, dc, dg, db = ctx.dtypes
        return (
            grad_a.view(b, n, ch).to(da),
            grad_c.view(b, n, ch).to(dc),
            d_gamma.to(dg),
            d_beta.to(db),
            None,
            None,
            None,
            None,
        )


EDGE_FORMS = ("auto", "pointwise", "direct")


class EdgeConv(nn.Module):
    """One EdgeConv block: edge MLP ``2*in_dim -> widths[0] -> widths[1] ...`` then max over k.

    Input ``x [B, N, C]`` and neighbour indices ``idx [B, N, k]``; output ``[B, N, widths[-1]]``.
    ``form`` selects the computation, all equal up to rounding:

    - ``"direct"``: build ``[x_j - x_i ; x_i]`` for every edge, then the layers (reference form);
    - ``"pointwise"``: the first layer applied per point (``W1 x_j + (W2 - W1) x_i``), then gathered;
    - ``"auto"`` (default): for a one-layer block, the per-point form fused with batch norm, LeakyReLU
      and the max over k (:class:`_EdgeMaxNorm`, no ``[B, N, k, C]`` tensor kept for backward);
      ``"pointwise"`` for deeper blocks (their later layers need every edge value).
    """

    def __init__(self, in_dim: int, widths: Sequence[int], slope: float = 0.2) -> None:
        super().__init__()
        dims = (2 * in_dim, *widths)
        self.layers = nn.ModuleList(LinearBNAct(a, b, slope) for a, b in pairwise(dims))
        self.in_dim = in_dim
        self.out_dim = widths[-1]
        self.slope = slope
        self.form = "auto"
        self.max_elems = DEFAULT_MAX_ELEMS

    def forward(self, x: Tensor, idx: Tensor) -> Tensor:
        if self.form not in EDGE_FORMS:
            raise ValueError(f"EdgeConv.form must be one of {EDGE_FORMS}, got {self.form!r}")
        first = self.layers[0]
        if self.form == "direct":
            xj = gather_neighbours(x, idx)
            xi = x.unsqueeze(2).expand_as(xj)
            e = first(torch.cat([xj - xi, xi], dim=-1))
        else:
            w = first.linear.weight  # [C', 2C]; columns [:C] act on x_j - x_i, [C:] on x_i
            w_nb = w[:, : self.in_dim]
            w_ctr = w[:, self.in_dim :] - w_nb
            nb, ctr = linear(x, w_nb), linear(x, w_ctr)
            if self.form == "auto" and len(self.layers) == 1:
                bn = first.bn
                return _EdgeMaxNorm.apply(nb, ctr, bn.weight, bn.bias, idx, bn, self.slope, self.max_elems)
            e = first.norm_act(gather_neighbours(nb, idx) + ctr.unsqueeze(2))
        for layer in self.layers[1:]:
            e = layer(e)
        return e.max(dim=2).values


def set_edgeconv_form(model: nn.Module, form: str) -> nn.Module:
    """Set the computation form (``auto``, ``pointwise`` or ``direct``) of every EdgeConv in ``model``."""
    if form not in EDGE_FORMS:
        raise ValueError(f"EdgeConv form must be one of {EDGE_FORMS}, got {form!r}")
    for mod in model.modules():
        if isinstance(mod, EdgeConv):
            mod.form = form
    return model


def use_direct_edgeconv(model: nn.Module, direct: bool = True) -> nn.Module:
    """Switch every EdgeConv in ``model`` to the direct reference form (or back to the default)."""
    return set_edgeconv_form(model, "direct" if direct else "auto")


class DGCNN(nn.Module):
    """DGCNN classification encoder as in CrossPoint.

    EdgeConv 64, 64, 128, 256 (each one 1x1 layer, BN, LeakyReLU 0.2, max over k), the four outputs
    concatenated (512) -> Linear 512 -> ``emb_dims`` (1024) + BN + LeakyReLU, then global
    max-pool || avg-pool over points: ``forward([B, N, 3]) -> [B, 2 * emb_dims]`` (2048 in the paper).
    ``k`` = neighbours per point (paper: 15 for pretraining, 20 for DGCNN's default).
    ``knn_max_elems`` bounds the pairwise-distance block size of the neighbour search.
    """

    def __init__(self, k: int = 20, emb_dims: int = 1024) -> None:
        super().__init__()
        self.k = k
        self.knn_max_elems = DEFAULT_MAX_ELEMS
        self.edges = nn.ModuleList(
            [EdgeConv(3, (64,)), EdgeConv(64, (64,)), EdgeConv(64, (128,)), EdgeConv(128, (256,))]
        )
        self.embed = LinearBNAct(64 + 64 + 128 + 256, emb_dims)
        self.out_dim = 2 * emb_dims

    def forward(self, points: Tensor) -> Tensor:
        x = points
        feats = []
        for edge in self.edges:
            x = edge(x, knn(x, self.k, max_elems=self.knn_max_elems))
            feats.append(x)
        h = self.embed(torch.cat(feats, dim=-1))
        return torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=-1)


class TransformNet(nn.Module):
    """DGCNN's 3x3 spatial transformer: EdgeConv 64, 128 -> Linear 1024 -> max over points ->
    512 -> 256 -> 9, the last layer initialised to output the identity matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.edge = EdgeConv(3, (64, 128))
        self.embed = LinearBNAct(128, 1024)
        self.fc = nn.Sequential(LinearBNAct(1024, 512), LinearBNAct(512, 256))
        self.out = nn.Linear(256, 9)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(torch.eye(3).flatten())

    def forward(self, points: Tensor, idx: Tensor) -> Tensor:
        h = self.embed(self.edge(points, idx)).max(dim=1).values
        return self.out(self.fc(h)).view(-1, 3, 3)


class DGCNNSeg(nn.Module):
    """DGCNN part-segmentation encoder (the layout CrossPoint pretrains for ShapeNetPart).

    3x3 transform net, then EdgeConv blocks 64/64, 64/64 and 64 (two, two and one 1x1 layers before
    the max over k), their outputs concatenated (192 local features) -> Linear 192 -> ``emb_dims``
    (1024) + BN + LeakyReLU, global max: ``forward([B, N, 3]) -> [B, emb_dims]``.
    :meth:`forward_features` also returns the 192-d per-point features for the segmentation head.
    """

    def __init__(self, k: int = 40, emb_dims: int = 1024) -> None:
        super().__init__()
        self.k = k
        self.knn_max_elems = DEFAULT_MAX_ELEMS
        self.transform = TransformNet()
        self.edges = nn.ModuleList([EdgeConv(3, (64, 64)), EdgeConv(64, (64, 64)), EdgeConv(64, (64,))])
        self.embed = LinearBNAct(64 * 3, emb_dims)
        self.out_dim = emb_dims

    def forward_features(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """``points [B, N, 3]`` -> (global ``[B, emb_dims]``, local ``[B, N, 192]``)."""
        t = self.transform(points, knn(points, self.k, max_elems=self.knn_max_elems))
        x = torch.bmm(points, t.to(points.dtype))
        feats = []
        for edge in self.edges:
            x = edge(x, knn(x, self.k, max_elems=self.knn_max_elems))
            feats.append(x)
        local = torch.cat(feats, dim=-1)
        return self.embed(local).max(dim=1).values, local

    def forward(self, points: Tensor) -> Tensor:
        return self.forward_features(points)[0]


#: State-dict key prefixes of :class:`PartSegModel` that do not belong to its encoder.
SEG_HEAD_PREFIXES: tuple[str, ...] = ("label_mlp.", "seg_head.")


class PartSegModel(nn.Module):
    """DGCNN part segmentation: :class:`DGCNNSeg` encoder + segmentation head.

    Head (DGCNN / CrossPoint layout): one-hot category ``num_categories`` (16) -> 64 (Linear + BN +
    LeakyReLU); [global ``emb_dims`` || category 64] tiled over the points and concatenated with the
    192 local features (1280) -> 256 -> dropout -> 256 -> dropout -> 128 -> ``num_parts`` (50).
    ``self.encoder`` has exactly the keys of ``build_point_encoder("dgcnn_seg")``, so pretrained
    weights load with ``model.encoder.load_state_dict(sd)`` (strict).
    """

    def __init__(
        self, num_categories: int, num_parts: int, *, k: int = 40, emb_dims: int = 1024, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.encoder = DGCNNSeg(k=k, emb_dims=emb_dims)
        self.num_categories = num_categories
        self.num_parts = num_parts
        self.label_mlp = LinearBNAct(num_categories, 64)
        self.seg_head = nn.Sequential(
            LinearBNAct(emb_dims + 64 + 192, 256),
            nn.Dropout(dropout),
            LinearBNAct(256, 256),
            nn.Dropout(dropout),
            LinearBNAct(256, 128),
            nn.Linear(128, num_parts, bias=False),
        )

    def forward(self, points: Tensor, category_onehot: Tensor) -> Tensor:
        """``points [B, N, 3]``, ``category_onehot [B, num_categories]`` -> logits ``[B, N, num_parts]``."""
        n = points.shape[1]
        glob, local = self.encoder.forward_features(points)
        label = self.label_mlp(category_onehot.to(glob.dtype))
        tiled = torch.cat([glob, label.to(glob.dtype)], dim=-1).unsqueeze(1).expand(-1, n, -1)
        return self.seg_head(torch.cat([tiled, local.to(glob.dtype)], dim=-1))
