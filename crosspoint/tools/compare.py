"""``crosspoint compare``: the ablation table from the grid's results, or (``--exp NAME``) any DVC
experiments beside HEAD, rows the experiment did not recompute marked (see :mod:`crosspoint.tools.ablation`)."""

from __future__ import annotations

import argparse

from crosspoint.tools.comparison import add_compare_arguments, compare_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_compare_arguments(parser)


def main(args: argparse.Namespace) -> None:
    compare_main(args)
