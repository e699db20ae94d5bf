"""Downloading against a local HTTP server started by the tests (with Range support)."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import struct
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crosspoint import paths
from crosspoint.sources import download as download_module
from crosspoint.sources.base import MeshItem
from crosspoint.sources.download import SUMS_FILE, DownloadError, download, extract
from crosspoint.sources.registry import make_source, parse_dataset
from crosspoint.store import StageError

TETRA = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def modelnet_zip() -> bytes:
    """A ModelNet40-style archive: 2 classes, official train/test folders, one malformed OFF header."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ModelNet40/airplane/train/airplane_0001.off", "OFF\n4 4 0\n" + TETRA)
        zf.writestr("ModelNet40/airplane/train/airplane_0002.off", "OFF4 4 0\n" + TETRA)  # malformed header
        zf.writestr("ModelNet40/airplane/test/airplane_0627.off", "OFF\n4 4 0\n" + TETRA)
        zf.writestr("ModelNet40/bed/train/bed_0001.off", "OFF\n# comment\n\n4 4 0\n" + TETRA)
        zf.writestr("ModelNet40/bed/test/bed_0516.off", "OFF\n4 4 0\n" + TETRA)
        zf.writestr("ModelNet40/bed/test/.DS_Store", "junk")
        zf.writestr("__MACOSX/ModelNet40/bed/._bed_0001.off", "junk")
        # pad with incompressible bytes so the archive is big enough to interrupt mid-way
        zf.writestr("ModelNet40/README.txt", hashlib.sha512(b"x").hexdigest() * 400, zipfile.ZIP_STORED)
    return buf.getvalue()


