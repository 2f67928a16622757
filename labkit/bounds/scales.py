"""Choosing s: Eq. 6 with the margin kept, and the exact smallest scale for a given arrangement of the class weights
(notebook 02, section 3.1-3.2)."""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from labkit.bounds.paper import *  # noqa: F401,F403
from labkit.bounds.spread import *  # noqa: F401,F403
from labkit.bounds.proofs import *  # noqa: F401,F403
from labkit.bounds.paper import _check_classes  # noqa: F401
from labkit.bounds.proofs import _check_margin, _check_p, _check_scale, _unit_rows  # noqa: F401


# ----------------------------------------------------------------------------------------------------------------
# Choosing s and m: Eq. 6 with the margin kept, the exact smallest scale for a given weight arrangement, the largest
# margin C weights can have in K dimensions, and a recommendation for (s, m) that says how it was reached.
# ----------------------------------------------------------------------------------------------------------------


def s_lower_bound_with_margin(num_classes: int, p_w: float, m: float) -> float:
    """Eq. 6 with the LMCL margin of Eq. 4 kept: below this scale no arrangement of C unit class weights lets a
    feature lying on its own class weight reach posterior ``p_w`` when its target logit is s (1 - m).

    Derivation (the supplementary chain, Eqs. 8-15, redone with the margin). For x = W_i the target logit is s (1 - m)
    and the other logits are s W_i.W_j, so a centre posterior of at least P_W for class i reads

        sum_{j != i} exp(-s (1 - m - W_i.W_j)) <= (1 - P_W) / P_W.

    Averaging over the C classes turns the left side into (C - 1) e^{-s (1 - m)} times the mean, over the C (C - 1)
    ordered pairs, of e^{s W_i.W_j}. Since t -> e^{s t} is convex that mean is at least e^{s c}, c the mean pair cosine
    (Jensen, Eq. 12), and c >= -1/(C - 1) because |sum_i W_i|^2 >= 0 (Eq. 13). Every arrangement reaching the target
    therefore has

        (C - 1) exp(-s (C/(C-1) - m)) <= (1 - P_W) / P_W,   i.e.   s >= ln((C - 1) P_W / (1 - P_W)) / (C/(C-1) - m)

    as long as m < C/(C-1). Two checks: at m = 0 the right side is (C-1)/C ln(...), which is Eq. 6; and the
    denominator vanishes at m = C/(C-1), the Eq. 7 value: the scale needed grows without limit as m approaches the
    margin bound and no scale helps past it. Eq. 6 and Eq. 7 are two ends of this one inequality. Equality holds for
    the regular simplex (all pair cosines -1/(C-1), weights summing to zero), which needs K >= C - 1.

    For m >= C/(C-1): +inf when p_w > 1/C (no scale reaches it), 0.0 when p_w <= 1/C (met at s = 0, where every
    posterior is 1/C). Below the bound, like Eq. 6, the value is <= 0 when p_w <= 1/C (every s > 0 works).

    >>> round(s_lower_bound_with_margin(8, 0.9, 0.0), 2), round(s_lower_bound_with_margin(8, 0.9, 0.35), 2)
    (3.63, 5.23)
    """
    _check_classes(num_classes)
    p_w = _check_p(p_w)
    m = _check_margin(m)
    c = num_classes
    log_odds = math.log((c - 1) * p_w / (1.0 - p_w))
    room = c / (c - 1) - m
    if room <= 0:
        return math.inf if log_odds > 0 else 0.0
    return log_odds / room


def posterior_at_centre_with_margin(num_classes: int, s: float, m: float) -> float:
    """The inverse of :func:`s_lower_bound_with_margin`: the largest worst-class centre posterior any arrangement of C
    unit weights can have at scale ``s`` and margin ``m``, 1 / (1 + (C - 1) e^{-s (C/(C-1) - m)}) (reached by the
    regular simplex). m = 0 gives :func:`posterior_at_centre`."""
    _check_classes(num_classes)
    s, m = _check_scale(s), _check_margin(m)
    c = num_classes
    exponent = -s * (c / (c - 1) - m)
    q = (c - 1) * math.exp(min(exponent, 700.0))
    return 1.0 / (1.0 + q)


