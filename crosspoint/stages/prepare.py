"""``crosspoint prepare --dataset NAME``: turn one dataset of ``params.yaml`` into a store.

The stage's work is in :mod:`crosspoint.sources.prepare`."""

from __future__ import annotations

import argparse

from crosspoint.sources.prepare import prepare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="name of an entry under datasets: in params.yaml")


def main(args: argparse.Namespace) -> None:
    prepare(args.dataset, params_path=args.params)
