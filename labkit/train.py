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
floating-point noise. What stops scaling to millions of identities is the head: its weight (C x D) and its logits
(B_rank x C) are replicated on every rank; a model-parallel head would shard C over the ranks.

Checkpoints (``<out>/last.pt``) hold everything needed to continue exactly (see :mod:`labkit.checkpoint`);
``resume=True`` picks up from the last one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from labkit import checkpoint, config
from labkit.models import make_model

# data-root-relative places a name may refer to (the CASIA layouts are those `python -m labkit data get casia` prints)
DATA_ALIASES: dict[str, tuple[str, ...]] = {
    "casia": ("casia_webface/CASIA-WebFace", "casia_webface/faces_webface_112x112", "CASIA-WebFace",
              "faces_webface_112x112"),
    "small": ("glint360k_celebrity_sample/celebrity_images",),
}


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults: the paper's CASIA-WebFace run with LMCL (Sec. 4.1)."""

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
    workers: int = 4
    seed: int = 0
    log_every: int = 50
    eval_every: int = 1000  # LFW accuracy every N iterations (0: never)
    eval_pairs: int = 0  # 0: all 6,000 LFW pairs; else this many, balanced over folds and same/different
    ckpt_every: int = 1000
    out: str = "runs/train"
    resume: bool = False
    synthetic_classes: int = 16
    synthetic_per_class: int = 16
    progress: bool = True

    def milestone_iters(self) -> tuple[int, ...]:
        return tuple(self.milestones) or tuple(round(self.iters * f / 30) for f in (16, 24, 28))

    def lr_at(self, iteration: int) -> float:
        """Step schedule: lr divided by 10 at each milestone reached."""
        return self.lr * 0.1 ** sum(iteration >= m for m in self.milestone_iters())


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
    """Resolve ``cfg.data`` to a folder or ``.rec`` file: a path, or an alias under the data root."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    root = config.data_root()
    for rel in DATA_ALIASES.get(name, (name,)):
        if (root / rel).exists():
            return root / rel
    from labkit.data.download import MANUAL_SOURCES

    how = MANUAL_SOURCES["casia"].format(root=root) if name == "casia" else (
        f"give --data a folder of <identity>/<image> sub-folders, an InsightFace train.rec, or an alias "
        f"({', '.join(DATA_ALIASES)}) under the data root {root}; `python -m labkit data get casia` says where "
        "CASIA-WebFace goes")
    raise config.DataMissingError(f"training data {name!r} not found (data root {root}, set LABKIT_DATA to change "
                                  f"it).\n{how}")


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


class GlobalBatchSampler(Sampler[list[int]]):
    """Yields this rank's share of each global batch, for iterations ``start .. iters-1``.

    The sample stream is the concatenation of per-epoch permutations (epoch ``e`` shuffled with seed ``seed + e``);
    global batch ``t`` is stream positions ``[t*B, (t+1)*B)`` and rank ``r`` of ``W`` takes every W-th of them from
    ``r``. The data position is therefore just the iteration number, and the union over ranks never depends on W.
    """

    def __init__(self, n: int, batch: int, iters: int, start: int = 0, rank: int = 0, world: int = 1, seed: int = 0):
        if batch % world:
            raise ValueError(f"global batch {batch} is not divisible by the {world} ranks")
        self.n, self.batch, self.iters, self.start, self.rank, self.world, self.seed = n, batch, iters, start, rank, world, seed

    def __len__(self) -> int:
        return max(0, self.iters - self.start)

    def global_batch(self, t: int, _cache: dict[int, torch.Tensor] | None = None) -> list[int]:
        cache = {} if _cache is None else _cache
        out = []
        for pos in range(t * self.batch, (t + 1) * self.batch):
            epoch = pos // self.n
            if epoch not in cache:
                cache.clear() if len(cache) > 2 else None
                cache[epoch] = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
            out.append(int(cache[epoch][pos % self.n]))
        return out

    def __iter__(self):
        cache: dict[int, torch.Tensor] = {}
        for t in range(self.start, self.iters):
            yield self.global_batch(t, cache)[self.rank :: self.world]


def flip_mask(seed: int, iteration: int, batch: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Which images of this rank's share of global batch ``iteration`` are mirrored (p = 0.5, seeded per batch)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + iteration)
    return (torch.rand(batch, generator=g) < 0.5)[rank::world]


# ---------------------------------------------------------------------------------------------------- model


class FaceModel(nn.Module):
    """Backbone + margin head. The backbone runs under bf16 autocast when enabled; the head gets float32 features.

    ``compile=True`` compiles the backbone only: the heads validate their labels eagerly (a graph break), and the
    backbone is where the time goes. The compiled function is kept out of the module tree, so state dicts keep
    their plain keys.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, amp: bool, compile: bool = False) -> None:
        super().__init__()
        self.backbone, self.head, self.amp = backbone, head, amp
        self.__dict__["_run_backbone"] = torch.compile(backbone) if compile else backbone

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp):
            features = self._run_backbone(x)
        return self.head(features.float(), labels)


