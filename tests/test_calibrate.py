"""The threshold helper of :mod:`labkit.evaluate.calibrate`, against a brute-force search written here."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.evaluate.calibrate import calibrate, calibrate_threshold, threshold_source


def brute_force(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Best accuracy over every midpoint (and both ends), lowest threshold on ties: an independent loop."""
    u = sorted(set(scores.tolist()))
    cands = [u[0] - 1.0] + [(a + b) / 2 for a, b in zip(u, u[1:])] + [u[-1] + 1.0]
    best_t, best_acc = None, -1.0
    for t in cands:
        acc = float(np.mean((scores > t) == same))
        if acc > best_acc:
            best_t, best_acc = t, acc
    return best_t, best_acc


def test_separable_scores_give_the_midpoint_of_the_gap():
    scores = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    same = np.array([False, False, False, True, True, True])
    assert calibrate_threshold(scores, same) == pytest.approx((0.35 + 0.6) / 2)


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    same = rng.random(300) < 0.5
    scores = np.round(np.where(same, rng.normal(0.5, 0.2, 300), rng.normal(0.1, 0.2, 300)), 2)  # ties included
    t_ref, acc_ref = brute_force(scores, same)
    t, source = calibrate(scores, same, "a random test set", note="made up here")
    assert t == pytest.approx(t_ref) and calibrate_threshold(scores, same.astype(int)) == pytest.approx(t_ref)
    assert source == f"best accuracy ({100 * acc_ref:.2f} %) on the 300 pairs of a random test set, made up here"


def test_one_label_only_is_an_error():
    with pytest.raises(ValueError, match="needs matched and mismatched pairs; got 3 matched and 0"):
        calibrate_threshold([0.1, 0.2, 0.3], [True, True, True])


def test_source_sentence():
    text = threshold_source("LFW View 2 fold 0", 600, 0.975, "which the model never saw")
    assert text == "best accuracy (97.50 %) on the 600 pairs of LFW View 2 fold 0, which the model never saw"
