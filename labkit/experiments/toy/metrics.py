"""Numbers for a toy run: accuracy, angular spread within each class, angular gaps between neighbouring classes,
and how they compare with the Eq. 7 bound 1 - cos(2 pi / 8) ~ 0.293.

Definitions (angles in degrees, on the unit circle, computed on the *training* features by default):

- class direction: the direction of the mean of the unit-normalised features of a class;
- spread of a class: the mean absolute angle between its features and its direction; ``spread`` is the mean of
  that over the 8 classes;
- extent of a class: the angles from its direction covering the central ``coverage`` (default 90 %) of its
  features on each side (the 5th and 95th percentile of the signed angle), so a few outliers do not decide it;
- gap between neighbouring classes: walking round the circle in the order of the class directions, the empty
  angle between the upper extent of one class and the lower extent of the next (negative: they overlap);
  ``min_gap`` is the smallest of the 8 gaps;
- weight gap: the smallest angle between neighbouring class weight directions, and ``weight_margin`` =
  1 - max_{i != j} cos(W_i, W_j): the largest cosine margin those weights leave between every pair, which Eq. 7
  bounds by 1 - cos(2 pi / C).

Margins actually achieved (cosines; the LMCL margin m is a cosine margin, so these are directly comparable with it):

- :func:`weight_margin`: 1 - max_{i != j} cos(W_i, W_j), the cosine margin a feature lying exactly on its own class
  weight keeps over the nearest other weight. For C weights evenly on the circle it is 1 - cos(2 pi / C) (8 classes:
  1 - cos(pi / 4) = 0.2929), the most any arrangement of 8 weights in 2-D allows (Eq. 7);
- :func:`feature_margins`: per feature, cos(theta_y) - max_{j != y} cos(theta_j) against the weight *directions*;
  the LMCL training constraint for margin m is exactly ``feature_margins > m``. :func:`feature_margin`
  is its smallest per-class low percentile (default the 5th): the margin 95 % of every class's features achieve.
  The best placement of 8 weights and features a numerical optimisation finds gives every class 1 - cos(pi / 4)
  and no more, so it cannot follow m past the Eq. 7 bound (in the toy it peaks near m = 0.2-0.3 and then falls:
  at m = 0.45 two class weights merge).

Angular ambiguity (the paper's "softmax produces ambiguity in decision boundaries"):

- :func:`cosine_rule_accuracy`: accuracy when features are classified by the cosine to the class-weight directions
  (the rule of the normalised heads and of cosine-similarity matching); for softmax it differs from its own
  W^T x rule (:func:`linear_rule_accuracy`), because |W_j| moves its decision boundaries off the bisectors;
- :func:`boundary_margins`: per feature, the angle (deg) it can turn before the model's own decision rule (``"linear"``:
  argmax W_j^T x, ``"cosine"``: argmax cos(theta_j)) changes its class; negative: how far it is inside a wrong
  class's region. A low percentile (:func:`boundary_margin`) is the angular margin to the decision boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.bounds import m_upper_bound


def _wrap(a: np.ndarray) -> np.ndarray:
    """Angles (radians) wrapped to [-pi, pi)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def angles(x: np.ndarray) -> np.ndarray:
    return np.arctan2(x[:, 1], x[:, 0])


def class_geometry(features: np.ndarray, labels: np.ndarray, coverage: float = 0.9) -> dict[str, np.ndarray]:
    """Per-class direction (rad), spread (deg), lower/upper extents (rad, relative to the direction)."""
    feats = np.asarray(features, dtype=np.float64)
    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    classes = np.unique(labels)
    lo_q, hi_q = (1 - coverage) / 2 * 100, (1 + coverage) / 2 * 100
    direction, spread, lower, upper = [], [], [], []
    for c in classes:
        u = unit[labels == c]
        mean = u.mean(0)
        d = np.arctan2(mean[1], mean[0])
        rel = _wrap(angles(u) - d)
        direction.append(d)
        spread.append(np.degrees(np.abs(rel).mean()))
        lower.append(np.percentile(rel, lo_q))
        upper.append(np.percentile(rel, hi_q))
    return {"classes": classes, "direction": np.array(direction), "spread": np.array(spread),
            "lower": np.array(lower), "upper": np.array(upper)}


