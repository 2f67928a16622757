"""The margin heads: softmax, NSL, A-Softmax, LMCL (CosFace, with or without feature normalisation) and ArcFace.

One design (notebook 01 derives it; notebooks 03, 05 and 07 train with it). A head owns a class-weight matrix
``weight`` of shape (C, K) and maps ``(features, labels)`` to (B, C) logits for ``F.cross_entropy``:

    logits = scale * [cos(theta_j), with each row's target entry c replaced by margin(c)]

- the cosines come from the fused normalised linear layer (:mod:`labkit.cosine_linear`);
- the margin is a small function of the target cosine (:mod:`labkit.margins`);
- ``scale`` is the fixed s when features are normalised (Eq. 5), or the feature norm |x| when they are not
  (A-Softmax, and LMCL without normalisation, Table 1);
- softmax (Eq. 1-2, no bias) is the unnormalised case: logit_j = W_j^T x.

The registry :data:`HEADS` names every variant, including ``"cosface-unnorm"`` for Table 1's LMCL without feature
normalisation, and :func:`make_head` builds any of them; a training loop never needs to know which one it holds.
Every head has ``margin_enabled``: the engine switches it off for a margin warm-up (the paper starts the
unnormalised model from the softmax loss). Logits are float32 (float64 for float64 inputs), also under autocast.

Hyper-parameters are checked against the paper's bounds when a head is built (:mod:`labkit.bounds`): a margin at or
past the largest margin C weights can have in K dimensions gives a :class:`MarginBoundWarning` and a scale below
Eq. 6 a :class:`ScaleBoundWarning`; ``strict=True`` makes both ``ValueError``. Plainly invalid values (negative m,
non-positive s, non-integer A-Softmax m) are always ``ValueError``.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labkit import margins
from labkit.bounds import m_upper_bound, s_lower_bound
from labkit.cosine_linear import EPS, cosine, logit_dtype, scaled_cosine
from labkit.margins import check_labels, cosface_logits, sphereface_psi

__all__ = [
    "EPS", "MarginBoundWarning", "ScaleBoundWarning", "cosine", "cosface_logits", "sphereface_psi", "MarginHead",
    "SoftmaxHead", "NormFaceHead", "SphereFaceHead", "CosFaceHead", "UnnormalizedCosFaceHead", "ArcFaceHead",
    "HEADS", "make_head", "make_head_quietly",
]


class MarginBoundWarning(UserWarning):
    """The margin m is at or past the largest margin C class weights can have in K dimensions (Eq. 7)."""


class ScaleBoundWarning(UserWarning):
    """The scale s is below the lower bound of Eq. 6 for this number of classes and target posterior p_w."""


# ---------------------------------------------------------------------------------------------------- checks


def _check_features(features: Tensor, feat_dim: int) -> None:
    if not isinstance(features, Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() != 2 or features.shape[1] != feat_dim:
        raise ValueError(f"features must have shape (B, {feat_dim}) (batch, feat_dim), got {tuple(features.shape)}; "
                         "flatten the embedding to one row per sample")
    if not features.is_floating_point():
        raise TypeError(f"features must be a floating-point tensor, got {features.dtype}; call .float() first")


def _check_sizes(feat_dim: int, num_classes: int) -> None:
    if int(feat_dim) != feat_dim or feat_dim < 2:
        raise ValueError(f"feat_dim K must be an integer >= 2, got {feat_dim}")
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes C must be an integer >= 2, got {num_classes}")


def _caller_stacklevel() -> int:
    """The stacklevel that makes a warning point at the first frame outside this module (the user's call)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        level += 1
        frame = frame.f_back
    return level


def _warn_or_raise(msg: str, category: type[Warning], strict: bool) -> None:
    if strict:
        raise ValueError(msg)
    warnings.warn(msg, category, stacklevel=_caller_stacklevel())


def _check_scale(s: float, num_classes: int, p_w: float, strict: bool) -> None:
    if isinstance(s, bool) or not (isinstance(s, (int, float)) and math.isfinite(s) and s > 0):
        raise ValueError(f"the scale s must be a finite number > 0, got {s!r}")
    bound = s_lower_bound(num_classes, p_w)
    if s < bound:
        _warn_or_raise(
            f"s={s} is below the Eq. 6 lower bound s >= {bound:.4f} for C={num_classes} classes and a target "
            f"class-centre posterior p_w={p_w}: the posterior cannot reach p_w and training will converge poorly. "
            f"Use s >= {bound:.4f} (or ask for a smaller p_w).", ScaleBoundWarning, strict)


def _check_margin(m: float, num_classes: int, feat_dim: int, strict: bool, angle: bool = False) -> None:
    """Warn when m is at or past the largest margin C weights can have in K dims (``angle``: ArcFace's radians).

    The reference is :func:`labkit.bounds.reachable_margin`: Eq. 7's closed form where it is exact (K = 2, C <= K+1),
    else the best arrangement the lab has computed (notebook 02, section 3.3), so that e.g. 8 classes in 3-D warn
    from m = 0.74 rather than Eq. 7's unreachable 8/7. ``strict`` raises only past the rigorous ceiling, because a
    searched arrangement is not a proof that no better one exists.
    """
    from labkit.bounds import reachable_margin

    r = reachable_margin(num_classes, feat_dim, search=False)
    value, upper, unit = r.value, r.upper, ""
    if angle:  # the angular margin between the two nearest weights: arccos(1 - cosine margin)
        value, upper, unit = math.acos(max(-1.0, 1.0 - value)), math.acos(max(-1.0, 1.0 - upper)), " rad (angle form)"
    if m >= value:
        msg = (f"m={m} is at or past the largest margin {value:.4f}{unit} that C={num_classes} class weights can have "
               f"in K={feat_dim} dimensions ({r.method}; Eq. 7's bound is {m_upper_bound(num_classes, feat_dim).value:.4f}): "
               "no arrangement of the weights leaves that much margin between every pair of classes, so training will "
               f"degrade (the margin cannot be met and the loss stays high). Use m < {value:.4f}.")
        _warn_or_raise(msg, MarginBoundWarning, strict and m >= upper)


def _check_nonnegative_margin(m: float) -> float:
    if isinstance(m, bool) or not (isinstance(m, (int, float)) and math.isfinite(m)) or m < 0:
        raise ValueError(f"the cosine margin m must be a finite number >= 0 (Eq. 7: 0 <= m), got {m!r}")
    return float(m)


# ---------------------------------------------------------------------------------------------------- the head


class MarginHead(nn.Module):
    """The one head design: ``scale * margin-adjusted cosines`` (see the module docstring).

    Subclasses set, in their constructor: ``s`` (None: the scale is the feature norm |x|), ``m`` and
    :meth:`target` (the margin applied to the target cosine). ``normalize_weight=False`` is plain softmax.
    """

    s: float | None = None
    m: float = 0.0
    normalize_weight: bool = True
    #: the engine switches the margin off during a margin warm-up; inference never uses it
    margin_enabled: bool = True

    def __init__(self, feat_dim: int, num_classes: int) -> None:
        super().__init__()
        _check_sizes(feat_dim, num_classes)
        self.feat_dim, self.num_classes = int(feat_dim), int(num_classes)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.feat_dim))
        bound = 1.0 / math.sqrt(self.feat_dim)
        nn.init.uniform_(self.weight, -bound, bound)

    @property
    def normalize_features(self) -> bool:
        """True when features are scaled to unit length and then to s (Eq. 5); False when |x| is the scale."""
        return self.s is not None

    def target(self, c: Tensor) -> Tensor:
        """The margin: the replacement of the target cosine c (identity: no margin)."""
        return c

    def _has_margin(self) -> bool:
        return self.m != 0.0

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        """Training logits (with the margin at each row's label) or, with ``labels=None``, inference logits."""
        _check_features(features, self.feat_dim)
        if labels is not None:
            check_labels(labels, features.shape[0], self.num_classes)
        use_margin = labels is not None and self.margin_enabled and self._has_margin()
        dtype = logit_dtype(features, self.weight)
        if not self.normalize_weight:  # softmax, Eq. 1-2
            with torch.autocast(features.device.type, enabled=False):
                return F.linear(features.to(dtype), self.weight.to(dtype))
        if self.normalize_features and type(self).target is CosFaceHead.target:
            # LMCL's cosine margin is fused into the normalised linear layer (B entries shifted in place)
            return scaled_cosine(features, self.weight, labels if use_margin else None, self.s, self.m)
        scale = self.s if self.normalize_features else None
        logits = scaled_cosine(features, self.weight, None, scale or 1.0, 0.0)
        if scale is None:
            norm = torch.linalg.vector_norm(features.to(dtype), dim=1, keepdim=True)
            logits = logits * norm  # |x| cos(theta_j)
        if not use_margin:
            return logits
        with torch.autocast(features.device.type, enabled=False):
            # the target cosines from the B target weight rows only (gathering from ``logits`` would keep it alive
            # for its backward and forbid the in-place update below)
            x = features.to(dtype)
            w_t = self.weight.to(dtype)[labels.long()]
            c = (F.normalize(x, dim=1, eps=EPS) * F.normalize(w_t, dim=1, eps=EPS)).sum(1)
            factor = self.s if scale is not None else torch.linalg.vector_norm(x, dim=1)
            delta = factor * (self.target(c) - c)
            rows = torch.arange(x.shape[0], device=x.device)
            return logits.index_put_((rows, labels.long()), delta, accumulate=True)

    def logits(self, features: Tensor) -> Tensor:
        """Inference logits, no margin: the same as ``forward(features, None)``."""
        return self(features, None)

    def cosine(self, features: Tensor) -> Tensor:
        """(B, C) cosines between the features and every class weight (plots, evaluation)."""
        _check_features(features, self.feat_dim)
        return cosine(features, self.weight)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)}" for k in ("s", "m") if getattr(self, k, None) is not None)
        return f"feat_dim={self.feat_dim}, num_classes={self.num_classes}{extra}"