@dataclass
class ServerState:
    data: bytes
    drop_after: int | None = None  # next response stops after this many body bytes
    ignore_range: bool = False
    ranges: list[str | None] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        state: ServerState = self.server.state
        if not self.path.endswith("ModelNet40.zip"):
            self.send_error(404)
            return
        requested = self.headers.get("Range")
        state.ranges.append(requested)
        start = 0
        if requested and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
            if start >= len(state.data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(state.data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(state.data) - 1}/{len(state.data)}")
        else:
            self.send_response(200)
        body = state.data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.drop_after is not None:
            body, state.drop_after = body[: state.drop_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = ServerState(data=modelnet_zip())
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def url_of(httpd, name: str = "ModelNet40.zip") -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/{name}"


def test_download_extract_and_modelnet_source(server, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    params = parse_dataset("mn", {"source": "modelnet", "url": url_of(server)})
    source = make_source(params, "mn")
    assert source.ensure_available() is None
    folder = Path(paths.download_dir("modelnet40"))
    archive = folder / "ModelNet40.zip"
    assert archive.read_bytes() == server.state.data
    assert not archive.with_name("ModelNet40.zip.part").exists()
    # no digest pinned: recorded in SHA256SUMS and the user is told to pin it
    digest = hashlib.sha256(server.state.data).hexdigest()
    assert (folder / SUMS_FILE).read_text() == f"{digest}  ModelNet40.zip\n"
    assert f"datasets.mn.sha256: {digest}" in caplog.text
    # extracted atomically: no temporary folders left beside it
    assert sorted(p.name for p in folder.iterdir()) == ["ModelNet40", "ModelNet40.zip", SUMS_FILE]

    assert source.class_names == ["airplane", "bed"]
    items = list(source.items())
    assert all(isinstance(i, MeshItem) for i in items)
    assert {(i.class_name, i.object_id, i.split) for i in items} == {
        ("airplane", "airplane_0001", "train"), ("airplane", "airplane_0002", "train"),
        ("airplane", "airplane_0627", "test"), ("bed", "bed_0001", "train"), ("bed", "bed_0516", "test"),
    }
    assert all(i.faces.shape == (4, 3) for i in items)

    # a second run uses the extracted tree without asking the server again
    requests = len(server.state.ranges)
    assert make_source(params, "mn").ensure_available() is None
    assert len(server.state.ranges) == requests
    # max_per_class keeps the first objects of each class and split
    small = make_source(parse_dataset("mn", {"source": "modelnet", "url": url_of(server), "max_per_class": 1}))
    assert len(small.entries()) == 4


def test_interrupted_download_resumes_from_part_file(server, tmp_path):
    dest = tmp_path / "ModelNet40.zip"
    server.state.drop_after = 5000
    with pytest.raises(DownloadError, match="run again to resume"):
        download(url_of(server), dest, retries=0)
    part = tmp_path / "ModelNet40.zip.part"
    assert part.stat().st_size == 5000 and not dest.exists()
    download(url_of(server), dest, retries=0)
    assert server.state.ranges == [None, "bytes=5000-"]
    assert dest.read_bytes() == server.state.data and not part.exists()


def test_retry_within_one_call_resumes(server, tmp_path):
    server.state.drop_after = 3000
    dest = download(url_of(server), tmp_path / "a.zip", retries=2, backoff=0.01)
    assert server.state.ranges == [None, "bytes=3000-"]
    assert dest.read_bytes() == server.state.data


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.state.ignore_range = True
    stale = b"stale bytes that must not stay at the front"
    (tmp_path / "a.zip.part").write_bytes(stale)
    dest = download(url_of(server), tmp_path / "a.zip", retries=0)
    assert server.state.ranges == [f"bytes={len(stale)}-"]
    assert dest.read_bytes() == server.state.data


def test_complete_part_file_is_finished_without_a_body(server, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(server.state.data)
    dest = download(url_of(server), tmp_path / "a.zip", retries=0)
    assert dest.read_bytes() == server.state.data


def test_wrong_checksum_is_refused_and_set_aside(server, tmp_path, monkeypatch):
    dest = tmp_path / "a.zip"
    with pytest.raises(StageError, match=r"a\.zip: sha256 mismatch \(expected 0{64}, got [0-9a-f]{64}\)"):
        download(url_of(server), dest, sha256="0" * 64, pin_hint="datasets.x.sha256")
    assert not dest.exists() and not (tmp_path / "a.zip.part").exists()
    assert (tmp_path / "a.zip.bad").read_bytes() == server.state.data
    # through the source, the message names the param to fix
    monkeypatch.chdir(tmp_path)
    params = parse_dataset("mn", {"source": "modelnet", "url": url_of(server), "sha256": "ab" * 32})
    with pytest.raises(StageError, match=r"update datasets\.mn\.sha256"):
        make_source(params, "mn").ensure_available()
    assert not (Path(paths.download_dir("modelnet40")) / "ModelNet40").exists()
    # the right digest is accepted
    good = hashlib.sha256(server.state.data).hexdigest()
    ok = parse_dataset("mn", {"source": "modelnet", "url": url_of(server), "sha256": good,
                              "size": len(server.state.data)})
    assert make_source(ok, "mn").ensure_available() is None


def test_http_error_is_not_retried_and_optional_dataset_is_skipped(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = url_of(server, "ModelNet10.zip")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(missing, tmp_path / "m.zip", retries=3, backoff=5.0)  # would take 35 s if it retried
    optional = parse_dataset("mn10", {"source": "modelnet", "version": 10, "url": missing, "required": False})
    assert "HTTP 404" in make_source(optional, "mn10").ensure_available()


def test_extract_is_atomic_and_reused(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(modelnet_zip())
    out = extract(archive, tmp_path / "x")
    assert (out / "ModelNet40" / "bed" / "test" / "bed_0516.off").exists()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(StageError, match="broken.zip"):
        extract(broken, tmp_path / "broken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.zip", "x", "x.zip"]


# ---------------------------------------------------------------------------------------------
# Archives that would unpack to too much


def _nothing_left(tmp_path: Path, dest: Path, archive: Path) -> None:
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]  # no temporary folder either


def _zeros_zip(path: Path, n_bytes: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ModelNet40/bomb/train/zeros.off", bytes(n_bytes))
    return path


def test_high_ratio_zip_is_refused_before_anything_is_written(tmp_path):
    archive = _zeros_zip(tmp_path / "bomb.zip", 20 << 20)  # 20 MB of zeros deflate to about 20 KB
    assert archive.stat().st_size < (20 << 20) / 500
    with pytest.raises(StageError, match=r"max_ratio = 100.*decompression bomb"):
        extract(archive, tmp_path / "bomb")
    _nothing_left(tmp_path, tmp_path / "bomb", archive)
    # a bound given by the caller lets it through
    out = extract(archive, tmp_path / "bomb", max_ratio=5000)
    assert (out / "ModelNet40/bomb/train/zeros.off").stat().st_size == 20 << 20


def test_high_ratio_tar_is_refused(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("ModelNet40/bomb/train/zeros.off")
        info.size = 20 << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(StageError, match=r"times the archive's .* bytes \(more than max_ratio = 100\)"):
        extract(archive, tmp_path / "bomb")
    _nothing_left(tmp_path, tmp_path / "bomb", archive)


def test_archive_larger_than_the_free_disk_is_refused(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(modelnet_zip())
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(StageError, match="bytes free"):
        extract(archive, tmp_path / "x", disk_reserve=free)  # nothing can be left as the reserve
    _nothing_left(tmp_path, tmp_path / "x", archive)


def _lying_zip(path: Path, real: int, declared: int) -> Path:
    """A one-member zip of ``real`` zero bytes whose local and central headers declare ``declared``."""
    _zeros_zip(path, real)
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    assert struct.unpack_from("<I", data, local + 22)[0] == real
    assert struct.unpack_from("<I", data, central + 24)[0] == real
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))
    return path


def test_zip_whose_headers_understate_sizes_stops_and_leaves_nothing(tmp_path):
    # 20 MB of zeros declared as 1000 bytes: the declared total passes the ratio check; zipfile
    # stops the member at its declared size and its CRC check fails, so nothing is renamed into place
    archive = _lying_zip(tmp_path / "liar.zip", 20 << 20, 1000)
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 1000
    with pytest.raises(StageError, match="could not extract"):
        extract(archive, tmp_path / "liar")
    _nothing_left(tmp_path, tmp_path / "liar", archive)


def test_bytes_written_are_counted_against_the_bound(tmp_path):
    # the counter on every byte zipfile hands to the extracted files, whatever the headers said
    archive = _zeros_zip(tmp_path / "z.zip", 1 << 20)
    with download_module._BoundedZip(archive) as zf:
        zf.budget = download_module._Budget(archive, 300_000)
        with pytest.raises(StageError, match=r"unpacking stopped after \d+ bytes, more than the bound of 300000"):
            zf.extract(zf.infolist()[0], tmp_path / "out")
        assert 300_000 < zf.budget.written <= 300_000 + (1 << 20)
    written = tmp_path / "out/ModelNet40/bomb/train/zeros.off"
    assert written.stat().st_size <= 300_000  # the block over the bound was never written
