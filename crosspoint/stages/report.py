"""``crosspoint report``: the summary tables and figures of the evaluations.

The stage's work is in :mod:`crosspoint.reporting.summary`."""

from __future__ import annotations

import argparse

from crosspoint import config
from crosspoint.reporting.rows import Params, plan_from_params
from crosspoint.reporting.summary import run


def main(args: argparse.Namespace) -> None:
    params = config.load_params(args.params)
    prm = config.section("report", Params, params=params)
    run(prm, plan_from_params(params))
