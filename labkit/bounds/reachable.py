"""The largest margin C class weights can have in K dimensions: exact where known, else the best arrangement found,
bracketed by a rigorous ceiling (notebook 02, section 3.3; the bound check of labkit.losses)."""

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
from labkit.bounds.paper import _check_classes  # noqa: F401


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
