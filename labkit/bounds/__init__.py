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


Modules: :mod:`~labkit.bounds.paper` (the closed forms), :mod:`~labkit.bounds.spread` (numerical spreading),
:mod:`~labkit.bounds.proofs` (the supplementary proofs), :mod:`~labkit.bounds.scales`,
:mod:`~labkit.bounds.reachable` and :mod:`~labkit.bounds.recommend` (choosing s and m). Everything is importable from
``labkit.bounds``.
"""

from labkit.bounds.paper import *  # noqa: F401,F403
from labkit.bounds.spread import *  # noqa: F401,F403
from labkit.bounds.proofs import *  # noqa: F401,F403
from labkit.bounds.scales import *  # noqa: F401,F403
from labkit.bounds.reachable import *  # noqa: F401,F403
from labkit.bounds.reachable import _SPREAD_TABLE, _spread_margin_table  # noqa: F401
from labkit.bounds.recommend import *  # noqa: F401,F403
