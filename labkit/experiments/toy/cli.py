"""``python -m labkit toy``: train one toy model, or the whole sweep.

    python -m labkit toy --head cosface --m 0.2 --s 16 --out runs/toy
    python -m labkit toy --head softmax --out runs/toy --epochs 30 --seed 0 --data /path/to/data_root
    python -m labkit toy sweep --out data/shipped/toy_sweep          # the shipped grid + MANIFEST
    python -m labkit toy verify [FOLDER]                              # check a sweep against its MANIFEST
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="data root (or the lfw-112x96 folder); default $LABKIT_DATA")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from labkit import config

    if argv and argv[0] == "verify":
        from labkit.experiments.toy.sweep import ManifestError, verify

        try:
            m = verify(argv[1] if len(argv) > 1 else None)
        except ManifestError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        print(f"OK: {len(m['files'])} files match the MANIFEST")
        return 0
    if argv and argv[0] == "sweep":
        p = argparse.ArgumentParser(prog="python -m labkit toy sweep")
        _common(p)
        p.add_argument("--out", type=Path, default=None, help="default data/shipped/toy_sweep")
        p.add_argument("--ms", type=float, nargs="+", default=None)
        p.add_argument("--ss", type=float, nargs="+", default=None)
        args = p.parse_args(argv[1:])
        import torch

        from labkit.experiments.toy.data import load_toy_data
        from labkit.experiments.toy.sweep import M_GRID, S_GRID, grid, run_sweep, shipped_sweep_dir, write_manifest

        torch.set_num_threads(args.threads)
        try:
            data = load_toy_data(args.data)
        except config.DataMissingError as exc:
            print(exc, file=sys.stderr)
            return 2
        out = args.out or shipped_sweep_dir()
        cfgs = grid(args.ms or M_GRID, args.ss or S_GRID, seed=args.seed, epochs=args.epochs)
        run_sweep(out, data, cfgs)
        cmd = "python -m labkit toy " + " ".join(argv)
        print(f"manifest: {write_manifest(out, cmd, args.seed)}")
        return 0
    p = argparse.ArgumentParser(prog="python -m labkit toy", description="train one 8-identity 2-D toy model")
    p.add_argument("--head", default="cosface", help="softmax, nsl, cosface, arcface, sphereface")
    p.add_argument("--m", type=float, default=0.2)
    p.add_argument("--s", type=float, default=16.0)
    p.add_argument("--out", type=Path, default=Path("runs/toy"))
    p.add_argument("--progress", action="store_true")
    _common(p)
    args = p.parse_args(argv)
    import warnings

    from labkit.experiments.toy.data import load_toy_data
    from labkit.experiments.toy.train import ToyConfig, train_toy

    try:
        data = load_toy_data(args.data)
    except config.DataMissingError as exc:
        print(exc, file=sys.stderr)
        return 2
    cfg = ToyConfig(head=args.head, m=args.m, s=args.s, epochs=args.epochs, seed=args.seed)
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
