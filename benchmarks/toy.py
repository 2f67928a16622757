"""Benchmark of the toy experiment on the CPU: one model, the whole Fig. 4 grid (Softmax + LMCL m = 0, 0.1, 0.2 over
``--seeds`` seeds), and baselines measured in the same run: a bare training loop of the same network for the same
number of steps (the engine's overhead: diagnostics, flips, balanced sampling) and one epoch at the paper's 112x96
input versus the toy's 28x24 (random pixels: the step time does not depend on content).

    LABKIT_DATA=/path/to/data .venv/bin/python benchmarks/toy.py [--threads 2] [--seeds 5]

Targets ("train at this m" button and the shipped grid): one model <= 20 s, the grid of 5 seeds <= 10 minutes on
2 cores. Other processes on the machine inflate the numbers.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
import torch.nn.functional as F


def epoch_time(input_size: tuple[int, int], steps: int, batch: int = 64) -> float:
    from labkit.losses import make_head
    from labkit.models import SmallCNN as ToyNet

    torch.manual_seed(0)
    net, head = ToyNet(input_size, bn_before_feature=False), make_head("cosface", 2, 8, s=16.0, m=0.2)
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=1e-3)
    x = torch.randn(batch, 3, *input_size)
    y = torch.randint(0, 8, (batch,))
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(head(net(x), y), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=5, help="seeds of the Fig. 4 grid (4 models each)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from labkit.experiments.toy.data import load_toy_data
    from labkit.experiments.toy.train import ToyConfig, steps_per_epoch, train_toy

    cfg0 = ToyConfig()
    spe = steps_per_epoch(cfg0)
    full, small = epoch_time((112, 96), spe), epoch_time(cfg0.input_size, spe)
    print(f"baseline: one epoch ({spe} steps of {cfg0.batch_size}) at 112x96: {full:.2f} s; at 28x24: {small:.2f} s "
          f"({full / small:.1f}x)")
    bare = small * cfg0.epochs
    t0 = time.perf_counter()
    data = load_toy_data()
    print(f"data (cached decode): {time.perf_counter() - t0:.2f} s")
    times = {}
    for seed in range(args.seeds):
        for cfg in (ToyConfig(head="softmax", seed=seed), *(ToyConfig(m=m, s=16.0, seed=seed) for m in (0.0, 0.1, 0.2))):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = train_toy(cfg, data, threads=args.threads)
            times[cfg.name] = time.perf_counter() - t
            print(f"{cfg.name:<26} {times[cfg.name]:6.1f} s  train {res.train_acc:.3f}  held-out {res.test_acc:.3f}",
                  flush=True)
    one = times[ToyConfig(m=0.2, s=16.0).name]
    total = sum(times.values())
    print(f"one toy model (LMCL m=0.2, {cfg0.epochs} epochs = {spe * cfg0.epochs} steps): {one:.1f} s "
          f"(target <= 20 s) {'OK' if one <= 20 else 'OVER'}; a bare loop of the same steps: {bare:.1f} s "
          f"(engine / bare = {one / bare:.2f}x)")
    print(f"Fig. 4 grid ({len(times)} models, {args.seeds} seeds): {total:.1f} s (target <= 600 s) "
          f"{'OK' if total <= 600 else 'OVER'}")
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