def _min_scale_for_gap_rows(gaps: np.ndarray, p_w: float) -> float:
    """Smallest s >= 0 with sum_j exp(-s gaps[i, j]) <= (1 - p_w) / p_w for every row i, all gaps > 0.

    Row i holds, for a feature on W_i, the C - 1 differences a_ij = (1 - m) - W_i.W_j between its target cosine
    (margin taken off) and each other cosine. Each row's sum decreases in s, so F(s) = max_i log sum_j e^{-s a_ij}
    - log r (r = (1 - p_w)/p_w) decreases and the answer is its root, found by bisection on a bracket that needs no
    guessing: with n = C - 1 and T = ln(n / r), every row sum is >= n e^{-s max a} (so F >= 0 at s = T / max a) and
    <= n e^{-s min a} (so F <= 0 at s = T / min a).
    """
    gaps = np.atleast_2d(np.asarray(gaps, dtype=np.float64))
    n = gaps.shape[1]
    log_r = math.log((1.0 - p_w) / p_w)
    target = math.log(n) - log_r
    if target <= 0:  # p_w <= 1/C: the posterior starts at 1/C at s = 0 and only grows
        return 0.0
    lo, hi = target / float(gaps.max()), target / float(gaps.min())

    def excess(s: float) -> float:
        z = -s * gaps
        zmax = z.max(axis=1)
        return float((zmax + np.log(np.exp(z - zmax[:, None]).sum(axis=1))).max()) - log_r

    for _ in range(200):
        if hi - lo <= 1e-13 * hi:
            break
        mid = 0.5 * (lo + hi)
        if excess(mid) > 0:
            lo = mid
        else:
            hi = mid
    return hi


def _min_scale_from_cosines(others: np.ndarray, p_w: float, m: float, what: str) -> float:
    """Shared by the exact scale finders: ``others`` is (rows, C - 1), the cosines W_i.W_j (j != i) of each row."""
    p_w, m = _check_p(p_w), _check_margin(m)
    others = np.atleast_2d(np.asarray(others, dtype=np.float64))
    c = others.shape[1] + 1
    gaps = (1.0 - m) - others
    if gaps.min() <= 0:
        # Some class has a neighbour whose cosine is >= 1 - m: its term e^{-s a} >= 1 for every s, so its centre
        # posterior never exceeds 1/2. Below that level the posterior need not grow with s; we do not chase it.
        if p_w <= 1.0 / c:
            return 0.0
        if p_w >= 0.5:
            return math.inf
        raise ValueError(
            f"m = {m} is at or past the margin of {what} ({1.0 - float(others.max()):.4f}): the centre posterior no "
            f"longer grows with s, and a target p_w = {p_w} between 1/C and 1/2 has no single smallest scale"
        )
    return _min_scale_for_gap_rows(gaps, p_w)


def min_scale_for_gram(gram: np.ndarray, p_w: float, m: float) -> float:
    """The exact smallest scale s at which every class centre of a FIXED arrangement (given by its Gram matrix of
    unit weights, G_ij = W_i.W_j) reaches posterior ``p_w`` under LMCL with margin ``m``:

        min_i e^{s(1-m)} / (e^{s(1-m)} + sum_{j != i} e^{s G_ij}) >= p_w.

    While m < 1 - max_{i != j} G_ij (the arrangement's own margin, Eq. 7) every centre posterior rises from 1/C at
    s = 0 towards 1, so the smallest s is the root of a monotone function (bisection, no closed form needed). It is
    never below :func:`s_lower_bound_with_margin` (equal for the simplex). Returns 0.0 if p_w <= 1/C, +inf if m is at
    or past the arrangement's margin and p_w >= 1/2 (that centre posterior stays <= 1/2 for every s).
    """
    g = np.asarray(gram, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] < 2:
        raise ValueError(f"gram must be a square (C, C) matrix with C >= 2, got shape {g.shape}")
    c = g.shape[0]
    others = g[~np.eye(c, dtype=bool)].reshape(c, c - 1)
    return _min_scale_from_cosines(others, p_w, m, "this arrangement")


def min_scale_for_weights(weights: np.ndarray, p_w: float, m: float) -> float:
    """:func:`min_scale_for_gram` for the class weights given as the rows of a (C, K) array (normalised here)."""
    w = _unit_rows(weights)
    return min_scale_for_gram(w @ w.T, p_w, m)


