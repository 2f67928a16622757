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
    ident_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows of test_x for identification
    ident_names: list[str] = field(default_factory=list)  # the person of each of those rows
    train_rel: list[str] = field(default_factory=list)  # each training face's path ("celeba/<id>/<file>" for CelebA)


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


def excluded_identities(root: str | Path | None = None) -> dict[str, str]:
    """CelebA identities left out because they are LFW people: ``{celeba id: nearest LFW person}`` from
    ``excluded_identities.tsv`` (located through :mod:`labkit.data.layout`)."""
    from labkit.data.layout import locate

    lines = locate("celeba", root, kind="excluded").read_text().splitlines()[1:]
    return {ln.split("\t")[0]: ln.split("\t")[1] for ln in lines if ln.strip()}


def extra_people(name: str, root: str | Path | None = None, min_images: int = 2,
                 max_per_identity: int = 40) -> dict[str, list[str]]:
    """The training people a data set of :attr:`DataConfig.extra` adds: ``{class name: [relpath, ...]}`` with
    class names ``"<set>/<identity>"`` (never an LFW name) and relpaths under its image folder, sorted, at most
    ``max_per_identity`` each, people with fewer than ``min_images`` left out. Raises ValueError if the folder
    holds an identity the exclusion list names (an LFW person)."""
    from labkit.data.layout import locate

    if name != "celeba":
        raise ValueError(f"unknown extra training set {name!r}; valid: celeba")
    folder = locate("celeba", root, kind="images")
    banned = excluded_identities(root)
    out: dict[str, list[str]] = {}
    for person in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        if person in banned:
            raise ValueError(f"{folder / person} is listed in excluded_identities.tsv (LFW's {banned[person]}): "
                             "remove it from the folder")
        files = sorted(f.name for f in (folder / person).glob("*.jpg"))[:max_per_identity]
        if len(files) >= min_images:
            out[f"{name}/{person}"] = [f"{person}/{f}" for f in files]
    return out


def training_people(dc: DataConfig, root: str | Path | None = None) -> dict[str, tuple[str, list[str]]]:
    """Every training person of ``dc``: ``{class name: (data set, [relpath, ...])}``, LFW people first (their
    names), then the people of ``dc.extra``; with ``dc.max_identities`` only that many, the first of one seeded
    permutation (``dc.identity_seed``) of all of them, so the people kept at 300 are among those kept at 600."""
    from labkit.data.lfw import lfw_paths

    folder = lfw_paths(root, variant="aligned")
    train_people, _ = identity_split(root, dc.min_images, dc.protocol, dc.test_fold)
    out: dict[str, tuple[str, list[str]]] = {}
    for name in sorted(train_people):
        files = sorted((folder / name).glob("*.jpg"))[: dc.max_per_identity]
        if len(files) < dc.min_images:
            raise FileNotFoundError(f"{folder / name}: {len(files)} images, the protocol file lists {train_people[name]}")
        out[name] = ("lfw", [f"{name}/{f.name}" for f in files])
    for extra in dc.extra:
        for name, rel in extra_people(extra, root, dc.min_images, dc.max_per_identity).items():
            out[name] = (extra, rel)
    if dc.max_identities:
        if dc.max_identities > len(out):
            raise ValueError(f"max_identities={dc.max_identities} but {dc.split} has only {len(out)} training people")
        order = np.random.default_rng(dc.identity_seed).permutation(len(out))
        names = list(out)
        keep = {names[i] for i in order[: dc.max_identities]}
        out = {n: v for n, v in out.items() if n in keep}
    return out


def load_lab_data(
    data_config: DataConfig | None = None, root: str | Path | None = None, cache: bool = True, progress: bool = True,
    backbone: str = "cnn",
) -> LabData:
    """The lab's training and test input for ``data_config`` (default: View 1 at 56x48): pixels at ``image_size``,
    (x - 127.5) / 128. Training people: :func:`training_people` (LFW outside the test people, plus
    ``data_config.extra``). Test faces: the images of the test pairs and, for identification, every image (at most
    ``max_per_identity``) of the test people (``ident_rows`` / ``ident_names``). The faces are decoded once and
    cached as uint8 (first build: ~7,300 images, under a minute; afterwards a few seconds)."""
    from labkit.data.images import face_images
    from labkit.data.layout import locate
    from labkit.data.lfw import lfw_paths
    from labkit.experiments.toy.data import normalise

    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid names are {', '.join(BACKBONES)}")
    dc = data_config or DataConfig()
    folder = lfw_paths(root, variant="aligned")
    people = training_people(dc, root)
    _, test_people = identity_split(root, dc.min_images, dc.protocol, dc.test_fold)
    shared = sorted(set(people) & set(test_people))
    if shared:
        raise ValueError(f"training and test people share {len(shared)} people, e.g. {shared[:3]}")
    pairs = test_pairs(dc, root)
    classes = list(people)
    by_set: dict[str, list[tuple[str, int]]] = {}
    for label, name in enumerate(classes):
        src, rel = people[name]
        by_set.setdefault(src, []).extend((r, label) for r in rel)
    ident_rel = []
    for name in sorted(test_people):
        ident_rel += [f"{name}/{f.name}" for f in sorted((folder / name).glob("*.jpg"))[: dc.max_per_identity]]
    test_rel = sorted({r for p in pairs for r in p.relpaths()} | set(ident_rel))
    size = dc.image_size
    chunks, train_y, train_rel = [], [], []
    for src, items in by_set.items():
        where = folder if src == "lfw" else locate(src, root, kind="images")
        rel = [r for r, _ in items]
        chunks.append(face_images(where, rel, size, cache=cache, progress=progress))
        train_y += [lab for _, lab in items]
        train_rel += rel if src == "lfw" else [f"{src}/{r}" for r in rel]
    chunks.append(face_images(folder, test_rel, size, cache=cache, progress=progress))
    images = np.concatenate(chunks)
    n = len(train_y)
    counts = {src: len({lab for _, lab in items}) for src, items in by_set.items()}
    info: dict[str, Any] = {"train_people": len(classes), "train_images": n, "test_images": len(test_rel),
                            "pairs": len(pairs), "folds": dc.n_folds, "backbone": backbone, "split": dc.split,
                            "input": f"{size[0]}x{size[1]} RGB pixels", "train_people_by_set": counts,
                            "identification_faces": len(ident_rel)}
    x = normalise(images)
    row = {r: i for i, r in enumerate(test_rel)}
    pair_index = np.array([[row[a], row[b]] for a, b in (p.relpaths() for p in pairs)], dtype=np.int64)
    return LabData(
        train_x=x[:n], train_y=torch.as_tensor(train_y, dtype=torch.int64), classes=classes, test_x=x[n:],
        test_rel=test_rel, pair_index=pair_index, pair_same=np.array([p.same for p in pairs]),
        pair_fold=np.array([p.fold for p in pairs]), data_config=dc, info=info, backbone=backbone,
        ident_rows=np.array([row[r] for r in ident_rel], dtype=np.int64),
        ident_names=[r.split("/")[0] for r in ident_rel], train_rel=train_rel,
    )
