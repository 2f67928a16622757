"""MXNet RecordIO (InsightFace ``train.rec`` / ``train.idx``) read without mxnet, and a small writer for tests.

On-disk format (dmlc-core ``recordio``), all little-endian:

- each record chunk: ``uint32 magic = 0xced7230a``, ``uint32 lrec`` with ``cflag = lrec >> 29`` and
  ``length = lrec & (2**29 - 1)``, then ``length`` payload bytes padded with zeros to a multiple of 4;
- ``cflag`` 0 is a whole record; a payload that contains the magic word at a 4-byte-aligned position is split
  there into chunks flagged 1 (first), 2 (middle), 3 (last) and the magic word itself is dropped, so a reader
  re-inserts it between chunks;
- the payload of an image record is an ``IRHeader`` (``uint32 flag, float32 label, uint64 id, uint64 id2``;
  24 bytes), then, when ``flag > 0``, ``flag`` float32 labels (the label vector), then the encoded image bytes;
- ``train.idx`` is text, one ``key<TAB>byte offset`` per line.

InsightFace data sets (``faces_webface_112x112`` etc.) put a meta record at key 0: ``flag = 2``, labels
``(a, b)`` and no image; image keys run ``1 .. a-1`` and keys ``a .. b-1`` are one record per identity whose labels
are that identity's image-key range. :class:`RecordIODataset` recognises that and reads only image records.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from labkit.data._shared import SharedFlags
from labkit.data.images import CorruptImageError, crop_arcface_to_sphereface, to_tensor

log = logging.getLogger(__name__)

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LEN_MASK = (1 << 29) - 1
_IRHEADER = struct.Struct("<IfQQ")


class RecordFormatError(ValueError):
    """A .rec/.idx file that is not valid RecordIO at the given position (bad magic, truncated record)."""


@dataclass(frozen=True)
class IRHeader:
    """The image-record header: ``flag`` (number of extra labels), ``label`` (scalar, or the label vector)."""

    flag: int
    label: float | tuple[float, ...]
    id: int
    id2: int


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def read_record_at(f: io.BufferedReader, offset: int, where: str = "") -> bytes:
    """Read the (possibly multi-chunk) record starting at byte ``offset`` of an open .rec file."""
    f.seek(offset)
    out = bytearray()
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise RecordFormatError(f"{where}: file ends inside a record header at byte {f.tell() - len(head)}")
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise RecordFormatError(f"{where}: bad magic 0x{magic:08x} at byte {f.tell() - 8} (expected 0x{MAGIC:08x})")
        cflag, length = lrec >> 29, lrec & _LEN_MASK
        data = f.read(_pad4(length))
        if len(data) < length:
            raise RecordFormatError(f"{where}: record truncated: {length} bytes announced, {len(data)} present")
        out += data[:length]
        if cflag in (0, 3):
            return bytes(out)
        out += _MAGIC_BYTES


def unpack(record: bytes) -> tuple[IRHeader, bytes]:
    """Split a record payload into its :class:`IRHeader` (with the label vector when ``flag > 0``) and image bytes."""
    if len(record) < _IRHEADER.size:
        raise RecordFormatError(f"record of {len(record)} bytes is shorter than the 24-byte IRHeader")
    flag, label, id1, id2 = _IRHEADER.unpack_from(record)
    rest = record[_IRHEADER.size :]
    if flag > 0:
        if len(rest) < 4 * flag:
            raise RecordFormatError(f"IRHeader announces {flag} labels but the record holds only {len(rest)} bytes")
        labels = tuple(float(x) for x in np.frombuffer(rest[: 4 * flag], dtype="<f4"))
        return IRHeader(flag, labels, id1, id2), rest[4 * flag :]
    return IRHeader(flag, float(label), id1, id2), rest


def pack(label: float | Sequence[float], image: bytes, id: int = 0, id2: int = 0) -> bytes:
    """Build a record payload (the inverse of :func:`unpack`); a sequence label is stored as a label vector."""
    if isinstance(label, (int, float)):
        return _IRHEADER.pack(0, float(label), id, id2) + image
    vec = np.asarray(label, dtype="<f4")
    return _IRHEADER.pack(len(vec), 0.0, id, id2) + vec.tobytes() + image


def _chunks(payload: bytes) -> list[tuple[int, bytes]]:
    """Split a payload at 4-aligned magic words, as dmlc's writer does."""
    pieces, start = [], 0
    for i in range(0, len(payload) - 3, 4):
        if payload[i : i + 4] == _MAGIC_BYTES:
            pieces.append(payload[start:i])
            start = i + 4
    pieces.append(payload[start:])
    if len(pieces) == 1:
        return [(0, pieces[0])]
    return [(1 if k == 0 else 3 if k == len(pieces) - 1 else 2, p) for k, p in enumerate(pieces)]


