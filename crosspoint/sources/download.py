"""Downloading and unpacking dataset archives.

:func:`download` fetches a URL into a ``.part`` file beside the destination, resuming with an HTTP
Range request after an interruption (and starting over when the server ignores Range), retries
connection errors with exponential backoff, checks the size and SHA-256, and renames the file into
place only when it is complete and verified. When no digest is pinned, the digest of the first
download is logged and recorded in ``SHA256SUMS`` beside the file so it can be pinned in params.

:func:`extract` unpacks a zip or tar archive into a temporary folder beside the destination and
renames it into place when done, so a half-extracted tree never looks complete. Before unpacking it
refuses an archive whose declared uncompressed size does not fit the free disk (with a reserve) or
is more than ``max_ratio`` times the archive's size (a decompression bomb); while unpacking it
counts the bytes written and stops at the same bound, whatever the headers declared.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from crosspoint.progress import progress
from crosspoint.store import StageError, write_text

log = logging.getLogger("crosspoint.sources.prepare")

CHUNK = 1 << 20
SUMS_FILE = "SHA256SUMS"
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class DownloadError(StageError):
    """The file could not be fetched (network trouble, server error); retrying later may help."""


class _Interrupted(Exception):
    """The transfer stopped early; the ``.part`` file keeps what arrived."""


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def filename_from_url(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    return name or "download"


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    size: int | None = None,
    *,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    pin_hint: str = "the dataset's sha256 param",
) -> Path:
    """Fetch ``url`` to ``dest`` (resumable, verified); returns ``dest``.

    ``retries``: extra attempts after a connection error, waiting ``backoff * 2**k`` seconds.
    ``pin_hint`` names the param to set in messages about the digest.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        _verify(dest, sha256, size, pin_hint)
        return dest
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            _fetch_into(url, part, size, timeout)
            break
        except _Interrupted as err:
            problem = str(err)
        except urllib.error.HTTPError as err:
            if err.code not in _RETRY_STATUS:
                raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}; check the url") from err
            problem = f"HTTP {err.code} {err.reason}"
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError) as err:
            problem = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        if attempt >= retries:
            have = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"download of {url} failed after {attempt + 1} attempt(s) ({problem}); {have} bytes kept in "
                f"{part}, run again to resume"
            )
        wait = backoff * 2**attempt
        attempt += 1
        log.warning("download of %s interrupted (%s); retry %d/%d in %.1fs", url, problem, attempt, retries, wait)
        time.sleep(wait)
    _verify(part, sha256, size, pin_hint, final=dest)
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path, size: int | None, timeout: float) -> None:
    """One HTTP request appending to ``part``; raises _Interrupted when the body ends early."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"User-Agent": "crosspoint-prepare"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # Nothing left past our offset: either the .part is complete or it is longer than the file.
            total = _total_from_content_range(err.headers.get("Content-Range", ""))
            if total == offset:
                return
            part.unlink()
            raise _Interrupted(f"server refused resuming at byte {offset}; starting over") from err
        raise
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if offset and status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink()
                raise _Interrupted(f"server resumed at byte {start}, not {offset}; starting over")
            mode = "ab"
            expected = offset + int(length) if length is not None else None
        else:
            if offset:
                log.info("server ignored the Range request for %s; downloading from the start", url)
            offset, mode = 0, "wb"
            expected = int(length) if length is not None else None
        total = expected if expected is not None else size
        received = offset
        with open(part, mode) as fh, progress(
            desc=part.name.removesuffix(".part"), total=total, unit="B", initial=offset, unit_scale=True,
        ) as bar:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                fh.write(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received < expected:
        raise _Interrupted(f"connection closed after {received} of {expected} bytes")


def _start_from_content_range(value: str) -> int | None:
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value.strip())
    return int(m.group(1)) if m else None


def _total_from_content_range(value: str) -> int | None:
    m = re.match(r"bytes\s+(?:\*|\d+-\d+)/(\d+)", value.strip())
    return int(m.group(1)) if m else None


def _verify(path: Path, sha256: str | None, size: int | None, pin_hint: str, final: Path | None = None) -> None:
    """Check size and digest of ``path`` (which will be renamed to ``final``); refuse a mismatch."""
    final = final or path
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        bad = _set_aside(path, final)
        raise StageError(
            f"{final.name}: expected {size} bytes, got {actual_size}; the file was moved to {bad}. "
            f"Run again to download it afresh, or correct the dataset's size param"
        )
    digest = sha256_of(path)
    if sha256:
        if digest != sha256.lower():
            bad = _set_aside(path, final)
            raise StageError(
                f"{final.name}: sha256 mismatch (expected {sha256.lower()}, got {digest}); the file was moved "
                f"to {bad}. Delete it and run again, or if the archive legitimately changed update {pin_hint}"
            )
        return
    recorded = _read_sums(final.parent).get(final.name)
    if recorded is None:
        _record_sum(final.parent, final.name, digest)
        log.warning(
            "%s: sha256 %s (no digest pinned; recorded in %s). Pin it by setting %s: %s",
            final.name, digest, final.parent / SUMS_FILE, pin_hint, digest,
        )
    elif recorded != digest:
        bad = _set_aside(path, final)
        raise StageError(
            f"{final.name}: sha256 {digest} differs from the one recorded at the first download ({recorded}, in "
            f"{final.parent / SUMS_FILE}); the file was moved to {bad}. Delete it and run again, or remove the "
            f"stale line from {SUMS_FILE}"
        )


def _set_aside(path: Path, final: Path) -> Path:
    bad = final.with_name(final.name + ".bad")
    os.replace(path, bad)
    return bad


def _read_sums(folder: Path) -> dict[str, str]:
    sums = folder / SUMS_FILE
    if not sums.exists():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            out[parts[1].lstrip("*").strip()] = parts[0].lower()
    return out


def _record_sum(folder: Path, name: str, digest: str) -> None:
    sums = _read_sums(folder)
    sums[name] = digest
    text = "".join(f"{d}  {n}\n" for n, d in sorted(sums.items()))
    write_text(folder / SUMS_FILE, text)


# ---------------------------------------------------------------------------------------------
# Archives


def is_archive(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"))


MAX_RATIO = 100.0  # uncompressed / compressed; real mesh archives: ModelNet40 about 4.5 (2 GB -> 9 GB)
DISK_RESERVE = 1 << 30  # bytes left free after unpacking
BLOCK_SLACK = 4096  # per member: a file takes whole file-system blocks


def extract(archive: str | Path, dest: str | Path, max_ratio: float = MAX_RATIO,
            disk_reserve: int = DISK_RESERVE) -> Path:
    """Unpack ``archive`` into the folder ``dest`` atomically; a finished ``dest`` is reused as is.

    Refused (:class:`StageError`, nothing written): an archive whose members declare more than
    ``max_ratio`` times the archive's size, or more than the destination's free disk less
    ``disk_reserve``. While unpacking, the bytes written are counted and unpacking stops at that
    same bound; the temporary folder is removed on any failure."""
    archive, dest = Path(archive), Path(dest)
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None

    def make_tmp() -> Path:
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))

    try:
        if zipfile.is_zipfile(archive):
            with _BoundedZip(archive) as zf:
                members = zf.infolist()
                limit = _bound(archive, dest, [m.file_size for m in members], max_ratio, disk_reserve)
                zf.budget = _Budget(archive, limit)
                tmp = make_tmp()
                for member in progress(members, desc=f"extract {archive.name}", unit="file"):
                    zf.extract(member, tmp)  # zipfile drops absolute paths and '..' components
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                limit = _bound(archive, dest, [m.size for m in members if m.isreg()], max_ratio, disk_reserve)
                budget = _Budget(archive, limit)
                tmp = make_tmp()
                for member in progress(members, desc=f"extract {archive.name}", unit="file"):
                    if member.isreg():
                        budget.take(member.size)  # tarfile copies exactly the declared size
                    tf.extract(member, tmp, filter="data")  # refuses paths escaping tmp, links, devices
        else:
            raise StageError(f"{archive}: not a zip or tar archive; delete it and run again, or check the url")
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise StageError(f"{archive}: could not extract ({err}); delete it and run again") from err
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _bound(archive: Path, dest: Path, sizes: list[int], max_ratio: float, disk_reserve: int) -> int:
    """The most bytes unpacking ``archive`` may write; refuse it when its declared sizes exceed that."""
    compressed = archive.stat().st_size
    declared = sum(sizes)
    by_ratio = int(max_ratio * max(compressed, 1))
    if declared > by_ratio:
        raise StageError(
            f"{archive}: its members declare {declared} bytes uncompressed, {declared / max(compressed, 1):.0f} times "
            f"the archive's {compressed} bytes (more than max_ratio = {max_ratio:g}): refused as a possible "
            f"decompression bomb; check the archive, or unpack it yourself and point the dataset's path at the folder"
        )
    free = shutil.disk_usage(dest.parent).free
    need = declared + BLOCK_SLACK * len(sizes) + disk_reserve
    if need > free:
        raise StageError(
            f"{archive}: unpacking needs {declared + BLOCK_SLACK * len(sizes)} bytes plus a reserve of {disk_reserve}, "
            f"{dest.parent} has {free} bytes free; free some space or extract elsewhere and set the dataset's path"
        )
    return min(by_ratio, free - disk_reserve)


class _Budget:
    """Bytes an extraction may still write; :meth:`take` raises once they are spent."""

    def __init__(self, archive: Path, limit: int):
        self.archive, self.limit, self.written = archive, limit, 0

    def take(self, n: int) -> None:
        self.written += n
        if self.written > self.limit:
            raise StageError(
                f"{self.archive}: unpacking stopped after {self.written} bytes, more than the bound of {self.limit} "
                f"(max_ratio times the archive's size, or the free disk less the reserve): its headers "
                f"understate the sizes; check the archive"
            )


class _BoundedZip(zipfile.ZipFile):
    """A ZipFile whose member streams (as :meth:`zipfile.ZipFile.extract` opens them) charge every
    byte read to :attr:`budget`."""

    budget: _Budget | None = None

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):  # type: ignore[override]
        stream = super().open(name, mode, pwd, force_zip64=force_zip64)
        if mode == "r" and self.budget is not None:
            return _CountingReader(stream, self.budget)
        return stream


class _CountingReader(io.RawIOBase):
    """A read-only stream charging what it returns to a :class:`_Budget`."""

    def __init__(self, stream, budget: _Budget):
        super().__init__()
        self._stream, self._budget = stream, budget

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._budget.take(len(data))
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()
