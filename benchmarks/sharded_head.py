"""Memory per rank and time per step of a replicated LMCL head against the class-sharded one (labkit.parallel),
on W CPU ranks (gloo), and what class sampling (Partial FC) costs in accuracy at lab scale.

    .venv/bin/python benchmarks/sharded_head.py                       # C = 1e4, 1e5, 1e6; W = 1, 2, 4; r = 1, 0.1
    .venv/bin/python benchmarks/sharded_head.py --classes 10000 --worlds 1 2 --steps 2     # a quick look
    LABKIT_DATA=/path/to/data .venv/bin/python benchmarks/sharded_head.py --accuracy      # r = 1, 0.5, 0.1 on LFW

One step of the head at D = 512 and a global batch B = 512 (b = B / W rows per rank), SGD with momentum 0.9 and
weight decay 5e-4, float32, ``--threads`` threads per rank:

- replicated: every rank holds the whole C x D weight, its gradient and momentum, builds b x C logits, and
  all-reduces the C x D gradient (what DDP does for a head inside the model);
- sharded: each rank holds about C / W rows (and their momentum), gathers the B features, builds B x C / W logits,
  and only the B x D feature gradient is summed across ranks;
- sharded, r < 1: the batch's classes plus a share r of the others, about B + r C / W rows per rank and step.

Memory per rank is counted from the tensors a step holds at its peak (weight, gradient, optimizer state, logits and
their gradient; the ``est. GB`` column) and measured as the growth of the rank's peak resident set (``RSS GB``).
A configuration whose W ranks together would need more than ``--budget-gb`` is not started: its row says so and
prints what it would need. The time is the median over ``--steps`` steps (after one warm-up step) between two
barriers, so the slowest rank counts; with W ranks on fewer cores than W x threads the ranks share cores, so
compare rows of the same W. Each ratio is against the replicated head with the same C and W, measured in this run.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import resource
import shlex
import socket
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

D, B, S, M = 512, 512, 64.0, 0.35
GB = 1024 ** 3


def estimate_bytes(mode: str, classes: int, world: int, rate: float) -> int:
    """float32 bytes one rank holds at the peak of a step (:func:`labkit.parallel.memory.head_bytes`)."""
    from labkit.parallel.memory import head_bytes

    return head_bytes(mode, classes, world, rate, D, B)


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB  # ru_maxrss is in KiB on Linux


def _worker(rank: int, world: int, port: int, mode: str, classes: int, rate: float, steps: int, threads: int,
            out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=1800))
    from labkit.losses import CosFaceHead
    from labkit.parallel import ShardedMarginHead, ShardOptimizer

    torch.manual_seed(rank)
    b = B // world
    rss0 = _rss_gb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "replicated":
            head = CosFaceHead(D, classes, s=S, m=M)
            opt = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        else:
            head = ShardedMarginHead(D, classes, s=S, m=M, sample_rate=rate)
            opt = ShardOptimizer(head, "sgd", lr=0.1, momentum=0.9, weight_decay=5e-4)
    times = []
    for step in range(steps + 1):
        x = torch.randn(b, D, requires_grad=True)
        y = torch.randint(0, classes, (b,))
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        if mode == "replicated":
            loss = F.cross_entropy(head(x, y), y)
            loss.backward()
            if world > 1:
                dist.all_reduce(head.weight.grad)
                head.weight.grad /= world
            opt.step()
            opt.zero_grad(set_to_none=False)
        else:
            loss = head(x, y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        if world > 1:
            dist.barrier()
        if step:
            times.append(time.perf_counter() - t0)
    if rank == 0:
        Path(out).write_text(f"{statistics.median(times)} {_rss_gb() - rss0}")
    if world > 1:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(mode: str, classes: int, world: int, rate: float, steps: int, threads: int) -> tuple[float, float]:
    """(median seconds per step, peak RSS growth of rank 0 in GB) of ``world`` spawned ranks."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result"
        mp.start_processes(_worker, args=(world, _free_port(), mode, classes, rate, steps, threads, str(out)),
                           nprocs=world, start_method="spawn")
        t, rss = out.read_text().split()
    return float(t), float(rss)


