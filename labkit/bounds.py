"""The paper's bounds on the hyper-parameters of LMCL, as functions you can call and check.

- Eq. 6, lower bound on the scale s: for C classes, if the posterior of every class centre is to reach at least
  P_W, then  s >= (C - 1) / C * log((C - 1) * P_W / (1 - P_W)).
- Eq. 7, upper bound on the cosine margin m, which can never exceed 1 - max_{i != j} W_i^T W_j:
    K = 2 (features in the plane):   m <= 1 - cos(2*pi / C)       (class weights evenly spaced on the circle)
    C <= K + 1:                      m <= C / (C - 1)             (reached by the regular simplex)
    C >  K + 1:                      m <  C / (C - 1), strictly   (the simplex does not fit; no closed form)

Beyond the closed forms: :func:`spread_on_sphere` finds the best weight configuration numerically (the regime with no
closed form), and ``eq8_*`` ... ``eq16_*`` / :func:`eq6_proof_chain` evaluate each inequality of the supplementary
proofs (supplementary Eqs. 8-16) on a given configuration, returning both sides as an :class:`Inequality`.
The supplementary proofs are made executable in ``notebooks/02_bounds_on_s_and_m.ipynb``.

Choosing s and m (notebook 02, Section 3):

- :func:`s_lower_bound_with_margin`: Eq. 6 re-derived with the margin in the target logit,
  s >= ln((C-1) P_W / (1-P_W)) / (C/(C-1) - m); m = 0 is Eq. 6 and it diverges at Eq. 7's C/(C-1).
- :func:`min_scale_on_circle`, :func:`min_scale_for_gram`, :func:`min_scale_for_weights`: the exact smallest s for a
  fixed arrangement of the class weights (root of a monotone function).
- :func:`reachable_margin` (:class:`ReachableMargin`): the largest margin C weights can have in K dims, exact where
  known, else the best arrangement found, bracketed by the rigorous :func:`margin_ceiling`.
- :func:`recommend_scale_and_margin` (:class:`Recommendation`): (s, m) for given C, K, P_W, with its reasoning.
"""

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


# ----------------------------------------------------------------------------------------------------------------
# Eq. 7, regime C > K + 1: no closed form, so spread the class weights numerically.
# ----------------------------------------------------------------------------------------------------------------


def spread_on_sphere(
    num_classes: int,
    feat_dim: int,
    steps: int = 800,
    seed: int = 0,
    restarts: int = 6,
) -> np.ndarray:
    """Numerically spread C unit vectors in R^K so that their largest pairwise cosine is as small as possible.

    This is the weight configuration that the margin bound of Eq. 7 is about: the usable margin is
    1 - max_{i != j} W_i^T W_j, so the best a configuration can offer is 1 minus the smallest reachable maximum
    cosine (for K = 3 this is the Tammes problem). For C <= K + 1 the answer is the regular simplex; for K = 2 it is
    C points evenly spaced on the circle; for C > K + 1, K > 2 there is in general no closed form.

    Method: the hard maximum over pairs is replaced by a smooth one, T * logsumexp(cos_ij / T), minimised with Adam
    while the temperature T is annealed from 0.1 down to 1e-3 (a small T tracks the true maximum closely, a large T
    spreads the early gradient over many pairs). Points are projected back onto the sphere after every step.
    Several random starts run together as one batch; the configuration with the smallest true maximum cosine seen
    at any step is returned.

    Returns a (C, K) float64 array of unit rows. Fast for C <= ~64, K <= ~16 (well under a second on a CPU core).
    """
    import torch

    _check_classes(num_classes)
    if int(feat_dim) != feat_dim or feat_dim < 2:
        raise ValueError(f"feat_dim K must be an integer >= 2, got {feat_dim}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts}")
    c, k, steps, restarts = int(num_classes), int(feat_dim), int(steps), int(restarts)
    with single_thread():
        return _spread(c, k, steps, int(seed), restarts)


