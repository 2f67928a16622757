"""``python -m labkit toy``: train one toy model, or the whole sweep.

    python -m labkit toy --head cosface --m 0.2 --s 16 --out runs/toy
    python -m labkit toy --head softmax --out runs/toy --epochs 30 --seed 0 --data /path/to/data_root
    python -m labkit toy sweep --out data/shipped/toy_sweep          # the shipped grid + MANIFEST
    python -m labkit toy verify [FOLDER]                              # check a sweep against its MANIFEST

A bad option (unknown head, negative margin, missing data, ...) ends with one ``error:`` line and status 2
before any training starts; ``--debug`` shows the traceback instead (see :mod:`labkit.cli`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from labkit import cli
from labkit.losses import HEAD_PARAMS, HEADS

if TYPE_CHECKING:
    from labkit.experiments.toy.train import ToyConfig

# the margin a head gets when --m is not given: A-Softmax's integer m of the paper, else the toy's 0.2
DEFAULT_M: dict[str, float] = {"sphereface": 4}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None,
                   help="data root holding lfw_aligned_112x96/ (or that folder itself); default $LABKIT_DATA")
    p.add_argument("--epochs", type=cli.positive_int, default=30,
                   help="training length in epochs of 64 images per identity (default 30)")
    p.add_argument("--seed", type=cli.nonnegative_int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=cli.positive_int, default=2, help="torch CPU threads (default 2)")


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise cli.UsageError(f"--out {out} is a file; give a folder (it is created if missing)")


def _check_heads(cfgs: list[ToyConfig], flags: str | None = None) -> None:
    """Build each config's head once (cheap: 2-D features, 8 classes), so that a bad m or s stops the command
    before the data is read. ``flags`` names the options in the message (default: those the head uses)."""
    from labkit.experiments.toy.train import build

    for cfg in cfgs:
        used = flags or "/".join(f"--{p}" for p in HEAD_PARAMS.get(cfg.head, ("m", "s")))
        with warnings.catch_warnings(), cli.usage_errors(f"{used} for head {cfg.head}: " if used else ""):
            warnings.simplefilter("ignore")
            build(cfg)


def _verify(argv: list[str]) -> int:
    from labkit.experiments.toy.sweep import ManifestError, shipped_sweep_dir, verify

    p = cli.ArgumentParser(prog="python -m labkit toy verify",
                           description="check a toy sweep folder against the sha256 sums in its MANIFEST.json")
    p.add_argument("folder", nargs="?", type=Path, default=None,
                   help="the folder `toy sweep --out` wrote (default data/shipped/toy_sweep)")
    args = p.parse_args(argv)
    folder = args.folder or shipped_sweep_dir()
    if not folder.is_dir():
        raise cli.UsageError(f"no folder {folder}; give the folder `python -m labkit toy sweep --out` wrote "
                             f"(default {shipped_sweep_dir()})")
    try:
        m = verify(folder)
    except ManifestError as exc:
        print(f"FAILED: {cli.one_line(exc)}", file=sys.stderr)
        return 1
    print(f"OK: {len(m['files'])} files match the MANIFEST")
    return 0


def _sweep(argv: list[str]) -> int:
    from labkit.experiments.toy.sweep import M_GRID, S_GRID, SEEDS, grid, run_sweep, shipped_sweep_dir, write_manifest

    p = cli.ArgumentParser(prog="python -m labkit toy sweep",
                           description="train softmax plus CosFace at every (m, s) of the grid; write a MANIFEST")
    _common(p)
    p.add_argument("--out", type=Path, default=None, help="output folder (default data/shipped/toy_sweep)")
    p.add_argument("--ms", type=float, nargs="+", default=None,
                   help=f"cosine margins m >= 0 (default {', '.join(map(str, M_GRID))})")
    p.add_argument("--ss", type=cli.positive_float, nargs="+", default=None,
                   help=f"scales s > 0 (default {', '.join(f'{x:g}' for x in S_GRID)})")
    p.add_argument("--seeds", type=cli.nonnegative_int, nargs="+", default=None,
                   help=f"seeds of the grid (default {' '.join(map(str, SEEDS))}; overrides --seed)")
    args = p.parse_args(argv)
    out = args.out or shipped_sweep_dir()
    _check_out(out)
    seeds = args.seeds if args.seeds is not None else (SEEDS if "--seed" not in argv else [args.seed])
    cfgs = grid(args.ms or M_GRID, args.ss or S_GRID, seed=seeds, epochs=args.epochs)
    _check_heads(cfgs, flags="--ms/--ss")
    import torch

    from labkit.experiments.toy.data import load_toy_data

    torch.set_num_threads(args.threads)
    data = load_toy_data(args.data)
    run_sweep(out, data, cfgs, threads=args.threads)
    cmd = "python -m labkit toy sweep " + " ".join(argv)
    print(f"manifest: {write_manifest(out, cmd, seeds)}")
    return 0


def _train_one(argv: list[str]) -> int:
    from labkit.experiments.toy.train import ToyConfig, train_toy

    p = cli.ArgumentParser(prog="python -m labkit toy", description="train one 8-identity 2-D toy model",
                           epilog="sub-commands: `python -m labkit toy sweep --help`, `python -m labkit toy verify "
                                  "--help`")
    p.add_argument("--head", default="cosface", choices=list(HEADS), help="margin head (default cosface)")
    with_m = ", ".join(h for h, params in HEAD_PARAMS.items() if "m" in params)
    with_s = ", ".join(h for h, params in HEAD_PARAMS.items() if "s" in params)
    p.add_argument("--m", type=float, default=None,
                   help=f"margin of {with_m}: a cosine margin >= 0 (cosface), an angle in radians (arcface), an "
                        "integer >= 1 (sphereface) (default 0.2; 4 for sphereface)")
    p.add_argument("--s", type=cli.positive_float, default=16.0, help=f"scale s > 0 of {with_s} (default 16)")
    p.add_argument("--out", type=Path, default=Path("runs/toy"), help="output folder (default runs/toy)")
    p.add_argument("--progress", action="store_true", help="show a progress bar over epochs")
    _common(p)
    args = p.parse_args(argv)
    m = DEFAULT_M.get(args.head, 0.2) if args.m is None else args.m
    cfg = ToyConfig(head=args.head, m=m, s=args.s, epochs=args.epochs, seed=args.seed)
    _check_out(args.out)
    _check_heads([cfg])
    from labkit.experiments.toy.data import load_toy_data

    data = load_toy_data(args.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train_toy(cfg, data, progress=args.progress, threads=args.threads)
    for w in res.meta["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    npz, js = res.save(args.out)
    mt = res.metrics()
    print(f"{cfg.name}: train {res.train_acc:.3f} held-out {res.test_acc:.3f} spread {mt['train_spread_deg']:.1f} deg "
          f"min gap {mt['train_min_gap_deg']:.1f} deg ({res.meta['seconds']} s)\nwrote {npz} and {js}")
    return 0


@cli.command
def main(argv: list[str]) -> int:
    """``python -m labkit toy [sweep|verify] ...``; returns the exit status (2 with one line on a usage error)."""
    if argv and argv[0] == "verify":
        return _verify(argv[1:])
    if argv and argv[0] == "sweep":
        return _sweep(argv[1:])
    return _train_one(argv)