def neighbour_gaps(features: np.ndarray, labels: np.ndarray, coverage: float = 0.9) -> np.ndarray:
    """The empty angle (deg) between each class and its counter-clockwise neighbour (len C, negative: overlap)."""
    g = class_geometry(features, labels, coverage)
    order = np.argsort(g["direction"])
    gaps = []
    for i, a in enumerate(order):
        b = order[(i + 1) % len(order)]
        centre_gap = (g["direction"][b] - g["direction"][a]) % (2 * np.pi)
        gaps.append(np.degrees(centre_gap - g["upper"][a] + g["lower"][b]))
    return np.array(gaps)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def weight_geometry(weights: np.ndarray) -> dict[str, float]:
    """Smallest angle (deg) between neighbouring weight directions and :func:`weight_margin`."""
    w = _unit(weights)
    a = np.sort(angles(w))
    steps = np.diff(np.concatenate([a, a[:1] + 2 * np.pi]))
    return {"weight_min_gap_deg": float(np.degrees(steps.min())), "weight_margin": weight_margin(weights)}


def weight_margins(weights: np.ndarray) -> np.ndarray:
    """Per class i: 1 - max_{j != i} cos(W_i, W_j) (norms ignored), the cosine margin a feature lying exactly on
    W_i keeps over the nearest other class weight."""
    w = _unit(weights)
    cos = w @ w.T
    np.fill_diagonal(cos, -np.inf)
    return 1.0 - cos.max(1)


def weight_margin(weights: np.ndarray) -> float:
    """1 - max_{i != j} cos(W_i, W_j): the smallest of :func:`weight_margins`, the largest cosine margin m for which
    *every* class can have features meeting the LMCL constraint cos(theta_y) - m > cos(theta_j). For C weights evenly
    on the circle it is 1 - cos(2 pi / C), the Eq. 7 bound; no arrangement of C >= 3 weights in 2-D exceeds it."""
    return float(weight_margins(weights).min())


