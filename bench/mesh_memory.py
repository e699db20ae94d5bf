"""Peak memory and time of the prepare stage against the face count of one mesh.

    python bench/mesh_memory.py [--faces 1e6 4e6 16e6] [--before-faces 1e6 4e6] [--before REF]
                                [--out results/bench/mesh_memory.json]

For each size an OFF file (a wavy grid: (n+1)^2 vertices, 2 n^2 triangles, coordinates with six
decimals like ModelNet's) is written to a temporary folder, and ``crosspoint prepare`` runs on a
``mesh_dir`` dataset holding just that mesh, in a fresh subprocess; its peak resident memory
(``ru_maxrss`` from ``wait4``) and wall time are recorded. "after" is this checkout's code,
"before" the code of git revision REF (default: the commit before the bounded-memory change),
exported to a temporary folder; before is measured at smaller sizes only (about 620 bytes a face:
16M faces would need about 10 GB on a machine shared with others) and extrapolated linearly.
Bytes per face is the slope of a least-squares line through (faces, peak RSS).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.host import cpu_model  # noqa: E402

DEFAULT_BEFORE = "e427d85"  # the branch point before the bounded-memory change


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as zero-padded ASCII digits, uint8 [N, width]."""
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64)
    for k in range(width - 1, -1, -1):
        out[:, k] = 48 + v % 10
        v //= 10
    return out


def write_grid_off(path: Path, n_faces: int) -> tuple[int, int]:
    """A wavy n x n grid of about ``n_faces`` triangles as OFF text; returns (vertices, faces)."""
    n = max(1, int(round((n_faces / 2) ** 0.5)))
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    # coordinates in micro-units: x, y on the grid, z a ripple; written as "dddd.dddddd"
    coords = np.stack([i.ravel() * 1000, j.ravel() * 1000, 500_000 + (i.ravel() * 7919 + j.ravel() * 104729) % 400_000], 1)
    n_v = len(coords)
    sp, nl, dot = np.uint8(32), np.uint8(10), np.uint8(46)
    cols = []
    for c in range(3):
        d = _digits(coords[:, c], 10)
        cols += [d[:, :4], np.full((n_v, 1), dot), d[:, 4:], np.full((n_v, 1), nl if c == 2 else sp)]
    vtext = np.concatenate(cols, axis=1)
    del cols
    a = (i[:-1, :-1] * (n + 1) + j[:-1, :-1]).ravel()
    quads = [(a, a + 1, a + n + 2), (a, a + n + 2, a + n + 1)]
    width = len(str(n_v))
    with open(path, "wb") as fh:
        fh.write(f"OFF\n{n_v} {2 * len(a)} 0\n".encode())
        fh.write(vtext.tobytes())
        del vtext
        for tri in quads:
            parts = [np.full((len(a), 2), [51, 32], dtype=np.uint8)]
            for k, idx in enumerate(tri):
                parts += [_digits(idx, width), np.full((len(a), 1), nl if k == 2 else sp)]
            fh.write(np.concatenate(parts, axis=1).tobytes())
    return n_v, 2 * len(a)


CHILD = r"""
import sys
from crosspoint.sources.prepare import prepare
prepare("big", params_path="params.yaml")
"""


def run_prepare(code: Path, mesh: Path, with_max_faces: bool) -> dict:
    """Prepare a one-mesh dataset with the package at ``code`` in a subprocess: peak RSS, time."""
    work = Path(tempfile.mkdtemp(prefix="mesh_memory.", dir=mesh.parent))
    extra = "\n    max_faces: null" if with_max_faces else ""
    (work / "params.yaml").write_text(
        f"datasets:\n  big:\n    source: mesh_dir\n    path: {mesh.parent.parent}\n    test_fraction: 0.0{extra}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed with code {code}:\n{err[-2000:]}")
    store = work / "data" / "prepared" / "big.h5"
    out = {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": round(seconds, 2), "store_bytes": store.stat().st_size,
           "store_md5": hashlib.md5(store.read_bytes()).hexdigest()}
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return out


def fit(rows: list[dict]) -> dict:
    """Least-squares peak RSS = a + b * faces."""
    if len(rows) < 2:
        return {}
    x = np.array([r["faces"] for r in rows], dtype=np.float64)
    y = np.array([r["peak_rss_mb"] * 2**20 for r in rows])
    b, a = np.polyfit(x, y, 1)
    return {"bytes_per_face": round(float(b), 1), "base_mb": round(float(a) / 2**20, 1)}


def export(ref: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "crosspoint"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=float, nargs="+", default=[1e6, 4e6, 16e6])
    ap.add_argument("--before-faces", type=float, nargs="*", default=[1e6, 4e6])
    ap.add_argument("--before", default=DEFAULT_BEFORE, help="git revision of the 'before' code")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results" / "bench" / "mesh_memory.json"))
    args = ap.parse_args()
    sizes = sorted({int(f) for f in [*args.faces, *args.before_faces]})
    result: dict = {
        "what": "peak RSS and wall time of `crosspoint prepare` on a mesh_dir dataset of one OFF grid mesh",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "load_avg_start": os.getloadavg(),
                    "python": platform.python_version(), "numpy": np.__version__},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "before_ref": args.before, "repeats": args.repeats, "before": [], "after": [],
    }
    with tempfile.TemporaryDirectory(prefix="mesh_memory.") as tmp:
        tmp_path = Path(tmp)
        before_code = export(args.before, tmp_path / "before")
        for faces in sizes:
            mesh = tmp_path / "meshes" / "grid" / "grid.off"
            mesh.parent.mkdir(parents=True, exist_ok=True)
            n_v, n_f = write_grid_off(mesh, faces)
            base = {"faces": n_f, "vertices": n_v, "file_mb": round(mesh.stat().st_size / 2**20, 1)}
            for label, code, todo, new in (("before", before_code, args.before_faces, False),
                                           ("after", REPO, args.faces, True)):
                if faces not in {int(f) for f in todo}:
                    continue
                runs = [run_prepare(code, mesh, new) for _ in range(args.repeats)]
                row = {**base, "peak_rss_mb": round(min(r["peak_rss_mb"] for r in runs), 1),
                       "peak_rss_mb_runs": [round(r["peak_rss_mb"], 1) for r in runs],
                       "seconds": round(float(np.median([r["seconds"] for r in runs])), 2),
                       "seconds_runs": [r["seconds"] for r in runs], "store_bytes": runs[0]["store_bytes"],
                       "store_md5": runs[0]["store_md5"]}
                result[label].append(row)
                print(label, json.dumps(row), flush=True)
            mesh.unlink()
    for label in ("before", "after"):
        result[f"{label}_fit"] = fit(result[label])
    same = {r["faces"]: r["store_md5"] for r in result["before"]}
    result["same_store_as_before"] = {str(r["faces"]): r["store_md5"] == same[r["faces"]]
                                      for r in result["after"] if r["faces"] in same}
    bf = result["before_fit"]
    if bf:
        result["before_extrapolated_16M_gb"] = round((bf["base_mb"] * 2**20 + bf["bytes_per_face"] * 16e6) / 2**30, 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("before_fit", "after_fit")}), "->", args.out)


if __name__ == "__main__":
    main()
