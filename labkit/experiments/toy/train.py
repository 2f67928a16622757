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
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from labkit.experiments.toy.data import IDENTITIES, ToyData, balanced_epoch, normalise
from labkit.experiments.toy.model import ToyNet, spread_weights_on_circle


@dataclass(frozen=True)
class ToyConfig:
    """Hyper-parameters of one toy run. ``s`` and ``m`` are ignored by the softmax head.

    Defaults are what worked on the 8 identities at 28x24 (see the notebook): Adam, lr 3e-3 with a linear warm-up
    over the first ``warmup_epochs`` and a cosine decay, batch 64, 64 images per identity per epoch (balanced),
    class weights of normalised heads started evenly spaced on the circle (``weight_init="circle"``).
    """

    head: str = "cosface"
    m: float = 0.2
    s: float = 16.0
    epochs: int = 30
    seed: int = 0
    lr: float = 3e-3
    weight_decay: float = 5e-4
    batch_size: int = 64
    per_class: int = 64
    warmup_epochs: int = 3
    weight_init: str = "circle"  # "circle" or "default" (the head's own uniform init)
    input_size: tuple[int, int] = (28, 24)

    @property
    def normalised(self) -> bool:
        return self.head != "softmax"

    @property
    def name(self) -> str:
        if self.head == "softmax":
            return f"softmax_seed{self.seed}"
        return f"{self.head}_m{self.m:.2f}_s{self.s:g}_seed{self.seed}"

    def head_kwargs(self) -> dict[str, float]:
        if self.head == "softmax":
            return {}
        if self.head == "nsl":
            return {"s": self.s}
        return {"s": self.s, "m": self.m}


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


def warmup_cosine_lr(step: int, total: int, warm: int, lr: float, floor: float = 0.02) -> float:
    """The learning rate at ``step`` of ``total``: linear warm-up over the first ``warm`` steps, then a cosine decay
    from ``lr`` to ``floor * lr`` (the schedule that lets the 2-D normalised heads train; reused by
    :mod:`labkit.experiments.lab_scale`)."""
    warm = max(1, warm)
    if step < warm:
        return lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def build(config: ToyConfig) -> tuple[ToyNet, torch.nn.Module, list[str]]:
    """The network and head for ``config``; returns the warnings raised while building the head (e.g. the
    ``MarginBoundWarning`` of Eq. 7 for m = 0.35 / 0.45), recorded instead of printed."""
    from labkit.losses import make_head

    net = ToyNet(config.input_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head = make_head(config.head, 2, len(IDENTITIES), **config.head_kwargs())
    if config.normalised and config.weight_init == "circle":
        spread_weights_on_circle(head.weight)
    elif config.weight_init not in ("circle", "default"):
        raise ValueError(f"weight_init must be 'circle' or 'default', got {config.weight_init!r}")
    return net, head, [f"{type(w.message).__name__}: {w.message}" for w in caught]


def class_scores(head: torch.nn.Module, feats: torch.Tensor, normalised: bool) -> torch.Tensor:
    """Inference scores without margin: W^T x for softmax, cos(theta_j) for normalised heads."""
    return head.cosine(feats) if normalised else head(feats)


@torch.no_grad()
def embed(net: ToyNet, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    net.eval()
    return torch.cat([net(x[i : i + batch]) for i in range(0, len(x), batch)])


def train_toy(
    config: ToyConfig,
    data: ToyData,
    progress: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    threads: int | None = 2,
) -> ToyResult:
    """Train one model. Deterministic for a given seed, torch version and thread count.

    ``callback(epoch, record)`` is called after each epoch with loss / train_acc / test_acc (for live plots);
    ``progress`` shows a tqdm bar over epochs.
    """
    if threads:
        torch.set_num_threads(threads)
    if tuple(data.size) != tuple(config.input_size):
        raise ValueError(f"data is {data.size} but the config asks for input {config.input_size}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    net, head, build_warnings = build(config)
    x_all = normalise(data.images)
    y_all = torch.from_numpy(data.labels)
    tr = np.flatnonzero(data.is_train)
    te = np.flatnonzero(~data.is_train)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(config.per_class * len(IDENTITIES) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warm = steps_per_epoch * config.warmup_epochs

    def lr_at(step: int) -> float:
        return warmup_cosine_lr(step, total, warm, config.lr)

    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": [], "seconds": []}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc=config.name, leave=True)
    step, t0 = 0, time.perf_counter()
    for epoch in range(config.epochs):
        net.train()
        head.train()
        idx = tr[balanced_epoch(data.labels[tr], config.per_class, rng)]
        loss_sum, correct, seen = 0.0, 0, 0
        for start in range(0, len(idx), config.batch_size):
            b = torch.from_numpy(idx[start : start + config.batch_size])
            x, y = x_all[b], y_all[b]
            flip = torch.rand(len(b), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            feats = net(x)
            logits = head(feats, y)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            with torch.no_grad():
                pred = class_scores(head, feats, config.normalised).argmax(1)
            loss_sum += float(loss.detach()) * len(b)
            correct += int((pred == y).sum())
            seen += len(b)
        with torch.no_grad():
            f_te = embed(net, x_all[te])
            test_acc = float((class_scores(head, f_te, config.normalised).argmax(1) == y_all[te]).float().mean())
        rec = {"loss": loss_sum / seen, "train_acc": correct / seen, "test_acc": test_acc,
               "seconds": time.perf_counter() - t0}
        for k, v in rec.items():
            history[k].append(v)
        if bar is not None:
            bar.set_postfix(loss=f"{rec['loss']:.3f}", acc=f"{rec['train_acc']:.2f}", held=f"{test_acc:.2f}")
            bar.update(1)
        if callback is not None:
            callback(epoch, rec)
    if bar is not None:
        bar.close()
    with torch.no_grad():
        feats = embed(net, x_all)
        pred = class_scores(head, feats, config.normalised).argmax(1).numpy()
    ok = pred == data.labels
    meta = {
        "seconds": round(time.perf_counter() - t0, 2), "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "threads": torch.get_num_threads(), "warnings": build_warnings,
        "identities": list(IDENTITIES), "data": "8 LFW identities >= 60 images, 112x96 area-downsampled to "
        f"{config.input_size[0]}x{config.input_size[1]}, every 5th image per identity held back, balanced sampling",
    }
    return ToyResult(
        config, feats.numpy().astype(np.float32), data.labels.copy(), data.is_train.copy(),
        head.weight.detach().numpy().astype(np.float32).copy(), history,
        float(ok[data.is_train].mean()), float(ok[~data.is_train].mean()), meta,
    )
