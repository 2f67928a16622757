"""``python -m labkit train``: train a face model from the command line (one option per :class:`TrainConfig` field).

    python -m labkit train --arch lab_cnn --head cosface --data small --iters 300 --batch 64 --out runs/small
    python -m labkit train --data synthetic --arch lab_cnn --iters 20 --batch 32 --eval-every 0   # no data needed
    torchrun --nproc_per_node 8 -m labkit train --arch sphere64 --data casia                     # the paper's run

Every option is checked (:meth:`TrainConfig.validate`) before any data is looked for; a bad value or missing
data ends with one ``error:`` line and exit status 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from labkit import cli, config
from labkit.train import DATA_ALIASES, TrainConfig, cores_available

DESCRIPTION = (
    "Train a face embedding network with a margin head (defaults: the CosFace paper's CASIA-WebFace run, Sec. 4.1). "
    "Lengths are in iterations, i.e. SGD steps on one global batch of --batch images, not epochs: one epoch of "
    "CASIA-WebFace (~0.49M images) is ~960 iterations at --batch 512. Checkpoints go to OUT/last.pt."
)

# one line per TrainConfig field: what it is, its unit and the values it accepts (the default is appended)
HELP: dict[str, str] = {
    "arch": "network: sphere20/36/64 are the paper's 20/36/64-layer nets, lab_cnn a narrow one for CPUs",
    "head": "margin head (labkit.losses.HEADS): cosface = LMCL, the paper's loss",
    "s": "scale s > 0 of the normalised features (nsl, cosface, arcface)",
    "m": "margin: cosine margin >= 0 (cosface), radians in [0, pi) (arcface), integer >= 1 (sphereface, paper: 4)",
    "embedding_dim": "embedding size in dimensions; 0 = the network's own (512 for sphereNN, 128 for lab_cnn)",
    "data": ("training images: a folder of <identity>/<image> sub-folders, an InsightFace train.rec (or its "
             f"folder), a name under the data root ({', '.join(DATA_ALIASES)}) or 'synthetic' (random faces)"),
    "crop": "how images become 112x96: auto (112x112 InsightFace crops are cut to 112x96), none, arcface_to_sphereface",
    "batch": "global batch in images per iteration, split over the torchrun ranks",
    "iters": "training length in iterations (SGD steps of one global batch), not epochs",
    "lr": "initial learning rate of SGD, divided by 10 at each milestone",
    "milestones": "iterations at which the learning rate drops by 10x, increasing and below --iters",
    "momentum": "SGD momentum in [0, 1)",
    "weight_decay": "SGD weight decay (L2 penalty per step)",
    "flip": "mirror half of the training images at random (--no-flip: never)",
    "device": "where to train: auto (CUDA if visible, else CPU), cpu, cuda, cuda:N or mps",
    "amp": "mixed precision of the backbone: bf16 (bfloat16 autocast; the head stays float32), off, or auto "
           "(bf16 on CUDA, off on CPU)",
    "channels_last": "NHWC memory layout for convolutions: on, off, or auto (on)",
    "compile": "compile the backbone with torch.compile (slow first iterations, faster after)",
    "workers": "DataLoader worker processes decoding images (0: decode in the training process)",
    "seed": "random seed of the weights, the sample order and the flips",
    "log_every": "log loss, lr, images/s and ETA every N iterations",
    "eval_every": "log the LFW 10-fold accuracy every N iterations (0: never); logged only, never used to pick a model",
    "eval_pairs": "LFW pairs in that check (0: all 6,000; else N balanced over folds and same/different)",
    "ckpt_every": "write OUT/last.pt every N iterations (0: only at the end)",
    "out": "output folder for last.pt (checkpoint) and history.json",
    "resume": "continue from OUT/last.pt if it exists (same arch, head, batch, data, seed and iters)",
    "head_parallel": "where the head's C x D weight lives: replicated (whole on every rank, DDP all-reduces it) or "
                     "sharded (about C / W classes per torchrun rank; nsl, cosface, arcface)",
    "sample_rate": "with --head-parallel sharded: share of the non-target classes each rank keeps per step, in "
                   "(0, 1] (Partial FC; 1 keeps all)",
    "synthetic_classes": "identities of --data synthetic",
    "synthetic_per_class": "images per identity of --data synthetic",
    "progress": "show a progress bar (--no-progress: print a log line every --log-every iterations instead)",
}

# how a default reads in --help where its plain value would mislead
DEFAULT_SHOWN: dict[str, str] = {
    "milestones": "16/30, 24/30 and 28/30 of --iters",
    "workers": f"the CPU cores available, {cores_available()} here",
    "embedding_dim": "0",
}

CHOICES: dict[str, tuple[str, ...]] = {
    "crop": ("auto", "none", "arcface_to_sphereface"),
    "amp": ("auto", "bf16", "off"),
    "channels_last": ("auto", "on", "off"),
    "head_parallel": ("replicated", "sharded"),
}

# fields a --resume compares with the checkpoint (the same as labkit.train.fit)
RESUME_KEYS = ("arch", "head", "batch", "data", "seed", "iters")


def flag(name: str) -> str:
    """The command-line option of a TrainConfig field: ``log_every`` -> ``--log-every``."""
    return "--" + name.replace("_", "-")


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def build_parser() -> argparse.ArgumentParser:
    """One option per :class:`TrainConfig` field, each with a one-line help, its unit and its default."""
    from labkit.losses import HEADS
    from labkit.models import ARCHS

    choices = {**CHOICES, "arch": tuple(sorted(ARCHS)), "head": tuple(HEADS)}
    p = cli.ArgumentParser(prog="python -m labkit train", description=DESCRIPTION)
    for f in dataclasses.fields(TrainConfig):
        default = _default(f)
        shown = DEFAULT_SHOWN.get(f.name, str(default))
        text = f"{HELP[f.name]} (default: {shown})"
        if f.type in ("bool", bool):
            p.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=default,
                           help=f"{HELP[f.name]} (default: {'on' if default else 'off'})")
        elif f.name == "milestones":
            p.add_argument(flag(f.name), type=int, nargs="*", default=list(default), metavar="ITER", help=text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag(f.name), type=kind, default=default, choices=choices.get(f.name), help=text,
                           metavar=f.name.upper() if f.name not in choices else None)
    return p


def _as_usage_error(exc: ValueError) -> cli.UsageError:
    """``TrainConfig.validate``'s message with the field name written as the option (``batch`` -> ``--batch``)."""
    text = str(exc)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    match = re.match(r"(\w+) must be", text)
    if match and match.group(1) in names:
        text = flag(match.group(1)) + text[len(match.group(1)):]
    return cli.UsageError(text)