@contextmanager
def single_thread():
    """Run torch on one intra-op thread inside the block, restoring the previous setting after.

    The matrices here are tiny (at most 64 x 64): threading them only adds synchronisation, and on a loaded
    machine with few cores it made :func:`spread_on_sphere` some 30 times slower.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _spread(c: int, k: int, steps: int, seed: int, restarts: int) -> np.ndarray:
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(restarts, c, k, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    diag = torch.eye(c, dtype=torch.bool)
    t_hi, t_lo, lr_hi, lr_lo = 0.1, 1e-3, 0.05, 5e-4
    best = x.detach().clone()
    best_max = torch.full((restarts,), float("inf"), dtype=torch.float64)
    for step in range(steps):
        frac = step / max(steps - 1, 1)
        temp = t_hi * (t_lo / t_hi) ** frac
        for group in opt.param_groups:
            group["lr"] = lr_hi * (lr_lo / lr_hi) ** frac
        u = x / x.norm(dim=-1, keepdim=True)
        gram = (u @ u.transpose(1, 2)).masked_fill(diag, -float("inf"))
        flat = gram.reshape(restarts, -1)
        with torch.no_grad():
            cur = flat.max(dim=1).values
            better = cur < best_max
            best[better] = u.detach()[better]
            best_max = torch.minimum(best_max, cur)
        loss = (temp * torch.logsumexp(flat / temp, dim=1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x /= x.norm(dim=-1, keepdim=True)
    with torch.no_grad():  # the final iterate too
        u = x / x.norm(dim=-1, keepdim=True)
        cur = (u @ u.transpose(1, 2)).masked_fill(diag, -float("inf")).reshape(restarts, -1).max(dim=1).values
        better = cur < best_max
        best[better] = u[better]
        best_max = torch.minimum(best_max, cur)
    out = best[int(torch.argmin(best_max))].numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


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


# ---------------------------------------------------------------- the largest margin C weights can have in K dims


def cap_fraction(feat_dim: int, radius: float) -> float:
    """The fraction of the unit sphere S^{K-1} (in R^K) covered by a cap of angular radius ``radius`` in [0, pi]:

        int_0^radius sin^{K-2} t dt / int_0^pi sin^{K-2} t dt

    (radius / pi for K = 2, (1 - cos radius) / 2 for K = 3). Numerator by Simpson's rule in the log domain (no
    underflow for K in the hundreds), denominator in closed form, sqrt(pi) Gamma((K-1)/2) / Gamma(K/2)."""
    k = int(feat_dim)
    if k < 2:
        raise ValueError(f"feat_dim K must be at least 2, got {feat_dim}")
    if not 0.0 <= radius <= math.pi:
        raise ValueError(f"radius is an angle in [0, pi], got {radius}")
    if k == 2:
        return radius / math.pi
    if radius > math.pi / 2:
        return 1.0 - cap_fraction(k, math.pi - radius)
    if radius == 0.0:
        return 0.0
    n = k - 2
    # sin^n t rises steeply towards t = radius (e-folding length about tan(radius)/n): integrate over the last 45
    # e-foldings only, where all but a fraction e^-45 of the mass lies, so the grid resolves the peak for large K.
    start = max(0.0, radius - 45.0 * math.tan(radius) / n) if radius < math.pi / 2 else 0.0
    t = np.linspace(start, radius, 4001)
    with np.errstate(divide="ignore"):
        log_f = n * np.log(np.sin(t))
    top = log_f.max()
    f = np.exp(log_f - top)
    h = t[1] - t[0]
    simpson = h / 3.0 * (f[0] + f[-1] + 4.0 * f[1:-1:2].sum() + 2.0 * f[2:-1:2].sum())
    log_total = 0.5 * math.log(math.pi) + math.lgamma((n + 1) / 2.0) - math.lgamma(n / 2.0 + 1.0)
    return float(min(1.0, math.exp(math.log(simpson) + top - log_total)))


def margin_ceiling(num_classes: int, feat_dim: int) -> tuple[float, str]:
    """A rigorous upper bound on 1 - max_{i != j} W_i.W_j over all arrangements of C unit vectors in R^K, and which
    argument gives it. Exact (reached) for K = 2, for C <= K + 1 and for K + 2 <= C <= 2K. For C > 2K the smallest of:

    - Eq. 7 / Eq. 16: C/(C-1) (the mean pair cosine is >= -1/(C-1)).
    - Rankin (1955): among any C >= K + 2 unit vectors in R^K two are at an angle <= 90 deg, so the margin is <= 1.
    - Second moment (our derivation, a degree-2 linear-programming bound): if every pair cosine lies in [-1, e],
      then (t - e)(t + 1) <= 0 at every pair. Sum f(t) = t^2 + (1 - e) t - e over ALL ordered pairs (i, j), diagonal
      included: the pairs i != j give <= 0 and the diagonal gives 2 C (1 - e); on the other side sum_ij (W_i.W_j)^2
      >= C^2 / K (the Gram matrix has trace C and rank <= K) and sum_ij W_i.W_j = |sum W_i|^2 >= 0. So
      C^2/K - e C^2 <= 2 C (1 - e), i.e. max cosine e >= (C - 2K) / (K (C - 2)) and margin <= 1 - (C - 2K)/(K(C - 2)).
    - Cap packing: caps of angular radius theta/2 around points at pairwise angle >= theta do not overlap, so
      C * cap_fraction(K, theta/2) <= 1 caps the smallest angle theta (bisection), margin <= 1 - cos theta.
    - K = 3: Fejes Toth (1943), some pair is within arccos((cot^2 w - 1)/2), w = C pi / (6 (C - 2)).
    """
    _check_classes(num_classes)
    if int(feat_dim) != feat_dim or feat_dim < 2:
        raise ValueError(f"feat_dim K must be an integer >= 2, got {feat_dim}")
    c, k = int(num_classes), int(feat_dim)
    if k == 2:
        return 1.0 - math.cos(2.0 * math.pi / c), "K = 2: weights evenly spaced on the circle"
    if c <= k + 1:
        return c / (c - 1), "C <= K + 1: the regular simplex of Eq. 7"
    if c <= 2 * k:
        return 1.0, "K + 2 <= C <= 2K: Rankin's bound, reached by signed axes (orthoplex)"
    cands = {
        "Rankin (C >= K + 2: margin <= 1)": 1.0,
        "second-moment bound 1 - (C - 2K)/(K (C - 2))": 1.0 - (c - 2 * k) / (k * (c - 2)),
    }
    lo, hi = 0.0, math.pi  # the smallest angle theta with C caps of radius theta/2 fitting
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if c * cap_fraction(k, mid / 2.0) <= 1.0:
            lo = mid
        else:
            hi = mid
    cands["cap-packing bound"] = 1.0 - math.cos(hi)
    if k == 3:
        w = c * math.pi / (6.0 * (c - 2))
        cands["Fejes Toth bound (K = 3)"] = 1.0 - (1.0 / math.tan(w) ** 2 - 1.0) / 2.0
    name = min(cands, key=cands.get)
    return cands[name], name


@dataclass(frozen=True)
class ReachableMargin:
    """The largest cosine margin 1 - max_{i != j} W_i.W_j that C unit class weights can have in K dimensions.

    ``value`` is the number to use: exact where it is known, otherwise the margin of the best arrangement found,
    otherwise (too expensive to search) the rigorous ceiling. ``lower`` is the margin of an explicit arrangement (NaN if
    none was built), ``upper`` a rigorous ceiling (:func:`margin_ceiling`); lower <= true optimum <= upper, and
    lower == value == upper when ``exact``. ``method`` says in words how ``value`` was obtained.
    """

    value: float
    lower: float
    upper: float
    exact: bool
    method: str
    num_classes: int
    feat_dim: int

    @property
    def max_cosine(self) -> float:
        """1 - value: the largest pair cosine of the arrangement behind ``value``."""
        return 1.0 - self.value

    def __str__(self) -> str:
        if self.exact:
            return f"reachable margin {self.value:.4f}, exact ({self.method}; C={self.num_classes}, K={self.feat_dim})"
        lower = "none built" if math.isnan(self.lower) else f"{self.lower:.4f}"
        return (f"reachable margin {self.value:.4f} ({self.method}; explicit arrangement {lower}, ceiling "
                f"{self.upper:.4f}; C={self.num_classes}, K={self.feat_dim})")


#: The search budget of :func:`reachable_margin` at call time: C and K up to these are spread numerically.
SEARCH_MAX_CLASSES = 200
SEARCH_MAX_DIM = 32


@functools.lru_cache(maxsize=512)
def _spread_cached(c: int, k: int) -> np.ndarray:
    w = spread_on_sphere(c, k)  # default budget and seed 0: the settings of _SPREAD_TABLE
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=4096)
def reachable_margin(num_classes: int, feat_dim: int, search: bool = True) -> ReachableMargin:
    """The largest cosine margin C class weights can have in K dimensions, with how it was computed. Use it where
    Eq. 7's C/(C-1) is too generous: for C > K + 1 that value is not reached (1.1429 for C = 8, K = 3, where the best
    arrangement, the square antiprism, gives 0.7388).

    - K = 2: 1 - cos(2 pi / C), evenly spaced on the circle (exact, Eq. 7).
    - C <= K + 1: C/(C-1), the regular simplex (exact, Eq. 7).
    - K + 2 <= C <= 2K: 1, exact: Rankin's theorem forbids more, antipodal pairs of axes (the orthoplex) reach it.
    - C > 2K, no closed form. ``value`` is the margin of the best arrangement found by :func:`spread_on_sphere`
      (default budget, seed 0): looked up in a table shipped here for K = 3..8, C <= 100 (instant), searched and cached
      for other C <= SEARCH_MAX_CLASSES, K <= SEARCH_MAX_DIM when ``search`` (about 0.3-1.5 s on the first call),
      else NOT searched: ``value`` is then the ceiling of :func:`margin_ceiling` (so a check m >= value never fires
      for a reachable margin, but may stay silent for some unreachable ones), with ``lower`` = 1/2 from the D_K root
      system when C <= 2K(K-1). This is the case of CASIA-WebFace (C = 10,572 > 2K = 1,024 for K = 512): one Gram
      matrix alone would be 10,572^2 entries per optimiser step, so we report the ceiling 0.9982.
      A found arrangement can fall short of the true optimum (the optimiser gives no certificate), so there ``value``
      may be slightly below the truth; ``upper`` bounds the shortfall.

    Always instant except the search case above; results are cached.
    """
    _check_classes(num_classes)
    if int(feat_dim) != feat_dim or feat_dim < 2:
        raise ValueError(f"feat_dim K must be an integer >= 2, got {feat_dim}")
    c, k = int(num_classes), int(feat_dim)
    upper, how = margin_ceiling(c, k)
    if k == 2 or c <= 2 * k:
        return ReachableMargin(upper, upper, upper, True, how, c, k)
    d_k = 0.5 if c <= 2 * k * (k - 1) else math.nan
    found, source = math.nan, ""
    table = _SPREAD_TABLE.get(k)
    if table is not None and c - (2 * k + 1) < len(table):
        found, source = table[c - (2 * k + 1)], "best spread found by spread_on_sphere (shipped table)"
    elif search and c <= SEARCH_MAX_CLASSES and k <= SEARCH_MAX_DIM:
        found, source = margin_of_weights(_spread_cached(c, k)), "best spread found by spread_on_sphere (searched now)"
    if not math.isnan(found):
        if not math.isnan(d_k) and d_k > found:
            found, source = d_k, "D_K root system (better than the spread found)"
        meets = found >= upper - 1e-6  # the arrangement reaches the ceiling: both are optimal (to 1e-6)
        if meets:
            source += f", meets the ceiling ({how})"
        return ReachableMargin(found, found, upper, meets, source, c, k)
    method = f"ceiling only, no arrangement searched ({how})"
    return ReachableMargin(upper, d_k, upper, False, method, c, k)


# spread_on_sphere(C, K) margins (default steps and restarts, seed 0) for C = 2K+1, ..., 100, floored to 6 decimals,
# then raised to the largest entry at any larger C (dropping weights from an arrangement cannot lower its margin).
# Regenerate with _spread_margin_table(); tests/test_bounds.py re-runs a sample of entries and checks every entry
# against the rigorous ceiling of margin_ceiling().
_SPREAD_TABLE: dict[int, tuple[float, ...]] = {
    3: (
        0.789526, 0.738599, 0.666528, 0.595254, 0.552786, 0.552786, 0.447201, 0.435738, 0.406820, 0.387342,
        0.371694, 0.350875, 0.323343, 0.323343, 0.299803, 0.288742, 0.276742, 0.276742, 0.251222, 0.245140,
        0.240500, 0.223914, 0.218565, 0.218086, 0.207984, 0.206103, 0.192989, 0.187636, 0.183115, 0.182162,
        0.174163, 0.173065, 0.165357, 0.162037, 0.157960, 0.156244, 0.152076, 0.151300, 0.145055, 0.140857,
        0.140447, 0.140447, 0.132315, 0.131461, 0.127358, 0.126160, 0.122809, 0.122559, 0.118499, 0.117786,
        0.114639, 0.112663, 0.111121, 0.109955, 0.106871, 0.105886, 0.104536, 0.102082, 0.100848, 0.100226,
        0.098009, 0.096146, 0.095707, 0.094266, 0.092955, 0.092794, 0.089752, 0.088455, 0.087482, 0.086281,
        0.085764, 0.085466, 0.082782, 0.082782, 0.081250, 0.080001, 0.079519, 0.079519, 0.077154, 0.076647,
        0.075625, 0.075517, 0.074163, 0.073076, 0.072578, 0.072578, 0.070770, 0.070167, 0.069357, 0.068992,
        0.068254, 0.068254, 0.066318, 0.066047,
    ),
    4: (
        0.837455, 0.833333, 0.769169, 0.749843, 0.691990, 0.679754, 0.648776, 0.610905, 0.583171, 0.576714,
        0.565668, 0.565668, 0.528110, 0.501309, 0.491067, 0.482605, 0.461452, 0.459122, 0.441395, 0.431329,
        0.423402, 0.413434, 0.408397, 0.403583, 0.397926, 0.389077, 0.375826, 0.370129, 0.368963, 0.358277,
        0.351009, 0.347744, 0.343608, 0.340178, 0.336158, 0.327568, 0.321834, 0.316775, 0.313594, 0.308687,
        0.305970, 0.305970, 0.297832, 0.295593, 0.291205, 0.289596, 0.283175, 0.279988, 0.275008, 0.274046,
        0.271522, 0.270000, 0.266788, 0.265070, 0.260526, 0.256257, 0.253548, 0.251632, 0.249840, 0.247276,
        0.246430, 0.244897, 0.241847, 0.240617, 0.239585, 0.238839, 0.238392, 0.237600, 0.232962, 0.230368,
        0.224828, 0.223282, 0.220106, 0.219063, 0.217254, 0.215127, 0.214500, 0.213591, 0.213591, 0.213140,
        0.210302, 0.207969, 0.207449, 0.206643, 0.205514, 0.205514, 0.201842, 0.200805, 0.199321, 0.197892,
        0.196829, 0.195675,
    ),
    5: (
        0.866478, 0.845921, 0.799999, 0.799999, 0.799999, 0.799999, 0.728783, 0.724212, 0.707111, 0.700372,
        0.684083, 0.642906, 0.628095, 0.620071, 0.619857, 0.600373, 0.597873, 0.591202, 0.588474, 0.586543,
        0.565338, 0.557212, 0.535738, 0.528452, 0.519474, 0.513401, 0.504101, 0.499942, 0.494253, 0.491877,
        0.483760, 0.477592, 0.472948, 0.471679, 0.459949, 0.453889, 0.449819, 0.447582, 0.443404, 0.443404,
        0.443404, 0.437173, 0.431934, 0.426693, 0.422627, 0.419102, 0.414002, 0.410984, 0.406875, 0.405216,
        0.402155, 0.399515, 0.393190, 0.393190, 0.388781, 0.385397, 0.383169, 0.382619, 0.381849, 0.381849,
        0.381849, 0.381849, 0.381849, 0.381849, 0.374433, 0.366922, 0.361922, 0.356683, 0.354390, 0.351290,
        0.348623, 0.347461, 0.342861, 0.339414, 0.337616, 0.335737, 0.333883, 0.332287, 0.329838, 0.328688,
        0.326292, 0.324996, 0.322803, 0.321456, 0.320003, 0.318523, 0.316902, 0.316902, 0.313858, 0.313054,
    ),
    6: (
        0.886143, 0.866550, 0.854660, 0.828385, 0.816552, 0.800444, 0.799101, 0.783298, 0.753989, 0.749999,
        0.749999, 0.749999, 0.749999, 0.749999, 0.749999, 0.699999, 0.667953, 0.663155, 0.655310, 0.652898,
        0.652877, 0.646892, 0.641615, 0.641615, 0.632785, 0.620817, 0.613363, 0.613363, 0.609292, 0.609123,
        0.599929, 0.593894, 0.571094, 0.562959, 0.555662, 0.549804, 0.544797, 0.540982, 0.540169, 0.540169,
        0.540169, 0.528426, 0.524025, 0.520470, 0.514711, 0.513794, 0.508232, 0.504843, 0.500679, 0.499443,
        0.495453, 0.489422, 0.487587, 0.482486, 0.480101, 0.477461, 0.473885, 0.471174, 0.469061, 0.465775,
        0.464231, 0.461032, 0.460357, 0.457862, 0.455749, 0.453589, 0.452582, 0.449787, 0.449787, 0.445215,
        0.443588, 0.443588, 0.443588, 0.443588, 0.438535, 0.438535, 0.437970, 0.435554, 0.435554, 0.433038,
        0.433038, 0.432848, 0.432848, 0.432848, 0.425947, 0.423677, 0.423599, 0.420474,
    ),
    7: (
        0.900432, 0.886419, 0.873757, 0.873757, 0.835500, 0.828818, 0.817065, 0.817065, 0.817065, 0.817065,
        0.784645, 0.767941, 0.757145, 0.750272, 0.749582, 0.749420, 0.743519, 0.733178, 0.728651, 0.710037,
        0.709296, 0.696501, 0.687471, 0.678994, 0.675466, 0.672129, 0.668275, 0.666666, 0.666666, 0.666666,
        0.666666, 0.666666, 0.666666, 0.666666, 0.666666, 0.666666, 0.666666, 0.666666, 0.666666, 0.666666,
        0.666666, 0.666666, 0.603667, 0.603667, 0.594655, 0.590029, 0.586540, 0.580957, 0.575967, 0.572332,
        0.571428, 0.571428, 0.571428, 0.571428, 0.571428, 0.571428, 0.571428, 0.571428, 0.571428, 0.571428,
        0.571428, 0.571428, 0.571428, 0.571428, 0.530946, 0.529184, 0.526744, 0.523148, 0.521291, 0.518548,
        0.516477, 0.514273, 0.512713, 0.509653, 0.508032, 0.505458, 0.503261, 0.501104, 0.499631, 0.497446,
        0.495671, 0.494520, 0.492994, 0.490473, 0.489019, 0.487364,
    ),
    8: (
        0.911323, 0.899845, 0.885038, 0.878294, 0.863502, 0.851371, 0.839175, 0.832397, 0.823006, 0.820228,
        0.817068, 0.811352, 0.811352, 0.794933, 0.775682, 0.767722, 0.764195, 0.759483, 0.759483, 0.759483,
        0.759367, 0.755540, 0.755516, 0.734046, 0.728839, 0.720827, 0.710787, 0.708644, 0.705396, 0.699838,
        0.694643, 0.691567, 0.682556, 0.677337, 0.674855, 0.674855, 0.674855, 0.668561, 0.668446, 0.666581,
        0.665974, 0.665897, 0.665897, 0.665897, 0.665897, 0.665897, 0.665487, 0.662141, 0.657632, 0.648882,
        0.647172, 0.644622, 0.642857, 0.642857, 0.642857, 0.642857, 0.623900, 0.623900, 0.615569, 0.615569,
        0.609175, 0.606358, 0.602972, 0.599740, 0.594094, 0.593030, 0.588043, 0.584787, 0.582700, 0.580085,
        0.576622, 0.572742, 0.570559, 0.570345, 0.570345, 0.570345, 0.570345, 0.570345, 0.570345, 0.570345,
        0.555378, 0.554130, 0.552766, 0.549973,
    ),
}


def _spread_margin_table(dims: range = range(3, 9), c_max: int = 100) -> dict[int, tuple[float, ...]]:
    """Recompute :data:`_SPREAD_TABLE` (minutes on one core)."""
    out = {}
    for k in dims:
        vals = [math.floor(margin_of_weights(spread_on_sphere(c, k)) * 1e6) / 1e6 for c in range(2 * k + 1, c_max + 1)]
        for i in range(len(vals) - 2, -1, -1):
            vals[i] = max(vals[i], vals[i + 1])
        out[k] = tuple(vals)
    return out


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