def write_recordio(rec_path: str | Path, records: Iterable[tuple[int, bytes]], idx_path: str | Path | None = None) -> Path:
    """Write ``(key, payload)`` records to ``rec_path`` and their offsets to ``idx_path`` (default: ``.idx`` twin).

    Payloads come from :func:`pack`. Used by the tests to build small InsightFace-style data sets.
    """
    rec_path = Path(rec_path)
    idx_path = Path(idx_path) if idx_path else rec_path.with_suffix(".idx")
    with open(rec_path, "wb") as rec, open(idx_path, "w") as idx:
        for key, payload in records:
            idx.write(f"{key}\t{rec.tell()}\n")
            for cflag, piece in _chunks(payload):
                rec.write(struct.pack("<II", MAGIC, (cflag << 29) | len(piece)))
                rec.write(piece + b"\0" * (_pad4(len(piece)) - len(piece)))
    return rec_path


def write_insightface_rec(rec_path: str | Path, images: Sequence[tuple[int, bytes]]) -> Path:
    """Write ``(class, encoded image)`` items as a standard InsightFace .rec/.idx (meta record 0, identity records).

    Images must be grouped by class with classes numbered 0..C-1.
    """
    n = len(images)
    labels = [c for c, _ in images]
    classes = sorted(set(labels))
    records: list[tuple[int, bytes]] = [(0, pack([n + 1, n + 1 + len(classes)], b""))]
    records += [(k + 1, pack(float(c), img)) for k, (c, img) in enumerate(images)]
    for j, c in enumerate(classes):
        keys = [k + 1 for k, lab in enumerate(labels) if lab == c]
        records.append((n + 1 + j, pack([min(keys), max(keys) + 1], b"")))
    return write_recordio(rec_path, records)


