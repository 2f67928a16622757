"""The normalised linear layer: s * cos(theta_j) between features and class weights, with a fused backward.

This is the part every normalised head shares (Eq. 3 and 5, taught in notebook 01, "From softmax to NSL"): both the
feature x and each class weight W_j are scaled to unit length and their dot product is the cosine of the angle
between them. :class:`labkit.losses.MarginHead` applies a margin to these cosines afterwards
(:mod:`labkit.margins`); the cosine margin of LMCL is fused in here because it only shifts B entries.

Norms below :data:`EPS` are replaced by it before dividing (``F.normalize``'s convention), so a zero feature or
weight row gives cosines of exactly 0 instead of NaN. Computed in float32 (float64 for float64 inputs), also inside
a bfloat16 ``torch.autocast`` region: a margin of 0.35 times s = 64 is below what bfloat16 resolves near 64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["EPS", "cosine", "scaled_cosine", "logit_dtype"]

#: the smallest norm divided by (see the module docstring)
EPS = 1e-12


def logit_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, float32 otherwise (bfloat16/float16 inputs are promoted)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _normalize_backward(grad_unit: Tensor, unit: Tensor, norm: Tensor, small: Tensor) -> Tensor:
    """Gradient through u -> u / max(|u|, eps), row-wise, given the gradient g w.r.t. the output.

    For a row with |u| >= eps the map is u / |u|; its Jacobian is (I - v v^T) / |u| with v the unit row, so the
    gradient is (g - v <v, g>) / |u|. For a row with |u| < eps the divisor is the constant eps: the gradient is
    g / eps. ``grad_unit`` is overwritten.
    """
    # <v, g> per row; linalg.vecdot is about 3x faster than a batched (1 x K)(K x 1) bmm over 10,572 rows on a CPU
    dot = torch.linalg.vecdot(unit, grad_unit, dim=1).unsqueeze(1)
    dot.masked_fill_(small, 0.0)
    return grad_unit.addcmul_(unit, dot, value=-1.0).div_(norm)


class _ScaledCosine(torch.autograd.Function):
    """logits = s * normalize(x) @ normalize(W)^T, minus s*m at the B entries (i, labels[i]) when labels are given.

    Forward: s is folded into the small (B, K) normalised features before the matmul, so the (B, C) product needs
    no extra pass; the normalised weight is a temporary of the forward only (the backward works from the raw weight
    and 1 / |W_j|, so no C x K copy is kept between the passes: 2 GB less at C = 10^6, K = 512). The margin is
    subtracted in place at the B target entries only (no one-hot matrix).
    Backward, with G the incoming (B, C) gradient (the margin is a constant and drops out) and G' = G with its
    columns scaled by 1 / |W_j|:
        dL/dx_hat = s * G' @ W                                   (= s G @ W_hat)
        dL/dW_j = P_j - W_j <W_j, P_j> / |W_j|^2,  P = G'^T @ (s x_hat)
    the second line being the Jacobian (I - w_hat w_hat^T) / |W_j| of W_j -> W_j / |W_j| applied to G^T @ (s x_hat),
    with the 1 / |W_j| already inside P. Rows with |W_j| < eps are divided by eps and not projected (the convention
    of :func:`_normalize_backward`, used as is for x).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, labels: Tensor | None, s: float, m: float, eps: float) -> Tensor:
        x_norm_raw = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        w_norm_raw = torch.linalg.vector_norm(w, dim=1)
        x_norm = x_norm_raw.clamp_min(eps)
        inv_w = w_norm_raw.clamp_min(eps).reciprocal_()
        x_scaled = x * (s / x_norm)
        logits = x_scaled @ (w * inv_w.unsqueeze(1)).T
        if labels is not None and m != 0.0:
            rows = torch.arange(x.shape[0], device=x.device)
            logits.index_put_((rows, labels.long()), torch.tensor(-s * m, dtype=logits.dtype, device=logits.device),
                              accumulate=True)
        ctx.save_for_backward(x_scaled, w, x_norm, inv_w, x_norm_raw < eps, w_norm_raw < eps)
        ctx.s = s
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x_scaled, w, x_norm, inv_w, x_small, w_small = ctx.saved_tensors
        s = ctx.s
        g = grad * inv_w  # G' (columns scaled by 1 / |W_j|): replaces the division of dL/dW by |W_j|
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = _normalize_backward((g @ w).mul_(s), x_scaled / s, x_norm, x_small)
        if ctx.needs_input_grad[1]:
            gw = g.T @ x_scaled
            # <W_j, P_j> / |W_j|^2 per row; linalg.vecdot is about 3x faster than a batched bmm over 10,572 rows
            coef = torch.linalg.vecdot(w, gw, dim=1).mul_(inv_w).mul_(inv_w).masked_fill_(w_small, 0.0)
            gw.addcmul_(w, coef.unsqueeze(1), value=-1.0)
        return gx, gw, None, None, None, None


def scaled_cosine(features: Tensor, weight: Tensor, labels: Tensor | None = None, s: float = 1.0, m: float = 0.0,
                  eps: float = EPS) -> Tensor:
    """s cos(theta_j) for every (row, class), minus s*m at each row's label when ``labels`` is given (Eq. 3-4).

    The fused layer behind every normalised head; float32 logits (float64 for float64 inputs), autocast off.
    """
    dtype = logit_dtype(features, weight)
    with torch.autocast(features.device.type, enabled=False):
        return _ScaledCosine.apply(features.to(dtype), weight.to(dtype), labels, float(s), float(m), eps)


def cosine(features: Tensor, weight: Tensor, eps: float = EPS) -> Tensor:
    """The (B, C) matrix of cosines between the rows of ``features`` (B, K) and of ``weight`` (C, K) (Eq. 5).

    An all-zero row has cosine 0 with everything (never NaN). Notebook 01 plots these for the decision margins.
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (num_classes, feat_dim), got {tuple(weight.shape)}")
    if features.dim() != 2 or features.shape[1] != weight.shape[1]:
        raise ValueError(f"features must have shape (B, {weight.shape[1]}), got {tuple(features.shape)}")
    return scaled_cosine(features, weight, None, 1.0, 0.0, eps)
