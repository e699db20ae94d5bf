"""``crosspoint merge-views --dataset D``: concatenate a dataset's render shards and draw its contact sheet.

The stage's work is in :mod:`crosspoint.rendering.merge`."""

from __future__ import annotations

import argparse

from crosspoint import config, paths
from crosspoint.rendering.merge import contact_sheet, merge
from crosspoint.rendering.views import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="a dataset of pretrain.datasets")


def main(args: argparse.Namespace) -> None:
    params = config.section("render", Params, path=args.params)
    merge(params, args.dataset)
    contact_sheet(paths.views(args.dataset), paths.contact_sheet(args.dataset), params.contact_sheet_objects)
