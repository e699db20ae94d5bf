"""Atomic writes: temporaries a killed run left beside a destination are removed by the next write."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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


def test_outputs_under_the_workspace_use_its_temporaries_folder(tmp_path, monkeypatch):
    """A temporary of an output under the working directory lives in TMP_DIR, not beside the output (where a
    directory dependency such as data/render would see it), and is gone once the output is in place."""
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "data" / "render" / "shard-0.h5"
    with atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path / store.TMP_DIR
        host, pid, name, rest = tmp.name.split("~")
        assert (int(pid), name) == (os.getpid(), "shard-0.h5") and rest.endswith(".tmp")
        tmp.write_text("complete")
        assert list(dest.parent.iterdir()) == []
    assert dest.read_text() == "complete"
    assert list((tmp_path / store.TMP_DIR).iterdir()) == []


def test_sweep_removes_only_dead_writers_of_this_host(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    tmp_dir = tmp_path / store.TMP_DIR
    tmp_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    host = socket.gethostname()
    leftover = tmp_dir / f"{host}~{dead_pid}~shard-0.h5~abcd1234.tmp"
    live = tmp_dir / f"{host}~{os.getpid()}~shard-1.h5~abcd1234.tmp"  # this (live) process's
    other_host = tmp_dir / f"another-node~{dead_pid}~shard-2.h5~abcd1234.tmp"  # a cluster node's
    foreign = tmp_dir / "notes.txt"
    for f in (leftover, live, other_host, foreign):
        f.write_text("x")
    assert store.sweep_workspace_temporaries() == [Path(store.TMP_DIR) / leftover.name]
    assert not leftover.exists() and live.exists() and other_host.exists() and foreign.exists()
    assert store.sweep_workspace_temporaries() == []


def test_output_outside_the_workspace_keeps_its_temporary_beside_it(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    dest = tmp_path / "elsewhere" / "x.json"
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.name.startswith(".x.json.")
        tmp.write_text("{}")
    assert dest.read_text() == "{}" and not (work / store.TMP_DIR).exists()
