"""Cross-entropy over logits whose columns (classes) are split over the ranks: the softmax of Eq. 1-5 computed
without any rank holding a whole (B, C) row.

For row i with logits z_ij spread over the ranks and target class y_i (owned by exactly one rank):

    M_i = max_j z_ij                     one all-reduce (max) of the B local row maxima
    Z_i = sum_j exp(z_ij - M_i)          one all-reduce (sum) of the B local sums
    t_i = z_i,y_i                        one all-reduce (sum): the owner contributes it, the others 0
    loss = (1 / B) sum_i [log Z_i + M_i - t_i]      the same number on every rank

Backward, with p_ij = exp(z_ij - M_i) / Z_i: dloss/dz_ij = (p_ij - [j = y_i]) / B, on each rank for its own
columns only; no further communication is needed. Subtracting M_i changes nothing mathematically (it cancels in
the log-softmax) and keeps every exp() at or below 1.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.autograd.function import once_differentiable

from labkit.parallel.comm import all_reduce

__all__ = ["sharded_cross_entropy", "sharded_row_stats"]


def _row_terms(logits: Tensor, target: Tensor, group: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(M, exp(z - M) of the local columns, Z, t) for each row; ``target`` is the local column or -1."""
    with torch.no_grad():
        row_max = logits.max(dim=1).values if logits.shape[1] else logits.new_full((logits.shape[0],), -torch.inf)
        all_reduce(row_max, dist.ReduceOp.MAX, group)
        exps = (logits - row_max.unsqueeze(1)).exp_()
        both = torch.stack([exps.sum(1), _target_logit(logits, target)])  # one all-reduce for Z and t
        all_reduce(both, None, group)
    return row_max, exps, both[0], both[1]


def _target_logit(logits: Tensor, target: Tensor) -> Tensor:
    owned = target >= 0
    t = logits.new_zeros(logits.shape[0])
    t[owned] = logits[owned.nonzero().squeeze(1), target[owned]]
    return t


class _ShardedCrossEntropy(torch.autograd.Function):
    """The mean cross-entropy of the module docstring, with its closed-form backward."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, target: Tensor, group: Any) -> Tensor:
        row_max, exps, z, t = _row_terms(logits, target, group)
        loss = (z.log() + row_max - t).mean()
        ctx.save_for_backward(exps, z, target)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        exps, z, target = ctx.saved_tensors
        probs = exps / z.unsqueeze(1)  # p_ij (a new tensor: a retained graph may run this backward again)
        owned = (target >= 0).nonzero().squeeze(1)
        probs[owned, target[owned]] -= 1.0
        return probs.mul_(grad / exps.shape[0]), None, None


def sharded_cross_entropy(logits: Tensor, target: Tensor, group: Any = None) -> Tensor:
    """Mean cross-entropy of the global batch from this rank's (B, C_local) logits; ``target[i]`` is row i's
    target column on this rank, or -1 where another rank owns it. With one rank it equals ``F.cross_entropy``."""
    return _ShardedCrossEntropy.apply(logits, target.long(), group)


@torch.no_grad()
def sharded_row_stats(logits: Tensor, target: Tensor, group: Any = None) -> tuple[Tensor, Tensor]:
    """Per row: the cross-entropy and whether the target logit is the row's largest (training accuracy)."""
    row_max, _, z, t = _row_terms(logits, target.long(), group)
    return z.log() + row_max - t, (t >= row_max).to(logits.dtype)
