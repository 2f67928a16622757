"""Training throughput of sphere20 / sphere64 at 112x96 with LMCL over CASIA-WebFace's 10,572 classes.

For each network: eager float32, then the fast path (bf16 autocast + channels_last), then fast + torch.compile.
Prints images/s and the projected wall time of the paper's run (30K iterations at a global batch of 512).
Random input on the device: this measures the model, not the data loader.

    python benchmarks/throughput.py --device cuda            # batch 256, all three modes
    python benchmarks/throughput.py --device cpu --quick     # batch 8, two steps, no compile

Published anchor: about 1.46K images/s for sphere20 in the public PyTorch SphereFace reproduction (one GPU of that
time). CPU numbers measured on a shared machine are inflated by other load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from labkit import config  # noqa: E402
from labkit.train import measure_throughput  # noqa: E402

PAPER_ITERS, PAPER_BATCH = 30_000, 512


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--archs", nargs="+", default=["sphere20", "sphere64"])
    p.add_argument("--batch", type=int, default=0, help="0: 256 on CUDA, 16 on CPU (8 with --quick)")
    p.add_argument("--steps", type=int, default=0, help="timed steps (0: 20 on CUDA, 3 on CPU, 2 with --quick)")
    p.add_argument("--quick", action="store_true", help="small batch, few steps, no compile (CPU smoke run)")
    p.add_argument("--no-compile", action="store_true")
    args = p.parse_args(argv)
    device = config.pick_device(args.device)
    gpu = device.startswith("cuda")
    batch = args.batch or (256 if gpu else 8 if args.quick else 16)
    steps = args.steps or (20 if gpu else 2 if args.quick else 3)
    modes = [("eager fp32", False, False), ("bf16+channels_last", True, False)]
    if not (args.quick or args.no_compile):
        modes.append(("bf16+channels_last+compile", True, True))
    print(f"device: {device_name(device)}; batch {batch}, {steps} timed steps, LMCL over 10,572 classes, 112x96")
    print(f"{'arch':<9} {'mode':<28} {'images/s':>10} {'30K iters x 512':>16}")
    for arch in args.archs:
        for label, fast, comp in modes:
            t0 = time.perf_counter()
            try:
                ips = measure_throughput(arch, batch, device, fast=fast, compile=comp, steps=steps,
                                         warmup=3 if comp else 1)
            except Exception as exc:  # a mode that does not work here (e.g. no compiler) must not hide the others
                print(f"{arch:<9} {label:<28} failed: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            hours = PAPER_ITERS * PAPER_BATCH / ips / 3600
            print(f"{arch:<9} {label:<28} {ips:>10.1f} {hours:>14.1f} h   ({time.perf_counter() - t0:.0f} s)")
            if gpu:
                torch.cuda.empty_cache()
    print("anchor: ~1.46K images/s for sphere20 in the public PyTorch reproduction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
