"""The supplementary proofs of Eq. 6 (supplementary Eqs. 8-15) and Eq. 7 (Eq. 16), one inequality per function,
evaluated on any weight configuration (notebook 02, "The proof, step by step")."""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from labkit.bounds.paper import *  # noqa: F401,F403
from labkit.bounds.spread import *  # noqa: F401,F403
from labkit.bounds.paper import _check_classes  # noqa: F401


# ----------------------------------------------------------------------------------------------------------------
# The supplementary proof of Eq. 6 (supplementary Eqs. 8-15) and of Eq. 7 (supplementary Eq. 16), step by step.
# Each function returns both sides of one inequality so a notebook or a test can check it on any configuration.
# ----------------------------------------------------------------------------------------------------------------

_RELATIONS = ("<=", ">=")


@dataclass(frozen=True)
class Inequality:
    """One step of a proof, evaluated: ``lhs <relation> rhs`` with ``relation`` in ``{"<=", ">="}``.

    ``label`` names the equation (supplementary numbering), ``statement`` says in words what is compared.
    """

    label: str
    statement: str
    lhs: float
    rhs: float
    relation: str

    def __post_init__(self) -> None:
        if self.relation not in _RELATIONS:
            raise ValueError(f"relation must be one of {_RELATIONS}, got {self.relation!r}")

    @property
    def slack(self) -> float:
        """How far the inequality is from equality, signed so that a true inequality has slack >= 0."""
        return self.rhs - self.lhs if self.relation == "<=" else self.lhs - self.rhs

    def holds(self, tol: float = 1e-9) -> bool:
        """True when the inequality holds up to a relative tolerance ``tol``."""
        return self.slack >= -tol * max(1.0, abs(self.lhs), abs(self.rhs))

    def __str__(self) -> str:
        mark = "holds" if self.holds() else "FAILS"
        return f"{self.label}: {self.lhs:.6g} {self.relation} {self.rhs:.6g}   [{mark}, slack {self.slack:.3g}]  {self.statement}"


def _unit_rows(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] < 2 or w.shape[1] < 1:
        raise ValueError(
            f"weights must be a (C, K) array with C >= 2 class weight vectors as rows, got shape {w.shape}"
        )
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    if not np.all(np.isfinite(w)) or np.any(norms == 0):
        raise ValueError("weights must be finite with no all-zero row (each row is normalised to a unit vector)")
    return w / norms


def _check_scale(s: float) -> float:
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"the scale s must be a positive finite number, got {s}")
    return float(s)


def _check_p(p_w: float) -> float:
    if not 0.0 < p_w < 1.0:
        raise ValueError(f"p_w is a probability strictly between 0 and 1, got {p_w}")
    return float(p_w)


def _check_margin(m: float) -> float:
    if isinstance(m, bool) or not isinstance(m, (int, float, np.floating, np.integer)) or not np.isfinite(m) or m < 0:
        raise ValueError(f"the cosine margin m must be a finite number >= 0 (Eq. 7: 0 <= m), got {m!r}")
    return float(m)


def _pair_cosines(w: np.ndarray) -> np.ndarray:
    """The C(C-1) off-diagonal entries W_i^T W_j (i != j) of the Gram matrix, flattened."""
    g = w @ w.T
    return g[~np.eye(len(w), dtype=bool)]


def centre_posteriors(weights: np.ndarray, s: float, m: float = 0.0) -> np.ndarray:
    """Left side of supplementary Eq. 8 for every class i: the NSL posterior of class i when the feature sits
    exactly on its own (unit) class weight, x = W_i, at scale s:

        P_i = e^s / (e^s + sum_{j != i} e^{s W_i^T W_j}).

    With a cosine margin ``m`` (LMCL, Eq. 4) the target logit is s (1 - m) instead of s; m = 0 is NSL (Eq. 3).
    """
    w = _unit_rows(weights)
    s = _check_scale(s)
    m = _check_margin(m)
    g = w @ w.T
    logits = s * g  # row i: logits of the feature x = W_i; the diagonal is s * 1
    np.fill_diagonal(logits, s * (1.0 - m))
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return np.diag(p) / p.sum(axis=1)


