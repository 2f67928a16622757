"""Classification heads for face recognition: softmax, NSL, A-Softmax, LMCL (CosFace) and ArcFace.

Every head owns a ``weight`` parameter of shape ``(num_classes, feat_dim)`` (one row per class) and maps
``(features, labels)`` to a ``(B, C)`` tensor of logits to be fed to ``F.cross_entropy``. The losses of the paper
are then the cross-entropy of these logits:

- Eq. 1-2 (softmax, bias fixed to 0): logit_j = W_j^T x = |W_j| |x| cos(theta_j).
- Eq. 3 (NSL): both W_j and x are scaled to unit length and x is then given length s: logit_j = s cos(theta_j).
- Eq. 4-5 (LMCL / CosFace): as NSL, but the true class y pays a cosine margin m: logit_y = s (cos(theta_y) - m).
- A-Softmax (SphereFace) and additive angular margin (ArcFace) are provided for comparison.

Logits are always computed in float32 (float64 if the inputs are float64), also inside a bfloat16/float16
``torch.autocast`` region: a cosine margin of 0.35 scaled by s = 64 is far below what bfloat16 can resolve near
|logit| = 64.

Hyper-parameters are checked against the paper's bounds when a head is built (:mod:`labkit.bounds`): a margin at or
past the Eq. 7 bound gives a :class:`MarginBoundWarning` and a scale below the Eq. 6 bound gives a
:class:`ScaleBoundWarning`; ``strict=True`` turns both into ``ValueError``. Plainly invalid values (negative m,
non-positive s, non-integer SphereFace m) are always ``ValueError``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from labkit.bounds import m_upper_bound, s_lower_bound

__all__ = [
    "EPS",
    "MarginBoundWarning",
    "ScaleBoundWarning",
    "cosine",
    "cosface_logits",
    "sphereface_psi",
    "SoftmaxHead",
    "NormFaceHead",
    "SphereFaceHead",
    "CosFaceHead",
    "ArcFaceHead",
    "UnnormalizedCosFaceHead",
    "HEADS",
    "make_head",
]

#: Norms below this are replaced by it before dividing (the same convention as ``F.normalize``), so a zero
#: feature or weight row gives cosines of exactly 0 instead of NaN.
EPS = 1e-12


class MarginBoundWarning(UserWarning):
    """The margin m is at or past the upper bound of Eq. 7 for this number of classes and feature dimension."""


class ScaleBoundWarning(UserWarning):
    """The scale s is below the lower bound of Eq. 6 for this number of classes and target posterior p_w."""


# --------------------------------------------------------------------------------------------------------------
# Input checks and dtype policy
# --------------------------------------------------------------------------------------------------------------


def _logit_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, float32 otherwise (bfloat16/float16 inputs are promoted)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _check_features(features: Tensor, feat_dim: int, what: str = "features") -> None:
    if not isinstance(features, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() != 2 or features.shape[1] != feat_dim:
        raise ValueError(
            f"{what} must have shape (B, {feat_dim}) (batch, feat_dim), got {tuple(features.shape)}; "
            "flatten the embedding to one row per sample"
        )
    if not features.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {features.dtype}; call .float() first")


def _check_labels(labels: Tensor, batch: int, num_classes: int) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ValueError(f"labels must have shape ({batch},) to match the batch, got {tuple(labels.shape)}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"labels must be an integer tensor of class indices, got {labels.dtype}; use .long()")
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] (num_classes={num_classes}), "
            f"got values in [{int(labels.min())}, {int(labels.max())}]"
        )


def _check_sizes(feat_dim: int, num_classes: int) -> None:
    if int(feat_dim) != feat_dim or feat_dim < 2:
        raise ValueError(f"feat_dim K must be an integer >= 2, got {feat_dim}")
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes C must be an integer >= 2, got {num_classes}")


def _check_scale(s: float, num_classes: int, p_w: float, strict: bool) -> None:
    if not (isinstance(s, (int, float)) and math.isfinite(s) and s > 0):
        raise ValueError(f"the scale s must be a finite number > 0, got {s!r}")
    bound = s_lower_bound(num_classes, p_w)
    if s < bound:
        msg = (
            f"s={s} is below the Eq. 6 lower bound s >= {bound:.4f} for C={num_classes} classes and a target "
            f"class-centre posterior p_w={p_w}: the posterior cannot reach p_w and training will converge poorly. "
            f"Use s >= {bound:.4f} (or ask for a smaller p_w)."
        )
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, ScaleBoundWarning, stacklevel=_caller_stacklevel())


def _margin_bound_message(m: float, num_classes: int, feat_dim: int, value: float, regime: str, unit: str) -> str:
    return (
        f"m={m} is at or past the Eq. 7 upper bound {value:.4f}{unit} for C={num_classes} classes in "
        f"K={feat_dim} dimensions ({regime}): no arrangement of the class weights leaves that much margin between "
        f"every pair of classes, so training will degrade (the margin cannot be met and the loss stays high). "
        f"Use m < {value:.4f}, or pass strict=True to make this an error."
    )


def _warn_or_raise_margin(msg: str, strict: bool) -> None:
    if strict:
        raise ValueError(msg)
    warnings.warn(msg, MarginBoundWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The stacklevel that makes a warning point at the first frame outside this module (the user's call)."""
    import sys

    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        level += 1
        frame = frame.f_back
    return level


