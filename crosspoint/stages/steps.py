"""``crosspoint steps --dataset NAME``: the linear SVM's gain over random init at each pretraining snapshot.

The stage's work is in :mod:`crosspoint.evaluate.steps`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.evaluate.steps import Params, run
from crosspoint.settings import FeaturesParams, LinearSvmParams


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset name (default: every dataset in steps.datasets)")


def main(args: argparse.Namespace) -> None:
    prm = config.section("steps", Params, path=args.params)
    fprm = config.section("features", FeaturesParams, path=args.params)
    sprm = config.section("linear_svm", LinearSvmParams, path=args.params)
    seeds = config.pretrain_seeds(args.params)
    for name in [args.dataset] if args.dataset else prm.datasets:
        run(name, fprm, sprm, seeds)
