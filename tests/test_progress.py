"""Progress reporting: a few log lines off a terminal, items passed through unchanged."""

from __future__ import annotations

import logging

import pytest

from crosspoint import progress as progress_mod
from crosspoint.progress import progress


class FakeClock:
    """A clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "crosspoint.progress"]


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(progress_mod, "on_terminal", lambda: False)


def test_known_total_logs_at_most_a_line_per_tenth(caplog):
    caplog.set_level(logging.INFO)
    items = [object() for _ in range(1000)]
    out = list(progress(items, desc="work", unit="obj", clock=FakeClock(1.0)))  # 1000 s in all
    assert out == items and all(a is b for a, b in zip(out, items, strict=True))
    logged = lines(caplog)
    assert 5 <= len(logged) <= 11, logged
    assert logged[0].startswith("work: ") and "100/1000 obj (10%)" in logged[0] and "obj/s" in logged[0]
    assert logged[-1].startswith("work: done, 1000 obj in 16m")


def test_quick_loop_logs_nothing_and_generators_pass_through(caplog):
    caplog.set_level(logging.INFO)
    assert list(progress((i * i for i in range(1000)), desc="quick")) == [i * i for i in range(1000)]
    assert lines(caplog) == []


def test_unknown_total_logs_as_elapsed_time_doubles(caplog):
    caplog.set_level(logging.INFO)
    out = list(progress(iter(range(3600)), desc="stream", clock=FakeClock(1.0)))  # an hour
    assert out == list(range(3600))
    logged = lines(caplog)
    assert 5 <= len(logged) <= 12, logged  # 10 s, 20 s, 40 s, ... then the closing line


def test_counter_with_bytes_and_postfix(caplog):
    caplog.set_level(logging.INFO)
    with progress(desc="file.zip", total=10 * 2**20, unit="B", unit_scale=True, clock=FakeClock(2.0)) as bar:
        for _ in range(10):
            bar.update(2**20)
            bar.set_postfix(loss="0.5")
    logged = lines(caplog)
    assert 1 <= len(logged) <= 11
    assert "MiB" in logged[0] and "loss=0.5" in logged[0]
    assert logged[-1].startswith("file.zip: done, 10 MiB")


def test_disabled_logs_nothing(caplog):
    caplog.set_level(logging.INFO)
    assert list(progress(range(100), desc="off", disable=True, clock=FakeClock(100.0))) == list(range(100))
    assert lines(caplog) == []


def test_on_a_terminal_a_tqdm_bar_and_no_log_lines(monkeypatch, caplog, capsys):
    monkeypatch.setattr(progress_mod, "on_terminal", lambda: True)
    caplog.set_level(logging.INFO)
    bar = progress(range(50), desc="tty", unit="obj", clock=FakeClock(100.0))
    out = []
    for i in bar:
        out.append(i)
        bar.set_postfix(loss=1.0)
    assert out == list(range(50)) and lines(caplog) == []
    assert "tty" in capsys.readouterr().err  # tqdm drew on stderr
