"""``crosspoint merge-points --dataset NAME``: concatenate the sample shards of a dataset.

The stage's work is in :mod:`crosspoint.points.merge`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.points.merge import merge_points
from crosspoint.points.sampling import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset whose sample shards to merge")


def main(args: argparse.Namespace) -> None:
    params = config.section("sample", Params, path=args.params)
    merge_points(args.dataset, params)
