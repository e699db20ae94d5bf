"""``crosspoint own-data NAME PATH``: pretrain on a folder of your own meshes, which need no labels.

Writes into params.yaml (comments kept, like ``crosspoint preset``): a dataset ``NAME`` with source
``mesh_folder`` reading every mesh below ``PATH`` (see :mod:`crosspoint.sources.mesh_folder`), ``NAME`` in
``sample.datasets`` (its point store) and in ``pretrain.datasets`` (its own render stages; objects of every
pretraining dataset in every epoch). ``--only`` pretrains on ``NAME`` alone. The evaluation sections are
left as they are: an unlabelled dataset cannot be evaluated, so the table still compares the encoder
with its random init on the labelled sets. Then ``dvc repro`` (docs/own-data.md).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from ruamel.yaml import YAML

from crosspoint.config import ParamsError
from crosspoint.store import write_text
from crosspoint.tools.presets import _represent_float


def add_dataset(params_path: str | Path, name: str, folder: str, only: bool = False,
                max_objects: int | None = None) -> dict:
    """Add the unlabelled dataset to the params file (validated before it is written); returns its entry."""
    from crosspoint.tools.params_check import validate_all

    rt = YAML()
    rt.preserve_quotes = True
    rt.representer.add_representer(float, _represent_float)
    params_path = Path(params_path)
    data = rt.load(params_path.read_text())
    datasets = data.setdefault("datasets", {})
    old = datasets.get(name)
    if old is not None and old.get("source") != "mesh_folder":
        raise ParamsError(f"params datasets.{name} exists with source {old.get('source')!r}; choose another name")
    entry = {"source": "mesh_folder", "path": str(folder)}
    if max_objects is not None:
        entry["max_objects"] = max_objects
    datasets[name] = entry
    for section in ("sample", "pretrain"):
        listed = data[section].setdefault("datasets", [])
        if section == "pretrain" and only:
            listed.clear()
        if name not in listed:
            listed.append(name)
    validate_all(json.loads(json.dumps(data)))
    buf = io.StringIO()
    rt.dump(data, buf)
    write_text(params_path, buf.getvalue())
    return entry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the dataset's name (its stages are named after it)")
    parser.add_argument("path", help="a folder of meshes, searched recursively (.off .obj .ply .stl .glb .gltf)")
    parser.add_argument("--only", action="store_true", help="pretrain on this dataset alone (default: beside the others)")
    parser.add_argument("--max-objects", type=int, default=None, help="use at most this many meshes (a quick run)")


def main(args: argparse.Namespace) -> None:
    folder = Path(args.path)
    if not folder.is_dir():
        raise ParamsError(f"{folder}: not a folder (give the folder holding your meshes)")
    add_dataset(args.params, args.name, args.path, args.only, args.max_objects)
    with_others = "" if args.only else " beside the other pretraining datasets"
    print(f"{args.params}: dataset {args.name!r} (mesh_folder {args.path}) added to sample.datasets and "
          f"pretrain.datasets{with_others}; now run `dvc repro`")
