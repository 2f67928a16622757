"""Datasets and the training loader: the Glint sample (folder names with spaces), corrupt images, synthetic faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data import IdentityFolderDataset
from labkit.data.cli import main as data_main
from labkit.engine import BatchPlan, dataset_labels, dataset_loader
from labkit.data.synthetic import SyntheticFaces


@pytest.mark.data
def test_glint_sample_loads_at_112x96(data_dir):
    root = data_dir("glint360k_celebrity_sample") / "celebrity_images"
    ds = IdentityFolderDataset(root, crop="arcface_to_sphereface")
    assert len(ds.classes) == 24 and len(ds) == 712
    assert "Barack Obama" in ds.classes and np.bincount(ds.targets).tolist().count(22) == 1
    x, y = ds[len(ds) - 1]
    assert x.shape == (3, 112, 96) and ds.classes[y] == "Will Smith"


@pytest.mark.data
def test_info_command_counts(data_dir, capsys):
    root = data_dir("glint360k_celebrity_sample") / "celebrity_images"
    assert data_main(["info", str(root)]) == 0
    assert "24 classes, 712 images" in capsys.readouterr().out


def test_corrupt_jpeg_is_skipped_and_counted_through_a_loader(tmp_path):
    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        for k in range(3):
            Image.fromarray(np.full((112, 96, 3), 40 * k, np.uint8)).save(tmp_path / name / f"{k}.jpg")
    good = (tmp_path / "A" / "1.jpg").read_bytes()
    (tmp_path / "A" / "1.jpg").write_bytes(good[: len(good) // 2])  # truncated JPEG
    (tmp_path / "B" / "2.jpg").write_bytes(b"not an image")
    ds = IdentityFolderDataset(tmp_path)
    loader = dataset_loader(ds, BatchPlan(dataset_labels(ds), batch=2), 0, 3, workers=0)  # one epoch: 3 steps of 2
    n = sum(len(y) for _, y in loader)
    assert n == 6
    assert sorted(p.name for p in ds.skipped) == ["1.jpg", "2.jpg"]
    # with worker processes the main process still sees the count, once per file, over two epochs
    ds = IdentityFolderDataset(tmp_path)
    plan = BatchPlan(dataset_labels(ds), batch=2)
    for epoch in range(2):
        assert sum(len(y) for _, y in dataset_loader(ds, plan, 3 * epoch, 3 * epoch + 3, workers=2)) == 6
    assert ds.skipped == set()  # the main process decoded nothing itself
    assert ds.skipped_count == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in ds.skipped_paths()) == ["A/1.jpg", "B/2.jpg"]


def test_synthetic_faces_deterministic_any_size():
    ds = SyntheticFaces.casia_like(seed=3)
    assert ds.num_classes == 10_572 and len(ds) == 10_572 * 47
    i = len(ds) - 5
    a, b = ds.image(i), SyntheticFaces.casia_like(seed=3).image(i)
    assert a.shape == (112, 96, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, ds.image(i - 1))
    assert ds[i][1] == 10_571 and ds.label(47) == 1
    assert not np.array_equal(a, SyntheticFaces.casia_like(seed=4).image(i))
    small = SyntheticFaces(num_classes=3, images_per_class=2, size=(56, 48))
    assert small[5][0].shape == (3, 56, 48)
    with pytest.raises(IndexError):
        small.image(6)


def test_the_engine_loader_shuffles_splits_ranks_and_uses_workers():
    ds = SyntheticFaces(num_classes=4, images_per_class=8, seed=0)
    plan = BatchPlan(dataset_labels(ds), batch=8, seed=1)
    loader = dataset_loader(ds, plan, 0, 4, workers=2)
    assert loader.num_workers == 2
    labels = torch.cat([y for _, y in loader])
    assert sorted(labels.tolist()) == sorted(ds.targets.tolist())  # one epoch: every image once
    assert labels.tolist() != ds.targets.tolist()  # shuffled
    halves = [torch.cat([y for _, y in dataset_loader(ds, plan, 0, 4, rank=r, world=2)]) for r in range(2)]
    assert sorted(torch.cat(halves).tolist()) == sorted(labels.tolist())  # two ranks read the same global batches

