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
                                                  preset, suite)
from labkit.experiments.lab_scale.data import load_lab_data
from labkit.experiments.lab_scale.stats import save_records, summarize


def unique_jobs(configs: dict[str, list[ExperimentConfig]], seeds: Sequence[int]) -> list[tuple[ExperimentConfig, int]]:
    """The distinct (config, seed) runs of a suite, seed-major (every configuration of seed 0 first), so that a grid
    cut short still holds whole seeds; ``--shard k/K`` takes every K-th of them."""
    cfgs: list[ExperimentConfig] = []
    for cs in configs.values():
        for c in cs:
            if c.key() not in [x.key() for x in cfgs]:
                cfgs.append(c)
    return [(c, int(s)) for s in seeds for c in cfgs]


def run_suite(mode: str, seeds: Sequence[int] | None = None, m_grid: Sequence[float] | None = None,
              epochs: Sequence[int] | None = None, progress: bool = True, cache: bool = True,
              backbone: str = "cnn", shard: tuple[int, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """All three experiments for a mode: ``{"fig5": records, "table1": records, "table2": records}``, and in full
    mode ``"check"``: :data:`CHECK_CONFIG` with the same seeds (the re-training test's reference). With
    ``shard=(k, K)`` only the k-th of K interleaved shares of the distinct runs is trained (into the run cache) and
    nothing is returned: run K such processes, then once without ``shard`` to collect."""
    p = preset(mode)
    seeds = list(seeds if seeds is not None else p["seeds"])
    configs = suite(m_grid if m_grid is not None else p["m_grid"], epochs or p["epochs"], backbone=backbone)
    data = load_lab_data(progress=progress, backbone=backbone)
    if shard is not None:
        k, n = shard
        for cfg, seed in unique_jobs(configs, seeds)[k::n]:
            rec = training.run_grid([cfg], [seed], data=data, progress=False, cache=cache)[0]
            print(f"{time.strftime('%H:%M:%S')} {cfg.name}, seed {seed}: {100 * rec['accuracy']:.2f} % "
                  f"({rec['seconds']:.0f} s{', cached' if rec['cached'] else ''})", flush=True)
        return {}
    if mode == "full":
        configs["check"] = [CHECK_CONFIG]
    return {name: training.run_grid(cfgs, seeds, data=data, progress=progress, cache=cache)
            for name, cfgs in configs.items()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n):
        raise ValueError(f"--shard wants k/K with 0 <= k < K, got {text!r}")
    return int(k), int(n)


def manifest(args: Any, argv: Sequence[str], results: dict[str, list[dict[str, Any]]], files: Sequence[Path],
             seconds: float) -> dict[str, Any]:
    """The MANIFEST.json of a shipped grid."""
    import sklearn
    import skimage

    runs = {json.dumps(r["config"] | {"label": ""}, sort_keys=True) + str(r["seed"]): r
            for name, recs in results.items() if name != "check" for r in recs}
    p = preset(args.mode)
    seeds = args.seeds or p["seeds"]
    jobs = unique_jobs(suite(p["m_grid"], args.epochs or p["epochs"]), seeds)
    per_shard = [0.0, 0.0]
    for i, (cfg, seed) in enumerate(jobs):
        rec = runs.get(json.dumps(asdict(cfg) | {"label": ""}, sort_keys=True) + str(seed))
        per_shard[i % 2] += rec["seconds"] if rec else 0.0
    return {
        "command": "python -m labkit.experiments " + " ".join(argv),
        "how_it_was_run": args.note or "this command alone",
        "mode": args.mode, "backbone": args.backbone, "seeds": seeds, "epochs": args.epochs or p["epochs"],
        "m_grid": p["m_grid"], "distinct_runs": len(runs),
        "data": {"root": "LABKIT_DATA (lfw/ protocol files, lfw_aligned_112x96/)", **asdict(DataConfig()),
                 **{k: v for k, v in next(iter(runs.values()))["data"].items() if k in ("train_people", "train_images",
                                                                                     "test_images", "pairs")}},
        "network": {"kind": "labkit.models.SmallCNN on pixels", "channels": list(CNN_CHANNELS),
                    "hidden": ExperimentConfig().hidden, "embedding_dim": ExperimentConfig().embedding_dim,
                    "optimiser": "engine preset 'lab': Adam 3e-3, warm-up 10 % + cosine decay, weight decay 5e-4, "
                                 "batch 128, flips", "threads_per_run": training.CPU_THREADS},
        "run_version": RUN_VERSION,
        "check_runs": f"{CHECK_CONFIG.name}, seeds {seeds} (experiment 'check', trained by the collecting call)",
        "training_seconds_all_runs": round(sum(r["seconds"] for r in runs.values()), 1),
        "wall_seconds_two_shards": round(max(per_shard), 1),
        "training_seconds_by_seed": {str(sd): round(sum(r["seconds"] for r in runs.values() if r["seed"] == sd), 1)
                                     for sd in seeds},
        "wall_seconds_this_call": round(seconds, 1),
        "note": "runs found in the cache are not retrained; their seconds are those of the original run, measured "
                f"with torch.set_num_threads({training.CPU_THREADS}) on a 2-core CPU shared with other jobs. "
                "wall_seconds_two_shards is the larger of the two --shard k/2 shares' summed training times "
                "(the wall time when the grid runs as two parallel shards)",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__},
        "files": {f.name: _sha256(f) for f in files},
    }


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
        ap.add_argument("--backbone", default="cnn", choices=["cnn"], help="network on the pixels (default cnn)")
        ap.add_argument("--threads", type=cli.positive_int, default=training.CPU_THREADS,
                        help="torch CPU threads per run (results do not depend on it beyond float round-off)")
        ap.add_argument("--shard", type=str, default=None,
                        help="k/K: train only every K-th distinct run starting at k into the run cache, write nothing")
        ap.add_argument("--note", default="", help="how the grid was run (e.g. in shards), stored in MANIFEST.json")
        ap.add_argument("--out", type=Path, help="folder for results.json and MANIFEST.json (e.g. data/shipped/lab_scale)")
        args = ap.parse_args(argv)
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise cli.UsageError(f"--out {args.out} is a file; give a folder for results.json and MANIFEST.json")
        for name in ("seeds", "epochs"):
            if getattr(args, name) == []:
                raise cli.UsageError(f"--{name} needs at least one value (leave it out for the mode's)")
        try:
            shard = _shard(args.shard) if args.shard else None
        except ValueError as exc:
            raise cli.UsageError(str(exc)) from None
        training.CPU_THREADS = args.threads
        torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        results = run_suite(args.mode, args.seeds, epochs=args.epochs, backbone=args.backbone, shard=shard)
        for name, recs in results.items():
            print(name)
            for row in summarize(recs):
                print(f"  {row['label']:<34} {100 * row['accuracy']:.2f} ± {100 * row['se']:.2f} ({row['se_kind']})")
        if args.out and results:
            path = save_records([{**r, "experiment": name} for name, recs in results.items() for r in recs],
                                args.out / "results.json")
            files = sorted(f for f in args.out.iterdir() if f.is_file() and f.name != "MANIFEST.json")
            man = manifest(args, argv, results, files, time.perf_counter() - t0)
            (args.out / "MANIFEST.json").write_text(json.dumps(man, indent=1) + "\n")
            print(f"wrote {path} and {args.out / 'MANIFEST.json'}")
        return 0

    return cli.run(checked_main, argv)