def min_centre_posterior(weights: np.ndarray, s: float, m: float = 0.0) -> float:
    """The smallest class-centre posterior, min_i P_i (Eq. 8): the largest P_W a configuration guarantees at s
    (with LMCL margin ``m``; m = 0 is the setting of Eq. 6)."""
    return float(centre_posteriors(weights, s, m).min())


def eq8_posterior_condition(weights: np.ndarray, s: float, p_w: float) -> list[Inequality]:
    """Supplementary Eq. 8, the assumption of the proof: every class centre has posterior at least P_W.
    One :class:`Inequality` per class."""
    p_w = _check_p(p_w)
    post = centre_posteriors(weights, s)
    return [
        Inequality(f"Eq. 8 (i={i})", "posterior of class i at its own centre >= P_W", float(p), p_w, ">=")
        for i, p in enumerate(post)
    ]


def eq9_rearranged(weights: np.ndarray, s: float, p_w: float) -> list[Inequality]:
    """Supplementary Eq. 9: Eq. 8 inverted (both sides positive), 1 + e^{-s} sum_{j != i} e^{s W_i^T W_j} <= 1/P_W,
    one per class."""
    w = _unit_rows(weights)
    s, p_w = _check_scale(s), _check_p(p_w)
    g = w @ w.T
    out = []
    for i in range(len(w)):
        others = np.delete(g[i], i)
        lhs = 1.0 + float(np.exp(s * (others - 1.0)).sum())
        out.append(Inequality(f"Eq. 9 (i={i})", "1 + e^-s * sum_j e^(s W_i.W_j) <= 1/P_W", lhs, 1.0 / p_w, "<="))
    return out


def eq10_summed(weights: np.ndarray, s: float, p_w: float) -> Inequality:
    """Supplementary Eq. 10: Eq. 9 summed over the C classes, sum_i (1 + e^{-s} sum_{j != i} e^{s W_i^T W_j}) <= C/P_W."""
    w = _unit_rows(weights)
    s, p_w = _check_scale(s), _check_p(p_w)
    c = len(w)
    lhs = c + float(np.exp(s * (_pair_cosines(w) - 1.0)).sum())
    return Inequality("Eq. 10", "Eq. 9 summed over all classes", lhs, c / p_w, "<=")


def eq11_averaged(weights: np.ndarray, s: float, p_w: float) -> Inequality:
    """Supplementary Eq. 11: Eq. 10 divided by C, 1 + (e^{-s}/C) sum_{i != j} e^{s W_i^T W_j} <= 1/P_W."""
    w = _unit_rows(weights)
    s, p_w = _check_scale(s), _check_p(p_w)
    c = len(w)
    lhs = 1.0 + float(np.exp(s * (_pair_cosines(w) - 1.0)).sum()) / c
    return Inequality("Eq. 11", "Eq. 10 divided by C", lhs, 1.0 / p_w, "<=")


def eq12_jensen(weights: np.ndarray, s: float) -> Inequality:
    """Supplementary Eq. 12, Jensen's inequality for the convex map t -> e^{s t} over the C(C-1) pair cosines:
    mean_{i != j} e^{s W_i^T W_j} >= e^{s * mean_{i != j} W_i^T W_j}. Equality iff all pair cosines are equal."""
    w = _unit_rows(weights)
    s = _check_scale(s)
    cos = _pair_cosines(w)
    # Both sides divided by e^s (i.e. exponents shifted by -s) so large s does not overflow; the order is unchanged.
    lhs = float(np.exp(s * (cos - 1.0)).mean())
    rhs = float(np.exp(s * (cos.mean() - 1.0)))
    return Inequality("Eq. 12", "Jensen: e^-s * mean e^(s cos_ij) >= e^-s * e^(s mean cos_ij)", lhs, rhs, ">=")


def eq13_pair_sum(weights: np.ndarray) -> Inequality:
    """Supplementary Eq. 13: sum_{i != j} W_i^T W_j = |sum_i W_i|^2 - sum_i |W_i|^2 >= -C for unit W_i.
    Equality iff the weights sum to the zero vector."""
    w = _unit_rows(weights)
    total = float(_pair_cosines(w).sum())
    return Inequality("Eq. 13", "sum_{i!=j} W_i.W_j = |sum W_i|^2 - C >= -C", total, -float(len(w)), ">=")


