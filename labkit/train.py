"""Train a face embedding network with any margin head: ``fit(TrainConfig(...))`` or ``python -m labkit train``.

Defaults are the CosFace paper's small-protocol run (Sec. 4.1): a global batch of 512, SGD with momentum 0.9 and
weight decay 5e-4, learning rate 0.1 divided by 10 at 16K, 24K and 28K iterations, stop at 30K, LMCL with s=64,
m=0.35, horizontal flips. With fewer ``iters`` the milestones keep the same fractions (16/30, 24/30, 28/30).

Speed on a GPU: bf16 autocast for the backbone (head logits stay float32), channels_last, optional
``torch.compile``, DataLoader workers with pinned memory. Every ``log_every`` iterations it logs loss, lr, images/s
and ETA; every ``eval_every`` iterations the LFW 10-fold accuracy (logged only, never used to pick a model).

Several processes: launch with ``torchrun``; the global batch is split over the ranks (DistributedDataParallel).
Batches are cut from one seeded sample stream (:class:`GlobalBatchSampler`) and flips are drawn per global batch,
so the union of the ranks' batches is the single-process batch: results do not depend on the rank count beyond
floating-point noise. What stops scaling to millions of identities is the replicated head: its weight (C x D) and
its logits (B_rank x C) on every rank. ``head_parallel="sharded"`` splits C over the ranks instead
(:mod:`labkit.parallel`; NSL, LMCL and ArcFace), and ``sample_rate`` < 1 adds Partial FC's class sampling.

Checkpoints (``<out>/last.pt``) hold everything needed to continue exactly (see :mod:`labkit.checkpoint`);
``resume=True`` picks up from the last one.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from labkit import checkpoint, config
from labkit.engine import FitConfig, cores_available
from labkit.engine import fit as fit_engine
from labkit.losses import head_kwargs, make_head_quietly
from labkit.models import make_model
from labkit.presets import preset

#: data-set names of the layout table (:mod:`labkit.data.layout`) that ``--data`` accepts besides a path
DATA_ALIASES: tuple[str, ...] = ("casia", "small")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults: the paper's CASIA-WebFace run with LMCL (Sec. 4.1).

    :meth:`validate` checks the values (names, ranges, schedule) without touching any data; :func:`fit` calls it
    first. ``workers`` defaults to the CPU cores available to this process (:func:`cores_available`).
    """

    arch: str = "sphere64"  # sphere20 | sphere36 | sphere64 | lab_cnn
    head: str = "cosface"  # softmax | nsl | sphereface | cosface | arcface (labkit.losses)
    s: float = 64.0
    m: float = 0.35  # for sphereface an integer m >= 1 (below 1: the head's default, 4)
    embedding_dim: int = 0  # 0: the architecture's default
    data: str = "casia"  # identity-folder path, an alias (casia, small) under the data root, or "synthetic"
    crop: str = "auto"  # auto | none | arcface_to_sphereface
    batch: int = 512  # global batch, split over ranks
    iters: int = 30_000
    lr: float = 0.1
    milestones: tuple[int, ...] = ()  # empty: 16/30, 24/30, 28/30 of iters
    momentum: float = 0.9
    weight_decay: float = 5e-4
    flip: bool = True
    device: str = "auto"
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 | off
    channels_last: str = "auto"  # auto (on: faster on CUDA and on CPU with oneDNN) | on | off
    compile: bool = False
    workers: int = field(default_factory=cores_available)  # DataLoader worker processes (0: load in the main one)
    seed: int = 0
    log_every: int = 50
    eval_every: int = 1000  # LFW accuracy every N iterations (0: never)
    eval_pairs: int = 0  # 0: all 6,000 LFW pairs; else this many, balanced over folds and same/different
    ckpt_every: int = 1000
    out: str = "runs/train"
    resume: bool = False
    head_parallel: str = "replicated"  # replicated | sharded (the head's classes split over the torchrun ranks)
    sample_rate: float = 1.0  # sharded: share of the non-target classes each rank keeps per step, in (0, 1]
    synthetic_classes: int = 16
    synthetic_per_class: int = 16
    progress: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field whose value cannot work, and what it accepts.

        Checks names (arch, head, crop, amp, channels_last, device), ranges (s > 0; m >= 0, in [0, pi) for
        arcface, an integer >= 1 for sphereface; batch, iters, log_every >= 1; lr > 0; ...) and the schedule
        (milestones strictly increasing and below iters). Looks at no data, so it is cheap to call first.
        """
        import math

        from labkit.losses import HEADS, make_head
        from labkit.losses import head_kwargs as registry_kwargs
        from labkit.models import ARCHS

        def fail(name: str, what: str) -> None:
            raise ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

        def is_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def is_number(value: Any) -> bool:
            return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)

        def one_of(name: str, choices: Any) -> None:
            if getattr(self, name) not in choices:
                fail(name, "one of " + ", ".join(map(str, choices)))

        one_of("arch", sorted(ARCHS))
        one_of("head", list(HEADS))
        if not (is_number(self.s) and self.s > 0):
            fail("s", "a finite number > 0 (the feature scale of the normalised heads)")
        if self.head == "sphereface":
            if not (is_number(self.m) and self.m >= 1 and float(self.m).is_integer()):
                fail("m", "an integer >= 1 for head 'sphereface' (A-Softmax multiplies the angle by m; the paper "
                          "uses 4)")
        elif self.head == "arcface":
            if not (is_number(self.m) and 0 <= self.m < math.pi):
                fail("m", "an angle in radians in [0, pi) for head 'arcface' (e.g. 0.5)")
        elif not (is_number(self.m) and self.m >= 0):
            fail("m", "a finite number >= 0 (the cosine margin, e.g. 0.35)")
        if not (is_int(self.embedding_dim) and self.embedding_dim >= 0):
            fail("embedding_dim", "an integer >= 0 (0: the architecture's default)")
        if not (isinstance(self.data, str) and self.data.strip()):
            fail("data", "a folder, a train.rec, an alias (casia, small) or 'synthetic'")
        one_of("crop", ("auto", "none", "arcface_to_sphereface"))
        for name in ("batch", "iters", "log_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "an integer >= 1")
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if self.batch % world:
            fail("batch", f"divisible by the {world} ranks started by torchrun (it is the global batch)")
        if not (is_number(self.lr) and self.lr > 0):
            fail("lr", "a finite number > 0")
        ms = tuple(self.milestones)
        if not all(is_int(x) for x in ms) or any(a >= b for a, b in zip(ms, ms[1:])) or any(
                not 1 <= x < self.iters for x in ms):
            fail("milestones", f"strictly increasing iterations from 1 to {self.iters - 1} (below iters = "
                               f"{self.iters}; empty for 16/30, 24/30 and 28/30 of iters)")
        if not (is_number(self.momentum) and 0 <= self.momentum < 1):
            fail("momentum", "a number in [0, 1)")
        if not (is_number(self.weight_decay) and self.weight_decay >= 0):
            fail("weight_decay", "a finite number >= 0")
        one_of("head_parallel", ("replicated", "sharded"))
        if not (is_number(self.sample_rate) and 0 < self.sample_rate <= 1):
            fail("sample_rate", "a number in (0, 1] (the share of non-target classes kept per step; 1: all)")
        if self.sample_rate != 1 and self.head_parallel != "sharded":
            fail("sample_rate", "1 with --head-parallel replicated (class sampling needs --head-parallel sharded)")
        from labkit.parallel import SHARDABLE

        if self.head_parallel == "sharded" and self.head not in SHARDABLE:
            fail("head", f"one of {', '.join(SHARDABLE)} with --head-parallel sharded (a margin on the normalised "
                         "target cosine)")
        one_of("amp", ("auto", "bf16", "off"))
        one_of("channels_last", ("auto", "on", "off"))
        device = self.device if isinstance(self.device, str) else ""
        kind, _, index = device.partition(":")
        if kind not in ("auto", "cpu", "cuda", "mps") or (index and not (kind == "cuda" and index.isdigit())):
            fail("device", "auto, cpu, cuda, cuda:N or mps")
        if kind == "cuda" and not torch.cuda.is_available():
            fail("device", "cpu or auto here (no CUDA GPU is visible)")
        if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
            fail("device", f"cuda:0 .. cuda:{torch.cuda.device_count() - 1} (GPUs visible here)")
        if kind == "mps" and not torch.backends.mps.is_available():
            fail("device", "cpu or auto here (Apple's MPS is not available)")
        if self.amp == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
            fail("amp", "off or auto on this GPU (it has no bfloat16 support)")
        for name in ("workers", "seed", "eval_every", "eval_pairs", "ckpt_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 0):
                fail(name, "an integer >= 0")
        if not (isinstance(self.out, str) and self.out.strip()):
            fail("out", "a folder for checkpoints and the log")
        if not (is_int(self.synthetic_classes) and self.synthetic_classes >= 2):
            fail("synthetic_classes", "an integer >= 2")
        if not (is_int(self.synthetic_per_class) and self.synthetic_per_class >= 1):
            fail("synthetic_per_class", "an integer >= 1")
        for name in ("flip", "compile", "resume", "progress"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "True or False")
        # whatever else the head itself rejects (it has the last word on its own parameters)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_head(self.head, 2, 2, **registry_kwargs(self.head, s=self.s, m=self.m))

    def milestone_iters(self) -> tuple[int, ...]:
        """The iterations where the learning rate drops (the engine's :meth:`labkit.engine.FitConfig.milestone_steps`)."""
        return fit_config(self).milestone_steps()

    def lr_at(self, iteration: int) -> float:
        """Step schedule: lr divided by 10 at each milestone reached (the engine's :func:`labkit.engine.lr_at`)."""
        from labkit.engine import lr_at

        return lr_at(fit_config(self), iteration)


@dataclass
class FitResult:
    """What :func:`fit` returns (on every rank; ``history`` and ``lfw`` are filled on rank 0)."""

    model: nn.Module
    head: nn.Module
    iteration: int
    history: list[dict[str, Any]] = field(default_factory=list)
    lfw: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: str = ""
    seconds: float = 0.0
    classes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- data


def _find_training_data(name: str) -> Path:
    """Resolve ``cfg.data`` to a folder or ``.rec`` file: a path, or a data-set name of the layout table
    (:func:`labkit.data.layout.locate`, whose error says what to fetch and where to put it)."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    from labkit.data import layout

    if name in DATA_ALIASES:
        return layout.locate(name)
    root = config.data_root()
    raise config.DataMissingError(
        f"training data {name!r} not found (data root {root}, set LABKIT_DATA to change it): give --data a folder "
        f"of <identity>/<image> sub-folders, an InsightFace train.rec, or one of {', '.join(DATA_ALIASES)}; "
        "`python -m labkit data get casia` says where CASIA-WebFace goes")


def build_dataset(cfg: TrainConfig) -> Dataset:
    """The training set named by ``cfg.data`` (identity folders, InsightFace RecordIO, or ``"synthetic"``).

    A missing data set raises :class:`labkit.config.DataMissingError` saying what to fetch and where to put it.
    ``crop="auto"`` reads 112x112 InsightFace crops as 112x96 and leaves 112x96 faces alone.
    """
    from labkit.data import IdentityFolderDataset, RecordIODataset, SyntheticFaces, load_image, scan_identity_folders

    if cfg.data == "synthetic":
        return SyntheticFaces(cfg.synthetic_classes, cfg.synthetic_per_class, seed=cfg.seed)
    path = _find_training_data(cfg.data)
    crop = None if cfg.crop == "none" else cfg.crop
    if path.suffix == ".rec" or (path / "train.rec").is_file():
        ds = RecordIODataset(path, crop="arcface_to_sphereface" if cfg.crop == "auto" else crop)
        ds.classes = [str(c) for c in range(ds.num_classes)]
        return ds
    if cfg.crop == "auto":
        first = next((p[0] for p in scan_identity_folders(path).values() if p), None)
        if first is None:
            raise config.DataMissingError(f"no images under {path}: expected {path}/<identity>/<image>.jpg")
        h, w = load_image(first).shape[:2]
        if (h, w) not in ((112, 112), (112, 96)):
            raise ValueError(f"{first} is {w}x{h}; training expects aligned 112x96 (or 112x112 InsightFace) faces: "
                             "align with `python -m labkit data align`")
        crop = "arcface_to_sphereface" if w == 112 else None
    return IdentityFolderDataset(path, crop=crop)


def build_model(cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, nn.Module, list[str]]:
    """Backbone and head; the head's bound checks (Eq. 6/7) come back as messages (and are printed by :func:`fit`)."""
    backbone = make_model(cfg.arch, cfg.embedding_dim or None)
    head, msgs = make_head_quietly(cfg.head, backbone.embedding_dim, num_classes,
                                   **head_kwargs(cfg.head, s=cfg.s, m=cfg.m))
    return backbone, head, msgs


class LFWProbe:
    """LFW 10-fold accuracy of the current backbone, for the log only (never to pick a model). Pairs that involve a
    training identity are left out (:func:`labkit.data.lfw.probe_pairs`); the images are read once."""

    def __init__(self, max_pairs: int = 0, exclude: list[str] | None = None) -> None:
        from labkit.data.images import load_image, to_tensor
        from labkit.data.lfw import lfw_paths, probe_pairs
        from labkit.evaluate.lfw import unique_images

        chosen = probe_pairs(max_pairs, exclude or ())
        self.pairs, self.summary = chosen.pairs, chosen.summary()
        self.excluded = chosen.n_excluded
        folder = lfw_paths(variant="aligned")
        self.rels = unique_images(self.pairs)
        self.images = torch.stack([to_tensor(load_image(folder / r)) for r in self.rels])

    def __call__(self, backbone: nn.Module, head: nn.Module, step: int) -> dict[str, Any]:
        from labkit.evaluate.features import embed_batches
        from labkit.evaluate.lfw import evaluate_lfw

        device = str(next(backbone.parameters()).device)
        was_training = backbone.training
        feats = embed_batches(backbone, self.images, flip="concat", batch_size=256, device=device)
        backbone.train(was_training)
        res = evaluate_lfw(features=dict(zip(self.rels, feats)), pairs=self.pairs)
        return {"lfw_acc": res.mean_accuracy, "lfw_std": res.std_accuracy, "lfw_pairs": len(self.pairs)}


def fit_config(cfg: TrainConfig) -> FitConfig:
    """The engine's ``paper`` preset with this run's values (iterations, batch, schedule, device, ...)."""
    return preset(
        "paper", steps=cfg.iters, batch=cfg.batch, lr=cfg.lr, milestones=tuple(cfg.milestones),
        momentum=cfg.momentum, weight_decay=cfg.weight_decay, flip=cfg.flip, seed=cfg.seed, device=cfg.device,
        amp=cfg.amp, channels_last=cfg.channels_last, compile=cfg.compile, workers=cfg.workers,
        log_every=cfg.log_every, eval_every=cfg.eval_every, ckpt_every=cfg.ckpt_every, out=cfg.out,
        resume=cfg.resume, progress=cfg.progress, head_parallel=cfg.head_parallel, sample_rate=cfg.sample_rate,
    )


def fit(cfg: TrainConfig, callback: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    """Train per ``cfg`` with the lab's one engine (:func:`labkit.engine.fit`, ``paper`` preset); ``callback(record)``
    gets every log and LFW record on rank 0 (notebook 05 draws live curves with it)."""
    cfg.validate()  # a bad value fails here, before any data is looked for
    rank = int(os.environ.get("RANK", "0"))
    if cfg.resume and (Path(cfg.out) / "last.pt").is_file():
        state = checkpoint.load(Path(cfg.out) / "last.pt")
        for key in ("arch", "head", "data"):
            if state.get("config", {}).get(key) != getattr(cfg, key):
                raise ValueError(f"--resume: checkpoint {cfg.out}/last.pt has {key}={state['config'].get(key)!r}, "
                                 f"this run {key}={getattr(cfg, key)!r}; use another --out to start a new run")
    config.seed_everything(cfg.seed)
    dataset = build_dataset(cfg)
    classes = list(getattr(dataset, "classes"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.head_parallel == "sharded" and len(classes) < world:
        raise ValueError(f"--head-parallel sharded: C = {len(classes)} classes cannot be split over {world} ranks "
                         f"(each needs at least one class); use at most {len(classes)} ranks or --head-parallel "
                         "replicated")
    backbone, head, bound_msgs = build_model(cfg, len(classes))
    for msg in bound_msgs if rank == 0 else ():
        print(f"warning: {msg}")
    probe = None
    if cfg.eval_every and rank == 0:
        try:
            probe = LFWProbe(cfg.eval_pairs, exclude=classes if cfg.data != "synthetic" else None)
            print(f"LFW probe: {probe.summary}")
        except (FileNotFoundError, ImportError) as exc:
            print(f"LFW accuracy will not be logged: {exc}")
    fc = fit_config(cfg)
    if rank == 0:
        print(f"training {cfg.arch} + {cfg.head} on {len(dataset):,} images of {len(classes):,} identities; "
              f"{int(os.environ.get('WORLD_SIZE', '1'))} rank(s), global batch {cfg.batch}; lr {cfg.lr} /10 at {fc.milestone_steps()}, stop at {cfg.iters}")

    def log(rec: dict[str, Any]) -> None:
        if not cfg.progress and "loss" in rec:
            print(f"iter {rec['step']}/{cfg.iters} loss {rec['loss']:.4f} lr {rec['lr']:.0e} "
                  f"{rec['images_per_s']:.1f} img/s ETA {rec['eta_s'] / 60:.1f} min", flush=True)
        if "lfw_acc" in rec:
            print(f"iter {rec['step']}: LFW {rec['lfw_acc']:.4f} +- {rec['lfw_std']:.4f} on {rec['lfw_pairs']} pairs")
        if callback:
            callback({**rec, "iter": rec["step"]})

    res = fit_engine(backbone, head, dataset, fc, evaluate=probe, callback=log,
                     meta={"config": dataclasses.asdict(cfg), "classes": classes, "bound_warnings": bound_msgs})
    history = [{**r, "iter": r["step"]} for r in res.history if "loss" in r]
    lfw = [{**r, "iter": r["step"]} for r in res.history if "lfw_acc" in r]
    return FitResult(backbone, head, res.step, history, lfw, res.checkpoint if cfg.out else "", res.seconds, classes)


def measure_throughput(arch: str = "sphere20", batch: int = 32, device: str = "cpu", fast: bool = False,
                       compile: bool = False, steps: int = 5, warmup: int = 2, num_classes: int = 10_572) -> float:
    """Training images/s of the engine (forward, backward, SGD step; LMCL over ``num_classes``) on random input
    already on the device: the model's own speed. ``fast``: bf16 autocast + channels_last (the GPU fast path).
    The first ``warmup`` steps (compilation, allocator) are not timed."""
    backbone = make_model(arch)
    head, _ = make_head_quietly("cosface", backbone.embedding_dim, num_classes, s=64.0, m=0.35)
    x = torch.randn(batch, 3, 112, 96, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    fc = preset("paper", steps=warmup + steps, batch=batch, device=device, amp="bf16" if fast else "off",
                channels_last="on" if fast else "off", compile=compile, flip=False, log_every=max(1, warmup),
                eval_every=0, ckpt_every=0, out="")
    res = fit_engine(backbone, head, (x, y), fc)
    recs = [r for r in res.history if "loss" in r][1:]  # the first window holds the untimed warm-up steps
    prev = [warmup] + [r["step"] for r in recs[:-1]]
    images = [(r["step"] - p) * batch for r, p in zip(recs, prev)]
    return float(sum(images) / sum(n / r["images_per_s"] for n, r in zip(images, recs)))