class SoftmaxHead(MarginHead):
    """Softmax without bias (Eq. 1-2): logit_j = W_j^T x = |W_j| |x| cos(theta_j); ``labels`` change nothing."""

    normalize_weight = False


class NormFaceHead(MarginHead):
    """NSL (Eq. 3): logit_j = s cos(theta_j) with unit-length weights and features, no margin.

    ``s`` is checked against the Eq. 6 lower bound for ``p_w``; ``strict`` turns the warning into an error.
    """

    def __init__(self, feat_dim: int, num_classes: int, s: float = 64.0, *, p_w: float = 0.9,
                 strict: bool = False) -> None:
        super().__init__(feat_dim, num_classes)
        _check_scale(s, num_classes, p_w, strict)
        self.s, self.p_w = float(s), float(p_w)


class CosFaceHead(NormFaceHead):
    """LMCL (Eq. 4-5): logit_y = s (cos(theta_y) - m), logit_j = s cos(theta_j) otherwise; m = 0 is NSL.

    The cosine margin is fused into the normalised linear layer (:mod:`labkit.cosine_linear`): s folded into the
    normalised features before the matmul, the margin subtracted at the B targets, a hand-derived backward.
    """

    def __init__(self, feat_dim: int, num_classes: int, s: float = 64.0, m: float = 0.35, *, p_w: float = 0.9,
                 strict: bool = False) -> None:
        super().__init__(feat_dim, num_classes, s, p_w=p_w, strict=strict)
        self.m = _check_nonnegative_margin(m)
        _check_margin(self.m, num_classes, feat_dim, strict)

    def target(self, c: Tensor) -> Tensor:
        return margins.cosine_margin(c, self.m)


