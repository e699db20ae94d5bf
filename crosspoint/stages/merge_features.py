"""``crosspoint merge-features --dataset NAME``: concatenate the feature shards of a dataset.

The stage's work is in :mod:`crosspoint.evaluate.merge_features`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.evaluate.merge_features import merge_features
from crosspoint.settings import FeaturesParams as Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset whose feature shards to merge")
    parser.add_argument("--seed", type=int, required=True, help="pretraining seed, one of pretrain.seeds")


def main(args: argparse.Namespace) -> None:
    prm = config.section("features", Params, path=args.params)
    merge_features(args.dataset, prm, args.seed)
