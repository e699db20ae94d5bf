"""``crosspoint linear-svm``: linear SVM classification on frozen features.

The stage's work is in :mod:`crosspoint.evaluate.linear_svm`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.evaluate.linear_svm import Params, run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset name (default: every dataset in linear_svm.datasets)")


def main(args: argparse.Namespace) -> None:
    prm = config.section("linear_svm", Params, path=args.params)
    seeds = config.pretrain_seeds(args.params)
    for name in [args.dataset] if args.dataset else prm.datasets:
        run(name, prm, seeds)
