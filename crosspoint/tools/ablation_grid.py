"""The ablation grid's definition: the ``ablation`` section of params.yaml (variants as params overrides
of the baseline) and how a variant's params are made from it."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosspoint import config
from crosspoint.store import StageError

EXP_PREFIX = "ablate-"
ABLATION_DIR = Path("ablation")
# evaluation (summary row) -> the DVC stage that makes its metrics
EVAL_STAGES = {"linear_svm": "linear_svm", "fewshot": "fewshot", "partseg": "partseg"}
# data stores a Snakemake variant directory links from the main tree (never rebuilt per variant)
SHARED_DATA = ("prepared", "render", "views", "points")


@dataclass(frozen=True)
class Params:
    # variant -> {dotted params key: value}; the baseline variant has no overrides (it is HEAD)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: str = "both"
    targets: list[str] = field(default_factory=lambda: ["report"])  # DVC stages each variant runs

    def check(self) -> list[str]:
        problems = []
        if self.baseline not in self.variants:
            problems.append(f"baseline {self.baseline!r} is not one of the variants")
        elif self.variants[self.baseline]:
            problems.append(f"the baseline variant {self.baseline!r} must have no overrides (it is the committed run)")
        for name in self.variants:
            if not name.replace("_", "").replace("-", "").isalnum():
                problems.append(f"variant name {name!r}: use letters, digits, _ and -")
        unknown = [t for t in self.targets if t not in (*EVAL_STAGES, "report")]
        if unknown:
            problems.append(f"targets {unknown}: choose from {sorted((*EVAL_STAGES, 'report'))}")
        return problems

    def evaluations(self) -> list[str]:
        """The evaluations whose rows the variants recompute (all of them when the report is a target)."""
        if "report" in self.targets:
            return list(EVAL_STAGES)
        return [e for e, stage in EVAL_STAGES.items() if stage in self.targets]


def set_value(params: dict[str, Any], dotted: str, value: Any) -> None:
    """``params[a][b][c] = value`` for ``dotted = "a.b.c"``; the key must already exist."""
    *head, last = dotted.split(".")
    node = params
    for part in head:
        if not isinstance(node, dict) or part not in node:
            raise StageError(f"ablation: params key {dotted!r} does not exist")
        node = node[part]
    if not isinstance(node, dict) or last not in node:
        raise StageError(f"ablation: params key {dotted!r} does not exist")
    node[last] = value


def variant_params(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The params of a variant: a deep copy of ``base`` with the overrides applied (and validated)."""
    from crosspoint.tools.params_check import validate_all

    out = json.loads(json.dumps(base))
    for key, value in overrides.items():
        set_value(out, key, value)
    validate_all(out)
    return out


def _set_args(overrides: dict[str, Any]) -> list[str]:
    return [arg for key, value in overrides.items() for arg in ("-S", f"{key}={json.dumps(value)}")]


def load_section(args: argparse.Namespace) -> tuple[Params, dict[str, Any]]:
    params = config.load_params(args.params)
    return config.section("ablation", Params, params=params), params
