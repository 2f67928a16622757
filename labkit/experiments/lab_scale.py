"""Lab-scale reproductions of the CosFace paper's loss experiments: Fig. 5 (verification accuracy vs the margin m),
Table 1 (LMCL with and without feature normalisation) and Table 2 (Softmax, NSL, A-Softmax, LMCL on the same data
and network).

The lab setting, and how it differs from the paper's (Sec. 4.1-4.3):

- Training data: LFW View 1 training people (``peopleDevTrain.txt``) with at least ``min_images`` images each,
  at most ``max_per_identity`` images per person (default 5 and 40: 298 people, 3,493 images). The paper trains on
  CASIA-WebFace (10,575 people, ~494K images).
- Test data: the 1,000 pairs of View 1 ``pairsDevTest.txt`` (500 matched, 500 mismatched). Their 963 people are
  all in ``peopleDevTest.txt``, which shares nobody with ``peopleDevTrain.txt``: the network never sees a test
  identity. The pairs are cut into 10 folds of 50 matched + 50 mismatched pairs (file order) and scored with the
  lab's one 10-fold routine, :func:`labkit.evaluate.kfold_verification`. The paper reports LFW View 2 (6,000 pairs).
- Network (``backbone="cnn"``, the default): a small CNN on pixels. The aligned 112x96 faces are area-downsampled
  to 28x24 RGB (decoded once, cached as uint8 in :func:`labkit.config.cache_dir`, never in the data root),
  normalised as (x - 127.5) / 128. Four conv3x3-BN-PReLU blocks (widths :data:`CNN_CHANNELS`, max-pool after the
  first three; :class:`labkit.experiments.toy.model.ToyNet` reused), FC(``hidden``)-PReLU-BN, and a bias-free linear
  ``embedding_dim``-d (128) embedding; the heads of :mod:`labkit.losses` sit on top. About 0.24M parameters in the
  network. The paper trains a 64-layer residual CNN on 112x96 pixels with a 512-d embedding.
- Optimisation (cnn): Adam (lr 3e-3, weight decay 5e-4), linear warm-up over the first 10 % of the iterations then
  cosine decay (:func:`warmup_cosine`), batch 128, ``epochs`` passes of 27 iterations (5 epochs = 135 iterations,
  instead of the paper's 30K SGD iterations), random horizontal flips (p = 0.5), 2 CPU threads per run.
  Scale s = 30 by default (the paper: 64; the Eq. 6 bound for 298 classes is about 8).
- ``backbone="hog-mlp"``: the fast, weaker alternative kept from the first version of this lab: HOG of the grey
  56x48 face (6x6-pixel cells, 2x2-cell blocks), ``pca_dim`` whitened PCA components fitted on the training images
  only, a 3-layer MLP (``hidden`` units, BN, PReLU) to the embedding, SGD 0.1 with the paper's step schedule
  (lr / 10 at 16/30, 24/30, 28/30 of the run, :meth:`labkit.train.TrainConfig.lr_at`). The network never sees
  pixels, so it is a stand-in, not a reproduction; use it with ``--epochs 8 20`` (its earlier training lengths).
- Testing as in the paper: the embeddings of the image and of its mirror image are concatenated
  (:func:`labkit.evaluate.combine_flip`, ``"concat"``) and compared by cosine.
- A-Softmax: ``labkit.losses.SphereFaceHead`` with m = 4; its lambda annealing is compressed so that lambda reaches
  its floor (5) halfway through the run (SphereFace's own schedule reaches it after ~1,660 of its 30K iterations).
- LMCL without feature normalisation (Table 1): the weights are normalised, the features are not, so the logits
  are |x| cos(theta_j) and |x| (cos(theta_y) - m) (:class:`labkit.losses.UnnormalizedCosFaceHead`). As in the paper, that model
  starts from the softmax loss (here: the first third of the iterations with m = 0) and then trains with LMCL.

Error bars: each run gives a 10-fold mean accuracy; :func:`summarize` reports the mean over seeds and its standard
error std(ddof=1)/sqrt(n_seeds) (the 10-fold s.e. of the single run when there is one seed, labelled as such).

Entry points: :func:`load_lab_data` (decodes once, caches the uint8 faces in :func:`labkit.config.cache_dir`),
:func:`run_grid` (list of :class:`ExperimentConfig` x seeds -> list of JSON-ready records, tqdm bar, each finished
run cached), :func:`summarize`, :func:`suite` (the configurations of Fig. 5 / Table 1 / Table 2 for a mode),
``python -m labkit.experiments.lab_scale --mode full --out data/shipped/lab_scale`` (``--backbone hog-mlp`` for the
descriptor MLP).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import platform
import re
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labkit import config
from labkit.losses import UnnormalizedCosFaceHead

__all__ = [
    "PAPER",
    "DataConfig",
    "ExperimentConfig",
    "LabData",
    "MarginMLP",
    "BACKBONES",
    "CNN_CHANNELS",
    "build_backbone",
    "warmup_cosine",
    "preset",
    "suite",
    "load_lab_data",
    "identity_split",
    "devtest_pairs",
    "train_run",
    "evaluate_run",
    "run_one",
    "run_grid",
    "summarize",
    "save_records",
    "load_records",
    "markdown_table",
    "plot_margin_curve",
    "plot_bars",
]

#: bump when the training or evaluation code changes what a cached run would return
RUN_VERSION = 3
#: CPU threads a CNN run uses (the lab budget: a shared 2-core CPU)
CPU_THREADS = 2
#: cosine scale used for NSL/LMCL/ArcFace unless a config says otherwise
DEFAULT_S = 30.0

#: Published numbers (CosFace paper, CVPR 2018). Fig. 5's values are only drawn in the figure (not printed in the
#: text): its reading is qualitative (m = 0 worst, accuracy rising with m, saturating at m = 0.35; m > 0.45 fails to
#: converge). NSL is not a row of Table 2.
PAPER: dict[str, Any] = {
    "fig5": {
        "setting": "CASIA-WebFace, 64-layer CNN, LFW View 2 (6,000 pairs) and YTF; m from 0 to 0.45",
        "reading": "worst at m = 0; accuracy improves consistently with m and saturates at m = 0.35",
    },
    "table1": {  # LFW, YTF, MF1 rank-1, MF1 TAR@1e-6 FAR
        "setting": "CASIA-WebFace, 64-layer CNN, m = 0.35",
        "rows": {
            "LMCL, no feature normalisation": {"LFW": 99.10, "YTF": 93.1, "MF1 Rank1": 75.10, "MF1 Veri.": 88.65},
            "LMCL, feature normalisation": {"LFW": 99.33, "YTF": 96.1, "MF1 Rank1": 77.11, "MF1 Veri.": 89.88},
        },
    },
    "table2": {
        "setting": "CASIA-WebFace, the same 64-layer CNN for every loss",
        "rows": {
            "Softmax": {"LFW": 97.88, "YTF": 93.1, "MF1 Rank1": 54.85, "MF1 Veri.": 65.92},
            "Softmax+Contrastive": {"LFW": 98.78, "YTF": 93.5, "MF1 Rank1": 65.21, "MF1 Veri.": 78.86},
            "Triplet": {"LFW": 98.70, "YTF": 93.4, "MF1 Rank1": 64.79, "MF1 Veri.": 78.32},
            "L-Softmax": {"LFW": 99.10, "YTF": 94.0, "MF1 Rank1": 67.12, "MF1 Veri.": 80.42},
            "Softmax+Center": {"LFW": 99.05, "YTF": 94.4, "MF1 Rank1": 65.49, "MF1 Veri.": 80.14},
            "A-Softmax": {"LFW": 99.42, "YTF": 95.0, "MF1 Rank1": 72.72, "MF1 Veri.": 85.56},
            "A-Softmax-NormFea": {"LFW": 99.32, "YTF": 95.4, "MF1 Rank1": 75.42, "MF1 Veri.": 88.82},
            "LMCL": {"LFW": 99.33, "YTF": 96.1, "MF1 Rank1": 77.11, "MF1 Veri.": 89.88},
        },
    },
}

from labkit.palette import SERIES as COLORS  # noqa: E402

HEAD_NAMES = ("softmax", "nsl", "sphereface", "cosface", "arcface")
BACKBONES = ("cnn", "hog-mlp")


# ------------------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how they become network input (see the module docstring). ``image_size`` is the CNN's
    input; ``hog_size``, ``hog_cell`` and ``pca_dim`` only matter for the ``hog-mlp`` backbone."""

    min_images: int = 5
    max_per_identity: int = 40
    image_size: tuple[int, int] = (28, 24)  # (height, width) the aligned 112x96 faces are area-downsampled to
    hog_size: tuple[int, int] = (56, 48)
    hog_cell: int = 6
    pca_dim: int = 256
    n_folds: int = 10

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run's recipe (the seed is separate). ``label`` names it in tables and plots."""

    head: str = "cosface"  # softmax | nsl | sphereface | cosface | arcface
    m: float = 0.35  # cosine margin (cosface), angular margin (arcface), integer m (sphereface); unused otherwise
    s: float = DEFAULT_S
    normalize_features: bool = True  # False: LMCL on |x| cos(theta) (Table 1, cosface only)
    backbone: str = "cnn"  # cnn (pixels, the default) | hog-mlp (fixed HOG descriptors, the fast alternative)
    epochs: int = 5
    batch: int = 128
    lr: float | None = None  # None: the backbone's default (cnn: Adam 3e-3; hog-mlp: SGD 0.1)
    momentum: float = 0.9  # SGD only (hog-mlp)
    weight_decay: float = 5e-4
    hidden: int = 256
    embedding_dim: int = 128
    label: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.head not in HEAD_NAMES:
            raise ValueError(f"unknown head {self.head!r}; valid names are {', '.join(HEAD_NAMES)}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; valid names are {', '.join(BACKBONES)}")
        if not (isinstance(self.m, (int, float)) and math.isfinite(self.m)) or self.m < 0:
            raise ValueError(f"the margin m must be a finite number >= 0, got {self.m!r}")
        if self.head == "sphereface" and (self.m < 1 or float(self.m) != int(self.m)):
            raise ValueError(f"A-Softmax (sphereface) needs an integer margin m >= 1 (the paper's 4), got {self.m!r}")
        if not self.normalize_features and self.head != "cosface":
            raise ValueError("normalize_features=False is the Table 1 variant of LMCL: use it with head='cosface'")
        if self.s <= 0:
            raise ValueError(f"the scale s must be > 0, got {self.s!r}")
        for name in ("epochs", "batch", "hidden", "embedding_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    @property
    def learning_rate(self) -> float:
        """``lr``, or the backbone's default when it is None."""
        return float(self.lr) if self.lr is not None else {"cnn": 3e-3, "hog-mlp": 0.1}[self.backbone]

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.head == "cosface":
            return f"LMCL m={self.m:g}" + ("" if self.normalize_features else ", no feature norm")
        return {"softmax": "Softmax", "nsl": "NSL", "sphereface": f"A-Softmax m={int(self.m)}"}.get(
            self.head, f"ArcFace m={self.m:g}")

    def key(self) -> dict[str, Any]:
        """The fields that change the result (``label`` does not)."""
        d = asdict(self)
        d.pop("label")
        return d


def preset(mode: str) -> dict[str, Any]:
    """The grid size of each mode for the default CNN: ``fast`` (5 short runs, well under a minute on a shared
    2-core CPU) and ``full`` (39 runs: m = 0, 0.05, ..., 0.45, 3 seeds, 5 epochs; about 5 minutes as three
    one-thread processes, one per seed, up to half an hour when the machine is busy). ``epochs`` is a list: every experiment is run at
    each training length in it."""
    if mode == "fast":
        return {"m_grid": [0.0, 0.35], "seeds": [0], "epochs": [2]}
    if mode == "full":
        return {"m_grid": [round(0.05 * i, 2) for i in range(10)], "seeds": [0, 1, 2], "epochs": [5]}
    raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}")


