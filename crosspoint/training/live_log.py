"""Training curves in DVCLive's layout, with or without the ``dvclive`` package.

``write_live(live_dir, history, summary)`` (re)writes ``live_dir/metrics.json`` and one
``live_dir/plots/metrics/<group>/<name>.tsv`` per logged metric from the whole history, so a resumed
run's curves are whole. With ``dvclive`` installed it logs through DVCLive; without it (a GPU node
where only the training job's packages are installed) it writes the same files itself, byte for byte
as DVCLive 3 writes them (tests compare the two), so ``dvc plots`` / ``dvc metrics`` and the report
read either. A row's value of None or NaN is not logged (no point on the curve).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from crosspoint.store import write_text


def _logged(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _nest(summary: dict[str, Any], key: str, value: Any) -> None:
    """``"a/b"`` -> ``summary["a"]["b"]``, as DVCLive nests its metric names."""
    group, _, name = key.rpartition("/")
    (summary.setdefault(group, {}) if group else summary)[name] = value


def write_live(live_dir: str | Path, history: list[dict[str, Any]], summary: dict[str, Any],
               use_dvclive: bool | None = None) -> None:
    """Write the curves of ``history`` (rows ``{"epoch": e, "<group>/<name>": value, ...}``) and the
    final ``summary`` (keys ``"<group>/<name>"`` or plain) into ``live_dir``. ``use_dvclive``: None =
    when importable."""
    if use_dvclive is None:
        try:
            import dvclive  # noqa: F401
        except ImportError:
            use_dvclive = False
        else:
            use_dvclive = True
    if use_dvclive:
        _write_with_dvclive(Path(live_dir), history, summary)
    else:
        _write_plain(Path(live_dir), history, summary)


def _write_with_dvclive(live_dir: Path, history: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from dvclive import Live

    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=False) as live:
        for row in history:
            live.step = int(row["epoch"])
            for key, value in row.items():
                if key != "epoch" and _logged(value):
                    live.log_metric(key, value)
            live.make_summary()
        for key, value in summary.items():
            _nest(live.summary, key, value)
        live.make_summary()


def _write_plain(live_dir: Path, history: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """What :func:`_write_with_dvclive` writes, without DVCLive (each file written atomically; curves
    of metrics no longer logged are removed, as a new ``Live`` clears the folder)."""
    metrics: dict[str, Any] = {}
    curves: dict[str, list[str]] = {}
    for row in history:
        step = int(row["epoch"])
        for key, value in row.items():
            if key == "epoch" or not _logged(value):
                continue
            _nest(metrics, key, value)
            lines = curves.setdefault(key, [f"step\t{os.path.basename(key)}"])
            lines.append(f"{step}\t{value}")
        metrics["step"] = step
    for key, value in summary.items():
        _nest(metrics, key, value)
    plots = live_dir / "plots" / "metrics"
    wanted = {plots / f"{key}.tsv" for key in curves}
    if plots.exists():
        for old in plots.rglob("*.tsv"):
            if old not in wanted:
                old.unlink()
    for key, lines in curves.items():
        write_text(plots / f"{key}.tsv", "".join(line + os.linesep for line in lines))
    write_text(live_dir / "metrics.json", json.dumps(metrics, indent=4) + "\n")
