"""The exercises of notebooks 01 (Exercises 1-3) and 02 (the Exercises section) and their checker: Eq. 4's target logit,
the width of LMCL's margin strip (Fig. 2), the sign of the radial gradient (Sec. 3.3), Eq. 6 for two classes, Eq. 7
for five classes in four dims and Eq. 6 with the margin. Each answer is a variable of its notebook's ``parameters``
cell, ``None`` until answered, and :func:`check_answer` compares it with a value computed by labkit, never typed in
by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from labkit import bounds
from labkit.theory.boundaries import margin_width_across_diagonal
from labkit.theory.radial import lmcl_feature_gradient


def check(answer: float, expected: float, what: str, tol: float = 1e-3) -> str:
    """Exercise checker: raises AssertionError with a hint if ``answer`` is not ``expected`` to within ``tol``
    (relative or absolute), else returns a short confirmation."""
    if answer is None or not np.isfinite(answer):
        raise AssertionError(f"{what}: replace the placeholder with a number")
    if not math.isclose(float(answer), float(expected), rel_tol=tol, abs_tol=tol):
        raise AssertionError(f"{what}: {answer} is not right yet, look at the formula above and try again")
    return f"correct: {what} = {answer}"


@dataclass(frozen=True)
class Exercise:
    """One exercise of the theory notebooks: the notebook it sits in, what it asks, how to compute the expected
    value with labkit (never typed in by hand), the hint shown for a wrong answer, and the tolerance (relative or
    absolute)."""

    notebook: str
    what: str
    expected: Callable[[], float]
    hint: str
    tol: float = 1e-3


def _target_logit() -> float:
    import torch

    from labkit.losses import cosface_logits

    return float(cosface_logits(torch.tensor([[0.8, 0.1]]), torch.tensor([0]), 64.0, 0.35)[0, 0])


def _radial_sign() -> float:
    g = lmcl_feature_gradient(np.array([0.95, 0.3]), np.eye(2), 0, m=0.35)
    return math.copysign(1.0, g["radial"])


#: The exercises, keyed by the name of the answer variable in the notebook's ``parameters`` cell.
EXERCISES: dict[str, Exercise] = {
    "ANSWER_TARGET_LOGIT": Exercise(
        "01_softmax_to_cosine", "LMCL target logit for cos(theta_y) = 0.8, s = 64, m = 0.35", _target_logit,
        "the margin comes off the cosine before the scale multiplies it (Eq. 4)"),
    "ANSWER_LMCL_WIDTH": Exercise(
        "01_softmax_to_cosine", "width of LMCL's grey strip for m = 0.25",
        lambda: margin_width_across_diagonal("lmcl", 0.5, 0.25),
        "the strip lies between the lines cos(theta1) - cos(theta2) = +m and = -m; measure across the diagonal, "
        "not along an axis"),
    "ANSWER_RADIAL_SIGN": Exercise(
        "01_softmax_to_cosine", "sign of dL/d|x| once the margin is met (x = (0.95, 0.3), m = 0.35)", _radial_sign,
        "in dL/dr = sum_j p_j (a_j - a_y), compare a_y = cos(theta_y) - m with a_j = cos(theta_j) for this x; "
        "answer +1 or -1", tol=0.0),
    "ANSWER_S_MIN_TWO_CLASSES": Exercise(
        "02_bounds_on_s_and_m", "smallest s for C = 2 classes and P_W = 0.99 (Eq. 6)",
        lambda: bounds.s_lower_bound(2, 0.99),
        "put C = 2 in Eq. 6: the factor (C - 1)/C is 1/2 and (C - 1) P_W / (1 - P_W) is P_W / (1 - P_W)"),
    "ANSWER_MARGIN_FIVE_IN_FOUR": Exercise(
        "02_bounds_on_s_and_m", "largest usable margin for C = 5 classes in K = 4 dims (Eq. 7)",
        lambda: bounds.reachable_margin(5, 4).value,
        "C <= K + 1 here, so the regular simplex fits: what are its pair cosines, and what is 1 minus the largest?"),
    "ANSWER_S_WITH_MARGIN": Exercise(
        "02_bounds_on_s_and_m", "smallest s for C = 2, P_W = 0.99 and margin m = 0.5 (Eq. 6 with the margin)",
        lambda: bounds.s_lower_bound_with_margin(2, 0.99, 0.5),
        "divide ln((C - 1) P_W / (1 - P_W)) by C/(C - 1) - m; for two classes C/(C - 1) = 2"),
}

NOT_ANSWERED = "not answered yet"


def check_answer(name: str, answer: Any) -> str:
    """Exercise checker for the theory notebooks. ``name`` is the answer variable (a key of :data:`EXERCISES`),
    ``answer`` its value. Returns a line to print, never raises for a wrong answer:

    - ``None``: "<name>: not answered yet ..." (the default in the ``parameters`` cell);
    - right within the exercise's tolerance: "correct: ...";
    - otherwise (including something that is not a number): "not quite: <hint>".
    """
    if name not in EXERCISES:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(EXERCISES)}")
    ex = EXERCISES[name]
    if answer is None:
        return f"{name}: {NOT_ANSWERED} (set {name} in the parameters cell, or assign it above, and re-run this cell)"
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return f"{name}: not quite: give a number ({ex.what}); hint: {ex.hint}"
    expected = float(ex.expected())
    if math.isfinite(value) and math.isclose(value, expected, rel_tol=ex.tol, abs_tol=ex.tol):
        return f"{name}: correct: {ex.what} = {value:g}"
    return f"{name}: not quite: {value:g} is not the {ex.what}; hint: {ex.hint}"
