"""Count what a pretraining step keeps for backward at the paper's shape: the basis of the predicted GPU
memory table in docs/multi-gpu.md (until `bash bench/gpu.sh` measures it on a GPU).

    python bench/activation_count.py [--batches 1 2] [--precision fp32 bf16]

Builds the stage's own model (:class:`crosspoint.training.pretrain.CrossPointModel`) at the paper preset's
pretraining shape (DGCNN k=15, 1024-d embedding, 2048 points per cloud, ResNet-50 at 224 px), runs its
forward pass on random inputs of a few batch sizes under ``torch.autograd.graph.saved_tensors_hooks`` and
adds up the bytes of every distinct tensor storage autograd saves (each object is two clouds and one image,
as in a training step). The difference between two batch sizes is the cost of one object; the model's
parameters, gradients and Adam's two moments are counted from the parameter count. Runs on the CPU: the
count is a property of the graph, not of the device (CUDA adds its context, cuDNN workspaces and the
caching allocator's slack, which the docs add as a margin). Writes ``results/bench/activation_count.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import cpu_family_model, cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crosspoint.training.params import Variant  # noqa: E402
from crosspoint.training.precision import autocast  # noqa: E402
from crosspoint.training.pretrain import CrossPointModel  # noqa: E402

PAPER = Variant(point_model="dgcnn", k=15, emb_dims=1024, points=2048, image_model="resnet50", image_size=224,
                epochs=100, batch_size=20)


def saved_bytes(model: torch.nn.Module, batch: int, precision: str) -> int:
    """Bytes of the distinct storages autograd keeps for backward in one forward pass of ``batch`` objects."""
    storages: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[(s.data_ptr(), s.nbytes())] = s.nbytes()
        return t

    clouds = torch.randn(2 * batch, PAPER.points, 3)
    images = torch.randn(batch, 3, PAPER.image_size, PAPER.image_size)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(torch.device("cpu"), precision):
        z1, z2, z_img = model(clouds, images)
    del z1, z2, z_img
    return sum(storages.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs=2, default=[2, 4])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    args = ap.parse_args()
    torch.manual_seed(0)
    model = CrossPointModel(PAPER, with_images=True).train()
    params = sum(p.numel() for p in model.parameters())
    out = {
        "what": "bytes autograd saves for backward per pretraining object at the paper's shape (2 clouds + 1 image)",
        "date": dt.date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "cpu_id": cpu_family_model(), "cores": os.cpu_count()},
        "torch": torch.__version__,
        "shape": {"point_model": PAPER.point_model, "k": PAPER.k, "emb_dims": PAPER.emb_dims, "points": PAPER.points,
                  "image_model": PAPER.image_model, "image_size": PAPER.image_size},
        "parameters": params,
        # fp32 weights, their gradients and Adam's two moments (bf16 autocast keeps fp32 master weights)
        "weights_grads_adam_bytes": 16 * params,
        "per_object_saved_bytes": {},
    }
    lo, hi = args.batches
    for precision in args.precision:
        a, b = saved_bytes(model, lo, precision), saved_bytes(model, hi, precision)
        out["per_object_saved_bytes"][precision] = (b - a) // (hi - lo)
        print(f"{precision}: {(b - a) / (hi - lo) / 2**20:.1f} MiB saved per object", flush=True)
    dest = REPO / "results/bench/activation_count.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
