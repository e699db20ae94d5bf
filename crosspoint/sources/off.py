"""Reader for Object File Format (OFF) meshes as found in ModelNet.

Handles the quirks of the real files: the counts on the same line as the keyword (``OFF490 518 0``,
about a tenth of ModelNet40), ``#`` comments, blank lines, CRLF line ends, polygons with more than
three corners (fan-triangulated) and trailing per-face colours. A truncated or garbled file raises
:class:`OffError` with a short reason, which the caller records as a reject.

Memory: the file is read in blocks of about :data:`BLOCK_BYTES` of text, each parsed into NumPy
arrays before the next is read, so no Python object per line outlives its block; the result costs
24 bytes per vertex (float64) and 12 per triangle (int32) plus a transient copy of the triangles.
The counts of the header are checked before the body is read: a mesh declaring more than
``max_faces`` faces is refused at the cost of one block, and a header declaring more data lines
than the file can hold, fewer than it has, or more than it has is refused with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

BLOCK_BYTES = 1 << 22  # text parsed per step (4 MiB)
MIN_VERTEX_LINE = 6  # "0 0 0\n": the fewest bytes a vertex line can take
MIN_FACE_LINE = 2  # "0\n"


class OffError(ValueError):
    """The file is not a readable OFF mesh; the message is the reason."""


def read_off(path: str | Path, max_faces: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vertices float64 [V, 3] and triangles int32 [F, 3] of an OFF file.

    ``max_faces``: refuse (:class:`OffError`) a mesh whose header declares more faces, or whose
    polygons make more triangles, before reading further."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        return _parse(_blocks(fh), max_faces=max_faces, file_size=size)


def parse_off(text: str, max_faces: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse OFF text; see :func:`read_off`."""
    return _parse(iter([text]), max_faces=max_faces)


def _blocks(fh) -> Iterator[str]:
    """The file as text blocks of whole lines (split after a newline, so CRLF stays together)."""
    while True:
        lines = fh.readlines(BLOCK_BYTES)
        if not lines:
            return
        yield b"".join(lines).decode("latin-1")


def _data_lines(blocks: Iterable[str]) -> Iterator[list[str]]:
    """Per block, its lines without comments and surrounding blanks, empty ones left out."""
    for text in blocks:
        lines = []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                lines.append(line)
        if lines:
            yield lines


def _parse(blocks: Iterator[str], max_faces: int | None = None,
           file_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    chunks = _data_lines(blocks)
    pending: list[str] = next(chunks, [])
    if not pending:
        raise OffError("empty file (only comments or blank lines)")
    # "OFF" (or COFF/NOFF/...), or the malformed "OFF490 518 0" where the counts follow the keyword
    header = re.match(r"([A-Za-z]*OFF)\s*(.*)$", pending[0], flags=re.IGNORECASE)
    if header is None:
        raise OffError(f"missing OFF header (first line {pending[0][:40]!r})")
    rest = header.group(2).strip()
    pending = pending[1:]
    if not rest:
        if not pending:
            pending = next(chunks, [])
        if not pending:
            raise OffError("truncated: no vertex/face counts after the OFF header")
        rest, pending = pending[0], pending[1:]
    try:
        counts = [int(t) for t in rest.split()[:3]]
    except ValueError as err:
        raise OffError(f"garbled counts line {rest[:40]!r}") from err
    if len(counts) < 2 or min(counts) < 0:
        raise OffError(f"garbled counts line {rest[:40]!r}")
    n_vertices, n_faces = counts[0], counts[1]
    check_counts(n_vertices, n_faces, max_faces)
    if file_size is not None and MIN_VERTEX_LINE * n_vertices + MIN_FACE_LINE * n_faces > file_size + 1:
        raise OffError(
            f"header declares {n_vertices} vertices and {n_faces} faces, more than a file of {file_size} "
            f"bytes can hold (truncated, or a header that lies)"
        )

    vertices = np.empty((n_vertices, 3), dtype=np.float64)
    tris: list[np.ndarray] = []
    n_tris = 0
    v_done = f_done = 0
    while True:
        if v_done < n_vertices and pending:
            take = pending[:n_vertices - v_done]
            vertices[v_done:v_done + len(take)] = _parse_vertices(take)
            v_done += len(take)
            pending = pending[len(take):]
        if v_done == n_vertices and f_done < n_faces and pending:
            take = pending[:n_faces - f_done]
            block = _parse_faces(take)
            tris.append(block)
            n_tris += len(block)
            f_done += len(take)
            pending = pending[len(take):]
            if max_faces is not None and n_tris > max_faces:
                raise OffError(f"{n_faces} polygons make more than {max_faces} triangles (max_faces)")
        if pending:  # data lines after the declared faces
            raise OffError(
                f"header declares {n_vertices} vertices and {n_faces} faces, the file has more data lines "
                f"(a header that lies, or a garbled file)"
            )
        nxt = next(chunks, None)
        if nxt is None:
            break
        pending = nxt
    if v_done + f_done < n_vertices + n_faces:
        raise OffError(
            f"truncated: header announces {n_vertices} vertices and {n_faces} faces, "
            f"file has {v_done + f_done} data lines"
        )
    faces = np.concatenate(tris) if tris else np.zeros((0, 3), dtype=np.int32)
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        raise OffError(f"face index out of range (indices {faces.min()}..{faces.max()}, {n_vertices} vertices)")
    return vertices, faces


def check_counts(n_vertices: int, n_faces: int, max_faces: int | None) -> None:
    """Refuse header counts over ``max_faces`` (and vertex counts no such mesh needs) before any
    body is read."""
    if max_faces is None:
        return
    if n_faces > max_faces:
        raise OffError(f"header declares {n_faces} faces, more than max_faces = {max_faces}")
    if n_vertices > 3 * max_faces:
        raise OffError(f"header declares {n_vertices} vertices, more than 3 * max_faces = {3 * max_faces}")


def _parse_vertices(lines: list[str]) -> np.ndarray:
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


def _parse_faces(lines: list[str]) -> np.ndarray:
    """Triangles int32 [T, 3] of face lines (polygons fan-triangulated; indices not yet checked)."""
    try:
        rows = [line.split() for line in lines]
        if all(len(r) == 4 and r[0] == "3" for r in rows):  # the common all-triangle case, vectorised
            return _indices([t for r in rows for t in r[1:]])
        tris: list[str] = []
        for r in rows:
            n = int(r[0])
            if n < 3:
                continue  # points and edges carry no surface
            if len(r) < n + 1:
                raise OffError(f"garbled face line {' '.join(r)[:40]!r} ({n} corners announced)")
            for k in range(2, n):
                tris += (r[1], r[k], r[k + 1])
        return _indices(tris)
    except ValueError as err:
        if isinstance(err, OffError):
            raise
        raise OffError(f"garbled face indices ({err})") from err


def _indices(tokens: list[str]) -> np.ndarray:
    """int32 [T, 3] from index tokens; a value beyond int32 is out of range for any mesh read here."""
    wide = np.array(tokens, dtype=np.int64).reshape(-1, 3)
    if wide.size and (wide.min() < np.iinfo(np.int32).min or wide.max() > np.iinfo(np.int32).max):
        raise OffError(f"face index out of range (indices {wide.min()}..{wide.max()})")
    return wide.astype(np.int32)
