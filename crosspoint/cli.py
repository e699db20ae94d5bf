"""The ``crosspoint`` command: one subcommand per pipeline stage, plus tools.

Each stage module exposes ``add_arguments(parser)`` and ``main(args)``; it is imported only when
its subcommand runs, so ``crosspoint --help`` stays fast and a stage's heavy imports (torch,
pyrender) are paid only by the stages that need them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from crosspoint.config import ParamsError
from crosspoint.store import StageError, setup_logging

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("crosspoint.prepare", "fetch or generate a dataset's meshes into a mesh store"),
    "render": ("crosspoint.render", "render multi-view images of one shard of the pretraining meshes"),
    "merge-views": ("crosspoint.merge_views", "merge the render shards and draw the contact sheet"),
    "sample": ("crosspoint.sample", "sample surface point clouds (with part labels) from a mesh store"),
    "merge-points": ("crosspoint.merge_points", "merge the sample shards of a dataset into one point store"),
    "scan": ("crosspoint.scan", "make partial, cluttered scans (ScanObjectNN-style) from a mesh store"),
    "pretrain": ("crosspoint.pretrain", "CrossPoint self-supervised pretraining"),
    "features": ("crosspoint.features", "extract frozen global features (pretrained and random init)"),
    "merge-features": ("crosspoint.merge_features", "merge the feature shards of a dataset"),
    "linear-svm": ("crosspoint.evaluate.linear_svm", "linear SVM classification on frozen features"),
    "fewshot": ("crosspoint.evaluate.fewshot", "N-way K-shot linear SVM evaluation"),
    "partseg": ("crosspoint.evaluate.partseg", "part segmentation fine-tuning, pretrained and from scratch"),
    "import-weights": ("crosspoint.import_weights", "import the authors' released weights as a checkpoint"),
    "report": ("crosspoint.report", "collect metrics into summary tables and figures"),
    "dag": ("crosspoint.pipeline", "write or check dvc.yaml and the Snakemake rules from the stage list"),
    "preset": ("crosspoint.presets", "switch params.yaml to a preset (default, paper, tiny)"),
    "check-params": ("crosspoint.params_check", "validate every section of params.yaml"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosspoint", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # Parse once to find the subcommand, then let its module add its own arguments.
    known, _ = parser.parse_known_args(argv)
    module = importlib.import_module(known._module)
    sub_parser = parser._subparsers._group_actions[0].choices[known.command]  # noqa: SLF001
    if hasattr(module, "add_arguments"):
        module.add_arguments(sub_parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        module.main(args)
    except (ParamsError, StageError) as err:
        logging.getLogger("crosspoint").error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