def _rows(batch: int, device: torch.device) -> Tensor:
    return torch.arange(batch, device=device)


# --------------------------------------------------------------------------------------------------------------
# Fused normalised linear layer with a hand-derived backward
# --------------------------------------------------------------------------------------------------------------


def _normalize_backward(grad_unit: Tensor, unit: Tensor, norm: Tensor, small: Tensor) -> Tensor:
    """Gradient through u -> u / max(|u|, eps), row-wise, given the gradient w.r.t. the output.

    For rows with |u| >= eps the map is u / |u|, whose Jacobian is (I - v v^T) / |u| with v the unit row, so the
    gradient is (g - v <v, g>) / |u|. For rows with |u| < eps the divisor is the constant eps and the gradient is
    g / eps. ``grad_unit`` is overwritten.
    """
    # <v, g> per row as a batched dot product (no temporary of the full size).
    dot = torch.bmm(unit.unsqueeze(1), grad_unit.unsqueeze(2)).squeeze(2)
    dot.masked_fill_(small, 0.0)
    return grad_unit.addcmul_(unit, dot, value=-1.0).div_(norm)


class _ScaledCosine(torch.autograd.Function):
    """logits = s * normalize(x) @ normalize(W)^T, minus s*m at the B entries (i, labels[i]) when labels are given.

    Forward: the scale is folded into the (small) normalised feature matrix before the matmul, so the (B, C)
    product needs no extra pass; the margin is subtracted in place at the B target entries only.
    Backward, with G the incoming (B, C) gradient (the margin is a constant and drops out):
        dL/dx_hat = s * G @ W_hat          dL/dW_hat = G^T @ (s * x_hat)
    followed by the normalisation backward of :func:`_normalize_backward` for both x and W.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, labels: Tensor | None, s: float, m: float, eps: float) -> Tensor:
        x_norm_raw = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        w_norm_raw = torch.linalg.vector_norm(w, dim=1, keepdim=True)
        x_norm = x_norm_raw.clamp_min(eps)
        w_norm = w_norm_raw.clamp_min(eps)
        x_scaled = x * (s / x_norm)  # s * x_hat, (B, K): s folded into the small operand
        w_hat = w / w_norm  # (C, K)
        logits = x_scaled @ w_hat.T
        if labels is not None and m != 0.0:
            logits.index_put_(
                (_rows(x.shape[0], x.device), labels.long()),
                torch.tensor(-s * m, dtype=logits.dtype, device=logits.device),
                accumulate=True,
            )
        ctx.save_for_backward(x_scaled, w_hat, x_norm, w_norm, x_norm_raw < eps, w_norm_raw < eps)
        ctx.s = s
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x_scaled, w_hat, x_norm, w_norm, x_small, w_small = ctx.saved_tensors
        s = ctx.s
        grad = grad.contiguous()
        gx = gw = None
        if ctx.needs_input_grad[0]:
            g_xhat = (grad @ w_hat).mul_(s)
            gx = _normalize_backward(g_xhat, x_scaled / s, x_norm, x_small)
        if ctx.needs_input_grad[1]:
            g_what = grad.T @ x_scaled
            gw = _normalize_backward(g_what, w_hat, w_norm, w_small)
        return gx, gw, None, None, None, None


def _scaled_cosine(
    features: Tensor, weight: Tensor, labels: Tensor | None, s: float, m: float, eps: float = EPS
) -> Tensor:
    dtype = _logit_dtype(features, weight)
    with torch.autocast(features.device.type, enabled=False):
        return _ScaledCosine.apply(features.to(dtype), weight.to(dtype), labels, float(s), float(m), eps)


def _target_cosine(features: Tensor, weight: Tensor, labels: Tensor) -> Tensor:
    """cos(theta_y) for each row, computed from the B target weight rows only (B x K work)."""
    w_t = weight[labels.long()]
    return (F.normalize(features, dim=1, eps=EPS) * F.normalize(w_t, dim=1, eps=EPS)).sum(1)


def _add_at_targets(logits: Tensor, labels: Tensor, delta: Tensor) -> Tensor:
    """logits[i, labels[i]] += delta[i], in place, touching only the B target entries."""
    return logits.index_put_((_rows(logits.shape[0], logits.device), labels.long()), delta, accumulate=True)


# --------------------------------------------------------------------------------------------------------------
# Functional API
# --------------------------------------------------------------------------------------------------------------


def cosine(features: Tensor, weight: Tensor, eps: float = EPS) -> Tensor:
    """The (B, C) matrix of cosines between the rows of ``features`` (B, K) and the rows of ``weight`` (C, K).

    Both are scaled to unit length first (Eq. 5); a row whose norm is below ``eps`` is divided by ``eps`` instead,
    so an all-zero row has cosine 0 with everything (never NaN). Computed in float32 (float64 for float64 inputs).
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (num_classes, feat_dim), got {tuple(weight.shape)}")
    _check_features(features, weight.shape[1])
    return _scaled_cosine(features, weight, None, 1.0, 0.0, eps)


