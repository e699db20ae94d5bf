"""``crosspoint export CHECKPOINT -o OUT [--torchscript OUT_TS]``: a checkpoint's point encoder as one file.

OUT holds the encoder's weights, its model config, the preprocessing of the params file (``--params``)
that ``crosspoint embed`` follows, and the provenance (layout in :mod:`crosspoint.models.export`); it
loads with ``torch.load(OUT, weights_only=True)`` or, ready to use, ``crosspoint.load_encoder(OUT)``.

``--torchscript`` also writes the encoder compiled by ``torch.jit.script``, where TorchScript can
compile and save it. The encoders here cannot be: on the CPU their linear layers and the DGCNN's fused
EdgeConv run NumPy's OpenBLAS inside ``torch.autograd.Function`` subclasses (for the same bits on every
CPU and in every batch; :mod:`crosspoint.models.blas`), which TorchScript keeps as Python calls and
refuses to save. The option then stops with that reason before anything is written.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crosspoint import config
from crosspoint.checkpoints import load_state_strict
from crosspoint.models.encoders import build_encoder
from crosspoint.models.export import FORMAT, VERSION, read_encoder_file, write_export
from crosspoint.store import StageError, atomic_path, file_md5

log = logging.getLogger("crosspoint.tools.export")

NORMALISATION = (
    "meshes: prepare's clean_mesh (unreferenced vertices dropped, turned y-up, bounding-box centre at the "
    "origin, farthest vertex at distance 1), then sample.points surface points drawn with "
    "default_rng([sample.seed, i]) and normalize_cloud (centroid at the origin, farthest point at 1); point "
    "clouds: sample.points of the points drawn with default_rng([sample.seed, i]) (repeats when fewer), then "
    "normalize_cloud; then features.points of those with point_subset(features.subset, "
    "default_rng([features.seed, i]))"
)


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the working directory, or None outside a repository (or without git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() if out.returncode == 0 else ""
    return commit or None


def preprocessing(params_path: str | Path = config.DEFAULT_PARAMS) -> dict[str, Any]:
    """The sample and features settings of a params file that ``crosspoint embed`` needs to reproduce
    the DAG's features of a mesh, a cloud or a point store row."""
    from crosspoint.points.sampling import Params as SampleParams
    from crosspoint.settings import FeaturesParams

    params = config.load_params(params_path)
    smp = config.section("sample", SampleParams, params=params)
    feats = config.section("features", FeaturesParams, params=params)
    return {
        "sample": {"points": smp.points, "seed": smp.seed},
        "features": {"points": feats.points, "subset": feats.subset, "seed": feats.seed,
                     "batch_size": feats.batch_size, "shards": len(feats.shards)},
        "normalisation": NORMALISATION,
    }


def export_record(checkpoint: str | Path, params_path: str | Path = config.DEFAULT_PARAMS) -> dict[str, Any]:
    """The exported-file dict of a pretraining checkpoint (see the module docstring)."""
    from crosspoint import __version__

    src = read_encoder_file(checkpoint)
    if src.kind != "checkpoint":
        raise StageError(f"{checkpoint}: already an exported encoder file; export the pretraining checkpoint")
    return {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": dict(src.state_dict),
        "model": src.model,
        "preprocessing": preprocessing(params_path),
        "provenance": {
            "params": src.provenance["params"],
            "git_commit": git_commit(),
            "checkpoint": str(checkpoint),
            "checkpoint_md5": file_md5(checkpoint),
            "epoch": src.provenance["epoch"],
            "crosspoint_version": __version__,
        },
    }




def torchscript_bytes(encoder: nn.Module, name: str) -> bytes:
    """The encoder compiled with ``torch.jit.script`` and saved, as bytes; a StageError saying why when
    TorchScript cannot compile or save it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.x: "torch.jit.script is deprecated"
            scripted = torch.jit.script(encoder)
        buf = io.BytesIO()
        torch.jit.save(scripted, buf)
    except Exception as err:  # TorchScript reports a failure as one of several exception types
        text = str(err)
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        at = re.search(r'File "([^"]+)", line (\d+)', text)
        where = f" at {Path(at.group(1)).name}:{at.group(2)}" if at else ""
        raise StageError(
            f"--torchscript: TorchScript cannot compile the {name} encoder ({type(err).__name__}: "
            f"{first[:160]}{where}); "
            "its CPU layers run NumPy/OpenBLAS in torch.autograd.Function subclasses (crosspoint/models/blas.py, "
            "the DGCNN's fused EdgeConv), which TorchScript cannot save; use the exported file with "
            "crosspoint.load_encoder instead"
        ) from err
    return buf.getvalue()


def export(checkpoint: str | Path, dest: str | Path, params_path: str | Path = "params.yaml",
           torchscript: str | Path | None = None) -> dict:
    """Write the exported file of ``checkpoint`` (and its TorchScript, when asked); returns the record.
    Nothing is written when the TorchScript step fails."""
    record = export_record(checkpoint, params_path)
    ts = None
    if torchscript is not None:
        encoder = build_encoder(record["model"])
        load_state_strict(encoder, record["state_dict"], f"{checkpoint} point_encoder")
        ts = torchscript_bytes(encoder.eval(), str(record["model"]["point_model"]))
    write_export(record, dest)
    log.info("export: wrote %s (%s, k %s, emb_dims %s, epoch %s)", dest, record["model"]["point_model"],
             record["model"]["k"], record["model"]["emb_dims"], record["provenance"]["epoch"])
    if ts is not None:
        with atomic_path(torchscript) as tmp:
            tmp.write_bytes(ts)
        log.info("export: wrote the TorchScript module %s", torchscript)
    return record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="pretraining checkpoint, e.g. models/pretrain_cls/seed-0/best.pt")
    parser.add_argument("-o", "--out", required=True, help="exported encoder file to write")
    parser.add_argument("--torchscript", metavar="OUT_TS", default=None,
                        help="also write the encoder compiled by torch.jit.script; the encoders here cannot be "
                             "(their CPU layers call NumPy's OpenBLAS), so this stops with the reason")


def main(args: argparse.Namespace) -> None:
    export(args.checkpoint, args.out, args.params, args.torchscript)
