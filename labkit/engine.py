"""The one training loop of the lab: ``fit(backbone, head, data, FitConfig(...))``.

Every model in the lab is trained here (notebook 03's toy, notebook 07's lab-scale runs, notebook 05 and
``python -m labkit train`` for the paper's run); they differ only by their :class:`FitConfig`, which
:mod:`labkit.presets` keeps as plain data. One step is:

    x, y = the batch of step t (a function of t and the seed only)   -> resuming replays the same data
    x = mirrored where flip_mask(seed, t) says so                     -> the lab's one flip implementation
    features = backbone(x)   (bf16 autocast when asked)
    loss = cross_entropy(head(features.float(), y), y)                -> any head of labkit.losses
    optimizer step with the learning rate of step t                   -> step or warm-up + cosine schedule

Around it: a margin warm-up (the first ``margin_warmup`` steps with the head's margin off), per-window diagnostics
(training accuracy, the loss with and without the margin term, mean feature norm before normalisation, mean angle
to the class weight), an ``evaluate`` hook every ``eval_every`` steps (LFW probe, held-out accuracy), a ``callback``
for live plots, atomic checkpoints every ``ckpt_every`` steps and at the end, exact ``resume``, and several
processes under ``torchrun`` (DistributedDataParallel; the global batch is split over the ranks and the union of
their batches is the single-process batch).

``head_parallel="sharded"`` splits the head's C classes over the ranks (:mod:`labkit.parallel`): the head is cut
into a :class:`labkit.parallel.ShardedMarginHead`, kept out of DDP, trained by a row-wise
:class:`labkit.parallel.ShardOptimizer` (same rule as ``optimizer``), and ``sample_rate`` < 1 keeps only the batch's
classes and that share of the others each step. The loss is then the global batch's mean on every rank, so DDP
sums the backbone's per-rank gradients instead of averaging them. Checkpoints hold the full head, gathered on
rank 0, and resume on any number of ranks.

Why one module of ~450 lines: the loop, its data order and its checkpoint/resume logic must be read together to see
that a resumed run replays exactly what an uninterrupted one does; splitting them would hide that.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from labkit import checkpoint, config, parallel

__all__ = ["FitConfig", "FitResult", "BatchPlan", "dataset_loader", "dataset_labels", "flip_mask", "apply_flip", "lr_at", "fit",
           "cores_available"]


def cores_available() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one): the default number of
    DataLoader workers, so that PyTorch never starts more workers than there are cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class FitConfig:
    """How to train: optimiser, schedule, sampling, device and bookkeeping. Everything a result depends on."""

    steps: int = 30_000  # optimiser steps (iterations); one step = one global batch
    batch: int = 512  # global batch, split over ranks
    optimizer: str = "sgd"  # sgd | adam
    lr: float = 0.1
    momentum: float = 0.9  # sgd only
    weight_decay: float = 5e-4
    schedule: str = "step"  # step (lr / 10 at each milestone) | warmup_cosine | constant
    milestones: tuple[int, ...] = ()  # step schedule; empty: 16/30, 24/30 and 28/30 of the steps (the paper's)
    warmup: int = 0  # warmup_cosine: steps of linear warm-up
    lr_floor: float = 0.02  # warmup_cosine: the last lr as a fraction of lr
    margin_warmup: int = 0  # the first steps train with the head's margin switched off
    flip: bool = True  # random horizontal flips, p = 0.5
    sampling: str = "uniform"  # uniform (epochs of permutations) | balanced (per_class images of every class)
    per_class: int = 0  # balanced sampling: images per class per epoch
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 | off
    channels_last: str = "auto"  # auto (on for 4-D input) | on | off
    compile: bool = False  # torch.compile the backbone
    workers: int = 0  # DataLoader workers for a Dataset on disk (tensors in memory need none)
    threads: int = 0  # torch CPU threads (0: leave as is); restored when fit returns
    log_every: int = 50  # steps per diagnostics record
    eval_every: int = 0  # steps between calls of ``evaluate`` (0: only at the end, if given)
    ckpt_every: int = 0  # steps between checkpoints (0: only at the end); needs ``out``
    out: str = ""  # folder for last.pt and history.json ("" : no files)
    resume: bool = False  # continue from <out>/last.pt when it exists
    progress: bool = False  # tqdm bar
    head_parallel: str = "replicated"  # replicated (every rank holds the whole head) | sharded (C split over ranks)
    sample_rate: float = 1.0  # sharded only: share of the non-target classes each rank keeps per step, in (0, 1]

    def validate(self) -> None:
        """Raise ValueError naming the first bad field, before anything is built or loaded."""
        checks = [
            (self.steps >= 1, "steps must be >= 1"), (self.batch >= 1, "batch must be >= 1"),
            (self.optimizer in ("sgd", "adam"), "optimizer must be 'sgd' or 'adam'"),
            (self.lr > 0, "lr must be > 0"), (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.schedule in ("step", "warmup_cosine", "constant"),
             "schedule must be 'step', 'warmup_cosine' or 'constant'"),
            (list(self.milestones) == sorted(set(self.milestones)) and all(0 < m < self.steps for m in self.milestones),
             "milestones must be increasing steps between 0 and steps"),
            (self.warmup >= 0, "warmup must be >= 0"),
            (0 <= self.lr_floor <= 1, "lr_floor must lie in [0, 1]"),
            (self.margin_warmup >= 0, "margin_warmup must be >= 0"),
            (self.sampling in ("uniform", "balanced"), "sampling must be 'uniform' or 'balanced'"),
            (self.sampling != "balanced" or self.per_class >= 1, "balanced sampling needs per_class >= 1"),
            (self.amp in ("auto", "bf16", "off"), "amp must be 'auto', 'bf16' or 'off'"),
            (self.channels_last in ("auto", "on", "off"), "channels_last must be 'auto', 'on' or 'off'"),
            (self.workers >= 0 and self.threads >= 0, "workers and threads must be >= 0"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.eval_every >= 0 and self.ckpt_every >= 0, "eval_every and ckpt_every must be >= 0"),
            (not self.resume or bool(self.out), "resume needs out (the folder holding last.pt)"),
            (self.head_parallel in ("replicated", "sharded"), "head_parallel must be 'replicated' or 'sharded'"),
            (not isinstance(self.sample_rate, bool) and isinstance(self.sample_rate, (int, float))
             and 0 < self.sample_rate <= 1, f"sample_rate must lie in (0, 1] (the share of non-target classes kept "
                                             f"per step; 1: no sampling), got {self.sample_rate!r}"),
            (self.sample_rate == 1 or self.head_parallel == "sharded",
             "sample_rate < 1 needs head_parallel='sharded' (class sampling works on the head's shards; it runs "
             "with one process too)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def milestone_steps(self) -> tuple[int, ...]:
        return tuple(self.milestones) or tuple(round(self.steps * f / 30) for f in (16, 24, 28))


def lr_at(cfg: FitConfig, step: int) -> float:
    """The learning rate of ``step`` (0-based): the paper's step schedule (lr / 10 at each milestone, Sec. 4.1),
    linear warm-up then cosine decay to ``lr_floor * lr``, or constant."""
    if cfg.schedule == "step":
        return cfg.lr * 0.1 ** sum(step >= m for m in cfg.milestone_steps())
    if cfg.schedule == "constant":
        return cfg.lr
    warm = max(1, cfg.warmup)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (cfg.lr_floor + (1 - cfg.lr_floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


# ---------------------------------------------------------------------------------------------------- data order


class BatchPlan:
    """Which samples make up the global batch of each step: a pure function of (step, seed).

    The sample stream is a concatenation of epochs. ``uniform``: epoch e is a permutation of all n samples drawn
    with seed + e. ``balanced``: epoch e takes ``per_class`` samples of every class (each class's samples in a fresh
    permutation, cycled when the class is smaller) and shuffles them together, so a 530-image identity and a
    60-image one are seen equally often. Global batch t is stream positions [t B, (t + 1) B); rank r of W takes
    every W-th of them. Resuming at step t therefore replays exactly the data an uninterrupted run would see.
    """

    def __init__(self, labels: np.ndarray | Tensor, batch: int, sampling: str = "uniform", per_class: int = 0,
                 seed: int = 0) -> None:
        self.labels = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels)
        self.n, self.batch, self.sampling, self.per_class, self.seed = len(self.labels), batch, sampling, per_class, seed
        self.classes = np.unique(self.labels)
        self.epoch_len = per_class * len(self.classes) if sampling == "balanced" else self.n
        self._cache: dict[int, np.ndarray] = {}

    def steps_per_epoch(self) -> int:
        return -(-self.epoch_len // self.batch)

    def epoch(self, e: int) -> np.ndarray:
        if e not in self._cache:
            if len(self._cache) > 2:
                self._cache.clear()
            rng = np.random.default_rng([self.seed, e])
            if self.sampling == "uniform":
                order = rng.permutation(self.n)
            else:
                parts = []
                for c in self.classes:
                    idx = np.flatnonzero(self.labels == c)
                    pool = np.concatenate([rng.permutation(idx) for _ in range(-(-self.per_class // len(idx)))])
                    parts.append(pool[: self.per_class])
                order = rng.permutation(np.concatenate(parts))
            self._cache[e] = order
        return self._cache[e]

    def global_batch(self, step: int) -> np.ndarray:
        pos = np.arange(step * self.batch, (step + 1) * self.batch)
        out = np.empty(len(pos), dtype=np.int64)
        for e in np.unique(pos // self.epoch_len):
            sel = pos // self.epoch_len == e
            out[sel] = self.epoch(int(e))[pos[sel] % self.epoch_len]
        return out

    def rank_batch(self, step: int, rank: int = 0, world: int = 1) -> np.ndarray:
        return self.global_batch(step)[rank::world]


class _PlanSampler(torch.utils.data.Sampler):
    """Feeds a DataLoader this rank's indices of steps ``start .. steps-1``."""

    def __init__(self, plan: BatchPlan, start: int, steps: int, rank: int, world: int) -> None:
        self.plan, self.start, self.steps, self.rank, self.world = plan, start, steps, rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for t in range(self.start, self.steps):
            yield self.plan.rank_batch(t, self.rank, self.world).tolist()


