"""``python -m labkit.experiments``: run the lab-scale grid of a mode, optionally one shard of it per process, and
write ``results.json`` with its ``MANIFEST.json`` (command, versions, sha256 of each file). Notebook 07 section 8
reads what it writes to ``data/shipped/lab_scale``."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from labkit.experiments.lab_scale import training
from labkit.experiments.lab_scale.configs import (CHECK_CONFIG, CNN_CHANNELS, RUN_VERSION, DataConfig, ExperimentConfig,
                                                  Job, distinct_runs, grid_for, jobs)
from labkit.experiments.lab_scale.data import load_lab_data
from labkit.experiments.lab_scale.stats import distinct, save_records, summarize


def run_jobs(all_jobs: Sequence[Job], progress: bool = True, cache: bool = True,
             shard: tuple[int, int] | None = None, device: str = "cpu") -> dict[str, list[dict[str, Any]]]:
    """Train (or read from the run cache) every job, loading each split's faces once, and return the records by
    experiment (``{"fig5": [...], "table1": [...], "table2": [...]}``; each record has its ``split``). With
    ``shard=(k, K)`` only the k-th of K interleaved shares of the distinct runs is trained (into the run cache)
    and nothing is returned: run K such processes, then once without ``shard`` to collect."""
    todo = distinct_runs(all_jobs)
    if shard is not None:
        todo = todo[shard[0]::shard[1]]
    by_split: dict[DataConfig, list[Job]] = {}
    for j in todo:
        by_split.setdefault(j.data, []).append(j)
    done: dict[str, dict[str, Any]] = {}
    for dc, js in by_split.items():
        data = load_lab_data(dc, progress=progress)
        for j in js:
            rec = training.run_grid([j.config], [j.seed], data=data, progress=False, cache=cache, device=device)[0]
            done[j.run_key()] = rec
            if shard is not None or progress:
                print(f"{time.strftime('%H:%M:%S')} {dc.split}, {j.config.name}, seed {j.seed}: "
                      f"{100 * rec['accuracy']:.2f} % ({rec['seconds']:.0f} s{', cached' if rec['cached'] else ''})",
                      flush=True)
    if shard is not None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for j in all_jobs:
        out.setdefault(j.experiment, []).append({**done[j.run_key()], "label": j.config.name,
                                                 "config": asdict(j.config), "experiment": j.experiment})
    return out


def run_suite(mode: str, seeds: Sequence[int] | None = None, m_grid: Sequence[float] | None = None,
              epochs: Sequence[int] | None = None, folds: Sequence[int] | None = None, progress: bool = True,
              cache: bool = True, shard: tuple[int, int] | None = None,
              image_size: tuple[int, int] | None = None, device: str = "cpu") -> dict[str, list[dict[str, Any]]]:
    """All three experiments of a mode's grid (:func:`grid_for`, its entries overridden by the arguments): Fig. 5
    on View 1, Tables 1-2 on the View 2 folds. In full mode also ``"check"``: :data:`CHECK_CONFIG` on View 1
    with the Fig. 5 seeds (the re-training test's reference)."""
    grid = effective_grid(mode, seeds, m_grid, epochs, folds)
    all_jobs = jobs(grid, image_size)
    if mode == "full":
        view1 = next(j.data for j in all_jobs if j.experiment == "fig5")
        all_jobs += [Job("check", CHECK_CONFIG, view1, int(sd)) for sd in grid["seeds"]]
    return run_jobs(all_jobs, progress=progress, cache=cache, shard=shard, device=device)


def effective_grid(mode: str, seeds: Sequence[int] | None = None, m_grid: Sequence[float] | None = None,
                   epochs: Sequence[int] | None = None, folds: Sequence[int] | None = None) -> dict[str, Any]:
    """:func:`grid_for` ``(mode)`` with the given entries replaced."""
    grid = dict(grid_for(mode))
    for key, value in (("seeds", seeds), ("m_grid", m_grid), ("epochs", epochs), ("folds", folds)):
        if value is not None:
            grid[key] = list(value)
    return grid


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n):
        raise ValueError(f"--shard wants k/K with 0 <= k < K, got {text!r}")
    return int(k), int(n)


