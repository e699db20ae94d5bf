"""``crosspoint render --dataset D --shard I``: multi-view images of one shard of a pretraining dataset's meshes.

The stage's work is in :mod:`crosspoint.rendering.views`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.rendering.views import Params, render_shard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="a dataset of pretrain.datasets")
    parser.add_argument("--shard", type=int, required=True, help="shard index, one of render.shards")


def main(args: argparse.Namespace) -> None:
    params = config.section("render", Params, path=args.params)
    render_shard(params, args.dataset, args.shard)
