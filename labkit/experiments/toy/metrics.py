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


def weight_geometry(weights: np.ndarray) -> dict[str, float]:
    w = np.asarray(weights, dtype=np.float64)
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    a = np.sort(angles(w))
    steps = np.diff(np.concatenate([a, a[:1] + 2 * np.pi]))
    cos = w @ w.T
    np.fill_diagonal(cos, -np.inf)
    return {"weight_min_gap_deg": float(np.degrees(steps.min())), "weight_margin": float(1 - cos.max())}


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
    out["eq7_bound"] = float(m_upper_bound(len(np.unique(result.labels)), 2).value)
    return {k: round(v, 5) for k, v in out.items()}
