"""Notebook 01, Sec. 5 and Exercise 2 (Fig. 2 of the paper): the binary decision boundaries in cosine space, as numbers.

The margin checks of LMCL (Eq. 4, cosine margin m >= 0) and A-Softmax (integer m >= 1), A-Softmax's angle function
psi (Sec. 3.2), and the width of each loss's margin region measured across the diagonal cos(theta1) = cos(theta2):
sqrt(2) m for LMCL (Eq. 4), a width vanishing as theta -> 0 for A-Softmax, 0 for NSL (Eq. 3). The figure drawn from
these is :func:`labkit.theory.decision_figure.decision_boundaries_figure`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def _check_cosine_margin(m: float) -> float:
    if not np.isfinite(m) or m < 0:
        raise ValueError(f"the LMCL cosine margin m must be a finite number >= 0 (Eq. 7), got {m}")
    return float(m)


def _check_sphere_margin(m: int) -> int:
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ValueError(f"the A-Softmax margin must be an integer >= 1 (1 is no margin), got {m!r}")
    return int(m)


def psi(theta: np.ndarray | float, m: int) -> np.ndarray:
    """A-Softmax's monotone angle function for plotting: :func:`labkit.losses.sphereface_psi` (the one
    implementation) evaluated in float64 on a NumPy array or a float, theta in [0, pi]."""
    import torch

    from labkit.losses import sphereface_psi

    m = _check_sphere_margin(m)
    return sphereface_psi(torch.as_tensor(np.asarray(theta, dtype=np.float64)), m).numpy()


def _bisect(f: Callable[[float], float], lo: float, hi: float, iters: int = 80) -> float:
    """Root of f on [lo, hi] where f(lo) and f(hi) have opposite signs (or f(hi) == 0)."""
    flo = f(lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def margin_width_across_diagonal(loss: str, t: float, m: float, d_max: float = 3.0) -> float:
    """Width of the grey margin region of Fig. 2, measured perpendicular to the diagonal cos(theta1) = cos(theta2)
    through the point (t, t) of cosine space.

    From (t, t) we walk along (1, -1)/sqrt(2) until we reach class 1's boundary (bisection on the boundary
    function), and double the distance (class 2's boundary is the mirror image). Boundaries:

    - ``"lmcl"``:      cos(theta1) - cos(theta2) = m           (Sec. 3.2; the closed-form width is sqrt(2) m)
    - ``"asoftmax"``:  psi(theta1) = cos(theta2), integer m     (Sec. 3.2, cos(m theta1) = cos(theta2) for
      m theta1 <= pi); here t = cos(theta) and the walk stays inside cos <= 1.
    - ``"nsl"``:       cos(theta1) = cos(theta2), width 0 whatever m.
    """
    if loss == "nsl":
        return 0.0
    r2 = math.sqrt(2.0)
    if loss == "lmcl":
        m = _check_cosine_margin(m)

        def f(d: float) -> float:
            return (t + d / r2) - (t - d / r2) - m

        if m == 0:
            return 0.0
        return 2.0 * _bisect(f, 0.0, d_max)
    if loss == "asoftmax":
        mm = _check_sphere_margin(m)
        if not -1.0 <= t <= 1.0:
            raise ValueError(f"t is a cosine and must lie in [-1, 1], got {t}")
        if mm == 1 or t == 1.0:
            return 0.0

        def g(d: float) -> float:
            c1, c2 = min(t + d / r2, 1.0), t - d / r2
            return float(psi(math.acos(c1), mm)) - c2

        return 2.0 * _bisect(g, 0.0, r2 * (1.0 - t))
    raise ValueError(f"loss must be 'lmcl', 'asoftmax' or 'nsl', got {loss!r}")


def asoftmax_small_angle_width(theta: float, m: int) -> float:
    """Leading-order A-Softmax width near theta = 0 (our own expansion of cos a + cos(m a) = 2 cos theta):
    width ~ sqrt(2) theta^2 (m^2 - 1) / (m^2 + 1), i.e. it vanishes quadratically as theta -> 0."""
    m = _check_sphere_margin(m)
    return math.sqrt(2.0) * theta**2 * (m * m - 1) / (m * m + 1)
