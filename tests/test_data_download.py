"""Download-and-verify against a local HTTP server on 127.0.0.1 (no test touches the network)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labkit.data.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download,
    extract_tgz,
    get_lfw,
)
from labkit.data.lfw import read_pairs


class _Server:
    """Serves ``files`` (name -> bytes), honouring ``Range``; records each request's Range header."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None  # send only this many bytes of the body, then close
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                outer.ranges.append(self.headers.get("Range"))
                if name not in outer.files:
                    self.send_error(404)
                    return
                body = outer.files[name]
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if outer.cut_after is not None:
                    payload = payload[: outer.cut_after]
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _jpeg(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG")
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _fake_lfw() -> tuple[dict[str, bytes], dict[str, str]]:
    files = {
        "lfw-deepfunneled.tgz": _tgz(
            {f"lfw-deepfunneled/{n}/{n}_{i:04d}.jpg": _jpeg(k * 10 + i) for k, n in enumerate(["Ann", "Bob"]) for i in (1, 2)}
        ),
        "pairs.txt": b"1\t1\nAnn\t1\t2\nAnn\t1\tBob\t2\n",
        "pairsDevTrain.txt": b"1\nBob\t1\t2\nAnn\t2\tBob\t1\n",
        "pairsDevTest.txt": b"1\nAnn\t1\t2\nAnn\t2\tBob\t2\n",
        "peopleDevTrain.txt": b"1\nBob\t2\n",
        "peopleDevTest.txt": b"1\nAnn\t2\n",
        "lfw-names.txt": b"Ann\t2\nBob\t2\n",
    }
    return files, {name: _sha(data) for name, data in files.items()}


def test_get_lfw_downloads_verifies_and_extracts(tmp_path):
    files, sums = _fake_lfw()
    with _Server(files) as srv:
        lfw = get_lfw(tmp_path, base_url=srv.url, checksums=sums, progress=False)
        assert sorted(p.name for p in (lfw / "lfw-deepfunneled").iterdir()) == ["Ann", "Bob"]
        assert len(read_pairs(lfw / "pairs.txt")) == 2
        assert not list(tmp_path.rglob("*.part")) and not list(lfw.glob(".lfw-deepfunneled-*"))
        n = len(srv.ranges)
        get_lfw(tmp_path, base_url=srv.url, checksums=sums, progress=False)  # everything verified: no new request
        assert len(srv.ranges) == n


def test_resume_from_part_file_uses_range(tmp_path):
    data = bytes(range(256)) * 1000
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(data[:100_000])
    with _Server({"big.bin": data}) as srv:
        download(srv.url + "big.bin", dest, _sha(data), progress=False)
        assert srv.ranges == ["bytes=100000-"]
    assert dest.read_bytes() == data and not (tmp_path / "big.bin.part").exists()


def test_interrupted_download_keeps_part_and_next_run_resumes(tmp_path):
    data = bytes(range(256)) * 400
    dest = tmp_path / "f.bin"
    with _Server({"f.bin": data}) as srv:
        srv.cut_after = 30_000
        with pytest.raises(DownloadError, match="resume"):
            download(srv.url + "f.bin", dest, _sha(data), progress=False, timeout=5)
        assert not dest.exists()
        assert (tmp_path / "f.bin.part").stat().st_size == 30_000
        srv.cut_after = None
        download(srv.url + "f.bin", dest, _sha(data), progress=False)
        assert srv.ranges[-1] == "bytes=30000-"
    assert dest.read_bytes() == data


def test_wrong_checksum_leaves_no_file_and_damages_nothing(tmp_path):
    files, sums = _fake_lfw()
    sums["pairsDevTest.txt"] = "sha256:" + "0" * 64
    lfw = tmp_path / "lfw"
    lfw.mkdir()
    (lfw / "notes.txt").write_text("mine")
    (lfw / "pairsDevTest.txt").write_text("an older copy")
    with _Server(files) as srv:
        with pytest.raises(ChecksumError) as err:
            get_lfw(tmp_path, base_url=srv.url, checksums=sums, progress=False)
    msg = str(err.value)
    assert "pairsDevTest.txt" in msg and "0" * 64 in msg and hashlib.sha256(files["pairsDevTest.txt"]).hexdigest() in msg
    assert (lfw / "pairsDevTest.txt").read_text() == "an older copy"
    assert (lfw / "notes.txt").read_text() == "mine"
    assert not list(tmp_path.rglob("*.part"))
    assert not (lfw / "lfw-deepfunneled").exists()
    assert (lfw / "pairs.txt").read_bytes() == files["pairs.txt"]  # files verified before the failure are kept


def test_install_from_local_copy(tmp_path):
    files, sums = _fake_lfw()
    src = tmp_path / "usb"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    lfw = get_lfw(tmp_path / "root", source=src, checksums=sums, progress=False)
    assert len(list((lfw / "lfw-deepfunneled").rglob("*.jpg"))) == 4
    (src / "pairs.txt").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="pairs.txt"):
        get_lfw(tmp_path / "other", source=src, checksums=sums, progress=False)
    assert not (tmp_path / "other" / "lfw" / "pairs.txt").exists()


def test_http_error_is_clear(tmp_path):
    with _Server({}) as srv:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(srv.url + "nope.tgz", tmp_path / "nope.tgz", "md5:" + "0" * 32, progress=False)


@pytest.mark.parametrize("bad", ["../evil.txt", "/abs.txt", "top/../../evil.txt"])
def test_unsafe_archive_is_refused(tmp_path, bad):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(_tgz({"top/ok.txt": b"ok", bad: b"x"}))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError):
        extract_tgz(archive, out, "top")
    assert list(out.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("top/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    (tmp_path / "l.tgz").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_tgz(tmp_path / "l.tgz", tmp_path, "top")


def test_cli_get_from_tampered_copy_fails_cleanly(tmp_path, capsys):
    from labkit.data.cli import main as data_main

    src = tmp_path / "copy"
    src.mkdir()
    (src / "pairs.txt").write_text("10\t300\n")  # not the official file
    root = tmp_path / "root"
    assert data_main(["-q", "get", "lfw", "--from", str(src), "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "checksum mismatch for pairs.txt" in err and "ea42330c" in err
    assert not (root / "lfw" / "pairs.txt").exists() and not list(root.rglob("*.part"))


def test_cli_get_casia_says_what_and_where(tmp_path, capsys):
    from labkit.data.cli import main as data_main

    assert data_main(["get", "casia", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "faces_webface_112x112" in out and f"{tmp_path}/casia_webface/faces_webface_112x112/train.rec" in out
    assert not any(tmp_path.iterdir())  # printing instructions writes nothing


@pytest.mark.data
def test_real_protocol_files_match_published_checksums(data_dir):
    from labkit.data.download import LFW_CHECKSUMS, LFW_PROTOCOL, verify

    lfw = data_dir("lfw")
    assert all(verify(lfw / name, LFW_CHECKSUMS[name]) for name in LFW_PROTOCOL)
