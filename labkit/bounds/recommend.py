"""Recommending (s, m) for given C, K and P_W, with the reasoning (notebook 02, section 3.4)."""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from labkit.bounds.paper import *  # noqa: F401,F403
from labkit.bounds.spread import *  # noqa: F401,F403
from labkit.bounds.proofs import *  # noqa: F401,F403
from labkit.bounds.scales import *  # noqa: F401,F403
from labkit.bounds.reachable import *  # noqa: F401,F403
from labkit.bounds.paper import _check_classes  # noqa: F401
from labkit.bounds.proofs import _check_p  # noqa: F401
from labkit.bounds.scales import _min_scale_from_cosines  # noqa: F401
from labkit.bounds.reachable import _spread_cached  # noqa: F401


# ---------------------------------------------------------------- recommending (s, m)


def margin_for_gap_share(max_cosine: float, gap_share: float = 1.0 / 3.0) -> float:
    """The cosine margin whose LMCL boundaries leave a no-class arc of ``gap_share`` times the angle phi between the
    two nearest class weights (phi = arccos ``max_cosine``).

    On the great circle through W1 and W2 (at +-phi/2 from their bisector) class 1's boundary is where
    cos(a - phi/2) - cos(a + phi/2) = 2 sin(a) sin(phi/2) equals m (Sec. 3.4, Fig. 3). Putting the two boundaries at
    +-gap_share * phi / 2 gives m = 2 sin(gap_share * phi / 2) sin(phi / 2). gap_share = 1 is the arrangement's full
    margin 1 - cos(phi) (each class shrinks to its weight, the end of Eq. 7); gap_share = 0 is NSL. With 1/3 the arc
    between neighbours is cut into three equal parts: class 1's room, the gap, class 2's room.
    """
    if not -1.0 <= max_cosine < 1.0:
        raise ValueError(f"max_cosine must lie in [-1, 1) (two distinct unit vectors), got {max_cosine}")
    if not 0.0 <= gap_share <= 1.0:
        raise ValueError(f"gap_share is a fraction of the arc between neighbours, in [0, 1], got {gap_share}")
    phi = math.acos(max_cosine)
    return 2.0 * math.sin(gap_share * phi / 2.0) * math.sin(phi / 2.0)


@dataclass(frozen=True)
class Recommendation:
    """A choice of (s, m) for C classes in K dims and a target class-centre posterior P_W, with its reasoning.

    ``m`` comes from :func:`margin_for_gap_share` on the arrangement's nearest pair; ``s = safety * s_arrangement``,
    where ``s_arrangement`` is the smallest scale at which every class centre of the arrangement reaches P_W at that m
    (exact root when ``s_exact``; otherwise a scale that suffices for every arrangement with that margin).
    ``s_any_arrangement`` (Eq. 6 with the margin) and ``s_eq6`` (Eq. 6) are the necessary scales for comparison.
    ``explanation`` tells the same in sentences; ``weights`` is the arrangement used (None when none was built).
    """

    num_classes: int
    feat_dim: int
    p_w: float
    m: float
    s: float
    arrangement: str
    reachable: ReachableMargin
    arrangement_margin: float
    gap_share: float
    safety: float
    s_arrangement: float
    s_exact: bool
    s_any_arrangement: float
    s_eq6: float
    eq7_value: float
    explanation: str = ""
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def m_fraction_of_reachable(self) -> float:
        """m divided by the margin of the arrangement used."""
        return self.m / self.arrangement_margin

    @property
    def m_fraction_of_eq7(self) -> float:
        """m divided by Eq. 7's value (C/(C-1), or 1 - cos(2 pi / C) for K = 2)."""
        return self.m / self.eq7_value

    def __str__(self) -> str:
        return self.explanation


def _orthoplex_rows(c: int) -> np.ndarray:
    """The distinct rows of pair cosines of :func:`orthoplex_weights`: a class with its antipode (C - 2 zeros and one
    -1) and, for odd C, the unpaired last class (C - 1 zeros)."""
    rows = []
    if c >= 2:
        rows.append(np.r_[np.zeros(c - 2), -1.0])
    if c % 2 == 1:
        rows.append(np.zeros(c - 1))
    return np.array(rows)


