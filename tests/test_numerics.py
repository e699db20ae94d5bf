"""Numbers that do not depend on the CPU: the data stages and a few training steps give the same
bits whichever kernels the libraries would pick (crosspoint/exact.py, crosspoint/numerics.py).

"Another dispatch setting" is what a machine without AVX-512 presents to the libraries: numpy's
AVX-512 targets off, OpenBLAS on its Haswell (AVX2) kernels, torch on its AVX2 kernels, oneDNN and
MKL capped at AVX2, llvmpipe at 256-bit vectors. On an AVX-512 machine (like the one the record was
made on) the two settings take different code paths; on an AVX2-only machine they coincide.

"Another CPU" is an emulated one: qemu's user-mode emulator (Debian ``qemu-user``, installed with apt
when missing and run as root) runs the same training steps on an Intel Haswell (AVX2, no AVX-512,
another vendor, other cache sizes) and an AMD EPYC Rome. That is how torch's CPU ``sqrt`` (MKL's
vector math, processor-dependent) and MKL's GEMM on the AVX2 branch (Intel and AMD take other code)
were found; the pinned numerics and :func:`crosspoint.exact.tensor_sqrt` give the same weights on all three.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from crosspoint import numerics
from crosspoint.tools import presets
from crosspoint.training.optim import PortableAdam

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

AVX2_MACHINE = {
    "NPY_DISABLE_CPU_FEATURES": numerics.NUMPY_ABOVE_AVX2,
    "OPENBLAS_CORETYPE": "Haswell",
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "LP_NATIVE_VECTOR_WIDTH": "256",
}
LIBRARY_VARS = (*numerics.AVX2_SETTINGS, *numerics.THREAD_VARS, numerics.ISA_ENV)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LIBRARY_VARS}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYOPENGL_PLATFORM", "egl")
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, extra: dict[str, str]) -> None:
    proc = subprocess.run(args, cwd=cwd, env=_env(extra), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def _tiny_params(dest: Path) -> Path:
    params = presets.merge(yaml.safe_load((REPO / "params.yaml").read_text()), presets.load_overlay("tiny"))
    params["datasets"]["synth"]["classes"] = ["stool", "table", "chair", "lamp"]
    params["datasets"]["synth"]["objects_per_class"] = 12  # stool 5, 6, 8, table 5, chair 10, 11 differed
    params["datasets"]["capod"]["required"] = False
    params["datasets"]["capod"]["path"] = str(dest / "no-capod")
    params["scan"]["datasets"] = {"synth": 1}
    path = dest / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


DATA_STAGES = [
    ["crosspoint", "prepare", "--dataset", "synth"],
    ["crosspoint", "sample", "--dataset", "synth", "--shard", "0"],
    ["crosspoint", "sample", "--dataset", "synth", "--shard", "1"],
    ["crosspoint", "merge-points", "--dataset", "synth"],
    ["crosspoint", "render", "--dataset", "synth", "--shard", "0"],
    ["crosspoint", "render", "--dataset", "synth", "--shard", "1"],
    ["crosspoint", "merge-views", "--dataset", "synth"],
    ["crosspoint", "scan", "--dataset", "synth"],
]
DATA_FILES = ["data/prepared/synth.h5", "data/views/synth.h5", "data/points/synth.h5", "data/points/synth_scan.h5"]


def _arrays(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.slow
def test_data_stages_write_the_same_arrays_under_two_dispatch_settings(tmp_path):
    """The data code itself (unpinned: CROSSPOINT_ISA=native) is independent of the kernels."""
    runs = {"native": {numerics.ISA_ENV: "native"}, "avx2-machine": {numerics.ISA_ENV: "native", **AVX2_MACHINE}}
    for name, extra in runs.items():
        work = tmp_path / name
        work.mkdir()
        _tiny_params(work)
        for stage in DATA_STAGES:
            _run(stage, work, extra)
    for rel in DATA_FILES:
        a, b = (_arrays(tmp_path / name / rel) for name in runs)
        assert a.keys() == b.keys(), rel
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{rel}:{key}")


TRAIN_SCRIPT = r"""
import hashlib, sys
import crosspoint  # pins the numerics first
import torch
from crosspoint import numerics
from crosspoint.training import pretrain
from crosspoint.training.params import Params, Variant
from crosspoint.training.optim import PortableAdam
from crosspoint.training.pretrain import CrossPointModel, train_step
numerics.configure_torch()
v = Variant(point_model=sys.argv[1], k=8, emb_dims=64, points=96, image_model="resnet18", epochs=1, batch_size=6)
prm = Params(cls=v)
torch.manual_seed(0)
model = CrossPointModel(v, with_images=True)
opt = PortableAdam(model.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(1)
data = torch.Generator().manual_seed(2)
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    clouds = torch.rand(6, 96, 3, generator=data) * 2 - 1
    images = (torch.rand(6, 32, 32, 3, generator=data) * 255).to(torch.uint8)
    train_step(model, opt, clouds, images, prm, 32, gen)
h = hashlib.sha256()
for k, t in sorted(model.state_dict().items()):
    h.update(k.encode()); h.update(t.detach().contiguous().numpy().tobytes())
print(h.hexdigest(), torch.backends.cpu.get_cpu_capability())
"""


@pytest.mark.parametrize("point_model", ["dgcnn", "dgcnn_seg"])
def test_training_steps_give_the_same_weights_under_two_dispatch_settings(tmp_path, point_model):
    """Pinned (the default): the weights after three steps are the same bits whether the libraries
    see this CPU as it is or as an AVX2-only machine."""
    outs = []
    for extra in ({}, AVX2_MACHINE):
        proc = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, point_model], cwd=tmp_path, env=_env(extra),
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(proc.stdout.split())
    assert outs[0][0] == outs[1][0]
    if numerics.cpu_has_avx2():
        assert outs[0][1] == outs[1][1] == "AVX2"


def _cpu_vendor() -> str:
    """``GenuineIntel``, ``AuthenticAMD`` or "" (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _other_vendors_cpu() -> str:
    """The emulated AVX2-only CPU of the other vendor than this one (MKL takes vendor-specific code:
    that difference is what broke the record once): EPYC Rome on an Intel host, Haswell elsewhere."""
    return "EPYC-Rome" if _cpu_vendor() == "GenuineIntel" else "Haswell"


def _qemu_unavailable() -> str | None:
    """Why qemu-user cannot run here, or None (installs Debian's qemu-user as root when missing)."""
    if shutil.which("qemu-x86_64") is None:
        if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
            return "qemu-x86_64 missing (apt-get install qemu-user, as root)"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "qemu-user"]
        for cmd in (["apt-get", "update", "-qq"], install):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
            if proc.returncode != 0:
                return f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
    if not numerics.cpu_has_avx2():
        return "this CPU has no AVX2: the pinned kernels are not the record's"
    return None


@pytest.mark.slow
def test_training_steps_give_the_same_weights_on_an_emulated_cpu_of_the_other_vendor(tmp_path):
    """Two training steps give the same weights on this CPU and on an emulated AVX2-only CPU of the
    other vendor (Intel Haswell or AMD EPYC Rome: no AVX-512, other cache sizes, MKL's other vendor
    path; about two minutes under emulation). The part-seg DGCNN has every layer kind of the
    classification one (fused one-layer EdgeConv, two-layer EdgeConv, per-point and global linear
    layers) and the transform net besides; with the ResNet and the portable Adam. The suite runs one
    emulated CPU to stay within its time; the other was compared by hand (README, "Reproducibility")."""
    point_model, steps = "dgcnn_seg", "2"
    why = _qemu_unavailable()
    if why:
        pytest.skip(why)
    outs = {}
    for cpu in ("native", _other_vendors_cpu()):
        prefix = [] if cpu == "native" else ["qemu-x86_64", "-cpu", cpu]
        proc = subprocess.run([*prefix, sys.executable, "-c", TRAIN_SCRIPT, point_model, steps], cwd=tmp_path,
                              env=_env({}), capture_output=True, text=True, check=False, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs[cpu] = proc.stdout.split()
    assert {digest for digest, _ in outs.values()} == {outs["native"][0]}, outs
    assert {cap for _, cap in outs.values()} == {"AVX2"}


TENSOR_SQRT_SCRIPT = r"""
import crosspoint, sys
import numpy as np, torch
from crosspoint import exact
x = torch.rand(200_000, generator=torch.Generator().manual_seed(0)) * 10
ref = np.sqrt(x.numpy().astype(np.float64)).astype(np.float32)  # correctly rounded: sqrt is exact in float64
wrong32 = int((exact.tensor_sqrt(x).numpy() != ref).sum())
wrong64 = int((exact.tensor_sqrt(x.double()).numpy() != np.sqrt(x.double().numpy())).sum())
print(wrong32, wrong64)
"""


def test_tensor_sqrt_is_correctly_rounded(tmp_path):
    proc = subprocess.run([sys.executable, "-c", TENSOR_SQRT_SCRIPT], cwd=tmp_path, env=_env({}),
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["0", "0"]


def test_portable_adam_is_torchs_adam():
    """The same update as torch's Adam (up to the rounding of torch's sqrt) and the same state."""
    import torch

    torch.manual_seed(0)
    a, b = torch.nn.Linear(30, 20), torch.nn.Linear(30, 20)
    b.load_state_dict(a.state_dict())
    ref = torch.optim.Adam(a.parameters(), lr=1e-2, weight_decay=1e-3)
    ours = PortableAdam(b.parameters(), lr=1e-2, weight_decay=1e-3)
    x = torch.randn(64, 30, generator=torch.Generator().manual_seed(1))
    for _ in range(20):
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    theirs, mine = ref.state_dict(), ours.state_dict()
    assert theirs["state"].keys() == mine["state"].keys()
    assert all(theirs["state"][i].keys() == mine["state"][i].keys() for i in theirs["state"])
    PortableAdam(b.parameters(), lr=1e-2).load_state_dict(theirs)  # torch's checkpoints load


def test_the_record_names_the_pinned_settings():
    import torch  # noqa: F401  (the record names torch's kernels once it is loaded)

    rec = numerics.record()
    assert rec["threads"] == numerics.threads()
    if numerics.cpu_has_avx2() and os.environ.get(numerics.ISA_ENV, "avx2") == "avx2":
        assert rec["isa"] == "avx2"
        assert rec["env"]["ATEN_CPU_CAPABILITY"] == "avx2"
        assert rec["env"]["MKL_CBWR"] == "COMPATIBLE"
        assert rec["torch_cpu_capability"] == "AVX2"
    assert numerics.check() == []


def test_bad_thread_count_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(numerics.THREADS_ENV, "lots")
    with pytest.raises(ValueError, match="CROSSPOINT_THREADS"):
        numerics.threads()


def test_gram_is_exact_to_its_bound_and_independent_of_blas_blocking():
    """exact.gram: close to the exact product (Python fractions), symmetric for a @ a.T, and the same bits
    whatever rows the BLAS sees together (a sub-matrix's Gram is the sub-matrix of the Gram)."""
    from fractions import Fraction

    from crosspoint import exact

    rng = np.random.default_rng(3)
    a = (rng.standard_normal((40, 300)) * np.exp(rng.uniform(-6, 3, (40, 1)))).astype(np.float32)
    a[a < 0] = 0  # ReLU features: zeros and a wide range of scales
    b = rng.standard_normal((7, 300))
    g, gb = exact.gram(a), exact.gram(b, a)
    assert g.dtype == np.float64 and g.shape == (40, 40) and gb.shape == (7, 40)
    assert np.array_equal(g, g.T)
    rows = np.array([5, 0, 17, 33, 2])
    assert np.array_equal(exact.gram(a[rows]), g[np.ix_(rows, rows)])
    assert np.array_equal(exact.gram(b[2:5], a[rows]), gb[2:5][:, rows])
    assert np.array_equal(exact.gram(a, a), g)
    for (i, j), x, y in (((3, 7), a, a), ((1, 9), b, a), ((8, 8), a, a)):
        true = sum(Fraction(float(p)) * Fraction(float(q)) for p, q in zip(x[i], y[j], strict=True))
        got = exact.gram(x, y)[i, j]
        scale = float(np.abs(x[i]).max()) * float(np.abs(y[j]).max()) * x.shape[1]
        assert abs(Fraction(got) - true) <= Fraction(scale) * Fraction(1, 2**40)


def test_linear_svm_on_the_gram_matches_libsvm_linear_kernel():
    """The linear_svm stage's fits (libsvm given exact.gram's kernel) predict what SVC(kernel="linear") does."""
    from sklearn.svm import SVC

    from crosspoint.evaluate.svc import kernels, svc_predict

    rng = np.random.default_rng(4)
    y = np.arange(120) % 4
    x = (rng.standard_normal((120, 64)) + 1.5 * rng.standard_normal((4, 64))[y]).astype(np.float32)
    for c in (0.01, 1.0):
        want = SVC(kernel="linear", C=c).fit(x[:90], y[:90]).predict(x[90:])
        k_fit, k_test = kernels(x[:90], x[90:])
        assert np.array_equal(svc_predict(k_fit, y[:90], k_test, c), want)
