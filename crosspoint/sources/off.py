"""Reader for Object File Format (OFF) meshes as found in ModelNet.

Handles the quirks of the real files: the counts on the same line as the keyword (``OFF490 518 0``,
about a tenth of ModelNet40), ``#`` comments, blank lines, CRLF line ends, polygons with more than
three corners (fan-triangulated) and trailing per-face colours. A truncated or garbled file raises
:class:`OffError` with a short reason, which the caller records as a reject.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


class OffError(ValueError):
    """The file is not a readable OFF mesh; the message is the reason."""


def read_off(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices float64 [V, 3] and triangles int64 [F, 3] of an OFF file."""
    data = Path(path).read_bytes()
    if not data.strip():
        raise OffError("empty file")
    return parse_off(data.decode("latin-1"))


def parse_off(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse OFF text; see :func:`read_off`."""
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    if not lines:
        raise OffError("empty file (only comments or blank lines)")
    # "OFF" (or COFF/NOFF/...), or the malformed "OFF490 518 0" where the counts follow the keyword
    header = re.match(r"([A-Za-z]*OFF)\s*(.*)$", lines[0], flags=re.IGNORECASE)
    if header is None:
        raise OffError(f"missing OFF header (first line {lines[0][:40]!r})")
    rest = header.group(2).strip()
    body_start = 1
    if not rest:
        if len(lines) < 2:
            raise OffError("truncated: no vertex/face counts after the OFF header")
        rest = lines[1]
        body_start = 2
    try:
        counts = [int(t) for t in rest.split()[:3]]
    except ValueError as err:
        raise OffError(f"garbled counts line {rest[:40]!r}") from err
    if len(counts) < 2 or min(counts) < 0:
        raise OffError(f"garbled counts line {rest[:40]!r}")
    n_vertices, n_faces = counts[0], counts[1]
    body = lines[body_start:]
    if len(body) < n_vertices + n_faces:
        raise OffError(
            f"truncated: header announces {n_vertices} vertices and {n_faces} faces, "
            f"file has {len(body)} data lines"
        )
    vertices = _parse_vertices(body[:n_vertices])
    faces = _parse_faces(body[n_vertices:n_vertices + n_faces], n_vertices)
    return vertices, faces


def _parse_vertices(lines: list[str]) -> np.ndarray:
    if not lines:
        return np.zeros((0, 3))
    try:
        flat = np.array(" ".join(lines).split(), dtype=np.float64)
        if flat.size == 3 * len(lines):
            return flat.reshape(-1, 3)
        # extra per-vertex fields (colours, normals): keep the first three of each line
        rows = [line.split()[:3] for line in lines]
        if any(len(r) < 3 for r in rows):
            raise OffError("garbled vertex line (fewer than 3 coordinates)")
        return np.array(rows, dtype=np.float64)
    except ValueError as err:
        if isinstance(err, OffError):
            raise
        raise OffError(f"garbled vertex coordinates ({err})") from err


def _parse_faces(lines: list[str], n_vertices: int) -> np.ndarray:
    if not lines:
        return np.zeros((0, 3), dtype=np.int64)
    rows = [line.split() for line in lines]
    try:
        if all(len(r) == 4 and r[0] == "3" for r in rows):  # the common all-triangle case, vectorised
            faces = np.array(rows, dtype=np.int64)[:, 1:]
        else:
            tris: list[tuple[int, int, int]] = []
            for r in rows:
                n = int(r[0])
                if n < 3:
                    continue  # points and edges carry no surface
                if len(r) < n + 1:
                    raise OffError(f"garbled face line {' '.join(r)[:40]!r} ({n} corners announced)")
                idx = [int(t) for t in r[1:n + 1]]
                tris.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, n - 1))
            faces = np.array(tris, dtype=np.int64).reshape(-1, 3)
    except ValueError as err:
        if isinstance(err, OffError):
            raise
        raise OffError(f"garbled face indices ({err})") from err
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        raise OffError(f"face index out of range (indices {faces.min()}..{faces.max()}, {n_vertices} vertices)")
    return faces
