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
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

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


def _pair_cosines(w: np.ndarray) -> np.ndarray:
    """The C(C-1) off-diagonal entries W_i^T W_j (i != j) of the Gram matrix, flattened."""
    g = w @ w.T
    return g[~np.eye(len(w), dtype=bool)]


def centre_posteriors(weights: np.ndarray, s: float) -> np.ndarray:
    """Left side of supplementary Eq. 8 for every class i: the NSL posterior of class i when the feature sits
    exactly on its own (unit) class weight, x = W_i, at scale s:

        P_i = e^s / (e^s + sum_{j != i} e^{s W_i^T W_j}).
    """
    w = _unit_rows(weights)
    s = _check_scale(s)
    g = w @ w.T
    logits = s * g  # row i: logits of the feature x = W_i; the diagonal is s * 1
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return np.diag(p) / p.sum(axis=1)


def min_centre_posterior(weights: np.ndarray, s: float) -> float:
    """The smallest class-centre posterior, min_i P_i (Eq. 8): the largest P_W a configuration guarantees at s."""
    return float(centre_posteriors(weights, s).min())


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
