"""The collectives behind the class-sharded head, each one a no-op when there is one rank and no process group.

Rank r of W owns the contiguous class slice [r C // W, (r + 1) C // W) (:func:`shard_bounds`): slices differ by at
most one class and are never empty while C >= W. The features of the global batch are gathered rank after rank
(:func:`gather_rows`): rows [r b, (r + 1) b) of the gathered (B, D) matrix are rank r's own b = B / W features.
Every rank computes logits of all B rows against its own classes, so the gradient of the gathered features is a
partial sum on each rank; the backward pass adds the W partial sums and hands each rank its own b rows (a
reduce-scatter: ``reduce_scatter_tensor`` where the backend has it, an all-reduce and a slice on gloo, which does not).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["shard_bounds", "world_info", "all_reduce", "gather_rows", "gather_labels", "agree", "gather_to_root"]


def shard_bounds(num_classes: int, world: int, rank: int) -> tuple[int, int]:
    """The class slice [lo, hi) of ``rank`` among ``world`` ranks: about C / W contiguous classes each."""
    return rank * num_classes // world, (rank + 1) * num_classes // world


def world_info(group: Any = None) -> tuple[int, int]:
    """(rank, world size) in ``group``; (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def all_reduce(t: Tensor, op: Any = None, group: Any = None) -> Tensor:
    """In-place all-reduce (sum by default) of ``t`` over the ranks; returns ``t`` (unchanged for one rank)."""
    if world_info(group)[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM if op is None else op, group=group)
    return t


def _all_gather_cat(t: Tensor, group: Any) -> Tensor:
    world = world_info(group)[1]
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t.contiguous(), group=group)
    return torch.cat(parts, 0)


class _GatherRows(torch.autograd.Function):
    """Forward: the (W b, D) rows of every rank, rank-major. Backward: the sum over ranks of the incoming
    gradient, rows [r b, (r + 1) b) only (each rank's partial gradient covers every row; its owner needs the total)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, group: Any) -> Tensor:
        ctx.group, ctx.rows = group, x.shape[0]
        return _all_gather_cat(x, group)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        rank, world = world_info(ctx.group)
        grad = grad.contiguous()
        out = torch.empty((ctx.rows, *grad.shape[1:]), dtype=grad.dtype, device=grad.device)
        if dist.get_backend(ctx.group) == "nccl":
            dist.reduce_scatter_tensor(out, grad, group=ctx.group)
        else:  # gloo has no reduce-scatter: sum everything, keep our rows
            dist.all_reduce(grad, group=ctx.group)
            out.copy_(grad[rank * ctx.rows:(rank + 1) * ctx.rows])
        return out, None


def gather_rows(x: Tensor, group: Any = None) -> Tensor:
    """The global batch of features from every rank's (b, D) share, differentiable (see the module docstring)."""
    if world_info(group)[1] == 1:
        return x
    return _GatherRows.apply(x, group)


def gather_labels(y: Tensor, group: Any = None) -> Tensor:
    """The labels of the global batch in the same rank-major order as :func:`gather_rows`."""
    if world_info(group)[1] == 1:
        return y
    return _all_gather_cat(y.long(), group)


def agree(values: dict[str, int], group: Any = None) -> None:
    """Raise ``ValueError`` on every rank when the ranks disagree on any of ``values`` (e.g. C and D).

    Every rank takes part in one all-gather and then sees the same table, so all of them raise together and none
    is left waiting in a later collective."""
    rank, world = world_info(group)
    if world == 1:
        return
    mine = torch.tensor(list(values.values()), dtype=torch.long)
    table = _all_gather_cat(mine.unsqueeze(0), group)
    for i, name in enumerate(values):
        col = table[:, i].tolist()
        if len(set(col)) > 1:
            shown = ", ".join(f"rank {r}: {v}" for r, v in enumerate(col))
            raise ValueError(f"the ranks disagree on {name} ({shown}); every rank must build the head with the same "
                             f"number of classes and feature size")


def gather_to_root(t: Tensor, num_rows: int, group: Any = None) -> Tensor | None:
    """Concatenate every rank's row shard (rank r holds rows :func:`shard_bounds`) into the full (num_rows, ...)
    tensor on rank 0; other ranks get None. Shards are padded to the largest one for ``dist.gather``."""
    rank, world = world_info(group)
    if world == 1:
        return t.detach().clone()
    longest = max(hi - lo for lo, hi in (shard_bounds(num_rows, world, r) for r in range(world)))
    padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t.detach()
    parts = [torch.empty_like(padded) for _ in range(world)] if rank == 0 else None
    dist.gather(padded, parts, dst=0, group=group)
    if rank != 0:
        return None
    sizes = [hi - lo for lo, hi in (shard_bounds(num_rows, world, r) for r in range(world))]
    return torch.cat([p[:n] for p, n in zip(parts, sizes)], 0)