def circle_cosines(num_classes: int) -> np.ndarray:
    """cos(2 pi j / C), j = 1..C-1: the cosines between one class weight and the others when C weights are evenly
    spaced on the circle (K = 2); every class sees the same list."""
    _check_classes(num_classes)
    j = np.arange(1, num_classes)
    return np.cos(2.0 * math.pi * j / num_classes)


def min_scale_on_circle(num_classes: int, p_w: float, m: float) -> float:
    """Exact smallest s for C classes evenly spaced on the circle (K = 2, the toy of Fig. 4), feature on its weight:

        e^{s(1-m)} / (e^{s(1-m)} + sum_{j=1}^{C-1} e^{s cos(2 pi j / C)}) >= p_w,

    solved by bisection (the left side increases with s while m < 1 - cos(2 pi / C), Eq. 7 for K = 2, and s grows
    without limit as m approaches that bound). For 8 classes and p_w = 0.9 this gives s = 9.87 at m = 0, 14.98 at
    m = 0.1 and 31.1 at m = 0.2: in 2-D the nearest neighbours sit at cosine 0.71, so Eq. 6 (3.63, a bound that only
    the simplex attains) is far too optimistic.

    >>> [round(min_scale_on_circle(8, 0.9, m), 2) for m in (0.0, 0.1, 0.2)]
    [9.87, 14.98, 31.11]
    """
    return _min_scale_from_cosines(circle_cosines(num_classes)[None, :], p_w, m, "the evenly spaced circle")


def circle_weights(num_classes: int) -> np.ndarray:
    """C unit vectors evenly spaced on the circle, W_j = (cos 2 pi j / C, sin 2 pi j / C): Eq. 7's K = 2 optimum."""
    _check_classes(num_classes)
    t = 2.0 * math.pi * np.arange(num_classes) / num_classes
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def orthoplex_weights(num_classes: int, feat_dim: int) -> np.ndarray:
    """C <= 2K of the 2K vectors +-e_1, ..., +-e_K, taken in antipodal pairs (e_1, -e_1, e_2, -e_2, ...): every pair
    cosine is 0 or -1, so the margin is 1, the most any C >= K + 2 vectors can have (Rankin's theorem)."""
    _check_classes(num_classes)
    if num_classes > 2 * feat_dim:
        raise ValueError(f"an orthoplex in K = {feat_dim} dims has {2 * feat_dim} vertices, asked for {num_classes}")
    w = np.zeros((num_classes, feat_dim))
    for i in range(num_classes):
        w[i, i // 2] = 1.0 if i % 2 == 0 else -1.0
    return w


def root_system_d_weights(num_classes: int, feat_dim: int) -> np.ndarray:
    """C <= 2K(K-1) of the normalised D_K root vectors (+-e_a +- e_b)/sqrt 2, a < b. Any two of them have cosine 0,
    +-1/2 or -1, so their margin is at least 1/2: a cheap explicit arrangement for C far beyond 2K (it is the
    cuboctahedron for K = 3 and the 24-cell for K = 4)."""
    _check_classes(num_classes)
    k = int(feat_dim)
    if num_classes > 2 * k * (k - 1):
        raise ValueError(f"D_{k} has {2 * k * (k - 1)} roots, asked for {num_classes}")
    rows = []
    for a in range(k):
        for b in range(a + 1, k):
            for sa, sb in ((1, 1), (-1, -1), (1, -1), (-1, 1)):  # antipodal pairs first
                v = np.zeros(k)
                v[a], v[b] = sa, sb
                rows.append(v / math.sqrt(2.0))
                if len(rows) == num_classes:
                    return np.array(rows)
    return np.array(rows)


def padded_simplex(num_classes: int, feat_dim: int) -> np.ndarray:
    """The regular simplex (:func:`regular_simplex`, C vertices in C - 1 dims) written in K >= C - 1 dims."""
    if feat_dim < num_classes - 1:
        raise ValueError(f"the regular simplex of C = {num_classes} needs K >= {num_classes - 1}, got K = {feat_dim}")
    w = regular_simplex(num_classes)
    return np.pad(w, ((0, 0), (0, feat_dim - w.shape[1])))
