"""Eq. 6 (the lower bound on s) and Eq. 7 (the upper bounds on m) in closed form, and the regular simplex
(notebook 02, sections 1-2)."""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np



def s_lower_bound(num_classes: int, p_w: float) -> float:
    """Eq. 6: the smallest scale s for which the class-centre posterior can reach ``p_w`` with C classes.

    >>> round(s_lower_bound(8, 0.9), 2)
    3.63
    """
    _check_classes(num_classes)
    if not 0.0 < p_w < 1.0:
        raise ValueError(f"p_w is a probability strictly between 0 and 1, got {p_w}")
    c = num_classes
    # For p_w <= 1/C the log is <= 0: any positive scale achieves it; the formula still holds as written.
    return (c - 1) / c * math.log((c - 1) * p_w / (1.0 - p_w))


def posterior_at_centre(num_classes: int, s: float) -> float:
    """The inverse of Eq. 6: the class-centre posterior P_W reached at scale ``s`` when the other class weights
    are spread as evenly as possible (the equality case of the proof).

    Solves s = (C-1)/C * log((C-1) P / (1-P)) for P.
    """
    _check_classes(num_classes)
    c = num_classes
    z = math.exp(s * c / (c - 1)) / (c - 1)
    return z / (1.0 + z)


def centre_error_at_scale(num_classes: int, s: float) -> float:
    """1 - posterior_at_centre(C, s), computed without cancellation so that it stays meaningful at s = 64:

        1 - P = (C-1) e^{-sC/(C-1)} / (1 + (C-1) e^{-sC/(C-1)}).
    """
    _check_classes(num_classes)
    c = num_classes
    q = (c - 1) * math.exp(-s * c / (c - 1))
    return q / (1.0 + q)


@dataclass(frozen=True)
class MarginBound:
    """The upper bound on m from Eq. 7 for C classes in K dimensions.

    ``value`` is the bound; ``attainable`` says whether some weight configuration reaches it (equality case);
    for C > K + 1 (K > 2) it is not, and ``value`` is only a strict upper limit.
    """

    value: float
    regime: str
    attainable: bool
    num_classes: int
    feat_dim: int

    def __str__(self) -> str:
        rel = "<=" if self.attainable else "<"
        return f"m {rel} {self.value:.4f}  (Eq. 7, {self.regime}, C={self.num_classes}, K={self.feat_dim})"


def m_upper_bound(num_classes: int, feat_dim: int) -> MarginBound:
    """Eq. 7: the largest usable cosine margin m for ``num_classes`` (C) classes and ``feat_dim`` (K) dimensions.

    >>> round(m_upper_bound(8, 2).value, 4)
    0.2929
    """
    _check_classes(num_classes)
    if feat_dim < 2:
        raise ValueError(f"feat_dim K must be at least 2, got {feat_dim}")
    c, k = num_classes, feat_dim
    if k == 2:
        # C weights evenly spaced on the unit circle: neighbours are 2*pi/C apart (C = 2 gives the antipodes).
        return MarginBound(1.0 - math.cos(2.0 * math.pi / c), "K = 2", True, c, k)
    if c <= k + 1:
        return MarginBound(c / (c - 1), "C <= K + 1", True, c, k)
    return MarginBound(c / (c - 1), "C > K + 1", False, c, k)


def max_pairwise_cosine(weights: np.ndarray) -> float:
    """max_{i != j} of w_i^T w_j / (|w_i| |w_j|) for the rows of ``weights`` (shape C x K)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    g = w @ w.T
    np.fill_diagonal(g, -np.inf)
    return float(g.max())


def margin_of_weights(weights: np.ndarray) -> float:
    """The largest cosine margin a given weight configuration allows: 1 - max_{i != j} cos(W_i, W_j)."""
    return 1.0 - max_pairwise_cosine(weights)


def regular_simplex(num_classes: int) -> np.ndarray:
    """C unit vectors in C - 1 dimensions whose pairwise cosines all equal -1/(C-1) (the equality case of Eq. 7).

    Built by centring the C standard basis vectors of R^C (they then sum to zero), expressing them in an
    orthonormal basis of the (C-1)-dimensional subspace they span, and normalising.
    """
    _check_classes(num_classes)
    c = num_classes
    centred = np.eye(c) - 1.0 / c
    # The right singular vectors with non-zero singular value span the plane sum(x) = 0.
    _, _, vt = np.linalg.svd(centred)
    pts = centred @ vt[: c - 1].T
    return pts / np.linalg.norm(pts, axis=1, keepdims=True)


def _check_classes(num_classes: int) -> None:
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes C must be an integer >= 2, got {num_classes}")
