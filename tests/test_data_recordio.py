"""MXNet RecordIO reader (no mxnet): a .rec/.idx pair written by the test writer, damaged on purpose."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from labkit.data.recordio import (
    MAGIC,
    RecordFormatError,
    RecordIODataset,
    pack,
    read_index,
    read_record_at,
    unpack,
    write_insightface_rec,
    write_recordio,
)


def _img(seed: int, fmt: str = "PNG", size: int = 112) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_pack_unpack_scalar_and_vector_labels():
    h, data = unpack(pack(7.0, b"abc", id=5))
    assert (h.flag, h.label, h.id, data) == (0, 7.0, 5, b"abc")
    h, data = unpack(pack([3, 9.5], b"xyz"))
    assert (h.flag, h.label, data) == (2, (3.0, 9.5), b"xyz")


def test_payload_containing_magic_is_split_and_rejoined(tmp_path):
    magic = struct.pack("<I", MAGIC)
    payload = pack(1.0, b"ab" + b"\0\0" + magic + b"tail" + magic + b"!")
    rec = write_recordio(tmp_path / "m.rec", [(0, payload)])
    raw = rec.read_bytes()
    assert raw.count(magic) >= 3  # written as several chunks (flags 1, 2, 3)
    with open(rec, "rb") as f:
        assert read_record_at(f, 0) == payload


def test_insightface_rec_counts_labels_and_meta_record(tmp_path):
    items = [(c, _img(10 * c + k)) for c in range(3) for k in range(c + 2)]  # sizes 2, 3, 4
    write_insightface_rec(tmp_path / "train.rec", items)
    ds = RecordIODataset(tmp_path)  # a folder holding train.rec/train.idx
    assert ds.header0 == (10, 13)
    assert (len(ds), ds.num_classes) == (9, 3)
    assert ds.label_counts().tolist() == [2, 3, 4]
    assert ds.labels() == [c for c, _ in items]
    x, y = ds[4]
    assert x.shape == (3, 112, 112) and y == 1
    img = np.asarray(Image.open(io.BytesIO(items[4][1])).convert("RGB"))
    assert np.allclose(x.permute(1, 2, 0).numpy() * 128 + 127.5, img)
    cropped = RecordIODataset(tmp_path / "train.rec", crop="arcface_to_sphereface")
    assert cropped[0][0].shape == (3, 112, 96)


def test_plain_rec_without_meta_and_without_idx(tmp_path):
    rec = write_recordio(tmp_path / "p.rec", [(k, pack(float(k % 2), _img(k, "JPEG"))) for k in range(5)])
    (tmp_path / "p.idx").unlink()
    ds = RecordIODataset(rec)
    assert ds.header0 is None and len(ds) == 5 and ds.num_classes == 2
    assert [ds[i][1] for i in range(5)] == [0, 1, 0, 1, 0]


def test_damaged_records_are_skipped_counted_and_named(tmp_path, caplog):
    items = [(c, _img(c * 7 + k)) for c in range(2) for k in range(3)]
    rec = write_insightface_rec(tmp_path / "train.rec", items)
    offsets = read_index(tmp_path / "train.idx")
    raw = bytearray(rec.read_bytes())
    # record 2: image bytes replaced by garbage (same length); record 4: bad magic
    start = offsets[2] + 8 + 24
    raw[start + 8 : start + 400] = b"\x00" * 392
    raw[offsets[4] : offsets[4] + 4] = b"XXXX"
    rec.write_bytes(bytes(raw))
    ds = RecordIODataset(rec)
    seen = [ds[i][1] for i in range(len(ds))]
    assert len(seen) == 6
    assert sorted(ds.skipped) == [2, 4]
    assert "record 4" in ds.skipped[4] and "bad magic" in ds.skipped[4]
    assert "record 2" in caplog.text
    # a full epoch through a DataLoader completes
    batches = list(DataLoader(ds, batch_size=4))
    assert sum(len(b[1]) for b in batches) == 6
    # through worker processes: counted in the main process, by record key
    fresh = RecordIODataset(rec)
    assert sum(len(b[1]) for b in DataLoader(fresh, batch_size=2, num_workers=2)) == 6
    assert fresh.skipped_count == 2 and fresh.skipped_keys() == [2, 4]


def test_truncated_rec_file(tmp_path):
    items = [(0, _img(1)), (0, _img(2)), (1, _img(3))]
    rec = write_insightface_rec(tmp_path / "train.rec", items)
    offsets = read_index(tmp_path / "train.idx")
    rec.write_bytes(rec.read_bytes()[: offsets[3] + 100])  # cut inside image record 3
    ds = RecordIODataset(rec)
    assert ds.header0 == (4, 6) and len(ds) == 3  # meta record survives; identity records were cut off
    out = [ds[i][1] for i in range(len(ds))]
    assert len(out) == len(ds) and 3 in ds.skipped and "truncated" in ds.skipped[3]


def test_bad_idx_line_names_file_and_line(tmp_path):
    (tmp_path / "x.idx").write_text("0\t0\n1 twelve\n")
    with pytest.raises(RecordFormatError, match=r"x.idx:2"):
        read_index(tmp_path / "x.idx")


def test_casia_factory_finds_rec_or_explains(tmp_path):
    from labkit.config import DataMissingError
    from labkit.data.casia import REC_DIR, CASIAWebFace

    with pytest.raises(DataMissingError, match="faces_webface_112x112/train.rec"):
        CASIAWebFace(tmp_path, download=True)
    (tmp_path / REC_DIR).mkdir(parents=True)
    write_insightface_rec(tmp_path / REC_DIR / "train.rec", [(0, _img(1)), (1, _img(2)), (1, _img(3))])
    ds = CASIAWebFace(tmp_path)
    assert (len(ds), ds.num_classes) == (3, 2) and ds[2][0].shape == (3, 112, 96)
