"""How much memory one rank's head needs: replicated, sharded, and sharded with class sampling (float32 bytes).

Counted from the tensors a training step holds at its peak (notebook 05, "Past one machine"):

- replicated on W ranks: weight, gradient and momentum, 3 C D, plus the b x C logits and their gradient
  (b = B / W rows per rank), plus the b x D features and their gradient;
- sharded: weight and momentum of its ceil(C / W) rows, the gradient of the rows a step uses, the B x C_kept logits
  of the gathered batch and their gradient, and the gathered B x D features and their gradient;
- with sampling rate r: C_kept is at most B + ceil(r C / W) (every target class, plus a share r of the others),
  and the kept rows are copied once for the step.
"""

from __future__ import annotations

import math

__all__ = ["head_bytes"]


def head_bytes(mode: str, classes: int, world: int = 1, rate: float = 1.0, feat_dim: int = 512,
               batch: int = 512) -> int:
    """float32 bytes one rank holds at the peak of a step; ``mode`` is "replicated" or "sharded"."""
    if mode not in ("replicated", "sharded"):
        raise ValueError(f"mode must be 'replicated' or 'sharded', got {mode!r}")
    f = 4
    if mode == "replicated":
        b = batch // world
        return f * (3 * classes * feat_dim + 2 * b * classes + 2 * b * feat_dim)
    rows = math.ceil(classes / world)
    kept = rows if rate >= 1 else min(rows, batch + math.ceil(rate * rows))
    weights = 2 * rows * feat_dim + (kept * feat_dim if rate >= 1 else 2 * kept * feat_dim)
    return f * (weights + 2 * batch * kept + 2 * batch * feat_dim)
