"""The shared face decoder: area downsampling, a cache outside the data root, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labkit.data.images import CorruptImageError, downsample, face_images


def _face(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((8, 6, 3), np.uint8)
    img[:4] = value  # top half bright: a 2x2 box average of it is known exactly
    Image.fromarray(img).save(path)


def test_downsample_is_an_area_average():
    img = (2 * np.arange(16, dtype=np.uint8)).reshape(4, 4, 1).repeat(3, axis=2)  # 2x2 block means are integers
    out = downsample(img, (2, 2))
    assert out.shape == (2, 2, 3)
    block_means = img[..., 0].reshape(2, 2, 2, 2).mean(axis=(1, 3))
    assert np.array_equal(out[..., 0], block_means.astype(np.uint8))
    assert downsample(img, (4, 4)) is img


def test_face_images_caches_outside_the_data_root(tmp_path, monkeypatch):
    root, cache = tmp_path / "root", tmp_path / "cache"
    monkeypatch.setenv("LABKIT_CACHE", str(cache))
    _face(root / "A" / "a1.png", 200)
    _face(root / "B" / "b1.png", 100)
    first = face_images(root, ["A/a1.png", "B/b1.png"], (4, 3), progress=False)
    assert first.shape == (2, 4, 3, 3) and first[0, 0, 0, 0] == 200 and first[1, 3, 0, 0] == 0
    assert sorted(p.name for p in root.rglob("*")) == ["A", "B", "a1.png", "b1.png"]  # nothing written there
    assert len(list(cache.rglob("*.npz"))) == 1
    (root / "A" / "a1.png").unlink()  # a cache hit must not read the sources again
    assert np.array_equal(face_images(root, ["A/a1.png", "B/b1.png"], (4, 3), progress=False), first)


def test_face_images_names_an_unreadable_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "root" / "A" / "broken.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(CorruptImageError, match="broken.jpg"):
        face_images(tmp_path / "root", ["A/broken.jpg"], (4, 3), progress=False)
    assert not list((tmp_path / "cache").rglob("*.npz"))