def head_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """The constructor arguments of each head family."""
    if cfg.head == "softmax":
        return {}
    if cfg.head == "nsl":
        return {"s": cfg.s}
    if cfg.head == "sphereface":
        return {"m": int(cfg.m)} if cfg.m >= 1 else {}
    return {"s": cfg.s, "m": cfg.m}


def build_model(cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, nn.Module, list[str]]:
    """Backbone and head; the head's bound checks (Eq. 6/7) are returned as messages and re-emitted as warnings."""
    from labkit.losses import make_head

    backbone = make_model(cfg.arch, cfg.embedding_dim or None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head = make_head(cfg.head, backbone.embedding_dim, num_classes, **head_kwargs(cfg))
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return backbone, head, [f"{w.category.__name__}: {w.message}" for w in caught]


# ---------------------------------------------------------------------------------------------------- LFW probe


class LFWProbe:
    """LFW 10-fold accuracy of the current backbone, for the log. Pairs that involve a training identity are left
    out (names compared with spaces as underscores). Images are read once and kept in memory."""

    def __init__(self, max_pairs: int = 0, exclude: list[str] | None = None) -> None:
        from labkit.data.lfw import lfw_paths
        from labkit.evaluate.lfw import load_lfw_pairs, unique_images
        from labkit.data.images import load_image, to_tensor

        banned = {n.replace(" ", "_") for n in exclude or []}
        pairs = [p for p in load_lfw_pairs() if p.name1 not in banned and p.name2 not in banned]
        self.excluded = 6000 - len(pairs)
        if max_pairs:
            per = max(1, max_pairs // 20)  # per fold and per label
            kept, seen = [], {}
            for p in pairs:
                key = (p.fold, p.same)
                if seen.get(key, 0) < per:
                    kept.append(p)
                    seen[key] = seen.get(key, 0) + 1
            pairs = kept
        self.pairs = pairs
        folder = lfw_paths(variant="aligned")
        self.rels = unique_images(pairs)
        self.images = torch.stack([to_tensor(load_image(folder / r)) for r in self.rels])

    def __call__(self, backbone: nn.Module, device: str) -> dict[str, Any]:
        from labkit.evaluate.features import embed_batches
        from labkit.evaluate.lfw import evaluate_lfw

        was_training = backbone.training
        feats = embed_batches(backbone, self.images, flip="concat", batch_size=256, device=device)
        backbone.train(was_training)
        res = evaluate_lfw(features=dict(zip(self.rels, feats)), pairs=self.pairs)
        return {"lfw_acc": res.mean_accuracy, "lfw_std": res.std_accuracy, "lfw_pairs": len(self.pairs)}


# ---------------------------------------------------------------------------------------------------- training


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the process group when started by torchrun with WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def fit(cfg: TrainConfig, callback: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    """Train per ``cfg``; ``callback(record)`` gets every log record on rank 0 (for live plots)."""
    from tqdm.auto import tqdm

    rank, world, local_rank = _distributed()
    device = config.pick_device(cfg.device)
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    on_gpu = device.startswith("cuda")
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and on_gpu)
    channels_last = cfg.channels_last in ("on", "auto")
    config.seed_everything(cfg.seed)
    out = Path(cfg.out)
    ckpt_path = out / "last.pt"

    dataset = build_dataset(cfg)
    classes = list(getattr(dataset, "classes"))
    backbone, head, bound_msgs = build_model(cfg, len(classes))
    raw = FaceModel(backbone, head, amp, compile=cfg.compile).to(device)
    if channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(raw.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    start, history, lfw_log = 0, [], []
    if cfg.resume and ckpt_path.is_file():
        state = checkpoint.load(ckpt_path)  # CPU: RNG states must be CPU tensors
        for key in ("arch", "head", "batch", "data", "seed", "iters"):
            if state["config"][key] != getattr(cfg, key):
                raise ValueError(f"--resume: checkpoint {ckpt_path} has {key}={state['config'][key]!r}, "
                                 f"this run {key}={getattr(cfg, key)!r}; use another --out to start a new run")
        backbone.load_state_dict(state["model"])
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        start, history, lfw_log = state["iteration"], list(state["history"]), list(state["lfw"])
        checkpoint.set_rng_state(state["rng"])
    elif cfg.resume and rank == 0:
        print(f"resume: no checkpoint at {ckpt_path}, starting from iteration 0")

    model: nn.Module = raw
    if world > 1:
        model = nn.parallel.DistributedDataParallel(raw, device_ids=[local_rank] if on_gpu else None)

    sampler = GlobalBatchSampler(len(dataset), cfg.batch, cfg.iters, start, rank, world, cfg.seed)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers, pin_memory=on_gpu,
                        persistent_workers=False, prefetch_factor=4 if cfg.workers else None)
    probe = None
    if cfg.eval_every and rank == 0:
        try:
            probe = LFWProbe(cfg.eval_pairs, exclude=classes if cfg.data != "synthetic" else None)
        except (FileNotFoundError, ImportError) as exc:
            print(f"LFW accuracy will not be logged: {exc}")

    def save(it: int) -> None:
        if rank == 0:
            checkpoint.save({
                "model": backbone.state_dict(), "head": head.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": {"base_lr": cfg.lr, "milestones": list(cfg.milestone_iters()), "lr": cfg.lr_at(it)},
                "config": dataclasses.asdict(cfg), "iteration": it, "rng": checkpoint.rng_state(),
                "history": history, "lfw": lfw_log, "classes": classes, "bound_warnings": bound_msgs,
            }, ckpt_path)

    if rank == 0:
        print(f"training {cfg.arch} + {cfg.head} on {len(dataset):,} images of {len(classes):,} identities; "
              f"device {device}, {world} rank(s), global batch {cfg.batch}, bf16={amp}, channels_last={channels_last}, "
              f"compile={cfg.compile}; lr {cfg.lr} /10 at {cfg.milestone_iters()}, stop at {cfg.iters}")
    bar = tqdm(total=cfg.iters, initial=start, disable=not cfg.progress or rank != 0, desc="train", unit="it")
    t0 = t_log = time.perf_counter()
    it, it_log, loss_sum = start, start, torch.zeros((), device=device)
    raw.train()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if cfg.flip:
            mask = flip_mask(cfg.seed, it, cfg.batch, rank, world).to(device)
            x = torch.where(mask[:, None, None, None], x.flip(3), x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(it)
        loss = F.cross_entropy(model(x, y), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
        it += 1
        bar.update(1)
        if it % cfg.log_every == 0 or it == cfg.iters:
            if world > 1:
                dist.all_reduce(loss_sum)
                loss_sum /= world
            now = time.perf_counter()
            ips = (it - it_log) * cfg.batch / max(now - t_log, 1e-9)
            rec = {"iter": it, "loss": loss_sum.item() / (it - it_log), "lr": cfg.lr_at(it - 1),
                   "images_per_s": ips, "eta_s": (cfg.iters - it) * cfg.batch / ips}
            loss_sum.zero_()
            t_log, it_log = now, it
            if rank == 0:
                history.append(rec)
                bar.set_postfix(loss=f"{rec['loss']:.3f}", lr=f"{rec['lr']:.0e}", img_s=f"{ips:.0f}")
                if bar.disable:
                    print(f"iter {it}/{cfg.iters} loss {rec['loss']:.4f} lr {rec['lr']:.0e} {ips:.1f} img/s "
                          f"ETA {rec['eta_s'] / 60:.1f} min", flush=True)
                if callback:
                    callback(dict(rec))
        if probe is not None and (it % cfg.eval_every == 0 or it == cfg.iters):
            rec = {"iter": it, **probe(backbone, device)}
            lfw_log.append(rec)
            bar.write(f"iter {it}: LFW {rec['lfw_acc']:.4f} +- {rec['lfw_std']:.4f} on {rec['lfw_pairs']} pairs")
            if callback:
                callback(dict(rec))
            t_log = time.perf_counter()  # evaluation time is not training throughput
        if (cfg.ckpt_every and it % cfg.ckpt_every == 0) or it == cfg.iters:
            save(it)
    bar.close()
    if rank == 0 and (out / "last.pt").exists():
        (out / "history.json").write_text(json.dumps({"history": history, "lfw": lfw_log}, indent=1))
    return FitResult(backbone, head, it, history, lfw_log, str(ckpt_path), time.perf_counter() - t0, classes)


# ---------------------------------------------------------------------------------------------------- speed


def measure_throughput(arch: str = "sphere20", batch: int = 32, device: str = "cpu", fast: bool = False,
                       compile: bool = False, steps: int = 5, warmup: int = 2, num_classes: int = 10_572) -> float:
    """Training images/s (forward, backward, SGD step) on random input, LMCL head over ``num_classes``.
    ``fast``: bf16 autocast + channels_last (the GPU fast path)."""
    from labkit.losses import make_head

    backbone = make_model(arch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = make_head("cosface", backbone.embedding_dim, num_classes, s=64.0, m=0.35)
    model = FaceModel(backbone, head, amp=fast, compile=compile).to(device)
    x = torch.randn(batch, 3, 112, 96, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    if fast:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for i in range(warmup + steps):
        if i == warmup:
            sync()
            t0 = time.perf_counter()
        loss = F.cross_entropy(model(x, y), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync()
    return steps * batch / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m labkit train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        elif f.name == "milestones":
            p.add_argument(flag, type=int, nargs="*", default=[], help="iterations where lr drops by 10")
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=f.default)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit train [--arch sphere20 --head cosface --data small --iters 300 ...]``."""
    args = vars(_parser().parse_args(argv))
    args["milestones"] = tuple(args["milestones"])
    cfg = TrainConfig(**args)
    try:
        res = fit(cfg)
    except config.DataMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        if res.lfw:
            print(f"final LFW accuracy {res.lfw[-1]['lfw_acc']:.4f} ({res.lfw[-1]['lfw_pairs']} pairs)")
        print(f"done: {res.iteration} iterations in {res.seconds:.1f} s; checkpoint {res.checkpoint}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