def manifest(args: Any, argv: Sequence[str], results: dict[str, list[dict[str, Any]]], files: Sequence[Path],
             seconds: float) -> dict[str, Any]:
    """The MANIFEST.json of a shipped grid: command, grid, data of each split, network, timings, versions, sha256."""
    import sklearn
    import skimage

    grid = effective_grid(args.mode, args.seeds, None, args.epochs, args.folds)
    ordered = distinct([r for name, recs in results.items() if name != "check" for r in recs])
    per_shard = [sum(r["seconds"] for r in ordered[k::2]) for k in (0, 1)]
    splits = {}  # one entry per split and input size (View 1 is used at two sizes)
    for r in ordered:
        splits.setdefault(f"{r['split']}, {r['data']['input']}", {
            k: v for k, v in r["data"].items() if k in ("train_people", "train_images", "test_images", "pairs")})
    return {
        "command": "python -m labkit.experiments " + " ".join(argv),
        "how_it_was_run": args.note or "this command alone",
        "mode": args.mode, "grid": grid, "distinct_runs": len(ordered),
        "data": {"root": "LABKIT_DATA (lfw/ protocol files, lfw_aligned_112x96/)",
                 "config": {k: v for k, v in asdict(DataConfig()).items() if k not in ("protocol", "test_fold")},
                 "splits": splits},
        "network": {"kind": "labkit.models.SmallCNN on pixels", "channels": list(CNN_CHANNELS),
                    "hidden": ExperimentConfig().hidden, "embedding_dim": ExperimentConfig().embedding_dim,
                    "optimiser": "engine preset 'lab': Adam 3e-3, warm-up 10 % + cosine decay, weight decay 5e-4, "
                                 "batch 128, flips", "threads_per_run": training.CPU_THREADS},
        "run_version": RUN_VERSION,
        "check_runs": f"{CHECK_CONFIG.name}, View 1, seeds {grid['seeds']} (experiment 'check')",
        "training_seconds_all_runs": round(sum(r["seconds"] for r in ordered), 1),
        "wall_seconds_two_shards": round(max(per_shard), 1),
        "wall_seconds_this_call": round(seconds, 1),
        "note": "runs found in the cache are not retrained; their seconds are those of the original run, measured "
                f"with torch.set_num_threads({training.CPU_THREADS}). wall_seconds_two_shards is the larger of the "
                "two --shard k/2 shares' summed training times (the wall time when the grid runs as two parallel "
                "shards, decoding aside)",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__},
        "files": {f.name: _sha256(f) for f in files},
    }


