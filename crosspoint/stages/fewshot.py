"""``crosspoint fewshot --dataset NAME``: N-way K-shot linear SVMs on frozen features (mean ± std over runs).

The stage's work is in :mod:`crosspoint.evaluate.fewshot`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.evaluate.fewshot import Params, log, run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset name (default: every dataset in fewshot.datasets)")


def main(args: argparse.Namespace) -> None:
    prm = config.section("fewshot", Params, path=args.params)
    seeds = config.pretrain_seeds(args.params)
    if args.dataset and args.dataset not in prm.datasets:
        log.warning("fewshot: %s is not in fewshot.datasets; evaluating it anyway", args.dataset)
    for name in [args.dataset] if args.dataset else prm.datasets:
        run(name, prm, seeds)
