"""The k-fold verification protocol (LFW/YTF) and the ROC summaries, on constructed scores with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from labkit.evaluate.verification import (
    accuracy_at,
    best_threshold,
    kfold_verification,
    roc_summary,
    threshold_candidates,
)


def reference_kfold(scores, labels, folds):
    """An independent, loop-by-loop reading of the protocol: for each fold, try every midpoint threshold of the
    other folds' scores (plus one below and one above all), keep the first best, score the held-out fold."""
    scores = [float(s) for s in scores]
    accs, thrs = [], []
    for f in sorted(set(folds)):
        train = [(s, y) for s, y, g in zip(scores, labels, folds) if g != f]
        test = [(s, y) for s, y, g in zip(scores, labels, folds) if g == f]
        values = sorted({s for s, _ in train})
        cands = [values[0] - 1.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1.0]
        best_t, best_c = None, -1
        for t in cands:
            correct = sum(1 for s, y in train if (s > t) == bool(y))
            if correct > best_c:
                best_t, best_c = t, correct
        thrs.append(best_t)
        accs.append(sum(1 for s, y in test if (s > best_t) == bool(y)) / len(test))
    return accs, thrs


def test_hand_computed_folds_with_tie_rule():
    # every fold: matched scores 0.8, 0.6, 0.3 and mismatched 0.5, 0.2, 0.1. On any nine folds the best accuracy
    # 5/6 is reached by two splits: reject 0.3 (threshold 0.55) or accept 0.5 (threshold 0.25). Ties -> lowest: 0.25.
    one = ([0.8, 0.6, 0.3, 0.5, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    scores = np.tile(one[0], 10)
    labels = np.tile(one[1], 10)
    folds = np.repeat(np.arange(10), 6)
    res = kfold_verification(scores, labels, folds)
    assert res.fold_thresholds == pytest.approx([0.25] * 10, abs=1e-15)
    assert res.fold_accuracies == [5 / 6] * 10
    assert res.fold_train_accuracies == [5 / 6] * 10
    assert res.mean_accuracy == pytest.approx(5 / 6, abs=1e-15)
    assert res.std_accuracy == 0.0 and res.standard_error == 0.0


def test_threshold_never_sees_its_own_fold():
    # folds 0..8: matched at 0.9, mismatched at 0.1 -> on them alone the threshold is 0.5.
    # fold 9: matched at 0.4, mismatched at 0.05. Fold 9's threshold from folds 0..8 is 0.5, which rejects its
    # matched pairs (accuracy 1/2). Had fold 9 been in its own training set, 0.25 would separate everything and
    # fold 9 would score 1.0. The other folds do train on fold 9: their threshold is 0.25 (the only perfect split).
    scores, labels, folds = [], [], []
    for f in range(10):
        pos, neg = (0.4, 0.05) if f == 9 else (0.9, 0.1)
        scores += [pos] * 5 + [neg] * 5
        labels += [1] * 5 + [0] * 5
        folds += [f] * 10
    res = kfold_verification(scores, labels, folds)
    assert res.fold_thresholds[9] == pytest.approx(0.5)
    assert res.fold_accuracies[9] == 0.5
    assert res.fold_thresholds[:9] == pytest.approx([0.25] * 9)
    assert res.fold_accuracies[:9] == [1.0] * 9
    assert res.mean_accuracy == pytest.approx(0.95)
    # std(ddof=1) of nine 1.0 and one 0.5 is sqrt(0.225 / 9); divided by sqrt(10) it is exactly 0.05
    assert res.standard_error == pytest.approx(0.05)
    # the leaky variant really would differ: best threshold on all folds, applied to fold 9
    t_all, _ = best_threshold(scores, labels)
    assert accuracy_at(np.array(scores)[90:], np.array(labels)[90:], t_all) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_exactly_with_reference_on_tied_discrete_scores(seed):
    rng = np.random.default_rng(seed)
    n = 600
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.normal(labels * 0.8, 1.0) * 4) / 4  # coarse grid: many ties
    folds = rng.integers(0, 10, n)
    res = kfold_verification(scores, labels, folds)
    accs, thrs = reference_kfold(scores, labels, folds.tolist())
    assert res.fold_accuracies == accs
    assert res.fold_thresholds == thrs
    assert res.mean_accuracy == pytest.approx(float(np.mean(accs)), abs=1e-15)


def test_best_threshold_is_exhaustive():
    rng = np.random.default_rng(5)
    s, y = rng.normal(size=200), rng.integers(0, 2, 200)
    t, acc = best_threshold(s, y)
    all_accs = [accuracy_at(s, y, c) for c in threshold_candidates(s)]
    assert acc == max(all_accs)
    assert accuracy_at(s, y, t) == acc


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        kfold_verification([0.1, 0.2], [1], [0, 1])
    with pytest.raises(ValueError, match="at least two folds"):
        kfold_verification([0.1, 0.2], [1, 0], [0, 0])
    with pytest.raises(ValueError, match="not finite"):
        kfold_verification([0.1, float("nan")], [1, 0], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        kfold_verification([0.1, 0.2], [2, 0], [0, 1])


def test_roc_separable():
    s = np.r_[np.linspace(0.6, 1.0, 50), np.linspace(-1.0, 0.4, 50)]
    y = np.r_[np.ones(50), np.zeros(50)]
    r = roc_summary(s, y)
    assert r.auc == 1.0 and r.eer == 0.0
    assert r.tar_at_far["0.001"] == 1.0
    assert 0.4 <= r.eer_threshold <= 0.6


def test_roc_inseparable_and_reversed():
    v = np.linspace(0, 1, 101)
    same = roc_summary(np.r_[v, v], np.r_[np.ones(101), np.zeros(101)])
    assert same.auc == pytest.approx(0.5) and same.eer == pytest.approx(0.5)
    rev = roc_summary(np.r_[v[:50], v[51:]], np.r_[np.ones(50), np.zeros(50)])
    assert rev.auc == 0.0 and rev.eer == 1.0


def test_tar_at_far_and_resolution_flag():
    neg = np.arange(1000) / 1000  # highest mismatched score 0.999
    pos = np.r_[np.full(5, 0.9985), np.full(5, 0.5)]
    r = roc_summary(np.r_[pos, neg], np.r_[np.ones(10), np.zeros(1000)], fars=(1e-3, 1e-4))
    assert r.tar_at_far["0.001"] == 0.5  # one false accept (0.999) allowed: the five 0.9985 pass
    assert r.tar_at_far["0.0001"] == 0.0  # no false accept allowed: nothing beats 0.999
    assert r.far_below_resolution == ["0.0001"]  # 1e-4 < 1/1000 impostor pairs


def test_result_serialises_with_options():
    rng = np.random.default_rng(0)
    y = np.tile(np.r_[np.ones(30), np.zeros(30)], 10)
    res = kfold_verification(rng.normal(y, 1), y, np.repeat(np.arange(10), 60), options={"flip": "concat"})
    d = json.loads(res.to_json())
    assert d["options"]["flip"] == "concat" and "threshold_selection" in d["options"]
    assert d["n_pairs"] == 600 and len(d["fold_accuracies"]) == 10
    assert "fpr" not in d["roc"]
    assert len(json.loads(res.to_json(include_curve=True))["roc"]["fpr"]) > 2
    assert math.isclose(d["mean_accuracy"], float(np.mean(d["fold_accuracies"])))


# ---- ROC, EER and TAR at FAR: numpy implementation against sklearn.metrics.roc_curve and closed forms ----------


@pytest.mark.parametrize("seed", range(4))
def test_roc_points_match_sklearn(seed):
    from sklearn.metrics import auc, roc_curve

    from labkit.evaluate.verification import roc_points

    rng = np.random.default_rng(seed)
    y = rng.random(700) < 0.4
    s = np.round(rng.normal(y * 1.2, 1.0), 1 + seed % 3)  # rounding makes many tied scores
    fpr, tpr, thr = roc_points(s, y)
    ref_fpr, ref_tpr, ref_thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, ref_tpr, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(thr[1:], ref_thr[1:])
    assert np.isinf(thr[0])
    assert roc_summary(s, y).auc == pytest.approx(auc(ref_fpr, ref_tpr), abs=1e-12)


def test_tar_at_far_matches_a_search_over_sklearn_points():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(7)
    y = np.r_[np.ones(3000, bool), np.zeros(3000, bool)]
    s = rng.normal(np.where(y, 2.0, 0.0), 1.0)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    r = roc_summary(s, y, fars=(1e-3, 1e-4, 0.01))
    for far in (1e-3, 1e-4, 0.01):
        assert r.tar_at_far[str(far)] == max(t for f, t in zip(fpr, tpr) if f <= far)
    assert r.far_below_resolution == ["0.0001"]  # 1e-4 < 1/3000


def test_tar_at_far_closed_form():
    """Mismatched scores 0, 1, ..., 999, matched 0.5, 1.5, ..., 999.5. At most k false accepts means a threshold
    above 999 - k; the lowest such ROC point is the matched score 999.5 - k, which accepts the k + 1 matched scores
    999.5 - k .. 999.5: TAR at FAR k/1000 is (k + 1) / 1000."""
    neg = np.arange(1000, dtype=float)
    r = roc_summary(np.r_[neg + 0.5, neg], np.r_[np.ones(1000), np.zeros(1000)], fars=(0.001, 0.01, 0.1, 0.25))
    for far, tar in r.tar_at_far.items():
        k = round(float(far) * 1000)
        assert tar == pytest.approx((k + 1) / 1000)
    assert r.far_below_resolution == []


def test_eer_closed_form_uniform_overlap():
    """Matched scores uniform on [a, 1], mismatched uniform on [0, b], a < b. For t in [a, b], FAR = (b - t) / b and
    FRR = (t - a) / (1 - a); they are equal at t* = b / (1 + b - a), where EER = (b - a) / (1 + b - a)."""
    a, b, n = 0.3, 0.6, 200_000
    r = roc_summary(np.r_[np.linspace(a, 1.0, n), np.linspace(0.0, b, n)], np.r_[np.ones(n), np.zeros(n)],
                    keep_curve=False)
    assert r.eer == pytest.approx((b - a) / (1 + b - a), abs=1e-4)
    assert r.eer_threshold == pytest.approx(b / (1 + b - a), abs=1e-4)