def suite(m_grid: Iterable[float], epochs: int | Sequence[int], s: float = DEFAULT_S,
          margin: float = 0.35, backbone: str = "cnn") -> dict[str, list[ExperimentConfig]]:
    """The configurations of the three experiments, at each training length in ``epochs`` (labels get an
    ", N epochs" suffix when there are several). A configuration shared by several experiments (LMCL m=0.35; NSL =
    LMCL m=0) is the same run: :func:`run_grid` trains it once. Every configuration uses ``backbone``."""
    lengths = [int(epochs)] if isinstance(epochs, int) else [int(e) for e in epochs]
    out: dict[str, list[ExperimentConfig]] = {"fig5": [], "table1": [], "table2": []}
    for ep in lengths:
        tag = f", {ep} epochs" if len(lengths) > 1 else ""
        out["fig5"] += [ExperimentConfig(head="cosface", m=float(m), s=s, epochs=ep, backbone=backbone,
                                         label=f"LMCL m={float(m):g}{tag}") for m in m_grid]
        out["table1"] += [
            ExperimentConfig(backbone=backbone, head="cosface", m=margin, s=s, epochs=ep, label=f"LMCL, feature normalisation{tag}"),
            ExperimentConfig(backbone=backbone, head="cosface", m=margin, s=s, epochs=ep, normalize_features=False,
                             label=f"LMCL, no feature normalisation{tag}"),
        ]
        out["table2"] += [
            ExperimentConfig(backbone=backbone, head="softmax", epochs=ep, label=f"Softmax{tag}"),
            ExperimentConfig(backbone=backbone, head="cosface", m=0.0, s=s, epochs=ep, label=f"NSL{tag}"),
            ExperimentConfig(backbone=backbone, head="sphereface", m=4, epochs=ep, label=f"A-Softmax{tag}"),
            ExperimentConfig(backbone=backbone, head="cosface", m=margin, s=s, epochs=ep, label=f"LMCL{tag}"),
        ]
    return out