def feature_margins(features: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per feature: cos(theta_y) - max_{j != y} cos(theta_j), with theta_j the angle between the feature and the
    direction of W_j (norms of both ignored). Positive: the cosine rule classifies it correctly with that much
    margin; the LMCL constraint of Eq. 4 at margin m is ``feature_margins > m``.

    With the weights evenly on the circle the best a feature can do is to lie on its own weight, giving
    1 - cos(2 pi / C); with uneven weights a single class can do better (a feature may turn away from a close
    neighbour), but not all classes at once: maximising the smallest class's margin over all placements of 8
    weights and 8 features in 2-D gives 1 - cos(pi / 4) = 0.2929 again (numerical optimisation), so the
    class-wise :func:`feature_margin` saturates at the Eq. 7 bound."""
    f = _unit(features)
    cos = f @ _unit(weights).T
    y = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(y))
    own = cos[rows, y].copy()
    cos[rows, y] = -np.inf
    return own - cos.max(1)


def feature_margin(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, q: float = 5.0) -> float:
    """The smallest over classes of the ``q``-th percentile of :func:`feature_margins` within the class: the cosine
    margin against the other classes' weight directions that (100 - q) % of the features of *every* class achieve
    (q = 5: a few outliers do not decide it; per class, so the largest identity does not dominate)."""
    fm = feature_margins(features, labels, weights)
    y = np.asarray(labels)
    return float(min(np.percentile(fm[y == c], q) for c in np.unique(y)))


def linear_rule_accuracy(features: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Accuracy of argmax_j W_j^T x (the softmax head's own rule, bias-free)."""
    pred = (np.asarray(features, np.float64) @ np.asarray(weights, np.float64).T).argmax(1)
    return float((pred == np.asarray(labels)).mean())


def cosine_rule_accuracy(features: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Accuracy of argmax_j cos(theta_j), the class-weight *directions* alone (the normalised heads' own rule). For a
    softmax model the drop from :func:`linear_rule_accuracy` measures how far its decision boundaries depend on the
    weight norms rather than on angles: the angular ambiguity of Fig. 4 (first column)."""
    pred = (_unit(features) @ _unit(weights).T).argmax(1)
    return float((pred == np.asarray(labels)).mean())


def decision_regions(weights: np.ndarray, rule: str = "cosine", resolution_deg: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """The class predicted at every direction of the circle: ``(grid angles in rad, class index)`` on a grid of
    ``resolution_deg``. ``rule="linear"``: argmax_j W_j^T u (softmax; bias-free, so it depends only on the
    direction u and the decision regions are sectors); ``rule="cosine"``: argmax_j cos(u, W_j)."""
    if rule not in ("linear", "cosine"):
        raise ValueError(f"rule must be 'linear' or 'cosine', got {rule!r}")
    n = int(round(360.0 / resolution_deg))
    grid = 2 * np.pi * np.arange(n) / n
    u = np.stack([np.cos(grid), np.sin(grid)], 1)
    w = np.asarray(weights, dtype=np.float64) if rule == "linear" else _unit(weights)
    return grid, (u @ w.T).argmax(1)


def boundary_margins(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, rule: str = "cosine", resolution_deg: float = 0.01
) -> np.ndarray:
    """Per feature, the signed angle (deg) to the nearest decision boundary of the rule (see
    :func:`decision_regions`): for a correctly classified feature, how far it can turn either way before it leaves
    its class's region; for a misclassified one, minus how far it must turn to reach its class's region (-180 if the
    class has no region at all). Accurate to ``resolution_deg``. For the cosine rule with C weights evenly on the
    circle and a feature at angle delta from its weight, it is 180 / C - |delta|."""
    grid, pred = decision_regions(weights, rule, resolution_deg)
    n = len(grid)
    step = 2 * np.pi / n
    phi = angles(np.asarray(features, dtype=np.float64)) % (2 * np.pi)
    k = np.round(phi / step).astype(np.int64) % n
    y = np.asarray(labels, dtype=np.int64)
    out = np.empty(len(phi))
    idx = np.arange(n)
    for c in np.unique(y):
        sel = np.flatnonzero(y == c)
        inside = pred == c
        if inside.all():
            out[sel] = 180.0
            continue
        if not inside.any():
            out[sel] = -180.0
            continue
        # distance (in grid steps) from every grid point to the nearest point of the other kind, round the circle
        change = np.flatnonzero(inside != np.roll(inside, 1))  # first point of each run
        # boundary positions between grid points: change - 0.5
        b = change - 0.5
        d = np.abs(idx[:, None] - b[None, :])
        d = np.minimum(d, n - d).min(1)
        signed = np.where(inside, d, -d)
        out[sel] = signed[k[sel]] * np.degrees(step)
    return out


def boundary_margin(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, rule: str = "cosine", q: float = 5.0
) -> float:
    """The smallest over classes of the ``q``-th percentile of :func:`boundary_margins` within the class (deg): the
    angular margin to the model's own decision boundary that (100 - q) % of the features of every class keep."""
    bm = boundary_margins(features, labels, weights, rule)
    y = np.asarray(labels)
    return float(min(np.percentile(bm[y == c], q) for c in np.unique(y)))


def summarise(result: Any, coverage: float = 0.9) -> dict[str, float]:
    """The table row of one run (a :class:`labkit.experiments.toy.train.ToyResult` or anything with the same fields)."""
    tr = result.is_train
    out: dict[str, float] = {"train_acc": float(result.train_acc), "test_acc": float(result.test_acc)}
    for split, mask in (("train", tr), ("test", ~tr)):
        g = class_geometry(result.features[mask], result.labels[mask], coverage)
        gaps = neighbour_gaps(result.features[mask], result.labels[mask], coverage)
        out[f"{split}_spread_deg"] = float(g["spread"].mean())
        out[f"{split}_min_gap_deg"] = float(gaps.min())
        out[f"{split}_mean_gap_deg"] = float(gaps.mean())
    out.update(weight_geometry(result.weights))
    cfg = getattr(result, "config", None)
    rule = "linear" if getattr(cfg, "head", "") == "softmax" else "cosine"
    for split, mask in (("train", tr), ("test", ~tr)):
        f, y = result.features[mask], result.labels[mask]
        out[f"{split}_cos_rule_acc"] = cosine_rule_accuracy(f, y, result.weights)
        out[f"{split}_feature_margin_p5"] = feature_margin(f, y, result.weights)
        out[f"{split}_boundary_margin_p5_deg"] = boundary_margin(f, y, result.weights, rule)
    out["eq7_bound"] = float(m_upper_bound(len(np.unique(result.labels)), 2).value)
    return {k: round(v, 5) for k, v in out.items()}
