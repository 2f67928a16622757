"""The 2-rank check notebook 05 runs live: W gloo processes on this CPU, each holding its slice of an LMCL head,
compute the loss and gradients of one global batch and compare them with the whole head in one process.

    python -m labkit.parallel.demo [--world 2] [--classes 1000]

Each rank reports the classes it owns, the bytes of its (float64) weight slice, the sharded loss, the single-process loss of
the same batch (computed on that rank from the full head, as an independent reference) and the largest
difference of its feature and weight-slice gradients from the reference (float64).
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = ["check_ranks"]


def _rank(rank: int, world: int, port: int, classes: int, feat_dim: int, per_rank: int, folder: str) -> None:
    import torch.distributed as dist
    import torch.nn.functional as F

    from labkit.losses import CosFaceHead
    from labkit.parallel.comm import shard_bounds
    from labkit.parallel.head import ShardedMarginHead

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    torch.manual_seed(0)  # the same full head and global batch on every rank
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = CosFaceHead(feat_dim, classes, s=30.0, m=0.35).double()
    x = torch.randn(world * per_rank, feat_dim, dtype=torch.float64)
    y = torch.randint(0, classes, (world * per_rank,))
    xr = x.clone().requires_grad_()
    ref = F.cross_entropy(full(xr, y), y)
    ref.backward()
    head = ShardedMarginHead.from_head(full)
    mine = slice(rank * per_rank, (rank + 1) * per_rank)
    xs = x[mine].clone().requires_grad_()
    loss = head(xs, y[mine])
    loss.backward()
    lo, hi = shard_bounds(classes, world, rank)
    torch.save({"rank": rank, "lo": lo, "hi": hi, "slice_bytes": head.weight.numel() * head.weight.element_size(), "loss": loss.item(),
                "reference": ref.item(), "dx": float((xs.grad - xr.grad[mine]).abs().max()),
                "dw": float((head.weight.grad - full.weight.grad[lo:hi]).abs().max())}, Path(folder) / f"{rank}.pt")
    dist.destroy_process_group()


def check_ranks(world: int = 2, classes: int = 1000, feat_dim: int = 64, per_rank: int = 8,
                timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Start ``world`` gloo ranks (spawned, a free port on 127.0.0.1) and return each rank's report."""
    import torch.multiprocessing as mp

    if world < 1 or classes < world:
        raise ValueError(f"need 1 <= world <= classes, got world={world}, classes={classes}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = mp.start_processes(_rank, args=(world, port, classes, feat_dim, per_rank, tmp), nprocs=world,
                                 join=False, start_method="spawn")
        deadline = __import__("time").monotonic() + timeout_s
        while not ctx.join(timeout=1.0):
            if __import__("time").monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                raise TimeoutError(f"the {world} ranks did not finish within {timeout_s:.0f} s")
        return [torch.load(Path(tmp) / f"{r}.pt", weights_only=True) for r in range(world)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--classes", type=int, default=1000)
    args = ap.parse_args(argv)
    for r in check_ranks(args.world, args.classes):
        print(f"rank {r['rank']}: classes [{r['lo']}, {r['hi']}), slice {r['slice_bytes'] / 1e3:.0f} kB; loss "
              f"{r['loss']:.12f} (one process: {r['reference']:.12f}); max |grad diff| features {r['dx']:.1e}, "
              f"weight slice {r['dw']:.1e}")


if __name__ == "__main__":
    main()
