"""Accuracy against CPU time for the lab-scale preset (notebook 07; the README's "what a CPU-hour buys"): LMCL
(m = 0.35, s = 30) on View 1 (1,184 training people, the 1,000 DevTest pairs) with the engine's ``lab`` preset,
at each input size in ``--sizes`` (default 28x24 and the shipped grid's 56x48), trained for each length in
``--epochs``, every run a separate one with its own warm-up + cosine schedule. Prints, per size and length: Adam
steps, CPU seconds of this process, wall seconds, DevTest accuracy (10-fold mean ± s.e.), final training accuracy,
accuracy gained per doubling and per CPU minute.

    LABKIT_DATA=/path/to/data .venv/bin/python benchmarks/lab_scale_accuracy.py [--threads 1]
        [--sizes 28x24 56x48] [--epochs 1 2 4 8 16 24] [--seed 0] [--m 0.35] [--head cosface]
        [--out data/shipped/lab_scale/accuracy_vs_cpu.json]

The shipped ``accuracy_vs_cpu.json`` (read by notebook 07) came from ``--epochs 1 2 4 8 16 24 --threads 1
--out ...``; the 16-epoch rows are the shipped grid's length, the 24-epoch rows test whether it has converged.

Other processes on the machine inflate wall seconds, not CPU seconds; with ``--threads 1`` the CPU seconds are the
cost on one core.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", type=_size, nargs="+", default=[(28, 24), (56, 48)], help="HxW input sizes")
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head", default="cosface")
    ap.add_argument("--m", type=float, default=0.35)
    ap.add_argument("--out", type=Path, help="write the rows and statements as JSON here")
    args = ap.parse_args()

    from labkit.experiments import lab_scale as E
    from labkit.experiments.lab_scale import training

    torch.set_num_threads(args.threads)
    training.CPU_THREADS = args.threads
    out_rows: list[dict] = []
    statements: list[str] = []
    for size in args.sizes:
        data = E.load_lab_data(E.DataConfig(image_size=size), progress=False)
        print(f"data: {data.info['train_people']} people, {data.info['train_images']} training images, "
              f"{data.info['pairs']} DevTest pairs, input {data.info['input']}; {args.threads} thread(s)")
        print(f"{'epochs':>6} {'steps':>6} {'CPU s':>7} {'wall s':>7} {'accuracy %':>13} {'train acc %':>11} "
              f"{'gain/doubling':>13} {'acc/CPU-min':>11}")
        prev = None
        rows = []
        for ep in args.epochs:
            cfg = E.ExperimentConfig(head=args.head, m=args.m if args.head != "softmax" else 0.35, epochs=ep)
            c0, w0 = time.process_time(), time.perf_counter()
            model, hist = E.train_run(cfg, data, args.seed)
            res = E.evaluate_run(model, data)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            acc = 100 * res.mean_accuracy
            gain = f"{acc - prev:+.2f}" if prev is not None else "-"
            print(f"{ep:>6} {hist['iters']:>6} {cpu:>7.1f} {wall:>7.1f} {acc:>7.2f} ± {100 * res.standard_error:.2f} "
                  f"{100 * hist['history'][-1]['train_acc']:>11.1f} {gain:>13} {acc / (cpu / 60):>11.1f}", flush=True)
            rows.append((ep, cpu, acc))
            out_rows.append({"input": f"{size[0]}x{size[1]}", "epochs": ep, "steps": hist["iters"],
                             "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1),
                             "accuracy": res.mean_accuracy, "std_err": res.standard_error,
                             "train_acc": hist["history"][-1]["train_acc"], "converged": hist["converged"]})
            prev = acc
        ep0, cpu0, acc0 = rows[0]
        ep1, cpu1, acc1 = rows[-1]
        best = max(rows, key=lambda r: r[2])
        tag = f"{size[0]}x{size[1]}:"
        statements += [
            f"{tag} {ep1} epochs cost {cpu1 / cpu0:.1f}x the CPU time of {ep0} and add {acc1 - acc0:+.2f} points "
            f"({(acc1 - acc0) / ((cpu1 - cpu0) / 60):+.2f} points per extra CPU minute).",
            f"{tag} the most accurate length is {best[0]} epochs ({best[2]:.2f} %, {best[1]:.0f} CPU s); one CPU hour "
            f"buys {3600 / best[1]:.0f} such runs, or {3600 / (cpu1 / ep1):.0f} epochs in all at about "
            f"{cpu1 / ep1:.1f} CPU s per epoch.",
        ]
        for (e_a, c_a, a_a), (e_b, c_b, a_b) in zip(rows, rows[1:]):
            statements.append(f"{tag} {e_a} -> {e_b} epochs: {a_b - a_a:+.2f} points for {c_b - c_a:+.0f} CPU s.")
    print()
    print("\n".join(statements))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": "python benchmarks/lab_scale_accuracy.py " + " ".join(sys.argv[1:]),
            "setting": f"{args.head} m={args.m:g}, seed {args.seed}, {args.threads} thread(s), View 1 "
                       f"({data.info['train_people']} people, {data.info['pairs']} DevTest pairs)",
            "python": platform.python_version(), "torch": torch.__version__,
            "note": "single seed: a run's 10-fold s.e. is about 1 point; CPU s are this process's time.process_time()",
            "rows": out_rows, "statements": statements}, indent=1) + "\n")
        print("wrote", args.out)


if __name__ == "__main__":
    main()
