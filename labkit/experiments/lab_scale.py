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
- Network: :class:`labkit.models.SmallCNN` on pixels. The aligned 112x96 faces are area-downsampled to
  ``image_size`` (default 28x24) RGB (decoded once, cached as uint8 in :func:`labkit.config.cache_dir`, never in the
  data root), normalised as (x - 127.5) / 128. Four conv3x3-BN-PReLU blocks (widths :data:`CNN_CHANNELS`),
  FC(``hidden``)-PReLU-BN and a bias-free linear ``embedding_dim``-d (128) embedding; the heads of
  :mod:`labkit.losses` sit on top. The paper trains a 64-layer residual CNN on 112x96 pixels with a 512-d embedding.
- Optimisation: the engine's ``lab`` preset (:mod:`labkit.presets`): Adam (lr 3e-3, weight decay 5e-4), linear
  warm-up over the first 10 % of the steps then cosine decay, batch 128, ``epochs`` passes over the training set,
  random horizontal flips (p = 0.5), 2 CPU threads per run. Scale s = 30 by default (the paper: 64).
- Diagnostics (every epoch, from :func:`labkit.engine.fit`): training accuracy, the loss with and without the margin
  term, the mean feature norm |x| before normalisation, the mean angle to the class weight, and the DevTest
  verification accuracy; :func:`converged` states the lab's convergence rule.
- Testing as in the paper: the embeddings of the image and of its mirror image are concatenated
  (:func:`labkit.evaluate.combine_flip`, ``"concat"``) and compared by cosine.
