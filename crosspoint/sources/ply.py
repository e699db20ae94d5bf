"""Reader for the vertices of PLY files (point clouds), in file order.

Handles the three encodings (``ascii``, ``binary_little_endian``, ``binary_big_endian``), comments
and ``obj_info`` lines, any scalar property types, extra vertex properties (normals, colours) and
other elements before or after ``vertex``. Only ``x``, ``y``, ``z`` of the ``vertex`` element are
returned, in the order the file stores them: no merging, sorting or other processing (trimesh's
loader may reorder or drop points). A truncated or garbled file raises :class:`PlyError` with a
short reason, which the caller records as a reject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class PlyError(ValueError):
    """The file is not a readable PLY point cloud; the message is the reason."""


TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
ENCODINGS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}


@dataclass
class Element:
    name: str
    count: int
    # (property name, numpy type code) for scalars; (name, (count type, item type)) for lists
    properties: list[tuple[str, str | tuple[str, str]]] = field(default_factory=list)

    @property
    def has_lists(self) -> bool:
        return any(isinstance(t, tuple) for _, t in self.properties)


def read_ply_points(path: str | Path) -> np.ndarray:
    """The ``x, y, z`` of every vertex of a PLY file, float64 [V, 3], in file order."""
    data = Path(path).read_bytes()
    if not data.strip():
        raise PlyError("empty file")
    return parse_ply_points(data)


def parse_header(data: bytes) -> tuple[str, list[Element], int]:
    """The encoding, the elements and the byte offset where the body starts."""
    if not data.startswith(b"ply"):
        raise PlyError(f"missing 'ply' magic line (file starts with {data[:16]!r})")
    end = data.find(b"end_header")
    if end < 0:
        raise PlyError("truncated header (no end_header line)")
    body = data.find(b"\n", end)
    body = len(data) if body < 0 else body + 1
    lines = data[:end].decode("latin-1").replace("\r", "").split("\n")
    encoding = None
    elements: list[Element] = []
    for raw in lines[1:]:
        tokens = raw.split()
        if not tokens or tokens[0] in ("comment", "obj_info"):
            continue
        key = tokens[0]
        if key == "format":
            if len(tokens) < 2 or tokens[1] not in ENCODINGS:
                raise PlyError(f"unknown format line {raw.strip()[:40]!r}")
            encoding = tokens[1]
        elif key == "element":
            if len(tokens) != 3 or not tokens[2].isdigit():
                raise PlyError(f"garbled element line {raw.strip()[:40]!r}")
            elements.append(Element(tokens[1], int(tokens[2])))
        elif key == "property":
            if not elements:
                raise PlyError("property line before any element line")
            if len(tokens) == 5 and tokens[1] == "list" and tokens[2] in TYPES and tokens[3] in TYPES:
                elements[-1].properties.append((tokens[4], (TYPES[tokens[2]], TYPES[tokens[3]])))
            elif len(tokens) == 3 and tokens[1] in TYPES:
                elements[-1].properties.append((tokens[2], TYPES[tokens[1]]))
            else:
                raise PlyError(f"garbled property line {raw.strip()[:40]!r}")
        else:
            raise PlyError(f"unexpected header line {raw.strip()[:40]!r}")
    if encoding is None:
        raise PlyError("no format line in the header")
    return encoding, elements, body


def parse_ply_points(data: bytes) -> np.ndarray:
    """See :func:`read_ply_points`."""
    encoding, elements, offset = parse_header(data)
    index = next((i for i, e in enumerate(elements) if e.name == "vertex"), None)
    if index is None:
        raise PlyError("no vertex element")
    vertex = elements[index]
    names = [n for n, _ in vertex.properties]
    missing = [c for c in "xyz" if c not in names]
    if missing:
        raise PlyError(f"vertex element has no {', '.join(missing)} property")
    if encoding == "ascii":
        return _ascii_vertices(data[offset:], elements, index)
    order = ENCODINGS[encoding]
    for e in elements[:index]:
        if e.has_lists:
            offset = _skip_binary_lists(data, offset, e, order)
        else:
            offset += e.count * _dtype(e, order).itemsize
    if vertex.has_lists:
        raise PlyError("vertex element with list properties is not supported")
    dtype = _dtype(vertex, order)
    need = vertex.count * dtype.itemsize
    if offset + need > len(data):
        raise PlyError(f"truncated: {vertex.count} vertices announced, the file ends after "
                       f"{max(len(data) - offset, 0) // dtype.itemsize}")
    table = np.frombuffer(data, dtype=dtype, count=vertex.count, offset=offset)
    return np.stack([table[c].astype(np.float64) for c in "xyz"], axis=1)


def _dtype(e: Element, order: str) -> np.dtype:
    return np.dtype([(n, order + t) for n, t in e.properties])  # type: ignore[operator]


def _skip_binary_lists(data: bytes, offset: int, e: Element, order: str) -> int:
    """Offset after a binary element with list properties (read item by item)."""
    for _ in range(e.count):
        for _, t in e.properties:
            if isinstance(t, tuple):
                count_t, item_t = np.dtype(order + t[0]), np.dtype(order + t[1])
                if offset + count_t.itemsize > len(data):
                    raise PlyError(f"truncated in element {e.name}")
                n = int(np.frombuffer(data, dtype=count_t, count=1, offset=offset)[0])
                offset += count_t.itemsize + n * item_t.itemsize
            else:
                offset += np.dtype(t).itemsize
    if offset > len(data):
        raise PlyError(f"truncated in element {e.name}")
    return offset


def _ascii_vertices(body: bytes, elements: list[Element], index: int) -> np.ndarray:
    lines = [ln for ln in body.decode("latin-1").replace("\r", "").split("\n") if ln.strip()]
    start = sum(e.count for e in elements[:index])  # one line per item of each earlier element
    vertex = elements[index]
    rows = lines[start:start + vertex.count]
    if len(rows) < vertex.count:
        raise PlyError(f"truncated: {vertex.count} vertices announced, the file has {len(rows)} vertex lines")
    if vertex.has_lists:
        raise PlyError("vertex element with list properties is not supported")
    cols = [n for n, _ in vertex.properties]
    pick = [cols.index(c) for c in "xyz"]
    try:
        table = np.array([r.split() for r in rows], dtype=np.float64) if rows else np.zeros((0, len(cols)))
    except ValueError as err:
        raise PlyError(f"garbled vertex line ({str(err)[:60]})") from err
    if table.ndim != 2 or table.shape[1] != len(cols):
        raise PlyError(f"garbled vertex lines (expected {len(cols)} values each)")
    return table[:, pick]


# ---------------------------------------------------------------------------------------------
# Checks of a PLY mesh file before a full reader loads it

HEADER_LIMIT = 1 << 20  # a header longer than this is not a mesh header


def read_header(path: str | Path) -> tuple[str, list[Element], int]:
    """:func:`parse_header` of a file, reading only the header."""
    with open(path, "rb") as fh:
        head = b""
        while b"end_header" not in head and len(head) < HEADER_LIMIT:
            block = fh.read(1 << 16)
            if not block:
                break
            head += block
    end = head.find(b"end_header")
    if end >= 0:
        nl = head.find(b"\n", end)
        head = head[:nl + 1] if nl >= 0 else head
    return parse_header(head)


def element_count(elements: list[Element], name: str) -> int:
    return next((e.count for e in elements if e.name == name), 0)


def body_problem(path: str | Path, encoding: str, elements: list[Element], offset: int) -> str | None:
    """Why the body of a PLY file does not hold what its header declares (None when it does, or
    when that cannot be told cheaply: binary elements with lists of varying length)."""
    path = Path(path)
    declared = ", ".join(f"{e.count} {e.name}" for e in elements)
    if encoding == "ascii":
        lines = 0
        with open(path, "rb") as fh:
            fh.seek(offset)
            while block := fh.readlines(1 << 22):
                lines += sum(1 for ln in block if ln.strip())
        want = sum(e.count for e in elements)
        if lines != want:
            return f"header declares {declared} ({want} data lines), the body has {lines} (a header that lies)"
        return None
    order = ENCODINGS[encoding]
    size = path.stat().st_size
    end = offset
    record = 1
    for e in elements:
        rows = _uniform_rows(path, end, e, order, size) if e.has_lists else _dtype(e, order)
        if rows is None:
            return None
        end += e.count * rows.itemsize
        record = max(rows.itemsize, 1)
    # a few stray bytes after the body (less than one more item of the last element) are tolerated
    if end > size or size - end >= record:
        return (f"header declares {declared}, which take {end - offset} bytes; the body has {size - offset} "
                f"(a header that lies)")
    return None


def _uniform_rows(path: Path, offset: int, e: Element, order: str, size: int) -> np.dtype | None:
    """The record type of element ``e`` if its lists all have the length of the first one (read
    from the file and checked), else None."""
    if e.count == 0:
        return np.dtype([])
    fields = []
    first = offset
    for name, t in e.properties:
        if isinstance(t, tuple):
            count_t = np.dtype(order + t[0])
            if first + count_t.itemsize > size:
                return None
            k = int(np.fromfile(path, dtype=count_t, count=1, offset=first)[0])
            if k == 0:
                return None
            fields += [(name + "__n", count_t), (name, np.dtype(order + t[1]), (k,))]
            first += count_t.itemsize + k * np.dtype(order + t[1]).itemsize
        else:
            fields.append((name, np.dtype(order + t)))
            first += np.dtype(order + t).itemsize
    rows = np.dtype(fields)
    n = min(e.count, (size - offset) // max(rows.itemsize, 1))
    table = np.fromfile(path, dtype=rows, count=n, offset=offset)
    for name, t in e.properties:
        if isinstance(t, tuple) and not np.all(table[name + "__n"] == table[name + "__n"][0]):
            return None
    return rows