def eq14_combined(weights: np.ndarray, s: float, p_w: float) -> list[Inequality]:
    """Supplementary Eq. 14, reached in two moves from Eq. 11: Jensen (Eq. 12) then Eq. 13 lower the left side to
    1 + (C-1) e^{-sC/(C-1)}, which therefore is also <= 1/P_W.

    Returns the chain as three inequalities: [Eq. 11 lhs >= Jensen form, Jensen form >= closed form,
    closed form <= 1/P_W].
    """
    w = _unit_rows(weights)
    s, p_w = _check_scale(s), _check_p(p_w)
    c = len(w)
    cos = _pair_cosines(w)
    eq11_lhs = 1.0 + float(np.exp(s * (cos - 1.0)).sum()) / c
    jensen_form = 1.0 + (c - 1) * float(np.exp(s * (cos.mean() - 1.0)))
    closed = 1.0 + (c - 1) * math.exp(-s * c / (c - 1))
    return [
        Inequality("Eq. 11 -> 12", "Eq. 11 left side >= its Jensen lower bound", eq11_lhs, jensen_form, ">="),
        Inequality("Eq. 12 -> 13", "mean pair cosine >= -1/(C-1) (from Eq. 13)", jensen_form, closed, ">="),
        Inequality("Eq. 14", "1 + (C-1) e^(-sC/(C-1)) <= 1/P_W", closed, 1.0 / p_w, "<="),
    ]


def eq15_scale_bound(num_classes: int, s: float, p_w: float) -> Inequality:
    """Supplementary Eq. 15 (= Eq. 6): Eq. 14 solved for s, s >= (C-1)/C ln((C-1) P_W / (1-P_W))."""
    s, p_w = _check_scale(s), _check_p(p_w)
    return Inequality("Eq. 15 (= Eq. 6)", "s >= (C-1)/C ln((C-1)P_W/(1-P_W))", s, s_lower_bound(num_classes, p_w), ">=")


def eq6_proof_chain(weights: np.ndarray, s: float, p_w: float | None = None) -> list[Inequality]:
    """Every step of the supplementary proof of Eq. 6 evaluated on one weight configuration at scale s.

    ``p_w`` defaults to the configuration's own minimum class-centre posterior, so the assumption (Eq. 8) holds and
    every later step must hold too. For Eqs. 8 and 9 only the worst class (the binding one) is reported.
    """
    w = _unit_rows(weights)
    s = _check_scale(s)
    if p_w is None:
        p_w = min(min_centre_posterior(w, s), 1.0 - 1e-15)
    p_w = _check_p(p_w)
    eq8 = min(eq8_posterior_condition(w, s, p_w), key=lambda q: q.slack)
    eq9 = min(eq9_rearranged(w, s, p_w), key=lambda q: q.slack)
    return [
        eq8,
        eq9,
        eq10_summed(w, s, p_w),
        eq11_averaged(w, s, p_w),
        eq12_jensen(w, s),
        eq13_pair_sum(w),
        *eq14_combined(w, s, p_w),
        eq15_scale_bound(len(w), s, p_w),
    ]


def eq16_max_cosine(weights: np.ndarray) -> list[Inequality]:
    """Supplementary Eq. 16 (proof of Eq. 7 for K > 2): C(C-1) max_{i != j} W_i^T W_j >= sum_{i != j} W_i^T W_j >= -C,
    hence max_{i != j} W_i^T W_j >= -1/(C-1) and the margin 1 - max cos can be at most C/(C-1)."""
    w = _unit_rows(weights)
    c = len(w)
    cos = _pair_cosines(w)
    mx = float(cos.max())
    return [
        Inequality("Eq. 16a", "C(C-1) max cos >= sum_{i!=j} cos_ij", c * (c - 1) * mx, float(cos.sum()), ">="),
        Inequality("Eq. 16b", "sum_{i!=j} cos_ij >= -C", float(cos.sum()), -float(c), ">="),
        Inequality("Eq. 7", "margin 1 - max cos <= C/(C-1)", 1.0 - mx, c / (c - 1), "<="),
    ]