- A-Softmax: ``labkit.losses.SphereFaceHead`` with m = 4; its lambda annealing is compressed so that lambda reaches
  its floor (5) halfway through the run (SphereFace's own schedule reaches it after ~1,660 of its 30K iterations).
- LMCL without feature normalisation (Table 1): the weights are normalised, the features are not, so the logits
  are |x| cos(theta_j) and |x| (cos(theta_y) - m) (the registry entry ``"cosface-unnorm"``). As in the paper, that model
  starts from the softmax loss (here: the first third of the iterations with m = 0) and then trains with LMCL.

Error bars: each run gives a 10-fold mean accuracy; :func:`summarize` reports the mean over seeds and its standard
error std(ddof=1)/sqrt(n_seeds) (the 10-fold s.e. of the single run when there is one seed, labelled as such).

Entry points: :func:`load_lab_data` (decodes once, caches the uint8 faces in :func:`labkit.config.cache_dir`),
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
from labkit.engine import embed, fit
from labkit.losses import head_kwargs, make_head_quietly
from labkit.presets import preset as fit_preset

__all__ = [
    "PAPER",
    "DataConfig",
    "ExperimentConfig",
    "LabData",
    "BACKBONES",
    "CNN_CHANNELS",
    "build_backbone",
    "converged",
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
RUN_VERSION = 4
#: CPU threads a CNN run uses (the lab budget: a shared 2-core CPU)
CPU_THREADS = 2
#: cosine scale used for NSL/LMCL/ArcFace unless a config says otherwise
DEFAULT_S = 30.0

from labkit.data.lfw import devtest_pairs  # noqa: E402  (the one fold assignment of the View 1 DevTest pairs)
from labkit.experiments.published import PAPER  # noqa: E402  (the paper's numbers, in one module)

from labkit.palette import SERIES as COLORS  # noqa: E402

HEAD_NAMES = ("softmax", "nsl", "sphereface", "cosface", "arcface")
BACKBONES = ("cnn",)  # the HOG-descriptor MLP of the first version is gone


# ------------------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how they become network input (see the module docstring)."""

    min_images: int = 5
    max_per_identity: int = 40
    image_size: tuple[int, int] = (28, 24)  # (height, width) the aligned 112x96 faces are area-downsampled to
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
    backbone: str = "cnn"  # the small CNN on pixels (the only backbone)
    epochs: int = 5
    batch: int = 128
    lr: float | None = None  # None: the lab preset's Adam 3e-3
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
        """``lr``, or the lab preset's default when it is None."""
        return float(self.lr) if self.lr is not None else 3e-3

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


def load_lab_data(
    data_config: DataConfig | None = None, root: str | Path | None = None, cache: bool = True, progress: bool = True,
    backbone: str = "cnn",
) -> LabData:
    """The lab's training and DevTest input: pixels at ``image_size``, (x - 127.5) / 128. The faces are decoded
    once and cached as uint8 (first build: ~5,400 images, a minute or so on a busy CPU; afterwards a fraction of a
    second)."""
    from labkit.data.images import face_images
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
    size = dc.image_size
    images = face_images(folder, train_rel + test_rel, size, cache=cache, progress=progress)
    n = len(train_rel)
    info: dict[str, Any] = {"train_people": len(classes), "train_images": n, "test_images": len(test_rel),
                            "pairs": len(pairs), "folds": dc.n_folds, "backbone": backbone,
                            "input": f"{size[0]}x{size[1]} RGB pixels"}
    x = normalise(images)
    row = {r: i for i, r in enumerate(test_rel)}
    pair_index = np.array([[row[a], row[b]] for a, b in (p.relpaths() for p in pairs)], dtype=np.int64)
    return LabData(
        train_x=x[:n], train_y=torch.as_tensor(train_y, dtype=torch.int64), classes=classes, test_x=x[n:],
        test_rel=test_rel, pair_index=pair_index, pair_same=np.array([p.same for p in pairs]),
        pair_fold=np.array([p.fold for p in pairs]), data_config=dc, info=info, backbone=backbone,
    )


# ------------------------------------------------------------------------------------------------ model


#: the CNN's conv widths: four conv-BN-PReLU blocks (max-pool after the first three), see :class:`labkit.models.SmallCNN`
CNN_CHANNELS = (16, 32, 64, 64)


def build_backbone(cfg: ExperimentConfig, data: LabData) -> nn.Module:
    """The embedding network: :class:`labkit.models.SmallCNN` at the data's input size with :data:`CNN_CHANNELS`,
    FC(``hidden``)-PReLU-BN and a bias-free linear ``embedding_dim``-d output."""
    from labkit.models import SmallCNN

    return SmallCNN(tuple(data.train_x.shape[2:]), CNN_CHANNELS, hidden=cfg.hidden, feat_dim=cfg.embedding_dim)


def head_for(cfg: ExperimentConfig, num_classes: int, steps: int) -> tuple[nn.Module, list[str]]:
    """The head of ``cfg`` from the registry (bound warnings returned as messages). A-Softmax's lambda is annealed
    so that it reaches its floor (5) halfway through the run."""
    name = "cosface-unnorm" if cfg.head == "cosface" and not cfg.normalize_features else cfg.head
    kwargs = head_kwargs(name, s=cfg.s, m=cfg.m)
    if name == "sphereface":
        base, floor = 1000.0, 5.0
        kwargs.update(base=base, lambda_min=floor, gamma=(base / floor - 1.0) / max(1.0, 0.5 * steps))
    return make_head_quietly(name, cfg.embedding_dim, num_classes, **kwargs)


def converged(history: Sequence[dict[str, Any]], window: int = 3, acc_tol: float = 0.01,
              loss_tol: float = 0.03) -> bool:
    """The lab's convergence rule: over the last ``window`` epochs, training accuracy moved by at most ``acc_tol``
    and the loss without the margin term by at most ``loss_tol`` (relative). Notebook 07 prints it per run."""
    rows = [r for r in history if "train_acc" in r][-window:]
    if len(rows) < window:
        return False
    acc = [r["train_acc"] for r in rows]
    loss = [r["loss_no_margin"] for r in rows]
    return max(acc) - min(acc) <= acc_tol and (max(loss) - min(loss)) <= loss_tol * max(1e-9, abs(loss[-1]))


def train_run(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train one embedding network with the lab's engine (``lab`` preset: Adam, warm-up over the first 10 % of the
    steps then cosine decay, flips), evaluating the DevTest pairs after every epoch. Returns the network and
    ``{"history", "train_loss", "iters", "seconds", "warnings", "converged"}``; ``history`` has one record per
    epoch with the engine's diagnostics (training accuracy, loss with and without the margin term, mean feature
    norm, mean angle to the class weight) and the verification accuracy. LMCL without feature normalisation trains
    its first third with the margin off (the paper starts it from the softmax loss)."""
    cfg.validate()
    n = data.train_x.shape[0]
    spe = max(1, n // cfg.batch)
    steps = spe * cfg.epochs
    torch.manual_seed(seed)
    model = build_backbone(cfg, data)
    head, caught = head_for(cfg, len(data.classes), steps)
    fc = fit_preset("lab", steps=steps, batch=cfg.batch, lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                warmup=max(1, steps // 10), seed=seed, log_every=spe, eval_every=spe, device=device,
                threads=CPU_THREADS if device == "cpu" else 0, progress=progress,
                margin_warmup=steps // 3 if head.s is None and cfg.head == "cosface" else 0)

    def verify(backbone: nn.Module, _head: nn.Module, step: int) -> dict[str, float]:
        return {"verification_acc": evaluate_run(backbone, data, device).mean_accuracy}

    res = fit(model, head, (data.train_x, data.train_y), fc, evaluate=verify)
    epochs: list[dict[str, Any]] = []
    for rec in res.history:
        if "loss" in rec:
            epochs.append({k: rec[k] for k in ("step", "loss", "loss_no_margin", "train_acc", "feat_norm", "angle_deg",
                                               "margin_on")})
        elif "verification_acc" in rec and epochs:
            epochs[-1]["verification_acc"] = rec["verification_acc"]
    return model, {"history": epochs, "train_loss": epochs[-1]["loss"], "iters": steps, "seconds": res.seconds,
                   "warnings": caught, "converged": converged(epochs)}


@torch.no_grad()
def evaluate_run(model: nn.Module, data: LabData, device: str = "cpu"):
    """10-fold verification on the DevTest pairs: embeddings of each image and its mirror image concatenated
    (as the paper tests), cosine scores, :func:`labkit.evaluate.kfold_verification`."""
    from labkit.evaluate import combine_flip, cosine_pairs, kfold_verification

    feats = combine_flip(embed(model, data.test_x, device=device), embed(model, data.test_x.flip(3), device=device),
                         "concat").numpy()
    scores = cosine_pairs(feats[data.pair_index[:, 0]], feats[data.pair_index[:, 1]])
    return kfold_verification(
        scores, data.pair_same, data.pair_fold,
        protocol=f"LFW View 1 DevTest, {len(scores)} pairs in {len(np.unique(data.pair_fold))} folds",
        options={"features": "flip concat", "score": "cosine"},
    )


def run_one(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Train and evaluate one (config, seed): a JSON-ready record with the per-epoch diagnostics."""
    model, hist = train_run(cfg, data, seed, device)
    res = evaluate_run(model, data, device)
    return {
        "label": cfg.name, "config": asdict(cfg), "seed": int(seed),
        "accuracy": res.mean_accuracy, "std_err": res.standard_error, "fold_accuracies": res.fold_accuracies,
        "auc": res.roc.auc, "eer": res.roc.eer, "train_loss": hist["train_loss"], "history": hist["history"],
        "loss_per_epoch": [h["loss"] for h in hist["history"]], "converged": hist["converged"],
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
    """``python -m labkit.experiments [--mode fast|full] ...``; returns the exit status. A bad option or missing
    data ends with one ``error:`` line and status 2 before any run starts (``--debug``: the traceback)."""
    from labkit import cli

    def checked_main(argv: list[str]) -> int:
        global CPU_THREADS
        ap = cli.ArgumentParser(prog="python -m labkit.experiments", description=__doc__.split("\n")[0])
        ap.add_argument("--mode", default="full", choices=["fast", "full"],
                        help="fast: a few short runs; full: the shipped grid (default full)")
        ap.add_argument("--seeds", type=cli.nonnegative_int, nargs="*", help="random seeds (default: the mode's)")
        ap.add_argument("--epochs", type=cli.positive_int, nargs="*",
                        help="training lengths in epochs (default: the mode's)")
        ap.add_argument("--backbone", default="cnn", choices=list(BACKBONES),
                        help=f"network on the pixels: {', '.join(BACKBONES)} (default cnn)")
        ap.add_argument("--threads", type=cli.positive_int, default=CPU_THREADS,
                        help="torch CPU threads per CNN run (results do not depend on it beyond float round-off; "
                             "several processes with --threads 1 and different --seeds share the run cache)")
        ap.add_argument("--out", type=Path, help="folder for results.json and MANIFEST.json (e.g. data/shipped/lab_scale)")
        args = ap.parse_args(argv)
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise cli.UsageError(f"--out {args.out} is a file; give a folder for results.json and MANIFEST.json")
        for name in ("seeds", "epochs"):
            if getattr(args, name) == []:
                raise cli.UsageError(f"--{name} needs at least one value (leave it out for the mode's)")
        CPU_THREADS = args.threads
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
                "command": "python -m labkit.experiments.lab_scale " + " ".join(argv),
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

    return cli.run(checked_main, argv)


if __name__ == "__main__":
    sys.exit(main())
