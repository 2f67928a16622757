"""Train one toy model (8 identities, 2-D features) with any head of :mod:`labkit.losses`, deterministically.

``train_toy(ToyConfig(head="cosface", m=0.2, s=16), data)`` returns a :class:`ToyResult` with the 2-D features
of every image (train and held-out), the labels, the class weights, accuracies, the per-epoch history and the
run metadata; :meth:`ToyResult.save` writes them as ``<name>.npz`` + ``<name>.json``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labkit.engine import FitConfig, fit
from labkit.evaluate.features import embed_batches
from labkit.losses import make_head_quietly
from labkit.presets import preset

from labkit.experiments.toy.data import IDENTITIES, ToyData, balanced_epoch, normalise
from labkit.experiments.toy.model import circle_order, spread_weights_on_circle
from labkit.models import SmallCNN


@dataclass(frozen=True)
class ToyConfig:
    """Hyper-parameters of one toy run. ``s`` and ``m`` are ignored by the softmax head.

    Defaults: the recipe under which Fig. 4's lesson holds in each of 5 seeds (notebook 03): Adam, lr 3e-3 with a
    linear warm-up over the first ``warmup_epochs`` and a cosine decay, batch 64, 128 images per identity per epoch
    (balanced), 60 epochs (960 steps), no BatchNorm before the 2-D layer, class weights of normalised heads started
    evenly spaced on the circle in an order drawn from the seed. The first recipe (64 x 30, BatchNorm, label order)
    left LMCL under-trained and forced the neighbour pairs of the label order.
    """

    head: str = "cosface"
    m: float = 0.2
    s: float = 16.0
    epochs: int = 60
    seed: int = 0
    lr: float = 3e-3
    weight_decay: float = 5e-4
    batch_size: int = 64
    per_class: int = 128
    warmup_epochs: int = 3
    weight_init: str = "circle"  # "circle" or "default" (the head's own uniform init)
    input_size: tuple[int, int] = (28, 24)
    weight_order: str = "random"  # circle init: "random" (a permutation drawn from the seed) or "label" order
    bn_before_feature: bool = False  # the BatchNorm1d before the 2-D layer (the first recipe had it)

    @property
    def normalised(self) -> bool:
        return self.head != "softmax"

    @property
    def name(self) -> str:
        if self.head == "softmax":
            return f"softmax_seed{self.seed}"
        return f"{self.head}_m{self.m:.2f}_s{self.s:g}_seed{self.seed}"

    def head_kwargs(self) -> dict[str, float]:
        """Constructor arguments of the head: the part of (s, m) it takes (:data:`labkit.losses.HEAD_PARAMS`;
        A-Softmax, i.e. sphereface, takes an integer m >= 1 and no s, since its features are not normalised).

        For A-Softmax the annealing weight lambda starts at 1000 and reaches its floor of 5 halfway through the
        run (as in :mod:`labkit.experiments.lab_scale`): at the head's default pace, made for CASIA-sized runs,
        the few hundred toy steps would end with lambda still far above 5, i.e. almost plain softmax.
        """
        from labkit.losses import head_kwargs

        kwargs = head_kwargs(self.head, s=self.s, m=self.m)
        if self.head == "sphereface":
            steps = math.ceil(self.per_class * len(IDENTITIES) / self.batch_size) * self.epochs
            base, floor = 1000.0, 5.0
            kwargs.update(base=base, lambda_min=floor, gamma=(base / floor - 1.0) / max(1.0, 0.5 * steps))
        return kwargs


@dataclass
class ToyResult:
    """Everything one run produced. Features are (N, 2) for all images; ``is_train`` marks the training split."""

    config: ToyConfig
    features: np.ndarray
    labels: np.ndarray
    is_train: np.ndarray
    weights: np.ndarray
    history: dict[str, list[float]]
    train_acc: float
    test_acc: float
    meta: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        from labkit.experiments.toy.metrics import summarise

        return summarise(self)

    def save(self, out: str | Path, float16: bool = False) -> tuple[Path, Path]:
        """Write ``<out>/<name>.npz`` (features, labels, split, weights, history) and ``<name>.json``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        feats = self.features.astype(np.float16 if float16 else np.float32)
        npz = out / f"{self.config.name}.npz"
        hist = {f"history_{k}": np.asarray(v, dtype=np.float32) for k, v in self.history.items()}
        with open(npz, "wb") as fh:  # np.savez on a file object: no timestamp quirks in the name
            np.savez_compressed(
                fh, features=feats, labels=self.labels.astype(np.int8), is_train=self.is_train,
                weights=self.weights.astype(np.float32), **hist,
            )
        js = out / f"{self.config.name}.json"
        js.write_text(json.dumps(self.summary(), indent=1, sort_keys=True) + "\n")
        return npz, js

    def summary(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config), "name": self.config.name, "train_acc": self.train_acc,
            "test_acc": self.test_acc, "metrics": self.metrics(), "meta": self.meta,
            "history": {k: [round(float(x), 6) for x in v] for k, v in self.history.items()},
        }

    @classmethod
    def load(cls, npz_path: str | Path) -> ToyResult:
        npz_path = Path(npz_path)
        info = json.loads(npz_path.with_suffix(".json").read_text())
        cfg = dict(info["config"])
        cfg["input_size"] = tuple(cfg["input_size"])
        z = np.load(npz_path, allow_pickle=False)
        hist = {k[len("history_"):]: z[k].tolist() for k in z.files if k.startswith("history_")}
        return cls(
            ToyConfig(**cfg), z["features"].astype(np.float32), z["labels"].astype(np.int64), z["is_train"],
            z["weights"], hist, info["train_acc"], info["test_acc"], info.get("meta", {}),
        )


