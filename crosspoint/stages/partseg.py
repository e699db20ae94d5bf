"""``crosspoint partseg``: part segmentation fine-tuning, from the pretrained encoder and from scratch.

The stage's work is in :mod:`crosspoint.evaluate.partseg`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.evaluate.partseg import Params, log, run
from crosspoint.store import StageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="override partseg.dataset (must match the params to be tracked)")
    parser.add_argument("--seed", type=int, default=None,
                        help="pretraining seed whose seg encoder to fine-tune, one of pretrain.seeds (default: the first)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="end after N epochs of this invocation (time-limited jobs); run again to resume")


def main(args: argparse.Namespace) -> None:
    prm = config.section("partseg", Params, path=args.params)
    if args.dataset and args.dataset != prm.dataset:
        prm = Params(**{**prm.__dict__, "dataset": args.dataset})
    seeds = config.pretrain_seeds(args.params)
    seed = seeds[0] if args.seed is None else args.seed
    if seed not in seeds:
        log.warning("partseg: seed %d is not in pretrain.seeds %s; running it anyway", seed, seeds)
    if args.stop_after is not None and args.stop_after < 1:
        raise StageError("--stop-after must be at least 1")
    run(prm, seed, stop_after=args.stop_after)
