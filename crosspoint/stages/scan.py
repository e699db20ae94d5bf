"""``crosspoint scan --dataset NAME``: partial, noisy, cluttered scans of a mesh store (a ScanObjectNN

The stage's work is in :mod:`crosspoint.points.scans`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.points.scans import Params, scan_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="mesh store to scan (default: every dataset in scan.datasets)")


def main(args: argparse.Namespace) -> None:
    params = config.section("scan", Params, path=args.params)
    for dataset in [args.dataset] if args.dataset else list(params.datasets):
        scan_dataset(params, dataset)
