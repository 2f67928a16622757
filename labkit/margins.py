"""Margins as small functions of the target cosine c = cos(theta_y) (notebook 01, "Four decision margins").

A margin head computes the cosine matrix once (:mod:`labkit.cosine_linear`) and then replaces each row's target
entry c by a smaller value, so that the true class must win by more than the plain cosine comparison asks:

- none (NSL, Eq. 3):            c
- cosine (LMCL / CosFace, Eq. 4): c - m
- angular (ArcFace):            cos(theta_y + m)
- multiplicative (A-Softmax):   (lam c + psi(theta_y)) / (1 + lam), psi from :func:`sphereface_psi`

Each function maps a (B,) tensor of target cosines to the (B,) replacement; the heads add the difference at the B
target entries only (no one-hot matrix).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from labkit.cosine_linear import logit_dtype

__all__ = ["check_labels", "cosine_margin", "angular_margin", "multiplicative_margin", "sphereface_psi", "psi_from_cos",
           "cosface_logits", "check_integer_margin"]


def check_labels(labels: Tensor, batch: int, num_classes: int) -> None:
    """Labels must be a (batch,) integer tensor of class indices in [0, num_classes)."""
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ValueError(f"labels must have shape ({batch},) to match the batch, got {tuple(labels.shape)}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"labels must be an integer tensor of class indices, got {labels.dtype}; use .long()")
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}] (num_classes={num_classes}), "
                         f"got values in [{int(labels.min())}, {int(labels.max())}]")


def cosine_margin(c: Tensor, m: float) -> Tensor:
    """LMCL's target (Eq. 4): c - m."""
    return c - m


def angular_margin(c: Tensor, m: float) -> Tensor:
    """ArcFace's target cos(theta + m), written as c cos m - sin(theta) sin m.

    Past theta = pi - m, cos(theta + m) would grow again with theta and reward a worse angle; there (c < -cos m)
    the cosine-margin form c - (1 - cos m) is used instead, which meets the first form at the switch (both give -1)
    and keeps falling. sin(theta) is sqrt(max(1 - c^2, 1e-12)), so the gradient stays finite at c = +-1.
    """
    c = c.clamp(-1.0, 1.0)
    cos_m, sin_m = math.cos(m), math.sin(m)
    sin = torch.sqrt((1.0 - c * c).clamp_min(1e-12))
    return torch.where(c > -cos_m, c * cos_m - sin * sin_m, c - (1.0 - cos_m))


def check_integer_margin(m: int | float) -> int:
    """A-Softmax's m must be an integer >= 1 (m = 1 is plain softmax on normalised weights)."""
    if isinstance(m, bool) or not isinstance(m, (int, float)) or int(m) != m or m < 1:
        raise ValueError(f"the A-Softmax margin m must be an integer >= 1 (m = 1 is plain softmax), got {m!r}")
    return int(m)


def sphereface_psi(theta: Tensor, m: int) -> Tensor:
    """A-Softmax's angle function psi(theta) = (-1)^k cos(m theta) - 2k on [k pi/m, (k+1) pi/m], k = 0..m-1.

    It replaces cos(theta) for the true class in SphereFace: equal to cos(theta) for m = 1, continuous, and
    decreasing from 1 at theta = 0 to 1 - 2m at theta = pi. ``theta`` must lie in [0, pi].
    """
    m = check_integer_margin(m)
    tol = 1e-6
    lo, hi = (float(theta.detach().min()), float(theta.detach().max())) if theta.numel() else (0.0, 0.0)
    if lo < -tol or hi > math.pi + tol:
        raise ValueError(f"psi is defined for theta in [0, pi]; got values in [{lo:.6g}, {hi:.6g}]"
                         " (pass the angle, e.g. torch.arccos(cos.clamp(-1, 1)))")
    with torch.no_grad():
        k = torch.floor(theta * (m / math.pi)).clamp_(0, m - 1)
    sign = 1.0 - 2.0 * torch.remainder(k, 2)
    return sign * torch.cos(m * theta) - 2.0 * k


def _chebyshev(c: Tensor, m: int) -> Tensor:
    """cos(m theta) as the polynomial T_m(cos theta): no arccos, so its gradient stays finite at cos = +-1."""
    prev, cur = torch.ones_like(c), c
    if m == 0:
        return prev
    for _ in range(m - 1):
        prev, cur = cur, 2.0 * c * cur - prev
    return cur


def psi_from_cos(c: Tensor, m: int) -> Tensor:
    """:func:`sphereface_psi` evaluated from c = cos(theta) (the branch k is picked without a gradient)."""
    with torch.no_grad():
        theta = torch.arccos(c.clamp(-1.0, 1.0))
        k = torch.floor(theta * (m / math.pi)).clamp_(0, m - 1)
    sign = 1.0 - 2.0 * torch.remainder(k, 2)
    return sign * _chebyshev(c.clamp(-1.0, 1.0), m) - 2.0 * k


def multiplicative_margin(c: Tensor, m: int, lam: float) -> Tensor:
    """A-Softmax's annealed target (lam c + psi(theta)) / (1 + lam); lam -> 0 is the pure angular margin."""
    return (lam * c + psi_from_cos(c, m)) / (1.0 + lam)


def cosface_logits(cos: Tensor, labels: Tensor, s: float, m: float) -> Tensor:
    """The LMCL logits of Eq. 4 from a (B, C) cosine matrix: s (cos(theta_y) - m) for each row's true class y and
    s cos(theta_j) elsewhere; m = 0 gives the NSL logits of Eq. 3. Only the B target entries change. Notebook 01
    uses it on hand-made cosines."""
    if cos.dim() != 2:
        raise ValueError(f"cos must be a (B, C) matrix of cosines, got shape {tuple(cos.shape)}")
    if m < 0:
        raise ValueError(f"the cosine margin m must be >= 0 (Eq. 7: 0 <= m), got {m}")
    check_labels(labels, cos.shape[0], cos.shape[1])
    dtype = logit_dtype(cos)
    with torch.autocast(cos.device.type, enabled=False):
        logits = cos.to(dtype) * s  # a new tensor: the in-place update below is safe for autograd
        if m != 0:
            rows = torch.arange(cos.shape[0], device=cos.device)
            logits.index_put_((rows, labels.long()), torch.tensor(-s * m, dtype=dtype, device=cos.device),
                              accumulate=True)
    return logits