# ------------------------------------------------------------------------------------------------ data


@dataclass
class LabData:
    """Network input for training and testing, each image and its mirror image: normalised pixels (N, 3, H, W) for
    the ``cnn`` backbone, float32 whitened HOG-PCA descriptors (N, D) for ``hog-mlp``."""

    train_x: torch.Tensor
    train_x_flip: torch.Tensor
    train_y: torch.Tensor
    classes: list[str]
    test_x: torch.Tensor
    test_x_flip: torch.Tensor
    test_rel: list[str]
    pair_index: np.ndarray  # (n_pairs, 2) rows of test_x
    pair_same: np.ndarray
    pair_fold: np.ndarray
    data_config: DataConfig
    info: dict[str, Any] = field(default_factory=dict)
    backbone: str = "cnn"


def identity_split(root: str | Path | None = None, min_images: int = 5) -> tuple[dict[str, int], dict[str, int]]:
    """View 1 people: (training people with >= ``min_images`` images, all DevTest people), from the protocol files.
    Raises ValueError if the two share anybody (they do not in the official files)."""
    from labkit.data.lfw import protocol_path, read_people

    train = {n: c for n, c in read_people(protocol_path("peopleDevTrain.txt", root)).items() if c >= min_images}
    test = read_people(protocol_path("peopleDevTest.txt", root))
    shared = sorted(set(train) & set(test))
    if shared:
        raise ValueError(f"peopleDevTrain and peopleDevTest share {len(shared)} people, e.g. {shared[:3]}")
    return train, test


