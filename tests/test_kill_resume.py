"""What a user's machine does to a run: ``kill -9`` of a render shard mid-write and of pretraining after its
first epoch, then ``dvc repro``. Every output must come back with the uninterrupted run's hash, ``dvc status``
and ``git status`` clean, and nothing stray under ``data/`` or ``models/`` (tiny preset, synthetic data only,
two pretraining epochs so there is an epoch to resume)."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.test_e2e import _env, make_copy, run

pytestmark = pytest.mark.slow

TARGET = "pretrain@cls-0"  # prepare@synth, render@synth-0/1, merge_views@synth, sample, merge_points@synth, pretrain@cls-0
CKPT = Path("models/pretrain_cls/seed-0")


def tree_digest(repo: Path) -> dict[str, str]:
    """md5 of every file under data/ and models/ (the DVC outputs and anything stray beside them)."""
    out = {}
    for top in ("data", "models"):
        for path in sorted((repo / top).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(repo))] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


def kill_when(repo: Path, args: list[str], cmd_part: str, ready, timeout: float = 600) -> None:
    """Run ``args`` (a dvc command) in ``repo``; once ``ready()`` holds, ``kill -9`` its descendant whose
    command line contains ``cmd_part``; wait for dvc to end (it reports the failure)."""
    proc = subprocess.Popen(args, cwd=repo, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    killed = False
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                for child in psutil.Process(proc.pid).children(recursive=True):
                    try:
                        if cmd_part in " ".join(child.cmdline()):
                            child.send_signal(signal.SIGKILL)
                            killed = True
                    except psutil.NoSuchProcess:
                        continue
                if killed:
                    break
            time.sleep(0.02)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed, f"never saw {cmd_part!r} ready to kill:\n{out[-3000:]}"
    assert proc.returncode != 0, "dvc should report the killed stage"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, str, dict[str, str]]:
    """A tiny-preset copy with TARGET built uninterrupted and committed: (repo, dvc.lock text, tree digest)."""
    repo = make_copy(tmp_path_factory.mktemp("kill"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["pretrain"]["cls"]["epochs"] = 2
    params["pretrain"]["val_every"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", TARGET], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "uninterrupted"], repo)
    return repo, (repo / "dvc.lock").read_text(), tree_digest(repo)


def assert_as_uninterrupted(repo: Path, lock: str, digest: dict[str, str]) -> None:
    assert (repo / "dvc.lock").read_text() == lock
    assert tree_digest(repo) == digest  # same files, same bytes: nothing stray under data/ or models/
    status = run(["dvc", "status", TARGET], repo).stdout
    assert "up to date" in status, status
    assert run(["git", "status", "--porcelain"], repo).stdout == ""


def test_killed_render_shard_leaves_no_trace(baseline):
    repo, lock, digest = baseline
    tmp_dir = repo / ".crosspoint-tmp"

    def writing() -> bool:
        return tmp_dir.is_dir() and any("~shard-0.h5~" in p.name for p in tmp_dir.iterdir())

    kill_when(repo, ["dvc", "repro", "-f", "-s", "render@synth-0"], "render --dataset synth --shard 0", writing)
    left = [p for p in tmp_dir.iterdir() if "~shard-0.h5~" in p.name]
    assert left, "the killed writer's temporary should be in the workspace's temporaries folder"
    assert not [p for p in (repo / "data").rglob("*") if p.name.endswith(".tmp")]

    run(["dvc", "repro", TARGET], repo)  # restores render@synth-0 (run cache) or reruns it
    assert_as_uninterrupted(repo, lock, digest)
    # the next crosspoint process on this host, whatever it runs, removes the dead writer's temporary
    run(["crosspoint", "check-params"], repo)
    assert not any(p.exists() for p in left)


def test_killed_pretraining_resumes_to_the_same_bytes(baseline):
    repo, lock, digest = baseline
    for name in ("best.pt", "last.pt"):  # as on a fresh clone: the stage has to train
        (repo / CKPT / name).unlink()
    last = repo / CKPT / "last.pt"
    kill_when(repo, ["dvc", "repro", "-s", TARGET], "pretrain --variant cls", last.exists)
    assert last.exists() and (repo / CKPT / "best.pt").exists()

    out = run(["dvc", "repro", TARGET], repo)
    assert "resuming from" in out.stderr + out.stdout
    assert_as_uninterrupted(repo, lock, digest)
