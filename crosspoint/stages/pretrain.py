"""``crosspoint pretrain --variant cls|seg``: CrossPoint self-supervised pretraining.

The stage's work is in :mod:`crosspoint.training.pretrain`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.store import StageError
from crosspoint.training.data import log
from crosspoint.training.params import VARIANTS, Params
from crosspoint.training.pretrain import run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", choices=VARIANTS, required=True,
                        help="cls: classification encoder; seg: part-segmentation encoder")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="end after N epochs of this invocation (time-limited jobs); run again to resume")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing last.pt and start afresh")
    parser.add_argument("--seed", type=int, default=None,
                        help="the run's seed, one of pretrain.seeds (default: the first)")


def main(args: argparse.Namespace) -> None:
    prm = config.section("pretrain", Params, path=args.params)
    if args.stop_after is not None and args.stop_after < 1:
        raise StageError("--stop-after must be at least 1")
    if args.seed is not None and args.seed not in prm.seeds:
        log.warning("pretrain: seed %d is not in pretrain.seeds %s; running it anyway", args.seed, prm.seeds)
    run(prm, args.variant, args.seed, stop_after=args.stop_after, fresh=args.fresh)