def cosface_logits(cos: Tensor, labels: Tensor, s: float, m: float) -> Tensor:
    """The LMCL logits of Eq. 4 from a (B, C) cosine matrix: s (cos(theta_y) - m) for the true class y of each row
    and s cos(theta_j) for every other class j. With m = 0 these are the NSL logits of Eq. 3.

    Only the B target entries are modified (no one-hot matrix is built). The result is float32 (float64 for float64
    input), also under autocast.
    """
    if cos.dim() != 2:
        raise ValueError(f"cos must be a (B, C) matrix of cosines, got shape {tuple(cos.shape)}")
    if m < 0:
        raise ValueError(f"the cosine margin m must be >= 0 (Eq. 7: 0 <= m), got {m}")
    _check_labels(labels, cos.shape[0], cos.shape[1])
    dtype = _logit_dtype(cos)
    with torch.autocast(cos.device.type, enabled=False):
        logits = cos.to(dtype) * s  # a new tensor, so the in-place update below is safe for autograd
        if m != 0:
            _add_at_targets(logits, labels, torch.tensor(-s * m, dtype=dtype, device=cos.device))
    return logits


def _check_int_margin(m: int) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, float)) or int(m) != m or m < 1:
        raise ValueError(f"the A-Softmax margin m must be an integer >= 1 (m = 1 is plain softmax), got {m!r}")
    return int(m)


def sphereface_psi(theta: Tensor, m: int) -> Tensor:
    """A-Softmax's angle function psi(theta) = (-1)^k cos(m theta) - 2k on [k pi/m, (k+1) pi/m], k = 0..m-1.

    It is the margin-bearing replacement of cos(theta) for the true class in SphereFace: it equals cos(theta) for
    m = 1, is continuous, and decreases monotonically from 1 at theta = 0 to 1 - 2m at theta = pi. ``theta`` must lie
    in [0, pi] (as returned by ``arccos``).
    """
    m = _check_int_margin(m)
    tol = 1e-6
    lo, hi = (float(theta.detach().min()), float(theta.detach().max())) if theta.numel() else (0.0, 0.0)
    if lo < -tol or hi > math.pi + tol:
        raise ValueError(
            f"psi is defined for theta in [0, pi]; got values in [{lo:.6g}, {hi:.6g}]"
            " (pass the angle, e.g. torch.arccos(cos.clamp(-1, 1)))"
        )
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


