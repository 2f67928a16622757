"""The lab's faces (notebook 07 section 2): identity-disjoint training people and test pairs from the LFW protocol
files (View 1: DevTrain people, DevTest pairs; View 2: everybody outside one fold of ``pairs.txt``, that fold's 600
pairs), decoded once and cached as uint8 in :func:`labkit.config.cache_dir` (never in the data root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labkit.data.lfw import Pair, devtest_pairs, pair_people, view2_fold_pairs  # the one fold assignment
from labkit.experiments.lab_scale.configs import BACKBONES, DataConfig


@dataclass
class LabData:
    """Network input for training and testing: normalised pixels (N, 3, H, W); mirror images are made on the fly
    (:func:`labkit.engine.apply_flip` in training, ``x.flip(3)`` for the test-time flip)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    classes: list[str]
    test_x: torch.Tensor
    test_rel: list[str]
    pair_index: np.ndarray  # (n_pairs, 2) rows of test_x
    pair_same: np.ndarray
    pair_fold: np.ndarray
    data_config: DataConfig
    info: dict[str, Any] = field(default_factory=dict)
    backbone: str = "cnn"


def identity_split(root: str | Path | None = None, min_images: int = 2, protocol: str = "view1",
                   test_fold: int = 0) -> tuple[dict[str, int], dict[str, int]]:
    """(training people with >= ``min_images`` images, test people), each ``{name: images}``. View 1: the
    DevTrain and DevTest people files. View 2: the test people are those of fold ``test_fold``'s pairs in
    ``pairs.txt``; the training people everybody else in ``lfw-names.txt`` (``people.txt``, which lists each fold's
    people, is not needed: a person outside the fold's pairs can never be in its test pairs). Raises ValueError if
    the two share anybody."""
    from labkit.data.lfw import protocol_path, read_people

    if protocol == "view1":
        train = {n: c for n, c in read_people(protocol_path("peopleDevTrain.txt", root)).items() if c >= min_images}
        test = read_people(protocol_path("peopleDevTest.txt", root))
    elif protocol == "view2":
        everybody = read_people(protocol_path("lfw-names.txt", root))
        test = {n: everybody.get(n, 0) for n in sorted(pair_people(view2_fold_pairs(test_fold, root)))}
        train = {n: c for n, c in everybody.items() if c >= min_images and n not in test}
    else:
        raise ValueError(f"protocol must be 'view1' or 'view2', got {protocol!r}")
    shared = sorted(set(train) & set(test))
    if shared:
        raise ValueError(f"training and test people share {len(shared)} people, e.g. {shared[:3]}")
    return train, test


def test_pairs(dc: DataConfig, root: str | Path | None = None) -> list[Pair]:
    """The test pairs of a data configuration, each with its threshold fold: the 1,000 DevTest pairs (View 1) or
    fold ``test_fold``'s 600 pairs of ``pairs.txt`` (View 2), cut into ``n_folds`` folds."""
    if dc.protocol == "view1":
        return devtest_pairs(root, dc.n_folds)
    return view2_fold_pairs(dc.test_fold, root, dc.n_folds)


def load_lab_data(
    data_config: DataConfig | None = None, root: str | Path | None = None, cache: bool = True, progress: bool = True,
    backbone: str = "cnn",
) -> LabData:
    """The lab's training and test input for ``data_config`` (default: View 1 at 56x48): pixels at ``image_size``,
    (x - 127.5) / 128. The faces are decoded once and cached as uint8 (first build: ~7,300 images, under a minute;
    afterwards a few seconds)."""
    from labkit.data.images import face_images
    from labkit.data.lfw import lfw_paths
    from labkit.experiments.toy.data import normalise

    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid names are {', '.join(BACKBONES)}")
    dc = data_config or DataConfig()
    folder = lfw_paths(root, variant="aligned")
    train_people, _ = identity_split(root, dc.min_images, dc.protocol, dc.test_fold)
    pairs = test_pairs(dc, root)
    classes = sorted(train_people)
    train_rel, train_y = [], []
    for label, name in enumerate(classes):
        files = sorted((folder / name).glob("*.jpg"))[: dc.max_per_identity]
        if len(files) < dc.min_images:
            raise FileNotFoundError(f"{folder / name}: {len(files)} images, the protocol file lists {train_people[name]}")
        train_rel += [f"{name}/{f.name}" for f in files]
        train_y += [label] * len(files)
    test_rel = sorted({r for p in pairs for r in p.relpaths()})
    size = dc.image_size
    images = face_images(folder, train_rel + test_rel, size, cache=cache, progress=progress)
    n = len(train_rel)
    info: dict[str, Any] = {"train_people": len(classes), "train_images": n, "test_images": len(test_rel),
                            "pairs": len(pairs), "folds": dc.n_folds, "backbone": backbone, "split": dc.split,
                            "input": f"{size[0]}x{size[1]} RGB pixels"}
    x = normalise(images)
    row = {r: i for i, r in enumerate(test_rel)}
    pair_index = np.array([[row[a], row[b]] for a, b in (p.relpaths() for p in pairs)], dtype=np.int64)
    return LabData(
        train_x=x[:n], train_y=torch.as_tensor(train_y, dtype=torch.int64), classes=classes, test_x=x[n:],
        test_rel=test_rel, pair_index=pair_index, pair_same=np.array([p.same for p in pairs]),
        pair_fold=np.array([p.fold for p in pairs]), data_config=dc, info=info, backbone=backbone,
    )
