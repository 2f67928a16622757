"""Pair verification on similarity scores: the 10-fold protocol of LFW and YTF, and ROC summaries.

Protocol (LFW "unrestricted, labeled outside data", reused by YTF): the pairs come in ``k`` folds (10 for both).
For each fold ``f`` a single threshold ``t_f`` is chosen on the *other* ``k-1`` folds only, as the threshold with
the best accuracy there; fold ``f`` is then scored with ``t_f``. The reported figure is the mean of the ``k`` fold
accuracies with its standard error ``std(ddof=1) / sqrt(k)``.

Decision rule: a pair is declared "same" when its score is strictly greater than the threshold.

Threshold candidates: for training scores with sorted distinct values ``u_0 < ... < u_{n-1}``, the candidates are
``u_0 - 1``, the midpoints ``(u_{i-1} + u_i) / 2`` and ``u_{n-1} + 1``. Every distinct way of splitting the training
scores by a threshold is represented exactly once, so the search is exhaustive. Ties in training accuracy go to the
*lowest* candidate.

ROC summaries (:func:`roc_summary`, all pairs pooled): the ROC curve (:func:`roc_points`), its area, the equal
error rate (:func:`equal_error_rate`) and the true accept rate at a fixed false accept rate (:func:`tar_at_far`; the
paper's MegaFace verification column is TAR at FAR 1e-6). They are computed here with numpy from the sorted scores;
the tests check them against :func:`sklearn.metrics.roc_curve` and closed forms.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DEFAULT_FARS: tuple[float, ...] = (1e-3, 1e-4)


def _as_scores_labels(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels)
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be booleans or 0/1 (1 = same identity)")
        y = y.astype(bool)
    y = y.reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    if s.size == 0:
        raise ValueError("no pairs to evaluate")
    if not np.isfinite(s).all():
        bad = int(np.flatnonzero(~np.isfinite(s))[0])
        raise ValueError(f"score {bad} is not finite ({s[bad]}); check the features for NaN or zero vectors")
    return s, y


def threshold_candidates(scores: np.ndarray) -> np.ndarray:
    """All thresholds that split ``scores`` differently: below the minimum, between neighbours, above the maximum."""
    u = np.unique(np.asarray(scores, dtype=np.float64))
    return np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2.0, [u[-1] + 1.0]])


def accuracy_at(scores: Any, labels: Any, threshold: float) -> float:
    """Fraction of pairs classified correctly when "same" means ``score > threshold``."""
    s, y = _as_scores_labels(scores, labels)
    return float(np.mean((s > threshold) == y))


def best_threshold(scores: Any, labels: Any) -> tuple[float, float]:
    """The threshold with the best accuracy on these pairs, and that accuracy.

    Exhaustive over :func:`threshold_candidates`, vectorised: with the distinct values sorted, the candidate just
    below ``u_i`` accepts every pair with a value ``>= u_i``, so the correct decisions are the negatives among
    ``u_0..u_{i-1}`` plus the positives among ``u_i..u_{n-1}`` (two cumulative sums). Ties go to the lowest threshold.
    """
    s, y = _as_scores_labels(scores, labels)
    u, inv = np.unique(s, return_inverse=True)
    pos = np.bincount(inv, weights=y.astype(np.float64), minlength=u.size)
    neg = np.bincount(inv, weights=(~y).astype(np.float64), minlength=u.size)
    neg_below = np.concatenate([[0.0], np.cumsum(neg)])  # negatives with value < u_i, i = 0..n
    pos_at_or_above = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])  # positives with value >= u_i
    correct = neg_below + pos_at_or_above
    i = int(np.argmax(correct))  # first maximum = lowest threshold
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2.0, [u[-1] + 1.0]])
    return float(cands[i]), float(correct[i] / s.size)


def roc_points(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve: ``(fpr, tpr, thresholds)``, one point per distinct score plus the origin.

    Point ``i`` accepts every pair with ``score >= thresholds[i]``; the thresholds are the distinct scores in
    decreasing order, preceded by ``+inf`` (nothing accepted: the point (0, 0)). FPR is the fraction of mismatched
    pairs accepted (the false accept rate, FAR), TPR the fraction of matched pairs accepted (TAR). Sorting once
    and counting cumulatively makes it O(n log n).
    """
    s, y = _as_scores_labels(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both classes; got {n_pos} matched and {n_neg} mismatched pairs")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    fpr = np.r_[0.0, fp / n_neg]
    tpr = np.r_[0.0, tp / n_pos]
    return fpr, tpr, np.r_[np.inf, s_sorted[last]]


def equal_error_rate(fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """``(eer, threshold)``: where the false accept rate equals the false reject rate ``1 - TPR`` along the ROC
    curve, linearly interpolated between the two points around the crossing (the threshold likewise)."""
    diff = fpr - (1.0 - tpr)  # increases from -1 to 1 along the curve
    j = int(np.argmax(diff >= 0))
    if j == 0 or diff[j] == 0:
        return float(fpr[j]), float(thresholds[j])
    a = diff[j - 1] / (diff[j - 1] - diff[j])  # fraction of the way from point j-1 to j where diff = 0
    t0 = thresholds[j - 1] if np.isfinite(thresholds[j - 1]) else thresholds[j]
    return float(fpr[j - 1] + a * (fpr[j] - fpr[j - 1])), float(t0 + a * (thresholds[j] - t0))


def tar_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float) -> float:
    """The highest true accept rate among ROC points whose false accept rate is at most ``far``."""
    if not 0 <= far <= 1:
        raise ValueError(f"a false accept rate lies in [0, 1], got {far}")
    return float(tpr[fpr <= far].max())


@dataclass
class RocSummary:
    """Pooled ROC of all pairs, with EER and TAR at fixed FAR.

    ``tar_at_far[str(far)]`` is the highest TPR among ROC points with FPR <= far. When far is below
    ``1 / n_negative`` the only such points have FPR 0, so the figure is limited by the number of impostor pairs:
    those targets are listed in ``far_below_resolution``.
    """

    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: dict[str, float]
    far_below_resolution: list[str]
    n_positive: int
    n_negative: int
    fpr: list[float] = field(repr=False, default_factory=list)
    tpr: list[float] = field(repr=False, default_factory=list)

    def tar_text(self) -> str:
        """``"TAR 97.10 % at FAR 0.001, 95.00 % at FAR 0.0001 (not resolved: < 1/n mismatched)"``."""
        parts = []
        for far, tar in self.tar_at_far.items():
            flag = f" (not resolved: < 1/{self.n_negative:,} mismatched)" if far in self.far_below_resolution else ""
            parts.append(f"{100 * tar:.2f} % at FAR {float(far):g}{flag}")
        return "TAR " + ", ".join(parts)


def roc_summary(scores: Any, labels: Any, fars: tuple[float, ...] = DEFAULT_FARS, keep_curve: bool = True) -> RocSummary:
    """ROC curve (:func:`roc_points`), its area (trapezoids), EER (:func:`equal_error_rate`) and TAR at each FAR in
    ``fars`` (:func:`tar_at_far`), with the FARs finer than one mismatched pair flagged."""
    s, y = _as_scores_labels(scores, labels)
    fpr, tpr, thr = roc_points(s, y)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    eer, eer_thr = equal_error_rate(fpr, tpr, thr)
    tar = {str(far): tar_at_far(fpr, tpr, far) for far in fars}
    below = [str(far) for far in fars if far < 1.0 / n_neg]
    return RocSummary(
        auc=area, eer=eer, eer_threshold=eer_thr, tar_at_far=tar, far_below_resolution=below,
        n_positive=n_pos, n_negative=n_neg,
        fpr=fpr.tolist() if keep_curve else [], tpr=tpr.tolist() if keep_curve else [],
    )


@dataclass
class VerificationResult:
    """Result of the k-fold verification protocol, with every option that affects the numbers in ``options``."""

    protocol: str
    n_pairs: int
    n_folds: int
    fold_accuracies: list[float]
    fold_thresholds: list[float]
    fold_train_accuracies: list[float]
    mean_accuracy: float
    std_accuracy: float
    standard_error: float
    roc: RocSummary
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, include_curve: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not include_curve:
            d["roc"].pop("fpr")
            d["roc"].pop("tpr")
        return d

    def to_json(self, include_curve: bool = False, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(include_curve=include_curve), **{"indent": 2, **kwargs})

    def summary(self) -> str:
        return (
            f"{self.protocol}: {100 * self.mean_accuracy:.2f}% ± {100 * self.standard_error:.2f} (s.e., {self.n_folds} folds, "
            f"{self.n_pairs} pairs), AUC {self.roc.auc:.4f}, EER {100 * self.roc.eer:.2f}%; {self.roc.tar_text()}"
        )


def kfold_verification(
    scores: Any,
    labels: Any,
    folds: Any,
    protocol: str = "verification",
    fars: tuple[float, ...] = DEFAULT_FARS,
    options: dict[str, Any] | None = None,
) -> VerificationResult:
    """Run the k-fold protocol on pair scores.

    ``folds[i]`` is the fold of pair ``i`` (any hashable labels; the folds are taken in sorted order). For each
    fold the threshold comes from :func:`best_threshold` on the pairs of all *other* folds; the fold's accuracy
    uses that threshold on its own pairs only.
    """
    s, y = _as_scores_labels(scores, labels)
    f = np.asarray(folds).reshape(-1)
    if f.shape != s.shape:
        raise ValueError(f"folds ({f.size}) and scores ({s.size}) differ in length")
    names = np.unique(f)
    if names.size < 2:
        raise ValueError("k-fold verification needs at least two folds")
    accs, thrs, train_accs = [], [], []
    for name in names:
        test = f == name
        t, train_acc = best_threshold(s[~test], y[~test])
        thrs.append(t)
        train_accs.append(train_acc)
        accs.append(float(np.mean((s[test] > t) == y[test])))
    a = np.asarray(accs)
    k = a.size
    std = float(a.std(ddof=1))
    opts = {
        "decision": "same if score > threshold",
        "threshold_selection": "best accuracy on the other folds; exhaustive over midpoints; ties -> lowest",
        "standard_error": "std(ddof=1) / sqrt(n_folds)",
        "roc": "pooled over all pairs; accept if score >= t at each distinct score",
        "folds": [str(n) for n in names],
        **(options or {}),
    }
    return VerificationResult(
        protocol=protocol, n_pairs=int(s.size), n_folds=k, fold_accuracies=accs, fold_thresholds=thrs,
        fold_train_accuracies=train_accs, mean_accuracy=float(a.mean()), std_accuracy=std,
        standard_error=std / math.sqrt(k), roc=roc_summary(s, y, fars), options=opts,
    )