def _psi_from_cos(c: Tensor, m: int) -> Tensor:
    """psi(theta) of :func:`sphereface_psi` evaluated from c = cos(theta)."""
    with torch.no_grad():
        theta = torch.arccos(c.clamp(-1.0, 1.0))
        k = torch.floor(theta * (m / math.pi)).clamp_(0, m - 1)
    sign = 1.0 - 2.0 * torch.remainder(k, 2)
    return sign * _chebyshev(c.clamp(-1.0, 1.0), m) - 2.0 * k


# --------------------------------------------------------------------------------------------------------------
# Heads
# --------------------------------------------------------------------------------------------------------------


class _Head(nn.Module):
    """Shared parts: the (num_classes, feat_dim) weight, input checks, the cosine matrix."""

    def __init__(self, feat_dim: int, num_classes: int) -> None:
        super().__init__()
        _check_sizes(feat_dim, num_classes)
        self.feat_dim = int(feat_dim)
        self.num_classes = int(num_classes)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.feat_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.feat_dim)
        nn.init.uniform_(self.weight, -bound, bound)

    def _check(self, features: Tensor, labels: Tensor | None) -> None:
        _check_features(features, self.feat_dim)
        if labels is not None:
            _check_labels(labels, features.shape[0], self.num_classes)

    def logits(self, features: Tensor) -> Tensor:
        """Inference logits (no margin, no labels): the same as ``forward(features, None)``."""
        return self(features, None)

    def cosine(self, features: Tensor) -> Tensor:
        """(B, C) cosines between the features and every class weight (for plots and evaluation)."""
        _check_features(features, self.feat_dim)
        return cosine(features, self.weight)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)}" for k in ("s", "m") if hasattr(self, k))
        return f"feat_dim={self.feat_dim}, num_classes={self.num_classes}{extra}"


class SoftmaxHead(_Head):
    """Plain softmax classifier without bias (Eq. 1-2): logit_j = W_j^T x = |W_j| |x| cos(theta_j).

    ``labels`` is accepted (and checked) for a uniform interface but does not change the logits.
    """

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        self._check(features, labels)
        dtype = _logit_dtype(features, self.weight)
        with torch.autocast(features.device.type, enabled=False):
            return F.linear(features.to(dtype), self.weight.to(dtype))


class NormFaceHead(_Head):
    """Normalised softmax, NSL (Eq. 3): logit_j = s cos(theta_j), with unit-length weights and features.

    Args:
        s: the fixed feature norm (scale). Checked against the Eq. 6 lower bound for ``p_w``.
        p_w: the class-centre posterior the Eq. 6 check asks for (default 0.9).
        strict: raise ``ValueError`` instead of warning when s is below the Eq. 6 bound.
    """

    m: float = 0.0

    def __init__(
        self, feat_dim: int, num_classes: int, s: float = 64.0, *, p_w: float = 0.9, strict: bool = False
    ) -> None:
        super().__init__(feat_dim, num_classes)
        _check_scale(s, num_classes, p_w, strict)
        self.s = float(s)
        self.p_w = float(p_w)

    def logits(self, features: Tensor) -> Tensor:
        """Inference logits without any margin: s cos(theta_j) for every class."""
        _check_features(features, self.feat_dim)
        return _scaled_cosine(features, self.weight, None, self.s, 0.0)

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        """Training logits (margin at the true class) when ``labels`` is given, s cos(theta_j) when it is None."""
        self._check(features, labels)
        if labels is None or self.m == 0.0:
            return _scaled_cosine(features, self.weight, None, self.s, 0.0)
        return _scaled_cosine(features, self.weight, labels, self.s, self.m)


