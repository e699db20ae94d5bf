"""``crosspoint check-params``: validate every section of params.yaml at once.

Each stage validates its own section when it runs; this checks them all up front (Snakemake calls
:func:`validate_all` when it loads the workflow, and the tests call it on every preset).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from crosspoint.config import ParamsError, load_params, parse_section

# params section -> module defining its ``Params`` dataclass
SECTIONS: dict[str, str] = {
    "render": "crosspoint.rendering.views",
    "sample": "crosspoint.points.sampling",
    "scan": "crosspoint.points.scans",
    "pretrain": "crosspoint.training.params",
    "features": "crosspoint.evaluate.extraction",
    "linear_svm": "crosspoint.evaluate.linear_svm",
    "steps": "crosspoint.evaluate.steps",
    "fewshot": "crosspoint.evaluate.fewshot",
    "partseg": "crosspoint.evaluate.segmentation",
    "report": "crosspoint.reporting.rows",
    "ablation": "crosspoint.tools.ablation_grid",
}


def validate_all(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the whole params mapping; returns the parsed sections. Raises ParamsError."""
    from crosspoint.sources.registry import parse_datasets

    known = {"datasets", *SECTIONS}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParamsError(f"params: unknown section(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    parsed: dict[str, Any] = {"datasets": parse_datasets(params.get("datasets") or {})}
    for name, module in SECTIONS.items():
        if name not in params:
            raise ParamsError(f"params: missing section {name!r}")
        cls = importlib.import_module(module).Params
        parsed[name] = parse_section(cls, params[name], name)
    _check_references(params)
    _check_render_source(params, parsed["datasets"])
    return parsed


def _check_references(params: dict[str, Any]) -> None:
    """Dataset names used by the stages must exist (declared, sampled or scanned)."""
    declared = set(params.get("datasets") or {})
    sampled = set(params["sample"].get("datasets", []))
    scan_sources = list(params["scan"].get("datasets") or {})
    scanned = {f"{name}_scan" for name in scan_sources}
    for name in sampled - declared:
        raise ParamsError(f"params sample.datasets: {name!r} is not declared under datasets")
    points = sampled | scanned
    for where in ("features.datasets", "linear_svm.datasets", "fewshot.datasets"):
        section, key = where.split(".")
        for name in params[section].get(key, []):
            if name not in points:
                raise ParamsError(
                    f"params {where}: {name!r} has no point set (add it to sample.datasets, or use a scan set)"
                )
    unlabelled = {n for n, e in (params.get("datasets") or {}).items() if (e or {}).get("source") == "mesh_folder"}
    for where in ("linear_svm.datasets", "fewshot.datasets", "partseg.dataset", "scan.datasets"):
        section, key = where.split(".")
        value = params[section].get(key) or []
        for name in [value] if isinstance(value, str) else value:
            if name in unlabelled or (where != "scan.datasets" and name.removesuffix("_scan") in unlabelled):
                raise ParamsError(f"params {where}: {name!r} is an unlabelled mesh folder (source mesh_folder): "
                                  "it can be pretrained on, not evaluated; list labelled datasets here")
    features = set(params["features"].get("datasets", []))
    for where in ("linear_svm.datasets", "fewshot.datasets"):
        section, key = where.split(".")
        for name in params[section].get(key, []):
            if name not in features:  # fewshot too, even with fewshot.features: own (its stage lists them)
                raise ParamsError(f"params {where}: {name!r} has no features (add it to features.datasets)")
    for name in scan_sources:
        if name not in declared:
            raise ParamsError(f"params scan.datasets: {name!r} is not declared under datasets")
    for name in params["pretrain"].get("datasets", []):
        if name not in sampled:  # its point store (sample) and its views (render) are both needed
            raise ParamsError(f"params pretrain.datasets: {name!r} is not sampled (add it to sample.datasets"
                              f"{'' if name in declared else ' and declare it under datasets'})")


# point sources without images: the render stage cannot use them (shapenet_render brings its renders)
POINT_ONLY_SOURCES = {"scanobjectnn", "shapenetpart", "modelnet40_h5"}


def _check_render_source(params: dict[str, Any], datasets: dict[str, Any]) -> None:
    """Every pretraining dataset must have images: a mesh source (rendered) or shapenet_render (decoded)."""
    for name in params["pretrain"].get("datasets", []):
        entry = datasets.get(name)
        if entry is not None and entry.source in POINT_ONLY_SOURCES:
            raise ParamsError(f"params pretrain.datasets: {name!r} (source {entry.source}) is a point set without "
                              "images; pretrain on a mesh dataset, or a shapenet_render dataset (ShapeNet clouds + "
                              "3D-R2N2 renders)")
        if entry is not None and entry.source == "shapenet_render":
            views = params["render"].get("views", 6)
            if views > entry.views:
                raise ParamsError(f"params render.views: {views} exceeds datasets.{name}.views ({entry.views})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def main(args: argparse.Namespace) -> None:
    validate_all(load_params(args.params))
    print(f"{args.params}: all sections valid")
