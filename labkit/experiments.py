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
- Network: the input is a fixed descriptor of the aligned face, not pixels: a histogram of oriented gradients
  (scikit-image HOG of the grey 56x48 image, 6x6-pixel cells, 2x2-cell blocks) reduced to ``pca_dim`` whitened PCA
  components fitted on the training images only. The learned part is a 3-layer MLP (``hidden`` units, batch norm,
  PReLU) giving a ``embedding_dim``-d face embedding; the heads of :mod:`labkit.losses` sit on top. The paper
  trains a 64-layer residual CNN on 112x96 pixels. (The CPU ``labkit.models.lab_cnn`` was measured at ~30 images/s
  on the lab's shared 2-core CPU, too slow for tens of training runs in minutes.)
- Optimisation: SGD, momentum 0.9, weight decay 5e-4, batch 128, lr 0.1 divided by 10 at 16/30, 24/30 and 28/30
  of the run (the paper's schedule shape, via :meth:`labkit.train.TrainConfig.lr_at`), ``epochs`` passes over the
  data, 27 iterations each (8 epochs = 216 iterations, 20 epochs = 540, instead of 30K). Random horizontal flips (the descriptor of the
  mirrored image). Scale s = 30 by default (the paper: 64; the Eq. 6 bound for 298 classes is about 8).
- Testing as in the paper: the embeddings of the image and of its mirror image are concatenated
  (:func:`labkit.evaluate.combine_flip`, ``"concat"``) and compared by cosine.
- A-Softmax: ``labkit.losses.SphereFaceHead`` with m = 4; its lambda annealing is compressed so that lambda reaches
  its floor (5) halfway through the run (SphereFace's own schedule reaches it after ~1,660 of its 30K iterations).
- LMCL without feature normalisation (Table 1): the weights are normalised, the features are not, so the logits
  are |x| cos(theta_j) and |x| (cos(theta_y) - m) (:class:`UnnormalizedCosFaceHead`). As in the paper, that model
  starts from the softmax loss (here: the first third of the iterations with m = 0) and then trains with LMCL.

Error bars: each run gives a 10-fold mean accuracy; :func:`summarize` reports the mean over seeds and its standard
error std(ddof=1)/sqrt(n_seeds) (the 10-fold s.e. of the single run when there is one seed, labelled as such).

Entry points: :func:`load_lab_data` (decodes once, caches the descriptors in :func:`labkit.config.cache_dir`),
:func:`run_grid` (list of :class:`ExperimentConfig` x seeds -> list of JSON-ready records, tqdm bar, each finished
run cached), :func:`summarize`, :func:`suite` (the configurations of Fig. 5 / Table 1 / Table 2 for a mode),
``python -m labkit.experiments --mode full --out data/shipped/lab_scale``.
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

__all__ = [
    "PAPER",
    "DataConfig",
    "ExperimentConfig",
    "LabData",
    "UnnormalizedCosFaceHead",
    "MarginMLP",
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
RUN_VERSION = 2
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

#: Okabe-Ito colour-blind-safe palette
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

HEAD_NAMES = ("softmax", "nsl", "sphereface", "cosface", "arcface")


# ------------------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how they become network input (see the module docstring)."""

    min_images: int = 5
    max_per_identity: int = 40
    size: tuple[int, int] = (56, 48)  # (height, width) the aligned 112x96 faces are resized to
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
    epochs: int = 30
    batch: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    hidden: int = 256
    embedding_dim: int = 128
    label: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.head not in HEAD_NAMES:
            raise ValueError(f"unknown head {self.head!r}; valid names are {', '.join(HEAD_NAMES)}")
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
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

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
    """The grid size of each mode: ``fast`` (about a minute on a shared CPU) and ``full`` (minutes). ``epochs`` is a
    list: every experiment is run at each training length (the full mode shows a short and a longer schedule, because
    at this scale the effect of m depends on it)."""
    if mode == "fast":
        return {"m_grid": [0.0, 0.35], "seeds": [0], "epochs": [8]}
    if mode == "full":
        return {"m_grid": [round(0.05 * i, 2) for i in range(10)], "seeds": [0, 1, 2], "epochs": [8, 20]}
    raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}")


def suite(m_grid: Iterable[float], epochs: int | Sequence[int], s: float = DEFAULT_S,
          margin: float = 0.35) -> dict[str, list[ExperimentConfig]]:
    """The configurations of the three experiments, at each training length in ``epochs`` (labels get an
    ", N epochs" suffix when there are several). A configuration shared by several experiments (LMCL m=0.35; NSL =
    LMCL m=0) is the same run: :func:`run_grid` trains it once."""
    lengths = [int(epochs)] if isinstance(epochs, int) else [int(e) for e in epochs]
    out: dict[str, list[ExperimentConfig]] = {"fig5": [], "table1": [], "table2": []}
    for ep in lengths:
        tag = f", {ep} epochs" if len(lengths) > 1 else ""
        out["fig5"] += [ExperimentConfig(head="cosface", m=float(m), s=s, epochs=ep,
                                         label=f"LMCL m={float(m):g}{tag}") for m in m_grid]
        out["table1"] += [
            ExperimentConfig(head="cosface", m=margin, s=s, epochs=ep, label=f"LMCL, feature normalisation{tag}"),
            ExperimentConfig(head="cosface", m=margin, s=s, epochs=ep, normalize_features=False,
                             label=f"LMCL, no feature normalisation{tag}"),
        ]
        out["table2"] += [
            ExperimentConfig(head="softmax", epochs=ep, label=f"Softmax{tag}"),
            ExperimentConfig(head="cosface", m=0.0, s=s, epochs=ep, label=f"NSL{tag}"),
            ExperimentConfig(head="sphereface", m=4, epochs=ep, label=f"A-Softmax{tag}"),
            ExperimentConfig(head="cosface", m=margin, s=s, epochs=ep, label=f"LMCL{tag}"),
        ]
    return out


# ------------------------------------------------------------------------------------------------ data


@dataclass
class LabData:
    """Network input for training and testing (float32 descriptors of each image and of its mirror image)."""

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


def _hog(img: np.ndarray, dc: DataConfig) -> np.ndarray:
    from PIL import Image
    from skimage.feature import hog

    h, w = dc.size
    grey = np.asarray(Image.fromarray(img).convert("L").resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
    return np.concatenate([
        hog(g, orientations=9, pixels_per_cell=(dc.hog_cell, dc.hog_cell), cells_per_block=(2, 2), feature_vector=True)
        for g in (grey, grey[:, ::-1])
    ]).astype(np.float32)


def _describe(paths: Sequence[Path], dc: DataConfig, progress: bool, desc: str) -> tuple[np.ndarray, np.ndarray]:
    from tqdm.auto import tqdm

    from labkit.data.images import load_image

    rows = [_hog(load_image(p), dc) for p in tqdm(paths, desc=desc, disable=not progress, unit="img")]
    arr = np.stack(rows)
    half = arr.shape[1] // 2
    return arr[:, :half], arr[:, half:]


def load_lab_data(
    data_config: DataConfig | None = None, root: str | Path | None = None, cache: bool = True, progress: bool = True
) -> LabData:
    """Build (or read from the cache) the lab's training and DevTest input. First build: ~5,500 images decoded and
    described (a minute or two on a busy CPU); afterwards a fraction of a second."""
    from labkit.data.lfw import lfw_paths

    dc = data_config or DataConfig()
    folder = lfw_paths(root, variant="aligned")
    train_people, _ = identity_split(root, dc.min_images)
    pairs = devtest_pairs(root, dc.n_folds)
    path = config.cache_dir() / "experiments" / f"lab_data_{dc.key()}.npz"
    if cache and path.is_file():
        z = np.load(path, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    else:
        classes = sorted(train_people)
        train_paths, train_y = [], []
        for label, name in enumerate(classes):
            files = sorted((folder / name).glob("*.jpg"))[: dc.max_per_identity]
            if len(files) < dc.min_images:
                raise FileNotFoundError(f"{folder / name}: {len(files)} images, the protocol file lists {train_people[name]}")
            train_paths += files
            train_y += [label] * len(files)
        test_rel = sorted({r for p in pairs for r in p.relpaths()})
        tr, tr_f = _describe(train_paths, dc, progress, "describe training faces")
        te, te_f = _describe([folder / r for r in test_rel], dc, progress, "describe DevTest faces")
        from sklearn.decomposition import PCA

        pca = PCA(n_components=dc.pca_dim, whiten=True, random_state=0).fit(np.concatenate([tr, tr_f]))
        arrays = {
            "train_x": pca.transform(tr).astype(np.float32), "train_x_flip": pca.transform(tr_f).astype(np.float32),
            "train_y": np.asarray(train_y, dtype=np.int64), "classes": np.asarray(classes),
            "test_x": pca.transform(te).astype(np.float32), "test_x_flip": pca.transform(te_f).astype(np.float32),
            "test_rel": np.asarray(test_rel), "pca_explained": np.float64(pca.explained_variance_ratio_.sum()),
        }
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
    test_rel = [str(r) for r in arrays["test_rel"]]
    row = {r: i for i, r in enumerate(test_rel)}
    pair_index = np.array([[row[a], row[b]] for a, b in (p.relpaths() for p in pairs)], dtype=np.int64)
    classes = [str(c) for c in arrays["classes"]]
    info = {
        "train_people": len(classes), "train_images": int(arrays["train_x"].shape[0]),
        "test_images": len(test_rel), "pairs": len(pairs), "folds": dc.n_folds,
        "pca_explained_variance": float(arrays["pca_explained"]), "cache": str(path) if cache else "",
    }
    return LabData(
        train_x=torch.from_numpy(arrays["train_x"]), train_x_flip=torch.from_numpy(arrays["train_x_flip"]),
        train_y=torch.from_numpy(arrays["train_y"]), classes=classes,
        test_x=torch.from_numpy(arrays["test_x"]), test_x_flip=torch.from_numpy(arrays["test_x_flip"]),
        test_rel=test_rel, pair_index=pair_index, pair_same=np.array([p.same for p in pairs]),
        pair_fold=np.array([p.fold for p in pairs]), data_config=dc, info=info,
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


class UnnormalizedCosFaceHead(nn.Module):
    """LMCL without feature normalisation (Table 1, "No"): unit-length class weights, raw features, so
    logit_j = |x| cos(theta_j) and logit_y = |x| (cos(theta_y) - m). ``margin_on`` switches the margin (off for the
    softmax warm start)."""

    def __init__(self, feat_dim: int, num_classes: int, m: float = 0.35) -> None:
        super().__init__()
        if m < 0:
            raise ValueError(f"the cosine margin m must be >= 0, got {m!r}")
        self.weight = nn.Parameter(torch.empty(num_classes, feat_dim).uniform_(-feat_dim ** -0.5, feat_dim ** -0.5))
        self.m = float(m)
        self.margin_on = True

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        from labkit.losses import cosface_logits, cosine

        cos = cosine(features, self.weight)
        norm = torch.linalg.vector_norm(features.float(), dim=1, keepdim=True)
        if labels is None:
            return norm * cos
        return norm * cosface_logits(cos, labels, 1.0, self.m if self.margin_on else 0.0)


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


def train_run(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu") -> tuple[MarginMLP, dict[str, Any]]:
    """Train one embedding network; returns it and ``{"loss_per_epoch", "train_loss", "iters", "seconds",
    "warnings"}``. A compact loop (labkit.train.fit reads image folders through a DataLoader, with checkpoints;
    here the whole training set is a small in-memory tensor)."""
    from labkit.train import TrainConfig

    cfg.validate()
    config.seed_everything(seed)
    n = data.train_x.shape[0]
    steps_per_epoch = max(1, n // cfg.batch)
    iters = steps_per_epoch * cfg.epochs
    schedule = TrainConfig(iters=iters, lr=cfg.lr)  # only for lr_at: lr/10 at 16/30, 24/30, 28/30 of the run
    model = MarginMLP(data.train_x.shape[1], cfg.hidden, cfg.embedding_dim).to(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head = _build_head(cfg, len(data.classes), iters).to(device)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
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
            xb = torch.where(flip[idx, None], xf[idx], x[idx])
            if isinstance(head, UnnormalizedCosFaceHead):
                head.margin_on = it >= warm
            for g in opt.param_groups:
                g["lr"] = schedule.lr_at(it)
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

    model.eval()
    feats = combine_flip(model(data.test_x.to(device)), model(data.test_x_flip.to(device)), "concat").cpu().numpy()
    scores = cosine_pairs(feats[data.pair_index[:, 0]], feats[data.pair_index[:, 1]])
    return kfold_verification(
        scores, data.pair_same, data.pair_fold,
        protocol=f"LFW View 1 DevTest, {len(scores)} pairs in {len(np.unique(data.pair_fold))} folds",
        options={"features": "flip concat", "score": "cosine"},
    )


def run_one(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Train and evaluate one (config, seed): a JSON-ready record. On the CPU the run uses one thread (these
    small matrices gain nothing from more, and on a shared machine extra threads mostly wait)."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
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
    data = data or load_lab_data(progress=progress)
    folder = config.cache_dir() / "experiments" / "runs"
    jobs = [(c, int(s)) for c in configs for s in seeds]
    done: dict[str, dict[str, Any]] = {}
    out = []
    bar = tqdm(jobs, desc="runs", unit="run", disable=not progress)
    for cfg, seed in bar:
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
              epochs: Sequence[int] | None = None, progress: bool = True, cache: bool = True) -> dict[str, list[dict[str, Any]]]:
    """All three experiments for a mode: ``{"fig5": records, "table1": records, "table2": records}``."""
    p = preset(mode)
    seeds = list(seeds if seeds is not None else p["seeds"])
    configs = suite(m_grid if m_grid is not None else p["m_grid"], epochs or p["epochs"])
    data = load_lab_data(progress=progress)
    return {name: run_grid(cfgs, seeds, data=data, progress=progress, cache=cache) for name, cfgs in configs.items()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.experiments", description=__doc__.split("\n")[0])
    ap.add_argument("--mode", default="full", choices=["fast", "full"])
    ap.add_argument("--seeds", type=int, nargs="*")
    ap.add_argument("--epochs", type=int, nargs="*", help="training lengths (default: the mode's)")
    ap.add_argument("--out", type=Path, help="folder for results.json and MANIFEST.json (e.g. data/shipped/lab_scale)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run_suite(args.mode, args.seeds, epochs=args.epochs)
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
            "command": "python -m labkit.experiments " + " ".join(argv if argv is not None else sys.argv[1:]),
            "mode": args.mode, "seeds": args.seeds or preset(args.mode)["seeds"],
            "epochs": args.epochs or preset(args.mode)["epochs"],
            "data": {"root": "LABKIT_DATA (lfw/ protocol files, lfw_aligned_112x96/)", **asdict(DataConfig())},
            "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
            "training_seconds_all_runs": round(sum({json.dumps(r["config"], sort_keys=True) + str(r["seed"]): r["seconds"]
                                                    for recs in results.values() for r in recs}.values()), 1),
            "note": "runs found in the cache are not retrained; their seconds are those of the original run, "
                    "measured on a 2-core CPU shared with other jobs",
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                         "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__},
            "files": {path.name: _sha256(path)},
        }
        (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"wrote {path} and {args.out / 'MANIFEST.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
