"""Download-and-verify for the data sets that can be fetched (LFW), and installing them from a local copy.

Guarantees, whatever goes wrong:

- a file appears under its final name only after its checksum matched (download to ``<name>.part``, verify, then an
  atomic :func:`os.replace`);
- an interrupted download resumes from the ``.part`` file with an HTTP ``Range`` request (a server that ignores
  ``Range`` makes it start over, cleanly);
- a checksum mismatch removes the ``.part`` file, leaves any existing file untouched and raises
  :class:`ChecksumError` naming the file, the expected and the actual digest;
- archives are extracted into a temporary folder next to the destination, every member checked (no absolute paths,
  no ``..``, no links or devices), and the top folder renamed into place only when extraction finished.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from labkit import config
from labkit.data import layout

log = logging.getLogger(__name__)

LFW_BASE_URL = layout.dataset("lfw").source

# Published checksums (shared/data/SOURCES.md: torchvision, deeppy and scikit-learn). sha256 where one is published
# for the UMass file itself, else md5. Format "<algorithm>:<hex digest>".
LFW_CHECKSUMS: dict[str, str] = {
    "lfw.tgz": "md5:a17d05bd522c52d84eca14327a23d494",
    "lfw-funneled.tgz": "md5:1b42dfed7d15c9b2dd63d5e5840c86ad",
    "lfw-deepfunneled.tgz": "md5:68331da3eb755a505a502b5aacb3c201",
    "pairs.txt": "sha256:ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
    "pairsDevTrain.txt": "sha256:1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",
    "pairsDevTest.txt": "sha256:7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
    "people.txt": "md5:450f0863dd89e85e73936a6d71a3474b",
    "peopleDevTrain.txt": "md5:54eaac34beb6d042ed3a7d883e247a21",
    "peopleDevTest.txt": "md5:e4bf5be0a43b5dcd9dc5ccfcb8fb19c5",
    "lfw-names.txt": "md5:a6d0a479bd074669f656265a6e693f6d",
}
LFW_PROTOCOL = layout.LFW_PROTOCOL_FILES
# variant -> (archive name, the folder the archive unpacks to), from the layout table
LFW_ARCHIVES = {
    lay.kind: (lay.archive, Path(lay.path).name) for lay in layout.dataset("lfw").layouts if lay.archive
}
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download that could not be completed (network, HTTP status, missing local copy)."""


class ChecksumError(DownloadError):
    """A downloaded or copied file whose digest does not match the published one."""


class UnsafeArchiveError(DownloadError):
    """An archive member that would land outside the extraction folder, or is a link/device."""


@dataclass(frozen=True)
class Resource:
    """One file to fetch: ``url`` -> ``dest``, verified against ``checksum`` (``"md5:..."``/``"sha256:..."``)."""

    url: str
    dest: Path
    checksum: str


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _split_checksum(checksum: str) -> tuple[str, str]:
    algo, sep, digest = checksum.partition(":")
    if not sep or algo not in hashlib.algorithms_available or not digest:
        raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}")
    return algo, digest.lower()


def verify(path: str | Path, checksum: str) -> bool:
    """True when ``path`` hashes to ``checksum`` (``"<algorithm>:<hex>"``)."""
    algo, digest = _split_checksum(checksum)
    return file_digest(path, algo) == digest


def _check_or_raise(part: Path, final: Path, checksum: str, source: str) -> None:
    algo, digest = _split_checksum(checksum)
    actual = file_digest(part, algo)
    if actual != digest:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {final.name} from {source}: expected {algo} {digest}, got {actual}. "
            f"Nothing was written to {final}; the partial file was removed. The source is corrupt or a different "
            f"version: fetch it again, or pass a copy that matches the published checksum"
        )


