"""``crosspoint preset NAME``: switch params.yaml to a preset.

A preset is an overlay in ``presets/NAME.yaml``: only the keys it changes, nested like params.yaml.
``crosspoint preset paper`` writes the overlay into params.yaml (comments kept); ``git checkout
params.yaml`` goes back to the default. ``crosspoint preset paper --set-args`` prints the overlay as
``-S key=value`` arguments instead, for ``dvc exp run -n paper $(crosspoint preset paper --set-args)``,
which runs the preset as a DVC experiment without touching the working params.yaml.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

from crosspoint.config import ParamsError
from crosspoint.store import write_text

PRESETS_DIR = Path("presets")


def available() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_overlay(name: str) -> dict[str, Any]:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise ParamsError(f"unknown preset {name!r}; available: {', '.join(available()) or 'none'}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping")
    return data


def merge(base: Any, overlay: dict[str, Any]) -> Any:
    """Deep-merge ``overlay`` into ``base`` in place (mappings merge, everything else replaces)."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def flatten(overlay: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and scalars are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in overlay.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def set_args(overlay: dict[str, Any]) -> str:
    """The overlay as ``dvc exp run`` arguments, compact (no spaces) so ``$(...)`` splits them right."""
    parts = []
    for key, value in flatten(overlay).items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if any(c.isspace() for c in text):
            raise ParamsError(f"preset value {key}={text!r} contains whitespace; cannot pass it as -S")
        parts.append(f"-S {key}={text}")
    return " ".join(parts)


def _represent_float(representer: Any, value: float) -> Any:
    """Floats that YAML 1.1 readers (PyYAML, used by Snakemake) also read as floats: 1.0e-06, not 1e-06."""
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def apply(name: str, params_path: str | Path) -> None:
    """Write preset ``name`` into the params file, keeping its comments and key order."""
    from crosspoint.tools.params_check import validate_all

    rt = YAML()
    rt.preserve_quotes = True
    rt.representer.add_representer(float, _represent_float)
    params_path = Path(params_path)
    data = rt.load(params_path.read_text())
    merge(data, load_overlay(name))
    validate_all(json.loads(json.dumps(data)))
    buf = io.StringIO()
    rt.dump(data, buf)
    write_text(params_path, buf.getvalue())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="preset name (a file presets/NAME.yaml)")
    parser.add_argument("--set-args", action="store_true", help="print `dvc exp run -S` arguments instead")


def main(args: argparse.Namespace) -> None:
    if args.set_args:
        print(set_args(load_overlay(args.name)))
        return
    apply(args.name, args.params)
    print(f"{args.params}: preset {args.name!r} applied (git checkout {args.params} returns to the default)")