class UnnormalizedCosFaceHead(MarginHead):
    """LMCL *without* feature normalisation (Table 1, "No"): unit-length weights, raw features, so
    logit_j = |x| cos(theta_j) and logit_y = |x| (cos(theta_y) - m); no s (|x| plays its part).

    Sec. 3.3 explains why it trains worse: the loss can also fall by shrinking |x| rather than the angle.
    """

    def __init__(self, feat_dim: int, num_classes: int, m: float = 0.35, *, strict: bool = False) -> None:
        super().__init__(feat_dim, num_classes)
        self.m = _check_nonnegative_margin(m)
        _check_margin(self.m, num_classes, feat_dim, strict)

    def target(self, c: Tensor) -> Tensor:
        return margins.cosine_margin(c, self.m)


class ArcFaceHead(NormFaceHead):
    """Additive angular margin (ArcFace), for comparison: logit_y = s cos(theta_y + m) (see
    :func:`labkit.margins.angular_margin`). The Eq. 7 check is applied to the angle arccos(1 - bound)."""

    def __init__(self, feat_dim: int, num_classes: int, s: float = 64.0, m: float = 0.5, *, p_w: float = 0.9,
                 strict: bool = False) -> None:
        super().__init__(feat_dim, num_classes, s, p_w=p_w, strict=strict)
        if isinstance(m, bool) or not (isinstance(m, (int, float)) and math.isfinite(m)) or not 0 <= m < math.pi:
            raise ValueError(f"the angular margin m must be a number in [0, pi), in radians, got {m!r}")
        self.m = float(m)
        _check_margin(self.m, num_classes, feat_dim, strict, angle=True)

    def target(self, c: Tensor) -> Tensor:
        return margins.angular_margin(c, self.m)