def _check_data(cfg: TrainConfig) -> None:
    """Find the training data now, so that a missing set fails in one line before any model is built."""
    from labkit.train import _find_training_data

    if cfg.data == "synthetic":
        return
    try:
        _find_training_data(cfg.data)
    except config.DataMissingError as exc:
        root = config.data_root()
        raise config.DataMissingError(
            f"training data {cfg.data!r} not found (data root {root}; set LABKIT_DATA to change it): give --data a "
            f"folder of <identity>/<image> sub-folders, an InsightFace train.rec, a name under the data root "
            f"({', '.join(DATA_ALIASES)}) or 'synthetic'; `python -m labkit data get casia` says where "
            "CASIA-WebFace goes"
        ) from exc


def _check_output(cfg: TrainConfig) -> None:
    """--out must be a folder; with --resume an existing checkpoint must be of the same run."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise cli.UsageError(f"--out {out} is a file; give a folder for last.pt and history.json")
    ckpt = out / "last.pt"
    if not (cfg.resume and ckpt.is_file()):
        return
    import torch

    try:
        saved = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True).get("config", {})
    except Exception as exc:  # any unreadable file: say which one, whatever torch raised
        raise cli.UsageError(f"--resume: cannot read the checkpoint {ckpt} ({cli.one_line(exc)[:200]}); "
                             "remove it or give another --out") from exc
    for key in RESUME_KEYS:
        if key in saved and saved[key] != getattr(cfg, key):
            raise cli.UsageError(f"--resume: {ckpt} was trained with {flag(key)} {saved[key]!r}, this run asks for "
                                 f"{getattr(cfg, key)!r}; use the same value or another --out for a new run")


@cli.command
def main(argv: list[str]) -> int:
    """``python -m labkit train [--arch sphere20 --head cosface --data small --iters 300 ...]``: check every
    option, find the data, train; returns the exit status (2 with one ``error:`` line on a usage error)."""
    args = vars(build_parser().parse_args(argv))
    args["milestones"] = tuple(args["milestones"])
    cfg = TrainConfig(**args)
    try:
        cfg.validate()
    except ValueError as exc:
        raise _as_usage_error(exc) from exc
    _check_output(cfg)
    _check_data(cfg)
    from labkit.train import fit

    try:
        res = fit(cfg)
    except ValueError as exc:  # a resume that does not match, a head that cannot be split: one line, status 2
        raise cli.UsageError(str(exc)) from exc
    if int(os.environ.get("RANK", "0")) == 0:
        if res.lfw:
            print(f"final LFW accuracy {res.lfw[-1]['lfw_acc']:.4f} ({res.lfw[-1]['lfw_pairs']} pairs)")
        print(f"done: {res.iteration} iterations in {res.seconds:.1f} s; checkpoint {res.checkpoint}")
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
