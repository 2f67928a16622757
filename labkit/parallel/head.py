"""A margin head whose C x D class weight is split over W ranks, with optional class sampling (Partial FC).

Rank r holds the contiguous slice of about C / W class weights given by :func:`labkit.parallel.comm.shard_bounds`.
One training step on rank r (``forward(features, labels)`` returns the loss of the global batch):

1. all-gather the B = W b features and labels of the global batch (:func:`gather_rows`);
2. with class sampling, keep the local classes that are some row's target plus a random share ``sample_rate`` of
   the others (at least one of them), drawn from (seed, step, rank);
3. local logits s cos(theta_ij) against the kept local weights (the fused layer :func:`scaled_cosine`, Eq. 3), and
   the margin of Eq. 4 (LMCL: cos - m), NSL (no margin) or ArcFace (cos(theta + m)) at the rows whose target class
   this rank owns; no other rank knows that class's cosine, so no other rank touches that row's target;
4. the distributed cross-entropy (:mod:`labkit.parallel.softmax`): the mean over the B rows, equal on every rank.

Backward: each rank gets the gradient of its own weight slice (or of its kept rows) and its own b rows of the
feature gradient (the sum of every rank's partial gradient, :func:`gather_rows`). The loss is the mean over the
global batch, so each rank's backbone gradient is its share of the total: the engine sums (not averages) the
backbone gradients over the ranks.

With one rank and no process group it is the ordinary head, computed by the same code.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labkit import margins
from labkit.cosine_linear import EPS, scaled_cosine
from labkit.parallel.comm import agree, gather_labels, gather_rows, shard_bounds, world_info
from labkit.parallel.softmax import sharded_cross_entropy, sharded_row_stats

__all__ = ["ShardedMarginHead", "SHARDABLE", "check_sample_rate"]

#: heads of :data:`labkit.losses.HEADS` that put their margin on the target cosine, and the margin they use
SHARDABLE: dict[str, str] = {"nsl": "none", "cosface": "cosine", "arcface": "angular"}


def check_sample_rate(r: float) -> float:
    """The share of non-target classes kept per step must lie in (0, 1] (1: no sampling)."""
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not (0 < r <= 1):
        raise ValueError(f"the sample rate must lie in (0, 1] (the share of non-target classes each rank keeps per "
                         f"step; 1 keeps them all), got {r!r}")
    return float(r)


def _margin_kind(head: nn.Module) -> str:
    from labkit import losses

    kinds = {losses.NormFaceHead: "none", losses.CosFaceHead: "cosine", losses.ArcFaceHead: "angular"}
    if type(head) not in kinds:
        raise ValueError(f"a sharded head needs a margin on the normalised target cosine: one of "
                         f"{', '.join(SHARDABLE)} (NSL, LMCL, ArcFace), got {type(head).__name__}; use "
                         "--head-parallel replicated for this head")
    return kinds[type(head)]


class ShardedMarginHead(nn.Module):
    """This rank's slice ``weight`` (C_local, D) of an NSL / LMCL / ArcFace head (see the module docstring).

    Build it from a full head with :meth:`from_head` (every rank slices the same, seeded initial weight) or with
    ``weight=None`` for a fresh uniform initialisation of the slice. ``sample_rate`` < 1 turns on class sampling.
    """

    margin_enabled: bool = True

    def __init__(self, feat_dim: int, num_classes: int, s: float = 64.0, m: float = 0.35, margin: str = "cosine",
                 sample_rate: float = 1.0, seed: int = 0, group: Any = None, weight: Tensor | None = None) -> None:
        super().__init__()
        self.group = group
        self.rank, self.world = world_info(group)
        agree({"num_classes C": int(num_classes), "feat_dim D": int(feat_dim)}, group)  # before any check can differ
        if int(num_classes) < self.world:
            raise ValueError(f"C = {num_classes} classes cannot be split over {self.world} ranks (each rank needs at "
                             f"least one class); use at most {num_classes} ranks or --head-parallel replicated")
        if margin not in ("none", "cosine", "angular"):
            raise ValueError(f"margin must be 'none', 'cosine' or 'angular', got {margin!r}")
        self.feat_dim, self.num_classes = int(feat_dim), int(num_classes)
        self.s, self.m, self.margin = float(s), float(m), margin
        self.sample_rate, self.seed = check_sample_rate(sample_rate), int(seed)
        self.lo, self.hi = shard_bounds(self.num_classes, self.world, self.rank)
        if weight is None:
            weight = torch.empty(self.hi - self.lo, self.feat_dim).uniform_(-feat_dim ** -0.5, feat_dim ** -0.5)
        elif tuple(weight.shape) != (self.hi - self.lo, self.feat_dim):
            raise ValueError(f"rank {self.rank}'s weight slice must be ({self.hi - self.lo}, {self.feat_dim}), "
                             f"got {tuple(weight.shape)}")
        self.weight = nn.Parameter(weight.detach().clone())
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))  # training steps seen: the sampling seed
        #: (kept local rows or None for all, the tensor the logits used): read by the shard optimizer after backward
        self.active: tuple[Tensor | None, Tensor] | None = None
        self._stash: tuple[Tensor, Tensor, Tensor] | None = None

    @classmethod
    def from_head(cls, head: nn.Module, sample_rate: float = 1.0, seed: int = 0, group: Any = None
                  ) -> "ShardedMarginHead":
        """This rank's slice of ``head`` (a :class:`labkit.losses.NormFaceHead`, ``CosFaceHead`` or ``ArcFaceHead``)."""
        kind = _margin_kind(head)
        rank, world = world_info(group)
        agree({"num_classes C": head.num_classes, "feat_dim D": head.feat_dim}, group)
        if head.num_classes < world:
            raise ValueError(f"C = {head.num_classes} classes cannot be split over {world} ranks (each rank needs "
                             f"at least one class); use at most {head.num_classes} ranks or --head-parallel replicated")
        lo, hi = shard_bounds(head.num_classes, world, rank)
        out = cls(head.feat_dim, head.num_classes, head.s, head.m, kind, sample_rate, seed, group,
                  head.weight.detach()[lo:hi])
        out.margin_enabled = head.margin_enabled
        return out.to(head.weight.device, head.weight.dtype)

    # ------------------------------------------------------------------------------------------------ the step

    def _kept_rows(self, targets: Tensor) -> Tensor:
        """Sorted local rows kept this step: every target row plus ceil(r * rest) others, seeded by the step."""
        n = self.hi - self.lo
        is_target = torch.zeros(n, dtype=torch.bool, device=targets.device)
        is_target[targets] = True
        rest = (~is_target).nonzero().squeeze(1)
        take = math.ceil(self.sample_rate * len(rest))
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + int(self.iteration)) * 4099 + self.rank)
        pick = rest[torch.randperm(len(rest), generator=g)[:take].to(rest.device)]
        return torch.cat([is_target.nonzero().squeeze(1), pick]).sort().values

    def _target_delta(self, x: Tensor, w: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        """s (margin(c) - c) at the owned targets: the change Eq. 4 (or ArcFace) makes to s c."""
        if self.margin == "cosine":
            return torch.full((len(rows),), -self.s * self.m, dtype=x.dtype, device=x.device)
        c = (F.normalize(x[rows], dim=1, eps=EPS) * F.normalize(w[cols], dim=1, eps=EPS)).sum(1)
        return self.s * (margins.angular_margin(c, self.m) - c)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """The mean loss over the global batch from this rank's (b, D) features and (b,) labels."""
        if features.dim() != 2 or features.shape[1] != self.feat_dim:
            raise ValueError(f"features must have shape (b, {self.feat_dim}), got {tuple(features.shape)}")
        margins.check_labels(labels, features.shape[0], self.num_classes)
        dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
        x = gather_rows(features.to(dtype), self.group)
        y = gather_labels(labels, self.group)
        local = y - self.lo
        owned = (y >= self.lo) & (y < self.hi)
        kept = None
        if self.training and self.sample_rate < 1.0:
            kept = self._kept_rows(local[owned])
            w = self.weight.detach()[kept].to(dtype).requires_grad_()
            local = torch.where(owned, torch.searchsorted(kept, local.clamp(0, self.hi - self.lo - 1)), local)
        else:
            w = self.weight
        if self.training:
            self.iteration += 1
        self.active = (kept, w)
        logits = scaled_cosine(x, w, None, self.s, 0.0)
        rows = owned.nonzero().squeeze(1)
        if self.margin_enabled and self.margin != "none" and self.m != 0.0 and len(rows):
            cols = local[rows]
            logits = logits.index_put_((rows, cols), self._target_delta(x, w.to(dtype), rows, cols), accumulate=True)
        target = torch.where(owned, local, torch.full_like(local, -1))
        self._stash = (x.detach(), target, w.detach())
        return sharded_cross_entropy(logits, target, self.group)

    @torch.no_grad()
    def diagnostics(self, features: Tensor) -> Tensor:
        """The engine's per-step sums over this rank's own rows, from the last forward's classes (the kept ones
        when sampling): [loss without the margin, correct, sum |x|, sum of the angle to the class weight (deg)]."""
        x, target, w = self._stash
        stats = sharded_row_stats(scaled_cosine(x, w, None, self.s, 0.0), target, self.group)
        owned = (target >= 0).nonzero().squeeze(1)
        cos = x.new_zeros(x.shape[0])
        cos[owned] = F.cosine_similarity(x[owned], w[target[owned]], dim=1)
        from labkit.parallel.comm import all_reduce

        all_reduce(cos, None, self.group)
        b = features.shape[0]
        mine = slice(self.rank * b, (self.rank + 1) * b)
        angle = torch.rad2deg(torch.arccos(cos[mine].clamp(-1, 1)))
        return torch.stack([stats[0][mine].sum(), stats[1][mine].sum(), features.norm(dim=1).sum(), angle.sum()]).float()

    def extra_repr(self) -> str:
        return (f"feat_dim={self.feat_dim}, num_classes={self.num_classes}, rows=[{self.lo}, {self.hi}) of rank "
                f"{self.rank}/{self.world}, s={self.s}, m={self.m}, margin={self.margin}, "
                f"sample_rate={self.sample_rate}")