def download(url: str, dest: str | Path, checksum: str, progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` and verify it; resume from ``dest.part`` when one is there.

    An existing ``dest`` that already matches is kept (no request is made). Returns ``dest``.
    """
    dest = Path(dest)
    if dest.is_file() and verify(dest, checksum):
        log.info("%s already present and verified", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "labkit"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http is the official LFW scheme)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # asked past the end: the .part is already complete (or too long)
            _check_or_raise(part, dest, checksum, url)
            os.replace(part, dest)
            return dest
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"cannot reach {url} ({exc}). Without network, fetch the file elsewhere and install it with "
            f"`python -m labkit data get lfw --from <folder holding it>`"
        ) from exc
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            log.info("server ignored the Range request for %s; starting over", url)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with open(part, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name, disable=not progress
        ) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except OSError as exc:
                    raise DownloadError(
                        f"download of {url} interrupted after {out.tell()} bytes ({exc}); run the same command "
                        f"again to resume from {part}"
                    ) from exc
                if not block:
                    break
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size < total:
        raise DownloadError(
            f"download of {url} ended early ({part.stat().st_size} of {total} bytes); run the same command again to "
            f"resume from {part}"
        )
    _check_or_raise(part, dest, checksum, url)
    os.replace(part, dest)
    return dest


def install_local(source: str | Path, dest: str | Path, checksum: str, link: bool = False) -> Path:
    """Copy (or hard-link, ``link=True``) a local file to ``dest`` with the same verify-then-rename guarantee."""
    source, dest = Path(source), Path(dest)
    if not source.is_file():
        raise DownloadError(f"local copy {source} does not exist")
    if dest.is_file() and verify(dest, checksum):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    if link:
        try:
            os.link(source, part)
        except OSError:
            shutil.copyfile(source, part)
    else:
        shutil.copyfile(source, part)
    _check_or_raise(part, dest, checksum, str(source))
    os.replace(part, dest)
    return dest


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        name = m.name
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside the extraction folder")
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"{archive}: member {name!r} is a link or special file; refusing to extract")
    return members


def extract_tgz(archive: str | Path, dest_dir: str | Path, top: str) -> Path:
    """Extract ``archive`` (a .tgz whose members all sit under ``top/``) to ``dest_dir/top``, safely and atomically.

    If ``dest_dir/top`` already exists it is left as it is and returned.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    final = dest_dir / top
    if final.is_dir():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{top}-extract-", dir=dest_dir))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _safe_members(tar, archive)
            outside = [m.name for m in members if Path(m.name).parts[:1] != (top,)]
            if outside:
                raise UnsafeArchiveError(f"{archive}: expected every member under {top}/, found {outside[:3]}")
            tar.extractall(tmp, members=members, filter="data")
        os.replace(tmp / top, final)
    except tarfile.TarError as exc:
        raise DownloadError(f"{archive} is not a readable tar.gz archive ({exc}); delete it and download again") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def get_lfw(
    root: str | Path | None = None,
    variant: str = "deepfunneled",
    base_url: str = LFW_BASE_URL,
    checksums: Mapping[str, str] = LFW_CHECKSUMS,
    source: str | Path | None = None,
    progress: bool = True,
    keep_archive: bool = True,
) -> Path:
    """Fetch LFW (archive of ``variant`` + protocol files) into ``<root>/lfw`` and return that folder.

    ``source``: a local folder holding the official files (``lfw-deepfunneled.tgz``, ``pairs.txt``, ...) to install
    from instead of the network; each is verified the same way. ``base_url``/``checksums`` are injectable (tests).
    Protocol files absent from a local ``source`` are an error; the archive may be replaced there by an already
    extracted ``lfw-deepfunneled/`` folder, which is then copied (no archive checksum can be checked in that case,
    and the log says so).
    """
    if variant not in LFW_ARCHIVES:
        raise ValueError(f"unknown LFW variant {variant!r}; choose one of {sorted(LFW_ARCHIVES)}")
    base = Path(root) if root else config.data_root()
    lfw = layout.canonical("lfw", base, "protocol")
    lfw.mkdir(parents=True, exist_ok=True)
    archive_name, top = LFW_ARCHIVES[variant]
    for name in (*LFW_PROTOCOL, archive_name):
        if name not in checksums:
            raise ValueError(f"no checksum known for {name}; refusing to fetch an unverifiable file")
    for name in LFW_PROTOCOL:
        if source is not None:
            install_local(Path(source) / name, lfw / name, checksums[name], link=True)
        else:
            download(base_url + name, lfw / name, checksums[name], progress=progress)
    if (lfw / top).is_dir():
        return lfw
    if source is not None and not (Path(source) / archive_name).is_file():
        extracted = Path(source) / top
        if not extracted.is_dir():
            raise DownloadError(f"{source} holds neither {archive_name} nor an extracted {top}/ folder")
        log.warning("installing an extracted %s from %s: no archive checksum can be checked", top, source)
        tmp = Path(tempfile.mkdtemp(prefix=f".{top}-copy-", dir=lfw))
        try:
            shutil.copytree(extracted, tmp / top)
            os.replace(tmp / top, lfw / top)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return lfw
    archive = lfw / archive_name
    if source is not None:
        install_local(Path(source) / archive_name, archive, checksums[archive_name], link=True)
    else:
        download(base_url + archive_name, archive, checksums[archive_name], progress=progress)
    extract_tgz(archive, lfw, top)
    if not keep_archive:
        archive.unlink()
    return lfw


# What cannot be downloaded here: the instructions ``python -m labkit data get`` prints, from the layout table
# (``{root}`` still to be filled in; :func:`labkit.data.layout.instructions` fills it).
MANUAL_SOURCES: dict[str, str] = {
    name: layout.instructions(name, "{root}") for name in ("casia", "ytf", "megaface")
}
