"""Pretraining throughput and peak memory: ``python bench/pretrain.py [--steps N] [--device auto]``.

For each preset (``default``: params.yaml ``pretrain.cls`` at the rendered image size; ``paper``:
2048 points, k 15, batch 20, ResNet-50 at 224 px) it times full training steps of the stage
(``crosspoint.training.pretrain.train_step``: two point augmentations, one image augmentation, forward,
CrossPoint loss, backward, Adam step) on synthetic tensors of the right shapes, at each precision
of ``--precisions`` (``pretrain.precision``: row ``stage`` is fp32, ``stage_bf16`` bf16 autocast;
by default both on GPU, fp32 only on the CPU) and each of ``--numerics``: ``stage``, the stage's own
(``crosspoint.numerics.configure_torch``: on CUDA deterministic algorithms, cuDNN autotuning and TF32 off),
and, on CUDA, ``fast`` (torch's defaults plus TF32 and cuDNN autotuning: what the same step costs without
the determinism; rows ``..._fast``). The optimiser is the stage's (``crosspoint.training.optim.make_adam``:
fused Adam on CUDA, the portable one on the CPU). Beside it the same step with a naive reference
of the paper's DGCNN formulation (dense kNN on the full distance matrix, neighbours gathered into a
``[B, 2C, N, k]`` edge tensor, then a 1x1 Conv2d; float32 throughout), on the same batch in the same
run. The targets are judged on the fastest stage row.

Each measurement runs in its own subprocess so that the CPU peak (resident set size, which never
goes down within a process) belongs to that measurement alone; on GPU the peak is
``torch.cuda.max_memory_allocated``. Writes ``results/bench/pretrain.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from host import cpu_family_model, cpu_model  # noqa: E402

TARGETS = {
    "device": "one NVIDIA H100",
    # the stage's numerics (deterministic, TF32 off); one object is about 78 GFLOP forward and backward (docs/scale.md),
    # so 2,500/s in bf16 is about 19 % of the chip's bf16 peak
    "paper_bf16_objects_per_s_min": 2500,
    "paper_fp32_objects_per_s_min": 300,
    "paper_speedup_vs_naive_min": 5.0,
    "paper_peak_memory_gib_max": 11.0,
    "note": "judged only on a CUDA device; CPU numbers are for the record (a few steps)",
}

PAPER = {"point_model": "dgcnn", "k": 15, "emb_dims": 1024, "points": 2048, "image_model": "resnet50",
         "image_size": 224, "batch_size": 20}
TINY = {"point_model": "dgcnn", "k": 8, "emb_dims": 64, "points": 128, "image_model": "resnet18",
        "image_size": 32, "batch_size": 4}  # for the CPU test of bench/gpu.sh


# ---------------------------------------------------------------------------------------------
# The naive reference: DGCNN as first published (channels-first, dense kNN, explicit edge tensor)


def _naive_modules():
    import torch
    from torch import nn

    def dense_knn(x: torch.Tensor, k: int) -> torch.Tensor:
        """x [B, C, N] -> [B, N, k] indices from the full [B, N, N] negative squared distances."""
        inner = torch.matmul(x.transpose(2, 1), x)
        sq = (x * x).sum(dim=1, keepdim=True)
        neg_dist = 2 * inner - sq - sq.transpose(2, 1)
        return neg_dist.topk(k=k, dim=-1).indices

    def edge_features(x: torch.Tensor, k: int) -> torch.Tensor:
        """x [B, C, N] -> [B, 2C, N, k] holding (x_j - x_i, x_i) for the k neighbours j of each i."""
        b, c, n = x.shape
        idx = dense_knn(x, k) + torch.arange(b, device=x.device).view(-1, 1, 1) * n
        pts = x.transpose(2, 1).contiguous()  # [B, N, C]
        nb = pts.view(b * n, c)[idx.view(-1)].view(b, n, k, c)
        ctr = pts.view(b, n, 1, c).expand(b, n, k, c)
        return torch.cat([nb - ctr, ctr], dim=3).permute(0, 3, 1, 2).contiguous()

    class NaiveDGCNN(nn.Module):
        def __init__(self, k: int, emb_dims: int) -> None:
            super().__init__()
            self.k = k
            widths = [(6, 64), (128, 64), (128, 128), (256, 256)]
            self.convs = nn.ModuleList(
                nn.Sequential(nn.Conv2d(a, b, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2))
                for a, b in widths
            )
            self.embed = nn.Sequential(nn.Conv1d(512, emb_dims, 1, bias=False), nn.BatchNorm1d(emb_dims),
                                       nn.LeakyReLU(0.2))
            self.out_dim = 2 * emb_dims

        def forward(self, points: torch.Tensor) -> torch.Tensor:
            x = points.transpose(1, 2)  # [B, 3, N]
            feats = []
            for conv in self.convs:
                x = conv(edge_features(x, self.k)).max(dim=-1).values
                feats.append(x)
            h = self.embed(torch.cat(feats, dim=1))
            return torch.cat([h.max(dim=-1).values, h.mean(dim=-1)], dim=1)

    return NaiveDGCNN


# ---------------------------------------------------------------------------------------------
# One measurement (runs in a subprocess)


def set_numerics(device, numerics_name: str) -> None:
    """``stage``: as the stage runs (:func:`crosspoint.numerics.configure_torch`); ``fast``: the same thread
    count, and on CUDA TF32 matmuls and convolutions, cuDNN autotuning, no deterministic algorithms."""
    import torch

    from crosspoint import numerics

    numerics.configure_torch(device)
    if numerics_name == "fast" and device.type == "cuda":
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif numerics_name not in ("stage", "fast"):
        raise SystemExit(f"unknown numerics {numerics_name!r}: use stage or fast")


def measure(cfg: dict[str, Any], impl: str, steps: int, warmup: int, device_name: str, seed: int,
            precision: str = "fp32", numerics_name: str = "stage") -> dict[str, Any]:
    import torch

    from crosspoint.training.augment import make_generator
    from crosspoint.training.measure import peak_memory_bytes, reset_peak_memory, synchronize
    from crosspoint.training.optim import make_adam
    from crosspoint.training.params import Params, Variant
    from crosspoint.training.pretrain import CrossPointModel, train_step

    device = torch.device(device_name)
    set_numerics(device, numerics_name)
    v = Variant(**{k: cfg[k] for k in ("point_model", "k", "emb_dims", "points", "image_model", "image_size",
                                       "batch_size")})
    prm = Params(precision=precision if impl == "stage" else "fp32")
    torch.manual_seed(seed)
    model = CrossPointModel(v, with_images=True)
    if impl == "naive":
        if v.point_model != "dgcnn":
            raise SystemExit("the naive reference exists for dgcnn only")
        model.point_encoder = _naive_modules()(v.k, v.emb_dims)
    model.to(device).train()
    if impl == "stage":  # the stage's optimiser
        opt = make_adam(model.parameters(), device, lr=1e-3, weight_decay=1e-6)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    b, size = v.batch_size, v.image_size
    clouds = torch.randn(b, v.points, 3, generator=gen)
    clouds = (clouds / clouds.norm(dim=-1, keepdim=True)).to(device)
    images = torch.randint(0, 256, (b, size, size, 3), generator=gen, dtype=torch.uint8).to(device)
    aug = make_generator(seed, device)

    for _ in range(warmup):
        train_step(model, opt, clouds, images, prm, size, aug)
    synchronize(device)
    reset_peak_memory(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        total, _, _ = train_step(model, opt, clouds, images, prm, size, aug)
    synchronize(device)
    elapsed = time.perf_counter() - t0
    return {
        "impl": impl,
        "precision": prm.precision,
        "numerics": numerics_name,
        "steps": steps,
        "seconds": round(elapsed, 4),
        "objects_per_s": round(b * steps / elapsed, 2),
        "peak_memory_bytes": peak_memory_bytes(device),
        "peak_memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS",
        "loss": round(float(total), 4),
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
    }


# ---------------------------------------------------------------------------------------------
# Driver


def default_config(params_path: Path) -> dict[str, Any]:
    """The default preset: params.yaml's pretrain.cls, images at the rendered size when image_size is 0."""
    from crosspoint import config
    from crosspoint.training.params import Params

    raw = config.load_params(params_path)
    prm = config.parse_section(Params, raw.get("pretrain", {}), "pretrain")
    v = config.to_dict(prm.cls)
    if not v["image_size"]:
        v["image_size"] = int((raw.get("render") or {}).get("image_size", 96))
    return v