def dataset_loader(data: Dataset, plan: BatchPlan, start: int, steps: int, rank: int = 0, world: int = 1,
                   workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """The DataLoader :func:`fit` reads a Dataset on disk through: this rank's share of the global batch of each step
    ``start .. steps-1`` (:class:`BatchPlan`), decoded by ``workers`` processes. Flips are applied by :func:`fit`
    on the batch (:func:`apply_flip`), never inside the loader. ``benchmarks/decode.py --loader`` times it."""
    sampler = _PlanSampler(plan, start, steps, rank, world)
    return DataLoader(data, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                      prefetch_factor=4 if workers else None)


def flip_mask(seed: int, step: int, batch: int, rank: int = 0, world: int = 1) -> Tensor:
    """Which images of this rank's share of global batch ``step`` are mirrored (p = 0.5, seeded per step)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return (torch.rand(batch, generator=g) < 0.5)[rank::world]


def apply_flip(x: Tensor, mask: Tensor) -> Tensor:
    """Mirror the images (N, C, H, W) where ``mask`` is True (the width axis is the last one)."""
    return torch.where(mask.to(x.device).view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


@torch.no_grad()
def dataset_labels(data: Dataset) -> np.ndarray:
    """The label of every item of a Dataset, without decoding images: its ``targets`` or ``labels`` attribute,
    or ``i // images_per_class`` for :class:`labkit.data.SyntheticFaces`."""
    for name in ("targets", "labels"):
        value = getattr(data, name, None)
        if value is not None:
            return np.asarray(value() if callable(value) else value)
    if hasattr(data, "images_per_class"):
        return np.arange(len(data)) // data.images_per_class
    raise TypeError(f"{type(data).__name__} has no targets/labels attribute: the engine needs every label to plan "
                    "its batches without decoding the images")


# ---------------------------------------------------------------------------------------------------- fit


@dataclass
class FitResult:
    """What :func:`fit` returns. ``history`` holds one record per log window and per evaluation (rank 0)."""

    backbone: nn.Module
    head: nn.Module
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: str = ""
    seconds: float = 0.0

    def records(self, key: str) -> list[dict[str, Any]]:
        """The history records that carry ``key``."""
        return [r for r in self.history if key in r]


class _Model(nn.Module):
    """Backbone + head, so DDP sees one module. The backbone runs under bf16 autocast when enabled; the head gets
    float32 features. A compiled backbone is kept out of the module tree so state dicts keep their plain keys."""

    def __init__(self, backbone: nn.Module, head: nn.Module | None, amp: bool, compile: bool) -> None:
        super().__init__()
        self.backbone, self.head, self.amp = backbone, head, amp
        self.__dict__["_run"] = torch.compile(backbone) if compile else backbone

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor | None, Tensor]:
        """(logits, features); logits are None without a head (a sharded head runs outside DDP)."""
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp):
            features = self._run(x)
        features = features.float()
        return (None if self.head is None else self.head(features, y)), features