def read_index(idx_path: str | Path) -> dict[int, int]:
    """Parse a ``.idx`` file into ``{key: byte offset}``; malformed lines raise with ``file:line``."""
    out: dict[int, int] = {}
    with open(idx_path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            tok = line.split()
            if len(tok) != 2 or not tok[0].lstrip("-").isdigit() or not tok[1].isdigit():
                raise RecordFormatError(f"{idx_path}:{n}: expected 'key<TAB>offset' (two integers), found {line.rstrip()!r}")
            out[int(tok[0])] = int(tok[1])
    return out


def scan_offsets(rec_path: str | Path) -> dict[int, int]:
    """Build ``{record number: offset}`` by walking a .rec file (for a .rec without its .idx); stops at damage."""
    out: dict[int, int] = {}
    with open(rec_path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        pos, k = 0, 0
        while pos + 8 <= size:
            start = pos
            try:
                read_record_at(f, pos, str(rec_path))
            except RecordFormatError as exc:
                log.warning("stopping the scan of %s at record %d: %s", rec_path, k, exc)
                break
            out[k] = start
            pos = f.tell()
            k += 1
    return out


class RecordIODataset(Dataset):
    """InsightFace-style ``train.rec`` as a ``(image tensor, label)`` Dataset, without mxnet.

    - ``path``: the ``.rec`` file, or a folder holding ``train.rec``/``train.idx``; without ``.idx`` the file is
      scanned once.
    - ``crop="arcface_to_sphereface"`` reads 112x112 ArcFace crops at the paper's 112x96.
    - Unreadable records (truncated, bad magic, undecodable image) are logged with their key, counted in
      ``skipped`` and replaced by the next readable record: never fatal mid-epoch. ``skipped`` holds what this
      process saw; ``skipped_count`` also counts what DataLoader workers skipped (shared memory).
    - ``num_classes`` and ``len`` give the class and image counts; ``label_counts()`` the class-size histogram data.
    """

    def __init__(
        self,
        path: str | Path,
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
        crop: str | None = None,
    ) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "train.rec"
        if not path.is_file():
            raise FileNotFoundError(
                f"RecordIO file {path} not found; see `python -m labkit data get casia` for where to put train.rec/.idx"
            )
        if crop not in (None, "arcface_to_sphereface"):
            raise ValueError(f"crop must be None or 'arcface_to_sphereface', got {crop!r}")
        self.rec_path = path
        idx = path.with_suffix(".idx")
        offsets = read_index(idx) if idx.is_file() else scan_offsets(path)
        self.offsets = offsets
        self.crop = crop
        self.transform = transform or to_tensor
        self.skipped: dict[int, str] = {}
        self._fh: io.BufferedReader | None = None
        self._pid = -1
        self.header0: tuple[int, int] | None = None
        keys = sorted(offsets)
        meta = self._try_header(0) if 0 in offsets else None
        if meta is not None and meta.flag >= 2 and isinstance(meta.label, tuple):
            a, b = int(meta.label[0]), int(meta.label[1])
            self.header0 = (a, b)
            keys = [k for k in range(1, a) if k in offsets]
        self.keys = keys
        self._skip_flags = SharedFlags(len(keys))
        self._labels: list[int] | None = None
        self.identity_ranges: dict[int, tuple[int, int]] = {}
        if self.header0 is not None:
            a, b = self.header0
            for k in range(a, b):
                h = self._try_header(k)
                if h is not None and isinstance(h.label, tuple):
                    self.identity_ranges[k - a] = (int(h.label[0]), int(h.label[1]))

    @property
    def skipped_count(self) -> int:
        """Distinct unreadable records met so far, by this process and its DataLoader workers."""
        return self._skip_flags.count()

    def skipped_keys(self) -> list[int]:
        """Record keys of every unreadable image met so far, by this process and its DataLoader workers."""
        return [self.keys[i] for i in self._skip_flags.indices()]

    # -- file handle per process (DataLoader workers fork) ------------------------------------------------------
    def _file(self) -> io.BufferedReader:
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.rec_path, "rb")
            self._pid = os.getpid()
        return self._fh

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fh"] = None
        return state

    def _try_header(self, key: int) -> IRHeader | None:
        try:
            return unpack(read_record_at(self._file(), self.offsets[key], f"{self.rec_path} record {key}"))[0]
        except RecordFormatError:
            return None

    def record(self, i: int) -> tuple[IRHeader, bytes]:
        """Header and image bytes of the ``i``-th image (raises RecordFormatError when damaged)."""
        key = self.keys[i]
        return unpack(read_record_at(self._file(), self.offsets[key], f"{self.rec_path} record {key}"))

    @staticmethod
    def _label(h: IRHeader) -> int:
        return int(h.label[0] if isinstance(h.label, tuple) else h.label)

    def labels(self) -> list[int]:
        """Class label of every image (damaged records get -1). Reads each header once, then cached."""
        if self._labels is None:
            out = []
            for i in range(len(self.keys)):
                try:
                    out.append(self._label(self.record(i)[0]))
                except RecordFormatError:
                    out.append(-1)
            self._labels = out
        return self._labels

    @property
    def num_classes(self) -> int:
        """Number of identities: from the meta record when present, else the distinct labels."""
        if self.header0 is not None:
            return self.header0[1] - self.header0[0]
        return len({lab for lab in self.labels() if lab >= 0})

    def label_counts(self) -> np.ndarray:
        """Images per class (index = class id)."""
        if self.identity_ranges:
            return np.array([b - a for _, (a, b) in sorted(self.identity_ranges.items())])
        labs = np.array([lab for lab in self.labels() if lab >= 0], dtype=np.int64)
        return np.bincount(labs) if len(labs) else np.zeros(0, dtype=np.int64)

    def read(self, i: int) -> tuple[np.ndarray, int]:
        """Decoded (and cropped) ``uint8`` image and label of image ``i``; CorruptImageError when unreadable."""
        key = self.keys[i]
        try:
            header, data = self.record(i)
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                img = np.array(im.convert("RGB"), dtype=np.uint8)
        except (RecordFormatError, UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptImageError(f"{self.rec_path} record {key}: {exc}") from exc
        if self.crop:
            img = crop_arcface_to_sphereface(img)
        return img, self._label(header)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        for step in range(len(self.keys)):
            i = (index + step) % len(self.keys)
            try:
                img, label = self.read(i)
            except CorruptImageError as exc:
                key = self.keys[i]
                if key not in self.skipped:
                    self.skipped[key] = str(exc)
                    self._skip_flags.mark(i)
                    log.warning("skipping unreadable record (%d so far): %s", len(self.skipped), exc)
                continue
            return self.transform(img), label
        raise CorruptImageError(f"no readable record at all in {self.rec_path}")