def devtest_pairs(root: str | Path | None = None, n_folds: int = 10):
    """The 1,000 View 1 DevTest pairs, each given a fold: 500 matched then 500 mismatched in the file; pair ``i`` of
    each half goes to fold ``i * n_folds // 500``, so every fold holds 50 matched + 50 mismatched pairs."""
    from labkit.data.lfw import protocol_path, read_pairs

    pairs = read_pairs(protocol_path("pairsDevTest.txt", root))
    same = [p for p in pairs if p.same]
    diff = [p for p in pairs if not p.same]
    out = []
    for half in (same, diff):
        out += [dataclasses.replace(p, fold=i * n_folds // len(half)) for i, p in enumerate(half)]
    return out


def _hog_pca(train: np.ndarray, test: np.ndarray, dc: DataConfig) -> dict[str, np.ndarray]:
    """The ``hog-mlp`` input: HOG of each grey image and of its mirror image, then ``pca_dim`` whitened PCA
    components fitted on the training images only."""
    from skimage.feature import hog
    from sklearn.decomposition import PCA

    def describe(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0
        out = [[hog(g, orientations=9, pixels_per_cell=(dc.hog_cell,) * 2, cells_per_block=(2, 2), feature_vector=True)
                for g in (im, im[:, ::-1])] for im in grey]
        return np.array([o[0] for o in out], np.float32), np.array([o[1] for o in out], np.float32)

    tr, tr_f = describe(train)
    te, te_f = describe(test)
    pca = PCA(n_components=dc.pca_dim, whiten=True, random_state=0).fit(np.concatenate([tr, tr_f]))
    t = lambda a: torch.from_numpy(pca.transform(a).astype(np.float32))  # noqa: E731
    return {"train_x": t(tr), "train_x_flip": t(tr_f), "test_x": t(te), "test_x_flip": t(te_f),
            "pca_explained": float(pca.explained_variance_ratio_.sum())}


def load_lab_data(
    data_config: DataConfig | None = None, root: str | Path | None = None, cache: bool = True, progress: bool = True,
    backbone: str = "cnn",
) -> LabData:
    """The lab's training and DevTest input for ``backbone``. The faces are decoded once and cached as uint8 (first
    build: ~5,400 images, a minute or so on a busy CPU; afterwards a fraction of a second). ``cnn``: pixels at
    ``image_size``, (x - 127.5) / 128, the mirror image by flipping; ``hog-mlp``: HOG-PCA descriptors computed from
    the cached ``hog_size`` images (some seconds)."""
    from labkit.data.lfw import lfw_paths
    from labkit.experiments.toy.data import normalise

    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid names are {', '.join(BACKBONES)}")
    dc = data_config or DataConfig()
    folder = lfw_paths(root, variant="aligned")
    train_people, _ = identity_split(root, dc.min_images)
    pairs = devtest_pairs(root, dc.n_folds)
    classes = sorted(train_people)
    train_rel, train_y = [], []
    for label, name in enumerate(classes):
        files = sorted((folder / name).glob("*.jpg"))[: dc.max_per_identity]
        if len(files) < dc.min_images:
            raise FileNotFoundError(f"{folder / name}: {len(files)} images, the protocol file lists {train_people[name]}")
        train_rel += [f"{name}/{f.name}" for f in files]
        train_y += [label] * len(files)
    test_rel = sorted({r for p in pairs for r in p.relpaths()})
    size = dc.image_size if backbone == "cnn" else dc.hog_size
    from labkit.data.images import face_images

    images = face_images(folder, train_rel + test_rel, size, cache=cache, progress=progress)
    n = len(train_rel)
    info: dict[str, Any] = {"train_people": len(classes), "train_images": n, "test_images": len(test_rel),
                            "pairs": len(pairs), "folds": dc.n_folds, "backbone": backbone,
                            "input": f"{size[0]}x{size[1]} RGB" + (" pixels" if backbone == "cnn" else ", HOG-PCA")}
    if backbone == "cnn":
        x = normalise(images)
        arrays = {"train_x": x[:n], "test_x": x[n:]}
        arrays.update({"train_x_flip": arrays["train_x"].flip(3), "test_x_flip": arrays["test_x"].flip(3)})
    else:
        arrays = _hog_pca(images[:n], images[n:], dc)
        info["pca_explained_variance"] = arrays.pop("pca_explained")
    row = {r: i for i, r in enumerate(test_rel)}
    pair_index = np.array([[row[a], row[b]] for a, b in (p.relpaths() for p in pairs)], dtype=np.int64)
    return LabData(
        train_x=arrays["train_x"], train_x_flip=arrays["train_x_flip"],
        train_y=torch.as_tensor(train_y, dtype=torch.int64), classes=classes,
        test_x=arrays["test_x"], test_x_flip=arrays["test_x_flip"],
        test_rel=test_rel, pair_index=pair_index, pair_same=np.array([p.same for p in pairs]),
        pair_fold=np.array([p.fold for p in pairs]), data_config=dc, info=info, backbone=backbone,
    )


# ------------------------------------------------------------------------------------------------ model


class MarginMLP(nn.Module):
    """descriptor (D) -> Linear-BN-PReLU -> Linear-BN-PReLU -> Linear -> embedding (no norm on the output, so the
    feature norm is free for the softmax and unnormalised heads)."""

    def __init__(self, in_dim: int, hidden: int = 256, embedding_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
            nn.Linear(hidden, embedding_dim),
        )
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


#: the CNN's conv widths: four conv-BN-PReLU blocks of :class:`labkit.experiments.toy.model.ToyNet` (max-pool after the first three)
CNN_CHANNELS = (16, 32, 64, 64)


def build_backbone(cfg: ExperimentConfig, data: LabData) -> nn.Module:
    """The embedding network of ``cfg.backbone`` for ``data``'s input. ``cnn``: :class:`labkit.experiments.toy.model.ToyNet`
    with wider blocks (:data:`CNN_CHANNELS`), FC(``hidden``)-PReLU-BN and a bias-free linear ``embedding_dim``-d
    output; ``hog-mlp``: :class:`MarginMLP`."""
    if cfg.backbone != data.backbone:
        raise ValueError(f"the config asks for backbone {cfg.backbone!r} but the data were built for "
                         f"{data.backbone!r}: load_lab_data(backbone={cfg.backbone!r})")
    if cfg.backbone == "cnn":
        from labkit.experiments.toy.model import ToyNet

        return ToyNet(tuple(data.train_x.shape[2:]), CNN_CHANNELS, hidden=cfg.hidden, feat_dim=cfg.embedding_dim)
    return MarginMLP(data.train_x.shape[1], cfg.hidden, cfg.embedding_dim)


def warmup_cosine(it: int, iters: int, lr: float, warmup: float = 0.1, floor: float = 0.02) -> float:
    """lr at iteration ``it``: linear warm-up over the first ``warmup`` fraction, then cosine decay to ``floor`` x lr
    (the toy recipe's schedule, here for a fixed number of iterations)."""
    from labkit.experiments.toy.train import warmup_cosine_lr

    return warmup_cosine_lr(it, iters, int(warmup * iters), lr, floor)


def _build_head(cfg: ExperimentConfig, num_classes: int, iters: int) -> nn.Module:
    from labkit.losses import make_head

    d = cfg.embedding_dim
    if cfg.head == "cosface" and not cfg.normalize_features:
        return UnnormalizedCosFaceHead(d, num_classes, cfg.m)
    if cfg.head == "softmax":
        return make_head("softmax", d, num_classes)
    if cfg.head == "nsl":
        return make_head("nsl", d, num_classes, s=cfg.s)
    if cfg.head == "sphereface":
        base, floor = 1000.0, 5.0
        gamma = (base / floor - 1.0) / max(1.0, 0.5 * iters)  # lambda reaches its floor halfway through the run
        return make_head("sphereface", d, num_classes, m=int(cfg.m), base=base, gamma=gamma, lambda_min=floor)
    return make_head(cfg.head, d, num_classes, s=cfg.s, m=cfg.m)


# ------------------------------------------------------------------------------------------------ train / evaluate


def train_run(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Train one embedding network; returns it and ``{"loss_per_epoch", "train_loss", "iters", "seconds",
    "warnings"}``. A compact loop (labkit.train.fit reads image folders through a DataLoader, with checkpoints;
    here the whole training set is a small in-memory tensor). ``cnn``: Adam with warm-up + cosine decay
    (:func:`warmup_cosine`); ``hog-mlp``: SGD with the paper's step schedule. Random horizontal flips either way."""
    from labkit.train import TrainConfig

    cfg.validate()
    config.seed_everything(seed)
    n = data.train_x.shape[0]
    steps_per_epoch = max(1, n // cfg.batch)
    iters = steps_per_epoch * cfg.epochs
    lr = cfg.learning_rate
    model = build_backbone(cfg, data).to(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head = _build_head(cfg, len(data.classes), iters).to(device)
    params = list(model.parameters()) + list(head.parameters())
    if cfg.backbone == "cnn":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
        lr_at = lambda it: warmup_cosine(it, iters, lr)  # noqa: E731
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        lr_at = TrainConfig(iters=iters, lr=lr).lr_at  # lr/10 at 16/30, 24/30, 28/30 of the run
    gen = torch.Generator().manual_seed(seed)
    x, xf, y = data.train_x.to(device), data.train_x_flip.to(device), data.train_y.to(device)
    warm = iters // 3 if isinstance(head, UnnormalizedCosFaceHead) else 0
    losses: list[float] = []
    it, t0 = 0, time.perf_counter()
    model.train()
    head.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        flip = (torch.rand(n, generator=gen) < 0.5).to(device)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch : (b + 1) * cfg.batch]
            fb = flip[idx].view(-1, *([1] * (x.dim() - 1)))
            xb = torch.where(fb, xf[idx], x[idx])
            if isinstance(head, UnnormalizedCosFaceHead):
                head.margin_on = it >= warm
            for g in opt.param_groups:
                g["lr"] = lr_at(it)
            loss = F.cross_entropy(head(model(xb), y[idx]), y[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{cfg.name} seed {seed}: the loss became {loss.item()} at iteration {it}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            it += 1
        losses.append(total / steps_per_epoch)
    return model, {
        "loss_per_epoch": losses, "train_loss": losses[-1], "iters": iters,
        "seconds": time.perf_counter() - t0, "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }


@torch.no_grad()
def evaluate_run(model: nn.Module, data: LabData, device: str = "cpu"):
    """10-fold verification on the DevTest pairs: flip-concatenated embeddings, cosine scores,
    :func:`labkit.evaluate.kfold_verification`. Returns its VerificationResult."""
    from labkit.evaluate import combine_flip, cosine_pairs, kfold_verification

    from labkit.experiments.toy.train import embed

    feats = combine_flip(embed(model, data.test_x.to(device)), embed(model, data.test_x_flip.to(device)),
                         "concat").cpu().numpy()
    scores = cosine_pairs(feats[data.pair_index[:, 0]], feats[data.pair_index[:, 1]])
    return kfold_verification(
        scores, data.pair_same, data.pair_fold,
        protocol=f"LFW View 1 DevTest, {len(scores)} pairs in {len(np.unique(data.pair_fold))} folds",
        options={"features": "flip concat", "score": "cosine"},
    )


def run_one(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Train and evaluate one (config, seed): a JSON-ready record. On the CPU the run uses :data:`CPU_THREADS`
    threads for the CNN and one for the HOG-MLP (its small matrices gain nothing from more)."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(CPU_THREADS if cfg.backbone == "cnn" else 1)
    try:
        model, hist = train_run(cfg, data, seed, device)
        res = evaluate_run(model, data, device)
    finally:
        torch.set_num_threads(threads)
    return {
        "label": cfg.name, "config": asdict(cfg), "seed": int(seed),
        "accuracy": res.mean_accuracy, "std_err": res.standard_error, "fold_accuracies": res.fold_accuracies,
        "auc": res.roc.auc, "eer": res.roc.eer, "train_loss": hist["train_loss"], "loss_per_epoch": hist["loss_per_epoch"],
        "iters": hist["iters"], "seconds": hist["seconds"], "warnings": hist["warnings"],
        "data": {**asdict(data.data_config), **{k: v for k, v in data.info.items() if k != "cache"}},
        "protocol": res.protocol, "run_version": RUN_VERSION,
    }


def _run_key(cfg: ExperimentConfig, seed: int, data: LabData) -> str:
    blob = json.dumps({"cfg": cfg.key(), "seed": seed, "data": data.data_config.key(), "v": RUN_VERSION,
                       "torch": torch.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def run_grid(
    configs: Sequence[ExperimentConfig],
    seeds: Sequence[int] = (0,),
    data: LabData | None = None,
    device: str = "cpu",
    progress: bool = True,
    cache: bool = True,
) -> list[dict[str, Any]]:
    """Every config x seed, trained and evaluated: a tidy list of records (one per pair, in order; ``label`` from
    the config). Identical configs (up to ``label``) are trained once. Finished runs are cached as JSON under
    :func:`labkit.config.cache_dir` so a repeated grid costs nothing (``cache=False`` recomputes)."""
    from tqdm.auto import tqdm

    for c in configs:
        if not isinstance(c, ExperimentConfig):
            raise TypeError(f"configs must be ExperimentConfig objects, got {type(c).__name__}")
        c.validate()
    needed = {c.backbone for c in configs}
    if data is not None and needed - {data.backbone}:
        raise ValueError(f"data were built for backbone {data.backbone!r}, the configs need {sorted(needed)}")
    loaded = {data.backbone: data} if data is not None else {b: load_lab_data(progress=progress, backbone=b)
                                                              for b in sorted(needed)}
    folder = config.cache_dir() / "experiments" / "runs"
    jobs = [(c, int(s)) for c in configs for s in seeds]
    done: dict[str, dict[str, Any]] = {}
    out = []
    bar = tqdm(jobs, desc="runs", unit="run", disable=not progress)
    for cfg, seed in bar:
        data = loaded[cfg.backbone]
        key = _run_key(cfg, seed, data)
        bar.set_postfix_str(f"{cfg.name}, seed {seed}")
        path = folder / f"{key}.json"
        if key not in done:
            if cache and path.is_file():
                done[key] = {**json.loads(path.read_text()), "cached": True}
            else:
                rec = run_one(cfg, data, seed, device)
                if cache:
                    folder.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(rec))
                done[key] = {**rec, "cached": False}
        out.append({**done[key], "label": cfg.name, "config": asdict(cfg)})
    return out


def summarize(records: Sequence[dict[str, Any]], by: str = "label") -> list[dict[str, Any]]:
    """One row per ``by`` value, in first-seen order: mean accuracy over seeds and its standard error
    (std(ddof=1)/sqrt(n) over seeds; with a single seed the run's 10-fold s.e., ``se_kind`` says which)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r[by], []).append(r)
    rows = []
    for name, rs in groups.items():
        acc = np.array([r["accuracy"] for r in rs])
        n = len(rs)
        se, kind = (float(acc.std(ddof=1) / math.sqrt(n)), f"over {n} seeds") if n > 1 else (float(rs[0]["std_err"]), "10-fold, 1 seed")
        rows.append({
            by: name, "config": rs[0]["config"], "n_seeds": n, "accuracy": float(acc.mean()), "se": se, "se_kind": kind,
            "train_loss": float(np.mean([r["train_loss"] for r in rs])), "seconds": float(sum(r["seconds"] for r in rs)),
        })
    return rows


def save_records(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), indent=1) + "\n")
    return path


def load_records(path: str | Path) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())


def markdown_table(summary: Sequence[dict[str, Any]], paper_rows: dict[str, dict[str, float]] | None = None,
                   paper_names: dict[str, str] | None = None) -> str:
    """A Markdown table: setting, lab accuracy (%) mean ± s.e. (and what the s.e. is over), seeds, train loss, run
    time; with ``paper_rows`` a column of the paper's published LFW accuracy (``paper_names`` maps lab labels to
    paper row names, after dropping an ", N epochs" suffix; a missing row reads "not reported")."""
    head = "| setting | lab accuracy (%) | s.e. over | train loss | time (s) |"
    rule = "|---|---|---|---|---|"
    if paper_rows is not None:
        head, rule = head + " paper LFW (%) |", rule + "---|"
    lines = [head, rule]
    for r in summary:
        line = (f"| {r['label']} | {100 * r['accuracy']:.2f} ± {100 * r['se']:.2f} | {r['se_kind']} | "
                f"{r['train_loss']:.3f} | {r['seconds']:.0f} |")
        if paper_rows is not None:
            base = re.sub(r", \d+ epochs$", "", r["label"])
            name = (paper_names or {}).get(base, base)
            value = paper_rows.get(name, {}).get("LFW")
            line += f" {value:.2f} |" if value is not None else " not reported |"
        lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ plots


def plot_margin_curve(summary: Sequence[dict[str, Any]], title: str = ""):
    """Fig. 5 at lab scale: accuracy (%) vs m with s.e. error bars, one line per training length."""
    import plotly.graph_objects as go

    fig = go.Figure()
    lengths = sorted({r["config"]["epochs"] for r in summary})
    for i, ep in enumerate(lengths):
        rows = sorted((r for r in summary if r["config"]["epochs"] == ep), key=lambda r: r["config"]["m"])
        fig.add_trace(go.Scatter(
            x=[r["config"]["m"] for r in rows], y=[100 * r["accuracy"] for r in rows], mode="lines+markers",
            error_y={"type": "data", "array": [100 * r["se"] for r in rows], "visible": True},
            line={"color": COLORS[i % len(COLORS)], "dash": ("solid", "dash", "dot")[i % 3]},
            marker={"symbol": ("circle", "square", "diamond")[i % 3]},
            name=f"LMCL, {ep} epochs ({rows[0]['n_seeds']} seed{'s' if rows[0]['n_seeds'] > 1 else ''})",
            hovertemplate="m=%{x}<br>accuracy %{y:.2f}%<extra></extra>",
        ))
    fig.update_layout(
        title=title or "Verification accuracy vs cosine margin m (lab scale; cf. paper Fig. 5)",
        xaxis_title="cosine margin m", yaxis_title="verification accuracy (%), mean ± s.e.", template="plotly_white",
        legend={"title": "training length"},
    )
    return fig


def plot_bars(summary: Sequence[dict[str, Any]], title: str = ""):
    """Table 1/2 at lab scale: one bar per setting, accuracy (%) with s.e. error bars."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(
        x=[r["label"] for r in summary], y=[100 * r["accuracy"] for r in summary],
        error_y={"type": "data", "array": [100 * r["se"] for r in summary], "visible": True},
        marker_color=[COLORS[i % len(COLORS)] for i in range(len(summary))],
        text=[f"{100 * r['accuracy']:.1f}" for r in summary], textposition="outside",
    ))
    lo = min(100 * (r["accuracy"] - r["se"]) for r in summary)
    fig.update_layout(title=title, xaxis_title="loss", yaxis_title="verification accuracy (%), mean ± s.e.",
                      yaxis_range=[max(50.0, lo - 5), 100], template="plotly_white")
    return fig


# ------------------------------------------------------------------------------------------------ command line


def run_suite(mode: str, seeds: Sequence[int] | None = None, m_grid: Sequence[float] | None = None,
              epochs: Sequence[int] | None = None, progress: bool = True, cache: bool = True,
              backbone: str = "cnn") -> dict[str, list[dict[str, Any]]]:
    """All three experiments for a mode: ``{"fig5": records, "table1": records, "table2": records}``."""
    p = preset(mode)
    seeds = list(seeds if seeds is not None else p["seeds"])
    configs = suite(m_grid if m_grid is not None else p["m_grid"], epochs or p["epochs"], backbone=backbone)
    data = load_lab_data(progress=progress, backbone=backbone)
    return {name: run_grid(cfgs, seeds, data=data, progress=progress, cache=cache) for name, cfgs in configs.items()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    global CPU_THREADS
    ap = argparse.ArgumentParser(prog="python -m labkit.experiments.lab_scale", description=__doc__.split("\n")[0])
    ap.add_argument("--mode", default="full", choices=["fast", "full"])
    ap.add_argument("--seeds", type=int, nargs="*")
    ap.add_argument("--epochs", type=int, nargs="*", help="training lengths (default: the mode's)")
    ap.add_argument("--backbone", default="cnn", choices=list(BACKBONES),
                    help="cnn (default, pixels) or hog-mlp (fixed HOG descriptors, the fast alternative)")
    ap.add_argument("--threads", type=int, default=CPU_THREADS,
                    help="torch CPU threads per CNN run (results do not depend on it beyond float round-off; "
                         "several processes with --threads 1 and different --seeds share the run cache)")
    ap.add_argument("--out", type=Path, help="folder for results.json and MANIFEST.json (e.g. data/shipped/lab_scale)")
    args = ap.parse_args(argv)
    CPU_THREADS = max(1, args.threads)
    t0 = time.perf_counter()
    results = run_suite(args.mode, args.seeds, epochs=args.epochs, backbone=args.backbone)
    for name, recs in results.items():
        print(name)
        for row in summarize(recs):
            print(f"  {row['label']:<34} {100 * row['accuracy']:.2f} ± {100 * row['se']:.2f} ({row['se_kind']})")
    if args.out:
        path = save_records([{**r, "experiment": name} for name, recs in results.items() for r in recs],
                            args.out / "results.json")
        import sklearn
        import skimage

        manifest = {
            "command": "python -m labkit.experiments.lab_scale " + " ".join(argv if argv is not None else sys.argv[1:]),
            "mode": args.mode, "backbone": args.backbone, "seeds": args.seeds or preset(args.mode)["seeds"],
            "epochs": args.epochs or preset(args.mode)["epochs"],
            "data": {"root": "LABKIT_DATA (lfw/ protocol files, lfw_aligned_112x96/)", **asdict(DataConfig())},
            "network": ({"kind": "CNN on pixels (labkit.experiments.toy.model.ToyNet)", "channels": list(CNN_CHANNELS),
                         "hidden": ExperimentConfig().hidden, "embedding_dim": ExperimentConfig().embedding_dim,
                         "optimiser": "Adam 3e-3, warm-up 10 % + cosine decay, weight decay 5e-4, batch 128",
                         "threads": CPU_THREADS} if args.backbone == "cnn" else
                        {"kind": "3-layer MLP on HOG-PCA descriptors", "optimiser": "SGD 0.1, step schedule"}),
            "run_version": RUN_VERSION,
            "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
            "training_seconds_all_runs": round(sum({json.dumps(r["config"], sort_keys=True) + str(r["seed"]): r["seconds"]
                                                    for recs in results.values() for r in recs}.values()), 1),
            "note": "runs found in the cache are not retrained; their seconds are those of the original run, "
                    f"measured with torch.set_num_threads({CPU_THREADS}) on a 2-core CPU shared with other jobs",
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                         "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__},
            "files": {path.name: _sha256(path)},
        }
        (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"wrote {path} and {args.out / 'MANIFEST.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
