"""Checkpoints of a sharded head that hold the full head and resume on any number of ranks.

Saving gathers every rank's weight slice and its row-shaped optimizer state to rank 0, which stores them as full
C-row tensors: ``"head"`` is then exactly a replicated head's state dict (``{"weight": (C, D)}``), readable by
anything that reads replicated checkpoints. Loading cuts rows [lo, hi) of this run's layout
(:func:`labkit.parallel.comm.shard_bounds`) out of the full tensors, so 2 ranks can save and 3 (or 1) resume.
"""

from __future__ import annotations

from typing import Any

import torch

from labkit.parallel.comm import gather_to_root, shard_bounds, world_info
from labkit.parallel.head import ShardedMarginHead
from labkit.parallel.optim import ShardOptimizer

__all__ = ["gather_state", "load_state", "full_weight"]


def gather_state(head: ShardedMarginHead, opt: ShardOptimizer) -> dict[str, Any] | None:
    """On rank 0: {"head": {"weight": (C, D)}, "head_shard": {iteration, optimizer state as (C, ...) tensors}};
    None elsewhere. Every rank must call it (it is a collective)."""
    c = head.num_classes
    weight = gather_to_root(head.weight.data, c, head.group)
    state = {k: gather_to_root(v, c, head.group) for k, v in opt.state.items()}
    if world_info(head.group)[0] != 0:
        return None
    return {"head": {"weight": weight},
            "head_shard": {"num_classes": c, "feat_dim": head.feat_dim, "world": head.world,
                           "iteration": head.iteration.clone(), "optimizer": {"kind": opt.kind, "state": state}}}


def load_state(head: ShardedMarginHead, opt: ShardOptimizer, saved: dict[str, Any], where: str = "checkpoint") -> None:
    """Load this rank's rows of a checkpoint written by :func:`gather_state` (with any number of ranks)."""
    full = saved["head"]["weight"]
    if "head_shard" not in saved:
        raise ValueError(f"resume: {where} was written by a replicated head; resume it with --head-parallel "
                         "replicated, or start a new run in another out folder")
    if tuple(full.shape) != (head.num_classes, head.feat_dim):
        raise ValueError(f"resume: {where} holds a head of C = {full.shape[0]} classes and D = {full.shape[1]}, "
                         f"this run has C = {head.num_classes} and D = {head.feat_dim}; train on the same classes "
                         "or start a new run in another out folder")
    lo, hi = shard_bounds(head.num_classes, head.world, head.rank)
    with torch.no_grad():
        head.weight.copy_(full[lo:hi])
        head.iteration.copy_(saved["head_shard"]["iteration"])
    o = saved["head_shard"]["optimizer"]
    opt.load_state_dict({"kind": o["kind"], "state": {k: v[lo:hi] for k, v in o["state"].items()}})


def full_weight(head: ShardedMarginHead) -> torch.Tensor:
    """The whole (C, D) weight on every rank (all ranks must call it): for evaluation hooks and the result."""
    rank, world = world_info(head.group)
    if world == 1:
        return head.weight.detach().clone()
    import torch.distributed as dist

    full = gather_to_root(head.weight.data, head.num_classes, head.group)
    if rank != 0:
        full = torch.empty(head.num_classes, head.feat_dim, dtype=head.weight.dtype, device=head.weight.device)
    dist.broadcast(full, src=0, group=head.group)
    return full