def steps_per_epoch(config: ToyConfig) -> int:
    """Optimiser steps in one balanced epoch (``per_class`` images of each of the 8 identities)."""
    return math.ceil(config.per_class * len(IDENTITIES) / config.batch_size)


def fit_config(config: ToyConfig, threads: int | None = 2, progress: bool = False, out: str = "",
               resume: bool = False) -> FitConfig:
    """The engine's ``toy`` preset at this config's lengths (epochs of balanced sampling) and optimiser."""
    spe = steps_per_epoch(config)
    return preset(
        "toy", steps=spe * config.epochs, batch=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
        per_class=config.per_class, warmup=spe * config.warmup_epochs, seed=config.seed, log_every=spe,
        eval_every=spe, threads=threads or 0, progress=progress, out=out, resume=resume,
        ckpt_every=spe if out else 0,
    )


def build(config: ToyConfig) -> tuple[SmallCNN, torch.nn.Module, list[str]]:
    """The network and head for ``config`` (seeded); returns the warnings raised while building the head (e.g. the
    ``MarginBoundWarning`` of Eq. 7 for m = 0.35 / 0.45), recorded instead of printed."""
    if config.weight_init not in ("circle", "default"):
        raise ValueError(f"weight_init must be 'circle' or 'default', got {config.weight_init!r}")
    torch.manual_seed(config.seed)
    net = SmallCNN(config.input_size, feat_dim=2, bn_before_feature=config.bn_before_feature)
    head, caught = make_head_quietly(config.head, 2, len(IDENTITIES), **config.head_kwargs())
    if config.normalised and config.weight_init == "circle":
        order = circle_order(len(IDENTITIES), config.seed if config.weight_order == "random" else None)
        spread_weights_on_circle(head.weight, order)
    return net, head, caught


def train_toy(
    config: ToyConfig,
    data: ToyData,
    progress: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    threads: int | None = 2,
    out: str | Path = "",
    resume: bool = False,
) -> ToyResult:
    """Train one toy model with the lab's engine (:func:`labkit.engine.fit`, ``toy`` preset). Deterministic for a
    given seed, torch version and thread count; with ``out`` it checkpoints every epoch and ``resume`` continues.

    ``callback(epoch, record)`` is called after each epoch with loss / train_acc / test_acc (for live plots).
    """
    if tuple(data.size) != tuple(config.input_size):
        raise ValueError(f"data is {data.size} but the config asks for input {config.input_size}")
    net, head, build_warnings = build(config)
    x_all = normalise(data.images)
    y_all = torch.from_numpy(data.labels)
    tr = torch.from_numpy(np.flatnonzero(data.is_train))
    te = torch.from_numpy(np.flatnonzero(~data.is_train))
    cfg = fit_config(config, threads, progress, str(out), resume)
    spe = steps_per_epoch(config)
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": [], "seconds": []}
    t0 = time.perf_counter()

    def held_out(backbone: torch.nn.Module, head: torch.nn.Module, step: int) -> dict[str, float]:
        pred = head(torch.from_numpy(embed_batches(backbone, x_all[te], flip="none")), None).argmax(1)
        return {"test_acc": float((pred == y_all[te]).float().mean())}

    pending: dict[str, float] = {}

    def on_record(rec: dict[str, Any]) -> None:
        pending.update(rec)
        if "test_acc" in rec:  # the evaluation closes an epoch
            for k, key in (("loss", "loss"), ("train_acc", "train_acc"), ("test_acc", "test_acc")):
                history[k].append(float(pending[key]))
            history["seconds"].append(time.perf_counter() - t0)
            if callback is not None:
                callback(rec["step"] // spe - 1, {k: v[-1] for k, v in history.items()})

    fit(net, head, (x_all[tr], y_all[tr]), cfg, evaluate=held_out, callback=on_record,
        meta={"toy_config": asdict(config)})
    with torch.no_grad():
        feats = torch.from_numpy(embed_batches(net, x_all, flip="none"))
        pred = head(feats, None).argmax(1).numpy()
    ok = pred == data.labels
    meta = {
        "seconds": round(time.perf_counter() - t0, 2), "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "threads": threads or torch.get_num_threads(),
        "warnings": build_warnings, "identities": list(IDENTITIES),
        "data": "8 LFW identities >= 60 images, 112x96 area-downsampled to "
        f"{config.input_size[0]}x{config.input_size[1]}, every 5th image per identity held back, balanced sampling",
    }
    return ToyResult(
        config, feats.numpy().astype(np.float32), data.labels.copy(), data.is_train.copy(),
        head.weight.detach().numpy().astype(np.float32).copy(), history,
        float(ok[data.is_train].mean()), float(ok[~data.is_train].mean()), meta,
    )
