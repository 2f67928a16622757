"""Speed of the evaluation protocols (labkit.evaluate).

1. LFW 10-fold verification from 6,000 precomputed scores (real pairs.txt folds when the data is there, else the
   same block layout built in memory): median wall time of repeated runs.
2. MegaFace-style identification: 1,000 probe images (100 identities x 10) against N synthetic 512-d distractors
   (10^6 by default, 10^5 with ``--quick``): the chunked search of ``labkit.evaluate.identification`` (rank-1 at
   10, 100, ..., N and TAR at FAR 1e-6) timed, with its extra peak memory, against a naive baseline that holds the
   whole (probes x N) similarity matrix, in the same run when that fits in memory.

Peak memory is the process's resident set size sampled every 5 ms during a phase, minus the resident size when the
phase began ("extra"), so it counts what the method itself allocates on top of the inputs.

    python benchmarks/eval_speed.py            # 10^6 distractors (about 2 GB of float32 input)
    python benchmarks/eval_speed.py --quick    # 10^5 distractors
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np
import torch

from labkit.evaluate.identification import identification
from labkit.evaluate.verification import kfold_verification

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Context manager sampling RSS in a thread; ``extra`` = peak minus the RSS at entry, in bytes."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        self.t0 = time.perf_counter()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss())
        self.extra = self.peak - self.start


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def bench_lfw(repeats: int) -> None:
    try:
        from labkit.evaluate.lfw import load_lfw_pairs

        pairs = load_lfw_pairs()
        labels = np.array([p.same for p in pairs])
        folds = np.array([p.fold for p in pairs])
        source = "real pairs.txt folds"
    except FileNotFoundError:
        labels = np.tile(np.r_[np.ones(300, bool), np.zeros(300, bool)], 10)
        folds = np.repeat(np.arange(10), 600)
        source = "pairs.txt layout built in memory (no LFW data found)"
    scores = np.random.default_rng(0).normal(labels * 1.5, 1.0)
    kfold_verification(scores, labels, folds)  # warm-up: imports scikit-learn
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = kfold_verification(scores, labels, folds)
        times.append(time.perf_counter() - t)
    print(f"[LFW 10-fold] 6,000 scores ({source}): median {1e3 * statistics.median(times):.1f} ms over {repeats} runs "
          f"(min {1e3 * min(times):.1f}, max {1e3 * max(times):.1f}); accuracy {100 * res.mean_accuracy:.2f}%")


def synthetic_probes(n_ids: int, per_id: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    centres = g.normal(size=(n_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = g.normal(size=(n_ids * per_id, dim)) * (2.0 / np.sqrt(dim))  # mate cosine about 0.2
    return (np.repeat(centres, per_id, axis=0) + noise).astype(np.float32), np.repeat(np.arange(n_ids), per_id)


def naive_rank1(probes: np.ndarray, labels: np.ndarray, distractors: torch.Tensor, counts: list[int]) -> list[float]:
    """Full (P x N) similarity matrix in memory, then the max over each prefix of columns."""
    p = torch.from_numpy(probes)
    p = p / p.norm(dim=1, keepdim=True)
    d = distractors / distractors.norm(dim=1, keepdim=True)
    full = p @ d.T  # the whole matrix
    mate = p @ p.T
    out = []
    for n in counts:
        best = full[:, :n].max(dim=1).values
        hits = trials = 0
        for ident in np.unique(labels):
            m = np.flatnonzero(labels == ident)
            for g in m:
                others = torch.from_numpy(m[m != g])
                hits += int((mate[others, g] > best[others]).sum())
                trials += others.numel()
        out.append(hits / trials)
    return out


def bench_identification(n_distractors: int, dim: int, chunk: int, naive: str, seed: int) -> None:
    probes, labels = synthetic_probes(100, 10, dim, seed)
    gen = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    distractors = torch.randn(n_distractors, dim, generator=gen)
    print(f"[setup] {n_distractors:,} x {dim} float32 distractors ({gib(distractors.numel() * 4)}) "
          f"generated in {time.perf_counter() - t:.1f} s; {len(probes):,} probe images, 100 identities")
    counts = [c for c in (10, 100, 1_000, 10_000, 100_000, 1_000_000) if c <= n_distractors]
    with PeakRSS() as m:
        res = identification(probes, labels, distractors, counts=counts, far=1e-6, chunk_size=chunk)
    print(f"[chunked, torch, chunk {chunk:,}] rank-1 at {counts[-1]:,} + TAR@FAR=1e-6: {m.seconds:.1f} s, "
          f"extra peak memory {gib(m.extra)}")
    for n, r in zip(res.distractor_counts, res.rank1):
        print(f"    N = {n:>9,}: rank-1 {100 * r:6.2f}%")
    print(f"    TAR at FAR 1e-6 = {100 * res.tar_at_far:.2f}% ({res.n_genuine:,} genuine, {res.n_impostor:,} impostor pairs)")
    need = 4 * len(probes) * n_distractors + 4 * distractors.numel()  # full matrix + normalised copy
    avail = mem_available()
    if naive == "never" or (naive == "auto" and need > 0.5 * avail):
        print(f"[naive full matrix] skipped: needs about {gib(need)}, {gib(avail)} available "
              f"(runs when under half of it, or with --naive always)")
        return
    with PeakRSS() as m:
        ref = naive_rank1(probes, labels, distractors, counts)
    same = "identical" if ref == res.rank1 else f"DIFFERENT: {ref}"
    print(f"[naive full matrix] {m.seconds:.1f} s, extra peak memory {gib(m.extra)}; rank-1 values {same}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10^5 distractors instead of 10^6")
    ap.add_argument("--distractors", type=int, default=None, help="override the distractor count")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--chunk", type=int, default=65_536)
    ap.add_argument("--naive", choices=["auto", "always", "never"], default="auto")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPU(s) visible; "
          f"times are wall-clock on a possibly shared machine")
    bench_lfw(args.repeats)
    n = args.distractors or (100_000 if args.quick else 1_000_000)
    bench_identification(n, args.dim, args.chunk, args.naive, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
