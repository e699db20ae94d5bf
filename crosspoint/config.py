"""Loading and validating ``params.yaml``.

Every stage describes the section it reads as a frozen dataclass (its fields are the knobs, with
types and defaults). :func:`parse_section` turns the YAML mapping into that dataclass and fails
with a one-line :class:`ParamsError` on an unknown key, a wrong type or a value out of range, so
a typo in ``params.yaml`` never runs a stage with a silently ignored setting.

A dataclass may define ``check(self) -> list[str]`` returning problems (empty when fine); the
messages are prefixed with the section path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

DEFAULT_PARAMS = Path("params.yaml")

T = TypeVar("T")


class ParamsError(ValueError):
    """A problem with params.yaml, worded so the user knows what to change."""


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read the whole params file as plain YAML (no validation)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: no such params file (run from the repository root, or pass --params)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def parse_section(cls: type[T], raw: Any, where: str) -> T:
    """Validate ``raw`` (a mapping from YAML) against dataclass ``cls``; ``where`` names it in errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"params {where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ParamsError(
            f"params {where}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(fields))}"
        )
    values = {}
    for name, field in fields.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ParamsError(f"params {where}: missing required key {name!r}")
    obj = cls(**values)
    check = getattr(obj, "check", None)
    if check is not None:
        problems = check()
        if problems:
            raise ParamsError(f"params {where}: " + "; ".join(problems))
    return obj


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return parse_section(tp, value, where)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ParamsError as err:
                errors.append(str(err))
        raise ParamsError(errors[-1] if errors else f"params {where}: invalid value {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ParamsError(f"params {where}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"params {where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ParamsError(f"params {where}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"params {where}: expected a mapping, got {value!r}")
        key_t, val_t = get_args(tp) or (Any, Any)
        return {_coerce(k, key_t, where): _coerce(v, val_t, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params {where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"params {where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"params {where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ParamsError(f"params {where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported params type {tp!r} at {where}")


def section(name: str, cls: type[T], params: dict[str, Any] | None = None, path: str | Path = DEFAULT_PARAMS) -> T:
    """Load the top-level section ``name`` of the params file as dataclass ``cls``."""
    params = load_params(path) if params is None else params
    if name not in params:
        raise ParamsError(f"params: missing section {name!r} (see params.yaml in the repository for an example)")
    return parse_section(cls, params[name], name)


def to_dict(obj: Any) -> Any:
    """A dataclass (possibly nested) as plain YAML-able data."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def pretrain_seeds(path: str | Path = DEFAULT_PARAMS, params: dict[str, Any] | None = None) -> list[int]:
    """``pretrain.seeds``: the pretraining runs every evaluation averages over (without importing
    the pretraining module, which loads torch)."""
    params = load_params(path) if params is None else params
    seeds = (params.get("pretrain") or {}).get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ParamsError(f"params pretrain.seeds: expected a list of distinct non-negative integers, got {seeds!r}")
    return list(seeds)
