"""labkit.evaluate.analysis: the fold tables, per-pair thresholds and errors, raw-pixel baseline, probe/distractor
split and seed summary that notebook 06 calls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from labkit.data.lfw import Pair
from labkit.evaluate import analysis, kfold_verification
from labkit.evaluate.identification import identification


def test_markdown_table_and_fold_table():
    assert analysis.markdown_table(["a", "b"], [(1, "x|y")]) == "| a | b |\n|---|---|\n| 1 | x\\|y |"
    scores, labels, folds = analysis.shifted_fold_example()
    res = kfold_verification(scores, labels, folds)
    lines = analysis.fold_table(res, threshold_decimals=3, accuracy_decimals=0).splitlines()
    assert len(lines) == 2 + 10
    assert lines[2] == "| 0 | 0.250 | 100 % |" and lines[-1] == "| 9 | 0.500 | 50 % |"


def test_shifted_fold_example_shows_the_held_out_threshold():
    scores, labels, folds = analysis.shifted_fold_example()
    assert scores.shape == labels.shape == folds.shape == (100,)
    res = kfold_verification(scores, labels, folds)
    assert res.fold_thresholds[9] == pytest.approx(0.5) and res.fold_accuracies[9] == 0.5
    assert res.fold_accuracies[:9] == [1.0] * 9 and res.mean_accuracy == pytest.approx(0.95)


def test_fold_counts_works_for_lfw_and_ytf_pairs():
    from labkit.data.ytf import VideoPair

    lfw = [Pair("A", 1, "A", 2, True, 1), Pair("A", 1, "B", 1, False, 1), Pair("C", 1, "C", 2, True, 0)]
    assert analysis.fold_counts(lfw) == {0: (1, 0), 1: (1, 1)}
    ytf = [VideoPair(0, 1, "A", 1, "A", 2, True), VideoPair(0, 2, "A", 1, "B", 1, False)]
    assert analysis.fold_counts(ytf) == {0: (1, 1)}


def test_per_pair_thresholds_and_errors():
    scores, labels, folds = analysis.shifted_fold_example()
    res = kfold_verification(scores, labels, folds)
    thr = analysis.per_pair_thresholds(res, folds)
    assert thr.shape == (100,) and np.all(thr[folds == 9] == res.fold_thresholds[9])
    assert np.all(thr[folds == 0] == res.fold_thresholds[0])
    errors = analysis.pair_errors(scores, labels, thr)
    assert errors.false_rejects.tolist() == [90, 91, 92, 93, 94] and errors.false_accepts.size == 0
    assert errors.worst(2) == [("false reject", 90), ("false reject", 91)]
    assert "5 false rejects and 0 false accepts among 100 pairs" == errors.summary()
    # errors agree with the result's own fold accuracies
    wrong = errors.false_rejects.size + errors.false_accepts.size
    assert 1 - wrong / 100 == pytest.approx(res.mean_accuracy)
    with pytest.raises(ValueError, match="do not match"):
        analysis.per_pair_thresholds(res, folds[:50])


def test_pair_errors_order_worst_first():
    e = analysis.pair_errors([0.1, -0.5, 0.9, 0.7, 0.2], [1, 1, 0, 0, 0], 0.3)
    assert e.false_rejects.tolist() == [1, 0] and e.false_accepts.tolist() == [2, 3]


def test_pair_scores_are_row_cosines():
    f = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    s = analysis.pair_scores(f, np.array([[0, 1], [0, 2], [2, 2]]))
    np.testing.assert_allclose(s, [0.0, math.sqrt(0.5), 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="pairs, 2"):
        analysis.pair_scores(f, np.array([0, 1]))


def test_raw_pixel_features_and_baseline(tmp_path):
    rng = np.random.default_rng(0)
    people = {n: rng.integers(0, 256, (112, 96), dtype=np.uint8) for n in ("A", "B", "C", "D")}
    for n, base in people.items():
        (tmp_path / n).mkdir()
        for i in (1, 2):
            noisy = np.clip(base.astype(int) + rng.integers(-10, 11, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).convert("RGB").save(tmp_path / n / f"{n}_{i:04d}.jpg", quality=95)
    feats = analysis.raw_pixel_features(tmp_path, ["A/A_0001.jpg"], size=(28, 24))
    v = feats["A/A_0001.jpg"]
    assert v.shape == (28 * 24,) and abs(float(v.mean())) < 1e-3
    pairs = []
    for fold, (a, b) in enumerate((("A", "B"), ("C", "D"))):
        pairs += [Pair(a, 1, a, 2, True, fold), Pair(b, 1, b, 2, True, fold), Pair(a, 1, b, 1, False, fold),
                  Pair(b, 2, a, 2, False, fold)]
    res = analysis.raw_pixel_baseline(pairs, tmp_path, size=(28, 24))
    assert res.n_pairs == 8 and res.mean_accuracy == 1.0  # the same noisy picture beats a different picture
    assert res.options["features"] == "raw pixels 28x24 grey, centred"


def test_probe_distractor_split_and_steps():
    names = ["A", "B", "A", "C", "D", "D", "D"]
    split = analysis.probe_distractor_split(names)
    assert split.is_probe.tolist() == [True, False, True, False, True, True, True]
    assert split.probe_names == ["A", "D"] and split.probe_labels.tolist() == [0, 0, 1, 1, 1]
    assert split.n_distractors == 2
    assert analysis.distractor_steps(602) == [10, 30, 100, 300, 602]
    assert analysis.distractor_steps(1000) == [10, 30, 100, 300, 1000]
    assert analysis.distractor_steps(5) == [5]
    with pytest.raises(ValueError, match="no distractors"):
        analysis.distractor_steps(0)


def test_singleton_identification_equals_the_protocol_on_the_split():
    rng = np.random.default_rng(1)
    names = [f"p{i}" for i in range(6) for _ in range(3)] + [f"d{i}" for i in range(40)]
    centres = {n: rng.normal(size=16) for n in set(names)}
    feats = np.stack([centres[n] + 0.3 * rng.normal(size=16) for n in names]).astype(np.float32)
    res, split = analysis.singleton_identification(feats, names, far=1e-2, options={"data": "synthetic"})
    ref = identification(feats[split.is_probe], split.probe_labels, feats[~split.is_probe], counts=[10, 30, 40],
                         far=1e-2)
    assert res.distractor_counts == [10, 30, 40] and res.rank1 == ref.rank1 and res.tar_at_far == ref.tar_at_far
    assert res.n_identities == 6 and res.options["data"] == "synthetic"


def test_seed_summary():
    one = analysis.seed_summary([0.9], fold_se=0.01)
    assert (one.mean, one.se, one.over) == (0.9, 0.01, "10-fold s.e., 1 seed")
    assert one.text() == "90.00 ± 1.00 (10-fold s.e., 1 seed)"
    three = analysis.seed_summary([0.9, 0.8, 0.7])
    assert three.mean == pytest.approx(0.8) and three.se == pytest.approx(0.1 / math.sqrt(3))
    assert three.over == "3 seeds"
    with pytest.raises(ValueError, match="fold_se"):
        analysis.seed_summary([0.9])


def test_roc_curves_labels():
    from labkit.evaluate import roc_summary

    r = roc_summary([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1])
    [(label, same)] = analysis.roc_curves({"m": r})
    assert label == "m: AUC 1.000, EER 0.0 %" and same is r


@pytest.mark.data
def test_raw_pixel_baseline_on_real_view2(data_dir):
    from labkit.data.lfw import lfw_paths
    from labkit.evaluate.lfw import load_lfw_pairs

    data_dir("lfw_aligned_112x96")
    root = data_dir("lfw").parent
    pairs = load_lfw_pairs(root)
    res = analysis.raw_pixel_baseline(pairs, lfw_paths(root, "aligned"))
    assert res.n_pairs == 6000 and res.n_folds == 10
    assert 0.60 < res.mean_accuracy < 0.68  # alignment alone: well above chance, far below any trained model