def device_description(device_name: str) -> str:
    import torch

    if device_name.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device_name))
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def main(argv: list[str] | None = None) -> int:
    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine slows every CPU number here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--presets", default="default,paper", help="comma-separated: default, paper, tiny")
    parser.add_argument("--numerics", default="stage",
                        help="comma-separated: stage (the stage's numerics), fast (CUDA: TF32, cuDNN autotuning)")
    parser.add_argument("--impls", default="stage,naive", help="comma-separated: stage, naive")
    parser.add_argument("--precisions", default="auto",
                        help="comma-separated stage precisions: fp32, bf16 (auto: both on GPU, fp32 on the CPU)")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--out", default=str(ROOT / "results/bench/pretrain.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: JSON of one measurement to run
    args = parser.parse_args(argv)

    if args.one:
        job = json.loads(args.one)
        print(json.dumps(measure(job["cfg"], job["impl"], args.steps, args.warmup, job["device"], args.seed,
                                 job.get("precision", "fp32"), job.get("numerics", "stage"))))
        return 0

    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if precisions == ["auto"]:
        precisions = ["fp32", "bf16"] if device.startswith("cuda") else ["fp32"]
    numerics_names = [n.strip() for n in args.numerics.split(",") if n.strip()]
    if not device.startswith("cuda"):
        numerics_names = ["stage"]  # on the CPU the stage's numerics are torch's (threads pinned)
    configs = {"paper": dict(PAPER), "tiny": dict(TINY)}
    if "default" in args.presets:
        configs["default"] = default_config(Path(args.params))
    results: dict[str, Any] = {}
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        cfg = configs[preset]
        rows = {}
        jobs = []
        for impl in [i.strip() for i in args.impls.split(",") if i.strip()]:
            if impl == "naive" and cfg["point_model"] != "dgcnn":
                continue
            for precision in precisions if impl == "stage" else ["fp32"]:
                for num in numerics_names if impl == "stage" else ["stage"]:
                    jobs.append((impl, precision, num))
        for impl, precision, num in jobs:
            name = impl + ("" if precision == "fp32" else f"_{precision}") + ("" if num == "stage" else f"_{num}")
            job = json.dumps({"cfg": cfg, "impl": impl, "device": device, "precision": precision,
                              "numerics": num})
            cmd = [sys.executable, str(Path(__file__).resolve()), "--one", job, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--seed", str(args.seed)]
            print(f"bench pretrain: {preset} / {name} on {device} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                rows[name] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
            else:
                rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {rows[name]}", file=sys.stderr, flush=True)
        stages = {k: r for k, r in rows.items()
                  if k.startswith("stage") and "objects_per_s" in r and r.get("numerics") == "stage"}
        fastest = max(stages, key=lambda k: stages[k]["objects_per_s"]) if stages else None
        if fastest and "objects_per_s" in rows.get("naive", {}):
            rows["speedup_vs_naive"] = round(stages[fastest]["objects_per_s"] / rows["naive"]["objects_per_s"], 2)
        results[preset] = {"config": cfg, **rows, "fastest_stage": fastest}

    paper = results.get("paper", {})
    best = paper.get(paper.get("fastest_stage") or "", {})
    met = None
    if device.startswith("cuda") and "objects_per_s" in best:
        fp32, bf16 = paper.get("stage", {}), paper.get("stage_bf16", {})
        met = {
            "fp32_objects_per_s": fp32.get("objects_per_s", 0) >= TARGETS["paper_fp32_objects_per_s_min"],
            "bf16_objects_per_s": bf16.get("objects_per_s", 0) >= TARGETS["paper_bf16_objects_per_s_min"],
            "speedup_vs_naive": paper.get("speedup_vs_naive", 0) >= TARGETS["paper_speedup_vs_naive_min"],
            "peak_memory": best["peak_memory_bytes"] / 2**30 <= TARGETS["paper_peak_memory_gib_max"],
        }
    out = {
        "device": device_description(device),
        "machine": {"cpu": cpu_model(), "cpu_family_model": cpu_family_model(), "cores": os.cpu_count(), "load_average_1m_at_start": load_at_start,
                    "date": dt.date.today().isoformat()},
        "torch": torch.__version__,
        "steps": args.steps,
        "warmup": args.warmup,
        "targets": TARGETS,
        "targets_met": met,
        "presets": results,
    }
    from crosspoint.store import write_json

    write_json(args.out, out)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