def _sum_hook(state, bucket):  # no annotations: DDP checks them against dist.GradBucket / Future
    """DDP communication hook that sums the ranks' gradients (the default averages them). With a sharded head the
    loss is already the mean over the global batch, so each rank's gradient is its share of the total."""
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the process group when started by torchrun with WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


@torch.no_grad()
def _diagnostics(head: nn.Module, features: Tensor, y: Tensor) -> Tensor:
    """[loss without the margin term, correct count, sum of |x|, sum of the angle to the class weight (deg)]."""
    plain = head(features, None)
    w = head.weight.detach().float()[y]
    cos = F.cosine_similarity(features, w, dim=1).clamp(-1, 1)
    return torch.stack([F.cross_entropy(plain, y, reduction="sum"), (plain.argmax(1) == y).sum().float(),
                        features.norm(dim=1).sum(), torch.rad2deg(torch.arccos(cos)).sum()])


def fit(backbone: nn.Module, head: nn.Module, data: tuple[Tensor, Tensor] | Dataset, cfg: FitConfig,
        evaluate: Callable[[nn.Module, nn.Module, int], dict[str, Any]] | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None, meta: dict[str, Any] | None = None) -> FitResult:
    """Train ``backbone`` + ``head`` on ``data`` as ``cfg`` says (see the module docstring).

    ``data`` is either ``(x, y)`` tensors in memory (x: (N, C, H, W) or (N, D) float, y: (N,) int) or a Dataset of
    ``(image, label)`` with a ``targets``/``labels`` list or array (read through a DataLoader with ``cfg.workers``).
    ``evaluate(backbone, head, step)`` returns metrics for the history (every ``eval_every`` steps and at the end);
    ``callback(record)`` sees every record (live plots). ``meta`` entries are stored at the top level of the
    checkpoint (e.g. the run's own config and class names; ``labkit.evaluate`` reads ``"config"`` and ``"model"``).
    """
    from tqdm.auto import tqdm

    cfg.validate()
    rank, world, local_rank = _distributed()
    if cfg.batch % world:
        raise ValueError(f"the global batch {cfg.batch} is not divisible by the {world} ranks")
    device = config.pick_device(cfg.device)
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    on_gpu = device.startswith("cuda")
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and on_gpu)
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        config.seed_everything(cfg.seed)
        in_memory = isinstance(data, tuple)
        if in_memory:
            x_all, y_all = data
            labels = y_all
        else:
            labels = dataset_labels(data)
        plan = BatchPlan(labels, cfg.batch, cfg.sampling, cfg.per_class, cfg.seed)
        image_input = (x_all.dim() == 4) if in_memory else True
        channels_last = image_input and cfg.channels_last in ("on", "auto")
        sharded = cfg.head_parallel == "sharded"
        shead: parallel.ShardedMarginHead | None = None
        hopt: parallel.ShardOptimizer | None = None
        if sharded:
            shead = parallel.ShardedMarginHead.from_head(head, cfg.sample_rate, cfg.seed).to(device)
            hopt = parallel.ShardOptimizer(shead, cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)
        model = _Model(backbone, None if sharded else head, amp, cfg.compile).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        params = list(model.parameters())
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

        out = Path(cfg.out) if cfg.out else None
        ckpt_path = out / "last.pt" if out else None
        start, history = 0, []
        if cfg.resume and ckpt_path is not None and ckpt_path.is_file():
            state = checkpoint.load(ckpt_path)  # on the CPU: RNG states must stay CPU tensors
            mine = dataclasses.asdict(cfg)
            defaults = {"head_parallel": "replicated", "sample_rate": 1.0}  # checkpoints older than these fields
            for key in ("steps", "batch", "optimizer", "lr", "schedule", "sampling", "per_class", "seed", "flip",
                        "head_parallel", "sample_rate"):
                theirs = state["fit"].get(key, defaults.get(key))
                if theirs != mine[key]:
                    raise ValueError(f"resume: checkpoint {ckpt_path} has {key}={theirs!r}, this run "
                                     f"{key}={mine[key]!r}; use another out folder to start a new run")
            backbone.load_state_dict(state["model"])
            if shead is not None:
                parallel.load_state(shead, hopt, state, str(ckpt_path))
            else:
                head.load_state_dict(state["head"])
            opt.load_state_dict(state["optimizer"])
            start, history = state["step"], list(state["history"])
            checkpoint.set_rng_state(state["rng"])
        elif cfg.resume and rank == 0:
            print(f"resume: no checkpoint at {ckpt_path}, starting from step 0")

        net: nn.Module = model
        if world > 1:
            net = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if on_gpu else None)
            if sharded:
                net.register_comm_hook(None, _sum_hook)

        def batches():
            if in_memory:
                for t in range(start, cfg.steps):
                    idx = torch.from_numpy(plan.rank_batch(t, rank, world))
                    yield x_all[idx], y_all[idx]
            else:
                yield from dataset_loader(data, plan, start, cfg.steps, rank, world, cfg.workers, on_gpu)

        def save(step: int) -> None:
            if ckpt_path is None:
                return
            head_state = {"head": head.state_dict()}
            if shead is not None:
                head_state = parallel.gather_state(shead, hopt)  # a collective: every rank takes part
            if rank == 0:
                checkpoint.save({**(meta or {}), "model": backbone.state_dict(), **head_state,
                                 "optimizer": opt.state_dict(), "step": step, "lr": lr_at(cfg, step),
                                 "fit": dataclasses.asdict(cfg), "rng": checkpoint.rng_state(),
                                 "history": history}, ckpt_path)

        def sync_head() -> None:
            """Copy the sharded weights into ``head`` (a collective), so that hooks and the result see the whole head."""
            if shead is not None:
                with torch.no_grad():
                    head.weight.copy_(parallel.full_weight(shead))

        def run_eval(step: int) -> None:
            if evaluate is not None:
                sync_head()
            if evaluate is None or rank != 0:
                return
            t_eval = time.perf_counter()
            rec = {"step": step, **evaluate(backbone, head, step), "eval_seconds": time.perf_counter() - t_eval}
            history.append(rec)
            if callback:
                callback(dict(rec))

        bar = tqdm(total=cfg.steps, initial=start, disable=not cfg.progress or rank != 0, desc="train", unit="step")
        t0 = t_log = time.perf_counter()
        step = start
        sums = torch.zeros(6, device=device)  # loss, loss without margin, correct, |x|, angle, samples
        model.train()
        if shead is not None:
            shead.train()
        for x, y in batches():
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cfg.flip:
                x = apply_flip(x, flip_mask(cfg.seed, step, cfg.batch, rank, world))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)
            head.margin_enabled = step >= cfg.margin_warmup
            logits, features = net(x, y)
            if shead is None:
                loss = F.cross_entropy(logits, y)
            else:
                shead.margin_enabled = head.margin_enabled
                hopt.lr = lr_at(cfg, step)
                loss = shead(features, y)  # the global batch's mean, the same on every rank
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            sums[0] += loss.detach() * len(y)
            # before the step: the weights of this loss
            sums[1:5] += _diagnostics(head, features.detach(), y) if shead is None else shead.diagnostics(features)
            sums[5] += len(y)
            opt.step()
            if hopt is not None:
                hopt.step()
                hopt.zero_grad()
            step += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                if world > 1:
                    dist.all_reduce(sums)
                now = time.perf_counter()
                n = float(sums[5])
                ips = n / max(now - t_log, 1e-9)
                rec = {"step": step, "loss": float(sums[0]) / n, "loss_no_margin": float(sums[1]) / n,
                       "train_acc": float(sums[2]) / n, "feat_norm": float(sums[3]) / n,
                       "angle_deg": float(sums[4]) / n, "lr": lr_at(cfg, step - 1),
                       "margin_on": bool(head.margin_enabled), "images_per_s": ips,
                       "eta_s": (cfg.steps - step) * cfg.batch / ips}
                sums.zero_()
                t_log = now
                if rank == 0:
                    history.append(rec)
                    bar.set_postfix(loss=f"{rec['loss']:.3f}", acc=f"{rec['train_acc']:.2f}", img_s=f"{ips:.0f}")
                    if callback:
                        callback(dict(rec))
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
                run_eval(step)
                t_log = time.perf_counter()  # evaluation time is not training throughput
            if (cfg.ckpt_every and step % cfg.ckpt_every == 0) or step == cfg.steps:
                save(step)
        bar.close()
        sync_head()
        model.eval()
        if shead is not None:
            shead.eval()
        if rank == 0 and out is not None and ckpt_path.exists():
            import json

            (out / "history.json").write_text(json.dumps({"history": history}, indent=1))
        return FitResult(backbone, head, step, history, str(ckpt_path or ""), time.perf_counter() - t0)
    finally:
        if cfg.threads:
            torch.set_num_threads(threads_before)
