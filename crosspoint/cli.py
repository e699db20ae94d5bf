"""The ``crosspoint`` command: one subcommand per pipeline stage, plus tools.

Each stage module exposes ``add_arguments(parser)`` and ``main(args)``. Only the module of the
subcommand named on the command line is imported (its options are then part of the parser, so
``crosspoint <stage> --help`` lists them all); ``crosspoint --help`` imports no stage, and a stage's
heavy imports (torch, pyrender) are paid only by the stages that need them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Iterable, Sequence

from crosspoint.config import ParamsError
from crosspoint.store import StageError, setup_logging, sweep_workspace_temporaries

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("crosspoint.stages.prepare", "fetch or generate a dataset's meshes into a mesh store"),
    "render": ("crosspoint.stages.render", "render multi-view images of one shard of the pretraining meshes"),
    "merge-views": ("crosspoint.stages.merge_views", "merge the render shards and draw the contact sheet"),
    "sample": ("crosspoint.stages.sample", "sample surface point clouds (with part labels) from a mesh store"),
    "merge-points": ("crosspoint.stages.merge_points", "merge the sample shards of a dataset into one point store"),
    "scan": ("crosspoint.stages.scan", "make partial, cluttered scans (ScanObjectNN-style) from a mesh store"),
    "pretrain": ("crosspoint.stages.pretrain", "CrossPoint self-supervised pretraining"),
    "features": ("crosspoint.stages.features", "extract frozen global features (pretrained and random init)"),
    "merge-features": ("crosspoint.stages.merge_features", "merge the feature shards of a dataset"),
    "linear-svm": ("crosspoint.stages.linear_svm", "linear SVM classification on frozen features"),
    "steps": ("crosspoint.stages.steps", "the linear SVM's gain at each pretraining snapshot"),
    "fewshot": ("crosspoint.stages.fewshot", "N-way K-shot linear SVM evaluation"),
    "partseg": ("crosspoint.stages.partseg", "part segmentation fine-tuning, pretrained and from scratch"),
    "import-weights": ("crosspoint.tools.import_weights", "import the authors' released weights as a checkpoint"),
    "embed": ("crosspoint.tools.embed", "global features of mesh or point-cloud files, a folder of them, or a store"),
    "export": ("crosspoint.tools.export", "write a checkpoint's point encoder as one self-contained file"),
    "own-data": ("crosspoint.tools.own_data", "add a folder of your own meshes (no labels) to the pretraining data"),
    "report": ("crosspoint.stages.report", "collect metrics into summary tables and figures"),
    "ablate": ("crosspoint.tools.ablation", "run the ablation grid (params: ablation) as DVC experiments or Snakemake runs"),
    "compare": ("crosspoint.tools.compare", "the ablation grid's table (results/tables/ablation.md), or DVC experiments beside HEAD (--exp)"),
    "dag": ("crosspoint.pipeline", "write or check dvc.yaml and the Snakemake rules from the stage list"),
    "preset": ("crosspoint.tools.presets", "switch params.yaml to a preset (default, paper, tiny)"),
    "check-params": ("crosspoint.tools.params_check", "validate every section of params.yaml"),
    "params-doc": ("crosspoint.tools.params_doc", "write config/README.md's table of every params key"),
    "measured": ("crosspoint.tools.measured", "write or check the measured figures the docs quote, from the bench JSON"),
}


def version() -> str:
    """The installed ``crosspoint`` distribution's version (the package's own when not installed)."""
    try:
        return importlib.metadata.version("crosspoint")
    except importlib.metadata.PackageNotFoundError:
        from crosspoint import __version__

        return __version__


def build_parser(commands: Iterable[str] = ()) -> argparse.ArgumentParser:
    """The parser; the options of each subcommand in ``commands`` come from its module's ``add_arguments``."""
    parser = argparse.ArgumentParser(prog="crosspoint", description=__doc__.splitlines()[0].replace("``", ""),
                                     epilog="crosspoint COMMAND --help lists a command's options.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = set(commands)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        p.set_defaults(_module=module)
        if name in wanted:
            add_arguments = getattr(importlib.import_module(module), "add_arguments", None)
            if add_arguments is not None:
                add_arguments(p)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: its first word not starting with ``-`` (the top-level
    options take no value), or None when there is none or it is not a command."""
    for token in argv:
        if token == "--":
            return None
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = command_in(argv)
    args = build_parser([command] if command else []).parse_args(argv)
    module = importlib.import_module(args._module)
    setup_logging(args.verbose)
    sweep_workspace_temporaries()  # what a killed earlier stage left, whether or not this one writes
    try:
        module.main(args)
    except (ParamsError, StageError) as err:
        logging.getLogger("crosspoint").error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
