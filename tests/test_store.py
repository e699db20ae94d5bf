"""Atomic writes: temporaries a killed run left beside a destination are removed by the next write."""

from __future__ import annotations

import logging
import os

from crosspoint import store
from crosspoint.store import atomic_path, remove_stale_temporaries, write_text


def age(path, seconds: float = 3600) -> None:
    """Date ``path`` back to before this process started (as if an earlier run had left it)."""
    t = store.PROCESS_STARTED - seconds
    os.utime(path, (t, t))


def test_stale_temporary_is_removed_and_the_destination_written(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    dest = tmp_path / "render" / "shard-0.h5"
    dest.parent.mkdir()
    stale = dest.parent / ".shard-0.h5.ab12cd_9.tmp"
    stale.write_bytes(b"half a file")
    age(stale)
    others = [dest.parent / ".shard-1.h5.ab12cd_9.tmp",  # another shard's
              dest.parent / ".shard-0.h5.json.ab12cd_9.tmp",  # another destination that starts alike
              dest.parent / ".shard-0.h5.notrandom.tmp"]
    for f in others:
        f.write_text("keep")
        age(f)
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.name.startswith(".shard-0.h5.") and tmp.suffix == ".tmp"
        tmp.write_text("complete")
    assert dest.read_text() == "complete"
    assert not stale.exists()
    assert all(f.exists() for f in others)
    assert sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(".shard-0.h5.")) == [
        ".shard-0.h5.json.ab12cd_9.tmp", ".shard-0.h5.notrandom.tmp"]
    assert any("removed" in r.getMessage() and stale.name in r.getMessage() for r in caplog.records)


def test_a_temporary_newer_than_this_process_is_kept(tmp_path):
    dest = tmp_path / "metrics.json"
    live = tmp_path / ".metrics.json.zz99yy88.tmp"
    live.write_text("{}")  # written now: a live writer's
    write_text(dest, "{}\n")
    assert live.exists() and dest.read_text() == "{}\n"
    assert remove_stale_temporaries(tmp_path / "absent" / "x.h5") == []


def test_a_failed_write_leaves_neither_temporary_nor_destination(tmp_path):
    dest = tmp_path / "out.csv"
    try:
        with atomic_path(dest) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