def recommend_scale_and_margin(
    num_classes: int,
    feat_dim: int,
    p_w: float = 0.9,
    gap_share: float = 1.0 / 3.0,
    safety: float = 1.0,
    search: bool = True,
) -> Recommendation:
    """Recommend LMCL's (s, m) for C classes, K-dimensional features and a target class-centre posterior ``p_w``.

    1. Arrangement of the class weights with the largest margin we can compute (:func:`reachable_margin`): the
       circle (K = 2), the regular simplex (C <= K + 1), antipodal axes (K + 2 <= C <= 2K), the best
       :func:`spread_on_sphere` result or the D_K roots (C > 2K, small enough), else none (the ceiling is used).
    2. m from :func:`margin_for_gap_share` on its nearest pair: with the default gap_share = 1/3 the arc between
       neighbouring weights is split into equal thirds (room, gap, room). In cosine this is 1/3 of the arrangement's
       margin for close neighbours, rising to 0.37 of it for orthogonal neighbours (m = 0.366, next to the paper's
       0.35 for CASIA-WebFace) and to 1/2 for antipodes; for the 8-class circle it gives m = 0.0999, the paper's
       middle toy setting.
    3. s: the exact smallest scale at which a feature on its class weight reaches ``p_w`` with that arrangement and m
       (:func:`min_scale_on_circle`, :func:`min_scale_for_weights`, Eq. 6 with the margin for the simplex). With no
       arrangement built, the scale that suffices when all C - 1 other classes sit at the largest cosine. Multiplied by
       ``safety`` (default 1: none; the criterion only looks at features on their class centre, real features spread
       around it and need more).
    """
    _check_classes(num_classes)
    p_w = _check_p(p_w)
    if not (isinstance(safety, (int, float)) and math.isfinite(safety) and safety >= 1.0):
        raise ValueError(f"safety multiplies the exact scale and must be a finite number >= 1, got {safety!r}")
    c, k = int(num_classes), int(feat_dim)
    reach = reachable_margin(c, k, search)
    eq7 = m_upper_bound(c, k).value
    weights: np.ndarray | None = None
    s_exact = True
    if k == 2:
        arrangement = f"{c} weights evenly spaced on the circle (the K = 2 optimum)"
        max_cos = math.cos(2.0 * math.pi / c)
        weights = circle_weights(c)
    elif c <= k + 1:
        arrangement = f"the regular simplex of {c} vertices (fits since K = {k} >= C - 1)"
        max_cos = -1.0 / (c - 1)
        weights = padded_simplex(c, k) if c <= 2000 else None
    elif c <= 2 * k:
        arrangement = f"{c} signed coordinate axes, +-e_1, +-e_2, ... (pair cosines 0 or -1; Rankin: no better)"
        max_cos = 0.0
        weights = orthoplex_weights(c, k) if c <= 2000 else None
    elif not math.isnan(reach.lower) and not reach.method.startswith("ceiling"):
        if reach.method.startswith("D_K"):
            weights = root_system_d_weights(c, k)
            arrangement = f"{c} of the D_{k} root vectors (pair cosines at most 1/2)"
        else:
            weights = np.array(_spread_cached(c, k))
            arrangement = f"{c} weights spread by spread_on_sphere (largest pair cosine minimised numerically)"
        max_cos = max_pairwise_cosine(weights)
    else:
        arrangement = (f"none built (C = {c:,} > 2K = {2 * k:,} is too large to search); the ceiling "
                       f"{reach.upper:.4f} is assumed reachable")
        max_cos = 1.0 - reach.value
        s_exact = False
    margin = 1.0 - max_cos
    m = margin_for_gap_share(max_cos, gap_share)
    if k == 2:
        s_arr = min_scale_on_circle(c, p_w, m)
    elif c <= k + 1:
        s_arr = s_lower_bound_with_margin(c, p_w, m)
    elif c <= 2 * k:
        s_arr = _min_scale_from_cosines(_orthoplex_rows(c), p_w, m, "the orthoplex")
    elif weights is not None:
        s_arr = min_scale_for_weights(weights, p_w, m)
    else:
        s_arr = _min_scale_from_cosines(np.full((1, c - 1), max_cos), p_w, m, "the assumed arrangement")
    s_arr = max(s_arr, 0.0)
    s_any = s_lower_bound_with_margin(c, p_w, m)
    s_eq6 = s_lower_bound(c, p_w)
    phi = math.degrees(math.acos(max_cos))
    lines = [
        f"C = {c:,} classes, K = {k} dims, target class-centre posterior P_W = {p_w:g}.",
        f"Arrangement: {arrangement}. Nearest class weights {phi:.1f} deg apart (cosine {max_cos:.4f}), margin "
        f"{margin:.4f}; {reach}. Eq. 7 gives {eq7:.4f}.",
        f"m = {m:.4f}: the LMCL boundaries leave {gap_share:.3g} of the {phi:.1f} deg arc between nearest weights "
        f"({gap_share * phi:.1f} deg) to no class and {(1 - gap_share) / 2 * phi:.1f} deg to each; that is "
        f"{m / margin:.1%} of the arrangement's margin and {m / eq7:.1%} of Eq. 7's value.",
    ]
    head = f"s = {s_arr:.2f}" if safety == 1 else f"s = {safety:g} x {s_arr:.2f} = {safety * s_arr:.2f}"
    if s_exact:
        lines.append(f"{head}, from the smallest scale at which a feature lying on its class weight reaches "
                     f"P_W = {p_w:g} with this arrangement and m: {s_arr:.2f} (exact root).")
    else:
        lines.append(f"{head}, from the scale at which a feature on its class weight reaches P_W = {p_w:g} for every "
                     f"arrangement whose largest pair cosine is {max_cos:.4f}: {s_arr:.2f} (the worst case puts all "
                     "other classes at that cosine).")
    lines.append(f"For comparison: no arrangement reaches P_W at this m below s = {s_any:.2f} (Eq. 6 with the margin); "
                 f"Eq. 6 alone (m = 0) asks for s >= {s_eq6:.2f}.")
    lines.append("Caveat: the criterion concerns features sitting on their class weight; trained features scatter "
                 "around it, so practical scales sit above s" + ("." if safety == 1 else " (hence the safety factor)."))
    return Recommendation(
        num_classes=c, feat_dim=k, p_w=p_w, m=m, s=safety * s_arr, arrangement=arrangement, reachable=reach,
        arrangement_margin=margin, gap_share=float(gap_share), safety=float(safety), s_arrangement=s_arr,
        s_exact=s_exact, s_any_arrangement=s_any, s_eq6=s_eq6, eq7_value=eq7, explanation="\n".join(lines),
        weights=weights,
    )
