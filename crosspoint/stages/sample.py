"""The ``sample`` stage: surface point clouds with per-point part labels, one shard at a time.

The stage's work is in :mod:`crosspoint.points.sampling`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.points.sampling import Params, log, sample_shard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset to sample (one of sample.datasets)")
    parser.add_argument("--shard", type=int, required=True, help="shard index, one of sample.shards")


def main(args: argparse.Namespace) -> None:
    params = config.section("sample", Params, path=args.params)
    if args.dataset not in params.datasets:
        log.warning("sample: %s is not in sample.datasets; sampling it anyway", args.dataset)
    sample_shard(args.dataset, params, args.shard)
