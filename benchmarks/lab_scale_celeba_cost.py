"""Cost of one lab-scale run with the CelebA training people (issue #23): CPU seconds per epoch of LMCL m = 0.35 on
View 2 fold 0 (LFW outside the fold + CelebA, ~22,700 faces) at 28x24 and at 56x48, one thread, and the ratio of
the two measured in the same run; then what the ten-fold grid would cost at each size.

    python benchmarks/lab_scale_celeba_cost.py [--epochs 1]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from labkit.experiments import lab_scale as E
    from labkit.experiments.lab_scale import training
    from labkit.experiments.lab_scale.grid import ten_fold_jobs

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    training.CPU_THREADS = 1
    per_epoch = {}
    for size in ((28, 24), (56, 48)):
        data = E.load_lab_data(E.DataConfig(image_size=size, protocol="view2", test_fold=0, extra=("celeba",)),
                               progress=False)
        t0 = time.process_time()
        _, hist = E.train_run(E.ExperimentConfig(head="cosface", m=0.35, epochs=args.epochs), data, seed=0)
        per_epoch[size] = (time.process_time() - t0) / args.epochs
        print(f"{size[0]}x{size[1]}: {data.info['train_images']:,} faces, {per_epoch[size]:.1f} CPU-s per epoch "
              f"(with the per-epoch test-pair evaluation), accuracy after {args.epochs} epochs "
              f"{100 * hist['history'][-1]['verification_acc']:.1f} %", flush=True)
    ratio = per_epoch[(56, 48)] / per_epoch[(28, 24)]
    jobs = ten_fold_jobs("full")
    main_runs = sum(j.experiment == "main" for j in jobs)
    print(f"56x48 / 28x24 per epoch: {ratio:.2f}x")
    for size, sec in per_epoch.items():
        print(f"ten folds x {main_runs // 10} recipes x 16 epochs at {size[0]}x{size[1]}: "
              f"{main_runs * 16 * sec / 3600:.1f} CPU-hours (identities figure not counted)")


if __name__ == "__main__":
    main()
