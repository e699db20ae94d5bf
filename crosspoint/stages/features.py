"""``crosspoint features --dataset NAME --shard I``: frozen global features of one shard of a dataset.

The stage's work is in :mod:`crosspoint.evaluate.extraction`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.evaluate.extraction import Params, extract_shard, log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name (one of features.datasets)")
    parser.add_argument("--shard", type=int, required=True, help="shard index, one of features.shards")
    parser.add_argument("--seed", type=int, required=True, help="pretraining seed, one of pretrain.seeds")


def main(args: argparse.Namespace) -> None:
    prm = config.section("features", Params, path=args.params)
    if args.dataset not in prm.datasets:
        log.warning("features: %s is not in features.datasets; extracting it anyway", args.dataset)
    extract_shard(args.dataset, prm, args.shard, args.seed)
