"""``crosspoint merge-views``: concatenate the render shards and draw the contact sheet.

The stage's work is in :mod:`crosspoint.rendering.merge`."""

from __future__ import annotations

import argparse

from crosspoint import config, paths
from crosspoint.rendering.merge import contact_sheet, merge
from crosspoint.rendering.views import Params


def main(args: argparse.Namespace) -> None:
    params = config.section("render", Params, path=args.params)
    merge(params, args.params)
    contact_sheet(paths.views(), paths.contact_sheet(), params.contact_sheet_objects)