def _save_model(args: Any, argv: Sequence[str]) -> int:
    """``--save-model FILE``: one run trained and written by :func:`labkit.experiments.lab_scale.export.train_and_save`."""
    from labkit import cli
    from labkit.experiments.lab_scale.export import train_and_save

    try:
        h, w = (int(v) for v in args.model_size.lower().split("x"))
        head = "cosface" if args.model_head == "nsl" else args.model_head
        m = 0.0 if args.model_head == "nsl" else (4 if head == "sphereface" and args.model_m == 0.35 else args.model_m)
        cfg = ExperimentConfig(head=head, m=m, epochs=args.model_epochs)
        dc = DataConfig(image_size=(h, w), protocol="view2", test_fold=args.model_fold, extra=tuple(args.model_extra))
    except ValueError as exc:
        raise cli.UsageError(f"--model-*: {exc}") from None
    if 112 % h or 96 % w or 112 // h != 96 // w:
        raise cli.UsageError(f"--model-size {args.model_size}: give 112x96 divided by a whole factor (56x48, 28x24)")
    training.CPU_THREADS = args.threads
    torch.set_num_threads(args.threads)
    card, hist = train_and_save(args.save_model, cfg, dc, command="python -m labkit.experiments " + " ".join(argv),
                                name=args.model_name)
    print(f"wrote {args.save_model}: {card.description}; 10-fold accuracy on {dc.split} "
          f"{100 * card.info['accuracy_10fold']:.2f} %, threshold {card.threshold:.4f} ({card.threshold_source})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.experiments [--mode fast|full] ...``; returns the exit status. A bad option or missing
    data ends with one ``error:`` line and status 2 before any run starts (``--debug``: the traceback)."""
    from labkit import cli
    from labkit.experiments.lab_scale import __doc__ as doc

    argv = list(sys.argv[1:] if argv is None else argv)

    def checked_main(argv: list[str]) -> int:
        ap = cli.ArgumentParser(prog="python -m labkit.experiments", description=(doc or "").split("\n")[0])
        ap.add_argument("--mode", default="full", choices=["fast", "full"],
                        help="fast: a few short runs; full: the shipped grid (default full)")
        ap.add_argument("--seeds", type=cli.nonnegative_int, nargs="*", help="random seeds (default: the mode's)")
        ap.add_argument("--epochs", type=cli.positive_int, nargs="*",
                        help="training lengths in epochs (default: the mode's)")
        ap.add_argument("--folds", type=cli.nonnegative_int, nargs="*",
                        help="View 2 folds (0-9) for Tables 1-2 (default: the mode's; full: 0 1 2 3 4)")
        ap.add_argument("--threads", type=cli.positive_int, default=training.CPU_THREADS,
                        help="torch CPU threads per run (results do not depend on it beyond float round-off)")
        ap.add_argument("--shard", type=str, default=None,
                        help="k/K: train only every K-th distinct run starting at k (run K processes at once); "
                             "with --ten-folds each ships into --out, else into the run cache, writing nothing")
        ap.add_argument("--note", default="", help="how the grid was run (e.g. in shards), stored in MANIFEST.json")
        ap.add_argument("--out", type=Path, help="folder for results.json and MANIFEST.json (e.g. data/shipped/lab_scale)")
        ap.add_argument("--save-model", type=Path, metavar="FILE",
                        help="train one run (--model-*) and write it as a face-model file for --model FILE; no grid")
        ap.add_argument("--model-fold", type=cli.nonnegative_int, default=0, help="View 2 test fold of that run (0-9)")
        ap.add_argument("--model-head", default="cosface", help="its loss: softmax, nsl, sphereface, cosface, arcface")
        ap.add_argument("--model-m", type=float, default=0.35, help="its margin (default 0.35)")
        ap.add_argument("--model-size", default="56x48", help="its input size HxW, a whole fraction of 112x96")
        ap.add_argument("--model-epochs", type=cli.positive_int, default=16, help="its training length")
        ap.add_argument("--model-extra", nargs="*", default=[], help="extra training people, e.g. celeba")
        ap.add_argument("--model-name", default="", help="the name on its card (default: the file name)")
        ap.add_argument("--ten-folds", action="store_true",
                        help="the ten-fold grid with CelebA (Fig. 5, Tables 1-2, identities figure), each run shipped "
                             "to --out as it finishes; a restart resumes from --out")
        args = ap.parse_args(argv)
        if args.save_model is not None:
            return _save_model(args, argv)
        if args.ten_folds:
            from labkit.experiments.lab_scale.grid import run_ten_fold_grid

            if args.out is None:
                raise cli.UsageError("--ten-folds needs --out FOLDER (e.g. data/shipped/lab_scale/ten_folds)")
            try:
                shard = _shard(args.shard) if args.shard else (0, 1)
            except ValueError as exc:
                raise cli.UsageError(str(exc)) from None
            training.CPU_THREADS = args.threads
            torch.set_num_threads(args.threads)
            command = [a for a in argv if a != args.shard and a != "--shard"]  # the grid's command, not one shard's
            run_ten_fold_grid(args.out, args.mode, command="python -m labkit.experiments " + " ".join(command),
                              threads=args.threads, log=lambda s: print(s, flush=True), shard=shard)
            return 0
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise cli.UsageError(f"--out {args.out} is a file; give a folder for results.json and MANIFEST.json")
        if args.folds and max(args.folds) > 9:
            raise cli.UsageError(f"--folds are View 2 folds 0-9, got {max(args.folds)}")
        for name in ("seeds", "epochs", "folds"):
            if getattr(args, name) == []:
                raise cli.UsageError(f"--{name} needs at least one value (leave it out for the mode's)")
        try:
            shard = _shard(args.shard) if args.shard else None
        except ValueError as exc:
            raise cli.UsageError(str(exc)) from None
        training.CPU_THREADS = args.threads
        torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        results = run_suite(args.mode, args.seeds, epochs=args.epochs, folds=args.folds, shard=shard)
        for name, recs in results.items():
            print(name)
            for row in summarize(recs):
                print(f"  {row['label']:<34} {100 * row['accuracy']:.2f} ± {100 * row['se']:.2f} ({row['se_kind']})")
        if args.out and results:
            path = save_records([r for recs in results.values() for r in recs], args.out / "results.json")
            files = sorted(f for f in args.out.iterdir() if f.is_file() and f.name != "MANIFEST.json")
            man = manifest(args, argv, results, files, time.perf_counter() - t0)
            (args.out / "MANIFEST.json").write_text(json.dumps(man, indent=1) + "\n")
            print(f"wrote {path} and {args.out / 'MANIFEST.json'}")
        return 0

    return cli.run(checked_main, argv)