class CosFaceHead(NormFaceHead):
    """Large Margin Cosine Loss, LMCL (Eq. 4-5): logit_y = s (cos(theta_y) - m), logit_j = s cos(theta_j) otherwise.

    Weights and features are normalised to unit length (Eq. 5) and the product is computed by a fused
    ``autograd.Function``: s is folded into the normalised features before the matmul, the margin is subtracted at
    the B target logits only, and the normalisation has a hand-derived backward.

    Args:
        s: scale (Eq. 6 lower bound checked for ``p_w``).
        m: cosine margin, >= 0; at or past the Eq. 7 bound for (num_classes, feat_dim) gives a
            :class:`MarginBoundWarning` (``ValueError`` with ``strict=True``). m = 0 is NSL (Eq. 3).
    """

    def __init__(
        self,
        feat_dim: int,
        num_classes: int,
        s: float = 64.0,
        m: float = 0.35,
        *,
        p_w: float = 0.9,
        strict: bool = False,
    ) -> None:
        super().__init__(feat_dim, num_classes, s, p_w=p_w, strict=strict)
        if not (isinstance(m, (int, float)) and math.isfinite(m)) or m < 0:
            raise ValueError(f"the cosine margin m must be a finite number >= 0 (Eq. 7: 0 <= m), got {m!r}")
        bound = m_upper_bound(num_classes, feat_dim)
        if m >= bound.value:
            msg = _margin_bound_message(m, num_classes, feat_dim, bound.value, bound.regime, "")
            _warn_or_raise_margin(msg, strict)
        self.m = float(m)


class UnnormalizedCosFaceHead(nn.Module):
    """LMCL *without* feature normalization (the "No" row of Table 1): class weights of unit length, raw features,
    so logit_j = |x| cos(theta_j) and logit_y = |x| (cos(theta_y) - m); no scale s (|x| plays its part).

    Section 3.3 explains why this trains worse: the loss can be lowered by shrinking |x| instead of the angle.
    ``margin_on = False`` switches the margin off (the paper starts this model from the softmax loss).
    """

    def __init__(self, feat_dim: int, num_classes: int, m: float = 0.35) -> None:
        super().__init__()
        _check_sizes(feat_dim, num_classes)
        if not (isinstance(m, (int, float)) and math.isfinite(m)) or m < 0:
            raise ValueError(f"the cosine margin m must be a finite number >= 0 (Eq. 7: 0 <= m), got {m!r}")
        bound = feat_dim ** -0.5
        self.weight = nn.Parameter(torch.empty(num_classes, feat_dim).uniform_(-bound, bound))
        self.m = float(m)
        self.margin_on = True

    def cosine(self, features: Tensor) -> Tensor:
        return cosine(features, self.weight)

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        cos = self.cosine(features)
        norm = torch.linalg.vector_norm(features.to(cos.dtype), dim=1, keepdim=True)
        if labels is None:
            return norm * cos
        return norm * cosface_logits(cos, labels, 1.0, self.m if self.margin_on else 0.0)


class ArcFaceHead(NormFaceHead):
    """Additive angular margin (ArcFace), for comparison: logit_y = s cos(theta_y + m), logit_j = s cos(theta_j).

    Past theta_y = pi - m the function cos(theta + m) would start to *increase* with theta, rewarding a worse
    angle. There (i.e. for cos(theta_y) < -cos(m)) this head uses instead the cosine-margin form
    s (cos(theta_y) - (1 - cos m)), whose offset is chosen so the logit is continuous at the switch (both sides give
    -s there) and keeps decreasing with theta. sin(theta_y) is taken as sqrt(max(1 - cos^2, 1e-12)), so the gradient
    stays finite at cos = +-1.

    The Eq. 7 check is applied in angle form: the largest angular margin between all class pairs is the smallest
    angle between class weights, arccos(1 - bound) with ``bound`` the cosine bound of Eq. 7.
    """

    def __init__(
        self,
        feat_dim: int,
        num_classes: int,
        s: float = 64.0,
        m: float = 0.5,
        *,
        p_w: float = 0.9,
        strict: bool = False,
    ) -> None:
        super().__init__(feat_dim, num_classes, s, p_w=p_w, strict=strict)
        if not (isinstance(m, (int, float)) and math.isfinite(m)) or m < 0 or m >= math.pi:
            raise ValueError(f"the angular margin m must be a number in [0, pi), in radians, got {m!r}")
        bound = m_upper_bound(num_classes, feat_dim)
        angle = math.acos(max(-1.0, 1.0 - bound.value))
        if m >= angle:
            msg = _margin_bound_message(m, num_classes, feat_dim, angle, bound.regime, " rad (angle form)")
            _warn_or_raise_margin(msg, strict)
        self.m = float(m)

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        self._check(features, labels)
        logits = _scaled_cosine(features, self.weight, None, self.s, 0.0)
        if labels is None or self.m == 0.0:
            return logits
        with torch.autocast(features.device.type, enabled=False):
            # cos(theta_y) recomputed from the B target weight rows only (a gather from ``logits`` would keep
            # ``logits`` alive for its backward and forbid the in-place update below).
            c = _target_cosine(features.to(logits.dtype), self.weight.to(logits.dtype), labels).clamp(-1.0, 1.0)
            cos_m, sin_m = math.cos(self.m), math.sin(self.m)  # read self.m each call: it may be changed
            sin = torch.sqrt((1.0 - c * c).clamp_min(1e-12))
            shifted = c * cos_m - sin * sin_m
            fallback = c - (1.0 - cos_m)
            target = torch.where(c > -cos_m, shifted, fallback)
            return _add_at_targets(logits, labels, self.s * (target - c))