class SphereFaceHead(MarginHead):
    """A-Softmax (SphereFace), for comparison: unit-length weights, raw features,

        logit_j = |x| cos(theta_j),   logit_y = |x| (lam cos(theta_y) + psi(theta_y)) / (1 + lam)

    lam anneals as max(lambda_min, base (1 + gamma it)^(-power)), ``it`` (the ``iteration`` buffer, saved in the state
    dict) counting forward calls with labels in training mode: the current lam is used, then ``it`` advances.
    """

    def __init__(self, feat_dim: int, num_classes: int, m: int = 4, base: float = 1000.0, gamma: float = 0.12,
                 power: float = 1, lambda_min: float = 5.0) -> None:
        super().__init__(feat_dim, num_classes)
        self.m = margins.check_integer_margin(m)
        if min(lambda_min, base, gamma, power) < 0:
            raise ValueError(f"base, gamma, power and lambda_min must all be >= 0, got base={base}, gamma={gamma}, "
                             f"power={power}, lambda_min={lambda_min}")
        self.base, self.gamma, self.power, self.lambda_min = float(base), float(gamma), float(power), float(lambda_min)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        self._lam_now = self.lamb

    @property
    def lamb(self) -> float:
        """The current annealing weight lam (see the class docstring)."""
        return max(self.lambda_min, self.base * (1.0 + self.gamma * int(self.iteration)) ** (-self.power))

    def _has_margin(self) -> bool:
        return True  # m = 1 still blends lam c + cos(theta): the identity, harmless

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        self._lam_now = self.lamb
        if labels is not None and self.training and self.margin_enabled:
            self.iteration += 1
        return super().forward(features, labels)

    def target(self, c: Tensor) -> Tensor:
        return margins.multiplicative_margin(c, self.m, self._lam_now)


#: name -> head class; every entry is built by :func:`make_head` with (feat_dim, num_classes, **kwargs)
HEADS: dict[str, type[MarginHead]] = {
    "softmax": SoftmaxHead,
    "nsl": NormFaceHead,
    "sphereface": SphereFaceHead,
    "cosface": CosFaceHead,
    "cosface-unnorm": UnnormalizedCosFaceHead,
    "arcface": ArcFaceHead,
}

#: which hyper-parameters each head takes (s: scale, m: margin); used to build heads from flat configs
HEAD_PARAMS: dict[str, tuple[str, ...]] = {
    "softmax": (), "nsl": ("s",), "sphereface": ("m",), "cosface": ("s", "m"), "cosface-unnorm": ("m",),
    "arcface": ("s", "m"),
}


def make_head(name: str, feat_dim: int, num_classes: int, **kwargs: Any) -> MarginHead:
    """Build the head registered under ``name`` (one of :data:`HEADS`) with ``kwargs`` for its constructor."""
    try:
        cls = HEADS[name]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; valid names are {', '.join(HEADS)}") from None
    return cls(feat_dim, num_classes, **kwargs)


def head_kwargs(name: str, s: float | None = None, m: float | None = None) -> dict[str, Any]:
    """The subset of (s, m) that head ``name`` takes, from a flat config (A-Softmax's m as an integer)."""
    if name not in HEAD_PARAMS:
        raise ValueError(f"unknown head {name!r}; valid names are {', '.join(HEADS)}")
    out: dict[str, Any] = {}
    if "s" in HEAD_PARAMS[name] and s is not None:
        out["s"] = s
    if "m" in HEAD_PARAMS[name] and m is not None:
        out["m"] = margins.check_integer_margin(m) if name == "sphereface" else m
    return out


def make_head_quietly(name: str, feat_dim: int, num_classes: int, **kwargs: Any) -> tuple[MarginHead, list[str]]:
    """:func:`make_head`, with the bound warnings (Eq. 6/7) returned as messages instead of printed: a sweep past
    the bound is deliberate, and its records keep the messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head = make_head(name, feat_dim, num_classes, **kwargs)
    return head, [f"{w.category.__name__}: {w.message}" for w in caught]
