"""The ten-fold grid (notebook 07): Fig. 5 (LMCL at m = 0 ... 0.45), Table 1 (LMCL with / without feature
normalisation) and Table 2 (Softmax, NSL, A-Softmax, LMCL) on every LFW View 2 fold, each model trained on the LFW
people outside its fold plus the CelebA identities (:attr:`DataConfig.extra`) and tested on the fold's 600 pairs;
the identities figure (softmax and LMCL m = 0.35 trained on nested samples of 300, 600 and 1,200 of those people,
on three folds); and the schedule check (the settings Table 2 and Table 1 compare, trained 24 epochs instead of 16 on
three folds, and the two settings of Fig. 5's m = 0.35 vs m = 0 comparison on the other seven folds too), which asks
whether the training length decides any verdict: three of the settings still gain training accuracy at the end of
16 epochs.

The grid can run as ``K`` processes (``--shard k/K``: job ``i`` of the full list belongs to process ``i mod K``),
each shipping into the same folder; the manifest is updated under a lock on ``<out>/.manifest.lock``.

Every finished run is shipped at once (:func:`ship_record`): its record is written atomically to
``<out>/runs/<key>.json``, then ``<out>/MANIFEST.json`` is rewritten atomically with its entry (file, sha256,
label, split, CPU seconds). A reader goes through the manifest only, so the folder is consistent at every moment;
a restarted grid skips every run the manifest lists with a matching file (:func:`shipped_keys`).

Each record also holds what the pooled measures need (:func:`labkit.experiments.lab_scale.training.train_and_record`
with ``measures=True``): its 600 pair scores, rank-1 identification among its fold's people, and the mean angle of
the training faces to their class weights.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from labkit.experiments.lab_scale.configs import RUN_VERSION, DataConfig, ExperimentConfig, Job, run_identity

#: the grid's input size and length, chosen from benchmarks/lab_scale_celeba_cost.py (one thread, shared machine):
#: an epoch over the ~22,700 faces costs 18.8 CPU-s at 28x24 and 51.2 at 56x48 (2.7x), so 28x24. A first pass at
#: 8 epochs (1,416 steps) left every run short of the convergence rule: training accuracy still rose 4-5 points
#: per epoch at the end (64-83 % after 8 epochs, 9 runs of folds 0-1), so the grid trains 16 epochs (2,832 steps,
#: the shipped lab recipe's length): ~6.7 CPU-hours for the 80 main runs, plus the identities figure
TEN_FOLD_SIZE = (28, 24)
TEN_FOLD_EPOCHS = 16
#: steps of every identities-figure run: those of a 16-epoch run on all ~22,700 faces (177 batches of 128 x 16),
#: so that a run on 300 people is trained as long as one on 2,400
IDENTITY_RUN_STEPS = 2832
MARGINS = (0.0, 0.15, 0.25, 0.35, 0.45)
#: training identities of the identities figure (nested samples; "all" is the main grid's run)
IDENTITY_STEPS = (300, 600, 1200)
IDENTITY_FOLDS = (0, 1, 2)
#: the folds whose main settings run before the identities figure (then the remaining folds)
EARLY_FOLDS = (0, 1, 2)
#: the schedule check: the settings whose comparisons make the verdicts of Tables 1-2 (Softmax, NSL, A-Softmax,
#: LMCL m = 0.35 with and without feature normalisation), 1.5x as long, on the early folds; paired with their 16-epoch
#: runs of the main grid (same seed, so the same initial weights and batch order at the start)
SCHEDULE_EPOCHS = 24
SCHEDULE_FOLDS = (0, 1, 2)
SCHEDULE_RECIPES = ("LMCL m=0.35", "Softmax", "LMCL m=0", "A-Softmax m=4", "LMCL m=0.35, no feature norm")
#: the schedule check's second stage, after the main grid: the two settings of Fig. 5's m = 0.35 vs m = 0 comparison,
#: the one ten-fold accuracy verdict that the first stage saw change sign at 24 epochs (folds 0-2, not resolved
#: there), trained 24 epochs on the remaining folds too, so that comparison is paired over all ten at both lengths
SCHEDULE_ALL_FOLDS_RECIPES = ("LMCL m=0.35", "LMCL m=0")


def main_configs(epochs: int = TEN_FOLD_EPOCHS, margins: Sequence[float] = MARGINS) -> list[ExperimentConfig]:
    """The distinct recipes run on every fold, most important first: LMCL m = 0.35, Softmax, NSL (LMCL m = 0),
    A-Softmax (m = 4), the other margins of Fig. 5, then LMCL without feature normalisation (Table 1)."""
    first = [ExperimentConfig(head="cosface", m=0.35, epochs=epochs), ExperimentConfig(head="softmax", epochs=epochs),
             ExperimentConfig(head="cosface", m=0.0, epochs=epochs), ExperimentConfig(head="sphereface", m=4, epochs=epochs)]
    rest = [ExperimentConfig(head="cosface", m=float(m), epochs=epochs) for m in margins if m not in (0.0, 0.35)]
    return first + rest + [ExperimentConfig(head="cosface", m=0.35, epochs=epochs, normalize_features=False)]


def ten_fold_jobs(mode: str = "full", image_size: tuple[int, int] = TEN_FOLD_SIZE) -> list[Job]:
    """Every run of the ten-fold grid in the order it is trained. ``full``: folds 0-2 (all main recipes), the
    schedule check on folds 0-2, the identities figure on folds 0-2, folds 3-9, then the schedule check's second
    stage (:data:`SCHEDULE_ALL_FOLDS_RECIPES` at 24 epochs on folds 3-9). ``fast`` (CI and the pre-flight check): fold 0, LMCL and
    Softmax for 1 epoch on 200 training people, and LMCL on 100 for 40 steps."""
    if mode == "fast":
        dc = DataConfig(image_size=image_size, protocol="view2", test_fold=0, extra=("celeba",), max_identities=200)
        cfgs = [ExperimentConfig(head="cosface", m=0.35, epochs=1), ExperimentConfig(head="softmax", epochs=1)]
        return ([Job("main", c, dc, 0) for c in cfgs]
                + [Job("identities", replace(cfgs[0], steps=40), replace(dc, max_identities=100), 0)])
    if mode != "full":
        raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}")

    def fold(k: int) -> DataConfig:
        return DataConfig(image_size=image_size, protocol="view2", test_fold=k, extra=("celeba",))

    cfgs = main_configs()
    out = [Job("main", c, fold(k), 0) for k in EARLY_FOLDS for c in cfgs]
    longer = [c for c in main_configs(SCHEDULE_EPOCHS) if c.name in SCHEDULE_RECIPES]
    out += [Job("schedule", c, fold(k), 0) for k in SCHEDULE_FOLDS for c in longer]
    for k in IDENTITY_FOLDS:
        for n in IDENTITY_STEPS:
            out += [Job("identities", replace(c, steps=IDENTITY_RUN_STEPS), replace(fold(k), max_identities=n), 0)
                    for c in cfgs[:2]]
    out += [Job("main", c, fold(k), 0) for k in range(10) if k not in EARLY_FOLDS for c in cfgs]
    out += [Job("schedule", c, fold(k), 0) for k in range(10) if k not in SCHEDULE_FOLDS for c in longer
            if c.name in SCHEDULE_ALL_FOLDS_RECIPES]
    return out


def job_key(job: Job) -> str:
    """The file name of a job's record: a hash of what decides the network (recipe, data, seed) and RUN_VERSION."""
    blob = json.dumps({**run_identity(job.config, job.data, job.seed), "v": RUN_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; shipped files are ordinary tracked files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(out: str | Path) -> dict[str, Any]:
    """``<out>/MANIFEST.json``, or an empty manifest when there is none yet."""
    path = Path(out) / "MANIFEST.json"
    return json.loads(path.read_text()) if path.is_file() else {"runs": {}}


def shipped_keys(out: str | Path) -> set[str]:
    """The runs the manifest lists whose record file exists with the listed sha256 (what a restart skips)."""
    out = Path(out)
    done = set()
    for key, entry in read_manifest(out).get("runs", {}).items():
        f = out / entry["file"]
        if f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() == entry["sha256"]:
            done.add(key)
    return done


def load_shipped(out: str | Path) -> list[dict[str, Any]]:
    """Every record the manifest lists, in the order they finished (a partial grid gives what is there)."""
    out = Path(out)
    runs = read_manifest(out).get("runs", {})
    missing = [e["file"] for e in runs.values() if not (out / e["file"]).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{out}/MANIFEST.json lists {len(missing)} record(s) that are not there (first: {missing[0]}); "
            "commit the runs/ files together with the manifest, or rerun the grid to rewrite them")
    return [json.loads((out / e["file"]).read_text()) for e in sorted(runs.values(), key=lambda e: e["order"])]


def ship_record(out: str | Path, job: Job, record: dict[str, Any], header: dict[str, Any]) -> Path:
    """Write one finished run: its record (atomic), then the manifest with its entry (atomic)."""
    out = Path(out)
    key = job_key(job)
    rel = f"runs/{key}.json"
    text = json.dumps({**record, "experiment": job.experiment, "run_key": key}) + "\n"
    _atomic_write(out / rel, text)
    with _manifest_lock(out):
        _add_to_manifest(out, key, rel, text, job, record, header)
    return out / rel


@contextlib.contextmanager
def _manifest_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on ``<out>/.manifest.lock`` (the grid's shards update one manifest)."""
    with open(out / ".manifest.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _add_to_manifest(out: Path, key: str, rel: str, text: str, job: Job, record: dict[str, Any],
                     header: dict[str, Any]) -> None:
    man = read_manifest(out)
    runs = man.get("runs", {})
    runs[key] = {"file": rel, "sha256": hashlib.sha256(text.encode()).hexdigest(), "label": record["label"],
                 "split": record["split"], "experiment": job.experiment,
                 "epochs": int(job.config.epochs), "train_people": record["data"]["train_people"], "seconds": round(float(record["seconds"]), 1),
                 "accuracy": round(float(record["accuracy"]), 5), "converged": bool(record["converged"]),
                 "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "order": runs[key]["order"] if key in runs else len(runs)}
    man = {**man, **header, "runs": runs, "runs_done": len(runs),
           "wall_seconds_done": round(sum(e["seconds"] for e in runs.values()), 1)}
    _atomic_write(out / "MANIFEST.json", json.dumps(man, indent=1) + "\n")


def manifest_header(mode: str, all_jobs: Sequence[Job], command: str, threads: int) -> dict[str, Any]:
    """What the manifest says about the grid as a whole (the per-run entries are added by :func:`ship_record`)."""
    import numpy as np

    return {
        "command": command, "mode": mode, "runs_total": len(all_jobs), "run_version": RUN_VERSION,
        "grid": {"image_size": list(all_jobs[0].data.image_size), "epochs": sorted({j.config.epochs for j in all_jobs}),
                 "folds": sorted({j.data.test_fold for j in all_jobs}), "extra_training_people": list(all_jobs[0].data.extra),
                 "recipes": sorted({j.config.name for j in all_jobs}),
                 "identity_steps": sorted({j.data.max_identities for j in all_jobs if j.data.max_identities})},
        "order": "folds 0-2 (every recipe), the schedule check (24 epochs) on folds 0-2, the identities figure on "
                 "folds 0-2, folds 3-9, then LMCL m=0.35 and m=0 at 24 epochs on folds 3-9",
        "data": {"root": "LABKIT_DATA (lfw/ protocol files, lfw_aligned_112x96/, celeba_test_112x96/)",
                 "test": "the 600 pairs of each View 2 fold of pairs.txt; identification among the fold's people"},
        "threads_per_run": threads,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
    }


def jobs_to_train(all_jobs: Sequence[Job], done: set[str], shard: tuple[int, int] = (0, 1)) -> list[Job]:
    """The jobs one shard ``(k, K)`` still has to train: those at places ``k``, ``k + K``, ... of the full list whose
    key is not in ``done``. The K shards of one list are disjoint and together cover it."""
    k, n_shards = shard
    if not 0 <= k < n_shards:
        raise ValueError(f"shard must be k/K with 0 <= k < K, got {k}/{n_shards}")
    return [j for i, j in enumerate(all_jobs) if i % n_shards == k and job_key(j) not in done]


def run_ten_fold_grid(out: str | Path, mode: str = "full", command: str = "", threads: int = 1,
                      log: Callable[[str], None] = print, stop_after: int | None = None,
                      shard: tuple[int, int] = (0, 1)) -> int:
    """Train every job of :func:`ten_fold_jobs` not yet shipped in ``out``, shipping each as it finishes; returns
    the number trained by this call. ``stop_after``: train at most that many (a test's way to interrupt).
    ``shard = (k, K)``: only the jobs whose place in the full list is ``k`` mod ``K`` (run K of these at once)."""
    from labkit.experiments.lab_scale import training
    from labkit.experiments.lab_scale.data import load_lab_data

    all_jobs = ten_fold_jobs(mode)
    header = manifest_header(mode, all_jobs, command, threads)
    done = shipped_keys(out)
    todo = jobs_to_train(all_jobs, done, shard)
    k, n_shards = shard
    log(f"{time.strftime('%H:%M:%S')} ten-fold grid ({mode}, shard {k}/{n_shards}): {len(done)} of {len(all_jobs)} "
        f"runs already shipped in {out}, {len(todo)} to train here")
    data, trained = None, 0
    for j in todo:
        if stop_after is not None and trained >= stop_after:
            break
        if data is None or data.data_config != j.data:
            data = None  # free the previous split's tensors first
            data = load_lab_data(j.data, progress=False)
        _, _, rec = training.train_and_record(j.config, data, j.seed, measures=True)
        rec["label"] = j.config.name
        ship_record(out, j, rec, header)
        trained += 1
        ident = rec["identification"]["rank1"]
        log(f"{time.strftime('%H:%M:%S')} {j.experiment}, {j.data.split}, {data.info['train_people']} people, "
            f"{j.config.name}, {j.config.epochs} epochs: "
            f"{100 * rec['accuracy']:.2f} %, rank-1 {100 * ident:.1f} %, angle {rec['train_angle_deg']:.1f} deg, "
            f"train acc {100 * rec['history'][-1]['train_acc']:.1f} %, converged {rec['converged']} "
            f"({rec['seconds']:.0f} s)")
    return trained