def speed(args: argparse.Namespace) -> None:
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, {args.threads} thread(s) per rank, float32, "
          f"D = {D}, B = {B}, SGD momentum; budget {args.budget_gb} GB for all ranks together")
    print(f"{'C':>9} {'W':>2} {'head':<16} {'est. GB/rank':>12} {'RSS GB':>7} {'s/step':>8} {'x replicated':>12}")
    for c in args.classes:
        for w in args.worlds:
            base = None
            for mode, rate in (("replicated", 1.0), ("sharded", 1.0), *(("sharded", r) for r in args.rates)):
                name = mode if rate == 1 else f"sharded r={rate:g}"
                est = estimate_bytes(mode, c, w, rate) / GB
                if est * w > args.budget_gb:
                    print(f"{c:>9,} {w:>2} {name:<16} {est:>12.3f} {'-':>7} {'-':>8} {'-':>12}  cannot run here: "
                          f"{w} rank(s) x {est:.2f} GB = {est * w:.1f} GB > {args.budget_gb} GB", flush=True)
                    continue
                t, rss = measure(mode, c, w, rate, args.steps, args.threads)
                if mode == "replicated":
                    base = t
                ratio = f"{t / base:.3f}" if base else "(no base)"
                print(f"{c:>9,} {w:>2} {name:<16} {est:>12.3f} {rss:>7.2f} {t:>8.3f} {ratio:>12}", flush=True)


def accuracy(args: argparse.Namespace) -> None:
    """LMCL through the engine's ``lab`` preset at 28x24 on View 1, one process (W = 1, sharded), at each rate."""
    from labkit.engine import fit
    from labkit.experiments import lab_scale as E
    from labkit.experiments.lab_scale import training
    from labkit.presets import preset

    torch.set_num_threads(1)
    data = E.load_lab_data(E.DataConfig(image_size=(28, 24)), progress=False)
    n = data.train_x.shape[0]
    print(f"data: {len(data.classes)} training people, {n} images, {data.info['pairs']} DevTest pairs, 28x24, "
          f"LMCL m = 0.35, {args.epochs} epochs, one thread")
    print(f"{'r':>5} {'seed':>4} {'accuracy %':>14} {'train acc %':>11} {'CPU s':>6}")
    for rate in args.accuracy_rates:
        accs = []
        for seed in args.seeds:
            cfg = E.ExperimentConfig(head="cosface", m=0.35, epochs=args.epochs)
            spe = max(1, n // cfg.batch)
            steps = spe * cfg.epochs
            torch.manual_seed(seed)
            model = training.build_backbone(cfg, data)
            head, _ = training.head_for(cfg, len(data.classes), steps)
            fc = preset("lab", steps=steps, batch=cfg.batch, lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                        warmup=max(1, steps // 10), seed=seed, log_every=spe, threads=1,
                        head_parallel="sharded", sample_rate=rate)
            c0 = time.process_time()
            res = fit(model, head, (data.train_x, data.train_y), fc)
            acc = E.evaluate_run(model, data)
            accs.append(100 * acc.mean_accuracy)
            print(f"{rate:>5g} {seed:>4} {100 * acc.mean_accuracy:>7.2f} ± {100 * acc.standard_error:.2f} "
                  f"{100 * res.history[-1]['train_acc']:>11.1f} {time.process_time() - c0:>6.1f}", flush=True)
        se = statistics.stdev(accs) / math.sqrt(len(accs)) if len(accs) > 1 else float("nan")
        print(f"r = {rate:g}: {statistics.mean(accs):.2f} ± {se:.2f} % over seeds {args.seeds}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1], help="sample rates < 1 to time")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    ap.add_argument("--budget-gb", type=float, default=10.0, help="memory all ranks of one configuration may use")
    ap.add_argument("--accuracy", action="store_true", help="lab-scale LFW accuracy at --accuracy-rates instead")
    ap.add_argument("--accuracy-rates", type=float, nargs="+", default=[1.0, 0.5, 0.1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=16)
    args = ap.parse_args(argv)
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    accuracy(args) if args.accuracy else speed(args)


if __name__ == "__main__":
    main()
