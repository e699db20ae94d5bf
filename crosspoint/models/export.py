"""The exported-encoder file: a pretraining checkpoint's point encoder as one self-contained file.

``crosspoint export CHECKPOINT -o OUT`` (:mod:`crosspoint.tools.export`, which also makes the record) writes,
with ``torch.save``, a
dict that ``torch.load(OUT, weights_only=True)`` reads back (plain values and tensors only)::

    format         "crosspoint-encoder"
    version        1
    state_dict     the point encoder's weights
    model          the checkpoint's model config (point_model, k, emb_dims, image_model, points)
    preprocessing  what turns a mesh or a cloud into the encoder's input, as the DAG does it
                   (:func:`crosspoint.tools.export.preprocessing`: sample.points/seed, features.points/subset/seed/batch_size
                   and the number of features shards, the normalisation)
    provenance     params (the checkpoint's, as a JSON string), git_commit (or None), checkpoint
                   (its path), checkpoint_md5, epoch, crosspoint_version

:func:`read_encoder_file` reads such a file or a pretraining checkpoint into an :class:`EncoderFile`;
``crosspoint.load_encoder`` (:func:`crosspoint.models.encoders.load_point_encoder`) gives the ready encoder.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from crosspoint.checkpoints import load_checkpoint, save_checkpoint
from crosspoint.store import StageError

FORMAT = "crosspoint-encoder"
VERSION = 1
@dataclass
class EncoderFile:
    """A point encoder as read from an exported file or a pretraining checkpoint."""

    kind: str  # "exported" | "checkpoint"
    state_dict: dict[str, torch.Tensor]
    model: dict[str, Any]
    preprocessing: dict[str, Any] | None  # exported files only
    provenance: dict[str, Any]


def read_encoder_file(path: str | Path, map_location: str | torch.device = "cpu") -> EncoderFile:
    """Read an exported encoder file or a pretraining checkpoint (``weights_only`` load); anything
    else gives a :class:`StageError` saying what the file is not."""
    path = Path(path)
    if not path.is_file():
        raise StageError(f"{path}: checkpoint not found (a pretraining checkpoint or a `crosspoint export` file)")
    try:
        obj = load_checkpoint(path, map_location=map_location)
    except StageError as err:  # refused to unpickle: say so only of a real torch.save archive
        if zipfile.is_zipfile(path):
            raise
        raise StageError(f"{path}: not a crosspoint checkpoint or exported encoder (not a file torch.save "
                         f"writes)") from err
    except Exception as err:  # torch.load raises many types on a file that is not a torch file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise StageError(f"{path}: not a crosspoint checkpoint or exported encoder ({first})") from err
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if obj.get("version") != VERSION:
            raise StageError(f"{path}: exported encoder version {obj.get('version')!r}; this crosspoint reads "
                             f"version {VERSION} (export it again with `crosspoint export`)")
        return EncoderFile("exported", obj["state_dict"], dict(obj["model"]), dict(obj["preprocessing"]),
                           dict(obj.get("provenance") or {}))
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict) and "point_encoder" in obj:
        if obj["point_encoder"] is None:
            raise StageError(f"{path}: holds no point encoder (an image-only import?)")
        provenance = {"epoch": obj.get("epoch"), "params": json.dumps(obj.get("params"), sort_keys=True)}
        return EncoderFile("checkpoint", obj["point_encoder"], dict(obj["model"]), None, provenance)
    what = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else type(obj).__name__
    raise StageError(f"{path}: neither a pretraining checkpoint (no 'point_encoder' and 'model') nor an "
                     f"exported encoder (format {FORMAT!r}): {what}")


def write_export(record: dict[str, Any], dest: str | Path) -> None:
    """Write an exported-file record (:func:`crosspoint.tools.export.export_record`) atomically (the same record gives the same bytes)."""
    save_checkpoint(dest, record)