class SphereFaceHead(_Head):
    """A-Softmax (SphereFace), for comparison. Weights are unit length, features are not:

        logit_j = |x| cos(theta_j) for j != y,   logit_y = |x| (lam cos(theta_y) + psi(theta_y)) / (1 + lam)

    with psi from :func:`sphereface_psi` (computed from cos(theta_y) by the Chebyshev polynomial T_m, so no arccos
    enters the gradient). lam anneals from ``base`` towards ``lambda_min``: lam = max(lambda_min,
    base (1 + gamma * it)^(-power)), where ``it`` (the ``iteration`` buffer, saved in the state dict) counts forward
    calls with labels in training mode; the current lam is used, then ``it`` advances. In eval mode ``it`` is frozen.
    """

    def __init__(
        self,
        feat_dim: int,
        num_classes: int,
        m: int = 4,
        base: float = 1000.0,
        gamma: float = 0.12,
        power: float = 1,
        lambda_min: float = 5.0,
    ) -> None:
        super().__init__(feat_dim, num_classes)
        self.m = _check_int_margin(m)
        if lambda_min < 0 or base < 0 or gamma < 0 or power < 0:
            raise ValueError(
                f"base, gamma, power and lambda_min must all be >= 0, got base={base}, gamma={gamma}, "
                f"power={power}, lambda_min={lambda_min}"
            )
        self.base, self.gamma, self.power, self.lambda_min = float(base), float(gamma), float(power), float(lambda_min)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @property
    def lamb(self) -> float:
        """The current annealing weight lam (see the class docstring)."""
        it = int(self.iteration)
        return max(self.lambda_min, self.base * (1.0 + self.gamma * it) ** (-self.power))

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        """Training logits with the A-Softmax target when ``labels`` is given, |x| cos(theta_j) when it is None."""
        self._check(features, labels)
        dtype = _logit_dtype(features, self.weight)
        with torch.autocast(features.device.type, enabled=False):
            x = features.to(dtype)
            w_hat = F.normalize(self.weight.to(dtype), dim=1, eps=EPS)
            logits = x @ w_hat.T  # |x| cos(theta_j)
            if labels is None:
                return logits
            lam = self.lamb
            if self.training:
                self.iteration += 1
            norm = torch.linalg.vector_norm(x, dim=1)
            raw_t = (x * w_hat[labels.long()]).sum(1)  # |x| cos(theta_y), from the B target rows only
            c = raw_t / norm.clamp_min(EPS)
            target = norm * (lam * c + _psi_from_cos(c, self.m)) / (1.0 + lam)
            return _add_at_targets(logits, labels, target - raw_t)


HEADS: dict[str, type[nn.Module]] = {
    "softmax": SoftmaxHead,
    "nsl": NormFaceHead,
    "sphereface": SphereFaceHead,
    "cosface": CosFaceHead,
    "arcface": ArcFaceHead,
}


def make_head(name: str, feat_dim: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build the head registered under ``name`` (one of :data:`HEADS`), passing ``kwargs`` to its constructor."""
    try:
        cls = HEADS[name]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; valid names are {', '.join(sorted(HEADS))}") from None
    return cls(feat_dim, num_classes, **kwargs)
