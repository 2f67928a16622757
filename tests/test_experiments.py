"""labkit.experiments.lab_scale: identity-disjoint split on the real protocol files, re-training the cheapest shipped
setting and matching it within seed noise, per-epoch diagnostics, the convergence rule, paired differences, JSON round
trip of records, the shipped grid and its manifest, clear errors for bad configs."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from labkit.experiments import lab_scale as E


def test_split_is_identity_disjoint_on_real_protocol_files(data_dir):
    root = data_dir("lfw").parent
    train, test = E.identity_split(root, min_images=5)
    assert len(train) == 298 and all(c >= 5 for c in train.values())
    assert not set(train) & set(test)
    pairs = E.devtest_pairs(root)
    assert len(pairs) == 1000
    pair_people = {p.name1 for p in pairs} | {p.name2 for p in pairs}
    assert pair_people <= set(test)
    assert not pair_people & set(train)
    # 10 folds of 50 matched + 50 mismatched pairs
    folds = np.array([p.fold for p in pairs])
    same = np.array([p.same for p in pairs])
    for f in range(10):
        assert (same[folds == f]).sum() == 50 and (~same[folds == f]).sum() == 50


def test_view2_split_trains_on_everybody_outside_the_test_fold(data_dir):
    root = data_dir("lfw").parent
    train, test = E.identity_split(root, min_images=2, protocol="view2", test_fold=3)
    pairs = E.test_pairs(E.DataConfig(protocol="view2", test_fold=3), root)
    assert len(pairs) == 600 and sum(p.same for p in pairs) == 300
    people = {p.name1 for p in pairs} | {p.name2 for p in pairs}
    assert people == set(test) and not people & set(train)
    # every LFW person with >= 2 images outside the fold's 423 people (lfw-names.txt: 1,680 have >= 2)
    assert len(test) == 423 and len(train) == 1529 and all(c >= 2 for c in train.values())
    # the threshold folds: 10 of 30 matched + 30 mismatched pairs
    folds, same = np.array([p.fold for p in pairs]), np.array([p.same for p in pairs])
    assert all(same[folds == f].sum() == 30 and (~same[folds == f]).sum() == 30 for f in range(10))
    # the ten View 2 folds share nobody
    other = {p.name1 for p in E.test_pairs(E.DataConfig(protocol="view2", test_fold=4), root)}
    assert not other & people


@pytest.mark.parametrize("kwargs, match", [
    ({"protocol": "view3"}, "protocol must be one of view1, view2"),
    ({"protocol": "view2", "test_fold": 10}, "test_fold must be a View 2 fold 0-9"),
    ({"image_size": (4, 4)}, "image_size must be"),
])
def test_bad_data_configs_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.DataConfig(**kwargs)


@pytest.fixture(scope="module")
def lab_data():
    from labkit import config

    if not (config.data_root() / "lfw_aligned_112x96").is_dir():
        if config.require_data():
            pytest.fail("LABKIT_REQUIRE_DATA=1 and the aligned LFW is missing under the data root", pytrace=False)
        pytest.skip(f"aligned LFW not found under {config.data_root()}; set LABKIT_DATA")
    return E.load_lab_data(progress=False)


def test_lab_data_uses_only_training_people(lab_data):
    train, test = E.identity_split(min_images=E.DataConfig().min_images)
    assert len(train) == 1184 and lab_data.train_x.shape[0] == 5728  # >= 2 images each, at most 40 per person
    assert set(lab_data.classes) == set(train)
    test_people = {r.split("/")[0] for r in lab_data.test_rel}
    assert not test_people & set(lab_data.classes)
    assert lab_data.train_x.shape[0] == lab_data.train_y.shape[0]
    # the default backbone sees pixels: (N, 3, 56, 48), (x - 127.5) / 128, the mirror image by flipping
    assert lab_data.backbone == "cnn"
    assert tuple(lab_data.train_x.shape[1:]) == (3, *E.DataConfig().image_size)
    assert float(lab_data.train_x.min()) >= -127.5 / 128 - 1e-6 and float(lab_data.train_x.max()) <= 1.0
    # the uint8 cache lives in the cache folder, never in the data root
    from labkit import config

    cached = list((config.cache_dir() / "faces").glob("faces_56x48_*.npz"))
    assert cached and not any(str(config.data_root()) in str(p.parent) for p in cached)


def test_unknown_backbone_fails_clearly():
    with pytest.raises(ValueError, match="unknown backbone"):
        E.load_lab_data(backbone="hog-mlp")


def _shipped():
    from labkit import config

    folder = config.shipped_dir() / "lab_scale"
    return folder, E.load_records(folder / "results.json"), json.loads((folder / "MANIFEST.json").read_text())


@pytest.fixture(scope="module")
def check_run(lab_data):
    """The cheapest shipped setting (E.CHECK_CONFIG: LMCL m=0.35, 2 epochs on View 1), re-trained with seed 0 (~20 s)."""
    return E.run_grid([E.CHECK_CONFIG], seeds=[0], data=lab_data, progress=False, cache=False)[0]


def test_retrained_check_setting_matches_shipped_within_seed_noise(check_run):
    _, shipped, _ = _shipped()
    ref = [r for r in shipped if r["experiment"] == "check"]
    assert len(ref) >= 3, "the shipped grid holds the check setting for every seed"
    acc = np.array([r["accuracy"] for r in ref])
    # tolerance: 3 seed standard deviations of the shipped check runs, at least 1.5 points (one 10-fold s.e. of a run)
    tol = max(3 * acc.std(ddof=1), 0.015)
    assert abs(check_run["accuracy"] - acc.mean()) <= tol, (check_run["accuracy"], acc.tolist(), tol)
    # the same seed reproduces its own shipped run up to float round-off between thread counts and machines
    same = next(r for r in ref if r["seed"] == 0)
    assert abs(check_run["accuracy"] - same["accuracy"]) <= tol
    assert check_run["accuracy"] > 0.68  # chance is 0.5; raw-pixel cosine ~0.63


def test_run_records_per_epoch_diagnostics_and_round_trip(check_run, tmp_path):
    r = check_run
    assert len(r["history"]) == 2 and len(r["fold_accuracies"]) == 10 and 0 < r["std_err"] < 0.1
    for h in r["history"]:
        assert 0 <= h["train_acc"] <= 1 and h["feat_norm"] > 0 and 0 < h["angle_deg"] < 180
        assert h["loss"] > h["loss_no_margin"]  # the margin costs about s*m at the target logit
        assert 0.5 < h["verification_acc"] <= 1
    assert np.isfinite(r["train_loss"]) and r["loss_per_epoch"][-1] < r["loss_per_epoch"][0]
    path = E.save_records([r], tmp_path / "r.json")
    back = E.load_records(path)
    assert back == json.loads(json.dumps([r]))
    assert back[0]["config"]["m"] == 0.35 and back[0]["config"]["backbone"] == "cnn" and back[0]["split"] == "View 1"
    rows = E.summarize(back)
    assert rows[0]["n_seeds"] == 1 and rows[0]["se_kind"].startswith("10-fold")


def test_convergence_rule():
    flat = [{"train_acc": 0.9, "loss_no_margin": 1.0, "verification_acc": 0.8}] * 3
    assert E.converged(flat) and not E.converged(flat[:2])
    assert not E.converged(flat[:2] + [{"train_acc": 0.95, "loss_no_margin": 1.0, "verification_acc": 0.8}])
    assert not E.converged(flat[:2] + [{"train_acc": 0.9, "loss_no_margin": 0.8, "verification_acc": 0.8}])
    assert not E.converged(flat[:2] + [{"train_acc": 0.9, "loss_no_margin": 1.0, "verification_acc": 0.83}])
    # a loss near 0 may move by a large fraction of itself: the 0.1-nat floor
    tiny = [{"train_acc": 0.99, "loss_no_margin": v, "verification_acc": 0.85} for v in (0.2, 0.17, 0.15)]
    assert E.converged(tiny)


def test_paired_difference_pairs_seeds_and_folds():
    def rec(label, seed, acc):
        return {"label": label, "seed": seed, "accuracy": acc, "fold_accuracies": [acc + 0.01 * (k % 2) for k in range(10)]}

    recs = [rec("a", s, 0.80 + 0.01 * s) for s in range(3)] + [rec("b", s, 0.78 + 0.01 * s) for s in range(3)]
    p = E.paired_difference(recs, "a", "b")
    assert p["diff"] == pytest.approx(0.02) and p["se"] == pytest.approx(0.0, abs=1e-12)
    assert p["resolved"] and p["same_sign_seeds"] == 3 and p["n_seeds"] == 3
    assert "larger than its noise" in E.describe_difference(p)
    noisy = [rec("a", s, 0.80 + 0.02 * (-1) ** s) for s in range(3)] + [rec("b", s, 0.80) for s in range(3)]
    assert not E.paired_difference(noisy, "a", "b")["resolved"]
    # runs pair on split and seed: View 2 folds with seed 0 are five pairs, not one
    folds = [{**rec(lab, 0, acc + 0.01 * k), "split": f"View 2 fold {k}"} for k in range(5)
             for lab, acc in (("a", 0.81), ("b", 0.80))]
    p = E.paired_difference(folds, "a", "b")
    assert p["n_seeds"] == 5 and p["units"] == "5 View 2 folds" and p["diff"] == pytest.approx(0.01)
    assert p["n_fold_pairs"] == 50 and "over 5 View 2 folds" in E.describe_difference(p)
    with pytest.raises(ValueError, match="no split and seed"):
        E.paired_difference(folds[:1] + [{**folds[1], "split": "View 1"}], "a", "b")


def test_shipped_grid_is_complete_and_matches_its_manifest():
    folder, shipped, manifest = _shipped()
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    grid = manifest["grid"]
    seeds, folds = grid["seeds"], grid["folds"]
    assert len(seeds) >= 3 and len(folds) >= 5
    fig5_recs = [r for r in shipped if r["experiment"] == "fig5"]
    assert {r["split"] for r in fig5_recs} == {"View 1"}
    fig5 = E.summarize(fig5_recs)
    assert [r["config"]["m"] for r in fig5] == grid["m_grid"] and fig5[0]["config"]["m"] == 0.0
    assert fig5[-1]["config"]["m"] == pytest.approx(0.45)
    assert all(r["n_seeds"] == len(seeds) for r in fig5)
    for name, n in (("table1", 2), ("table2", 4)):
        recs = [r for r in shipped if r["experiment"] == name]
        assert {r["split"] for r in recs} == {f"View 2 fold {k}" for k in folds}, name
        rows = E.summarize(recs)
        assert len(rows) == n and all(r["n_seeds"] == len(folds) for r in rows), name
        assert all(math.isfinite(r["se"]) and r["se"] >= 0 for r in rows)
    design = E.summarize([r for r in shipped if r["experiment"] == "design"])
    assert [r["label"] for r in design] == [c.name for c, _ in E.design_checks(grid["epochs"][0])]
    assert all(r["n_seeds"] == len(seeds) for r in design)
    assert all(r["run_version"] == E.RUN_VERSION for r in shipped)
    assert all(len(r["history"]) == r["config"]["epochs"] for r in shipped)
    # the manifest counts what it ships: every distinct run of the grid
    assert manifest["distinct_runs"] == len(E.distinct_runs(E.jobs(grid)))


def test_summarize_standard_error_over_seeds():
    recs = [{"label": "a", "config": {}, "accuracy": a, "std_err": 0.01, "train_loss": 1.0, "seconds": 1.0,
             "fold_accuracies": [a] * 10} for a in (0.7, 0.8, 0.9)]
    (row,) = E.summarize(recs)
    assert row["accuracy"] == pytest.approx(0.8)
    assert row["se"] == pytest.approx(0.1 / np.sqrt(3))
    assert row["n_seeds"] == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"head": "triplet"}, "unknown head 'triplet'"),
        ({"head": "cosface", "m": -0.1}, "m must be a finite number >= 0"),
        ({"head": "sphereface", "m": 1.5}, "integer margin"),
        ({"head": "softmax", "normalize_features": False}, "normalize_features=False"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"s": 0.0}, "scale s must be > 0"),
        ({"backbone": "resnet"}, "unknown backbone 'resnet'"),
        ({"lr": -1.0}, "lr must be > 0"),
        ({"margin_warmup": 1.0}, "margin_warmup is a fraction"),
    ],
)
def test_bad_configs_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.ExperimentConfig(**kwargs)


def test_run_grid_rejects_non_configs():
    with pytest.raises(TypeError, match="ExperimentConfig"):
        E.run_grid([{"head": "cosface"}], data=object())


def test_grids_suite_and_jobs():
    full = E.grid_for("full")
    assert full["m_grid"][0] == 0.0 and full["m_grid"][-1] == pytest.approx(0.45)
    assert len(full["seeds"]) >= 3 and len(full["folds"]) >= 5
    with pytest.raises(ValueError, match="mode"):
        E.grid_for("huge")
    s = E.suite([0.0, 0.35], epochs=2)
    assert [c.name for c in s["table2"]] == ["Softmax", "NSL", "A-Softmax", "LMCL"]
    # NSL is LMCL with m = 0: the same recipe as the Fig. 5 point at m = 0
    assert s["table2"][1].key() == s["fig5"][0].key()
    assert s["table1"][1].normalize_features is False
    assert {c.backbone for v in s.values() for c in v} == {"cnn"}
    assert E.ExperimentConfig().learning_rate == 3e-3
    jobs = E.jobs(full)
    runs = E.distinct_runs(jobs)
    # Fig. 5: 5 m x 3 seeds on View 1; Tables 1-2: 5 distinct losses x 5 folds; design checks 7 x 3 seeds at 28x24
    # and A-Softmax x 3 seeds at 56x48 (LMCL at 56x48 on View 1 is Fig. 5's m = 0.35 run, trained once)
    assert len(runs) == 15 + 25 + 21 + 3
    assert {j.data.split for j in jobs if j.experiment in ("table1", "table2")} == {f"View 2 fold {k}" for k in range(5)}
    assert {j.data.image_size for j in jobs if j.experiment != "design"} == {(56, 48)}
    design = [j for j in jobs if j.experiment == "design"]
    assert {j.data.image_size for j in design} == {E.DESIGN_CHECK_SIZE, (56, 48)}
    assert {j.data.split for j in design} == {"View 1"}
    lmcl_big = next(j for j in design if j.config.name == "LMCL, 56x48 input")
    assert lmcl_big.run_key() == next(j for j in jobs if j.experiment == "fig5" and j.config.m == 0.35
                                      and j.seed == lmcl_big.seed).run_key()
    # without folds, Tables 1-2 fall back to View 1 and share the NSL / LMCL runs with Fig. 5
    fast = E.distinct_runs(E.jobs(E.grid_for("fast")))
    assert len(fast) == 2 + 3 and {j.data.split for j in fast} == {"View 1"}
    # the margin warm-up: by default a third for LMCL without normalisation only; an explicit value is part of the key
    assert E.ExperimentConfig(normalize_features=False).margin_off_fraction == pytest.approx(1 / 3)
    assert E.ExperimentConfig().margin_off_fraction == 0.0 and "margin_warmup" not in E.ExperimentConfig().key()
    assert E.ExperimentConfig(margin_warmup=0.5).key() != E.ExperimentConfig().key()


def test_markdown_table_puts_paper_numbers_beside():
    rows = [{"label": "LMCL, 8 epochs", "accuracy": 0.8, "se": 0.01, "se_kind": "over 3 seeds", "train_loss": 1.0,
             "seconds": 2.0},
            {"label": "NSL", "accuracy": 0.78, "se": 0.01, "se_kind": "over 3 seeds", "train_loss": 1.0, "seconds": 2.0}]
    text = E.markdown_table(rows, E.PAPER["table2"]["rows"])
    assert "| LMCL, 8 epochs | 80.00 ± 1.00 |" in text and "99.33 |" in text
    assert "not reported" in text.splitlines()[-1]
    assert E.PAPER["table2"]["rows"]["Softmax"]["LFW"] == 97.88
    assert E.PAPER["table2"]["rows"]["A-Softmax"]["LFW"] == 99.42


def test_design_verdict_pairs_each_variant_with_its_rival():
    def rec(label, seed, acc):
        return {"label": label, "seed": seed, "config": {}, "accuracy": acc, "std_err": 0.01, "train_loss": 1.0,
                "seconds": 1.0, "fold_accuracies": [acc + 0.004 * (k % 3) for k in range(10)], "split": "View 1"}

    accs = {"LMCL": 0.86, "A-Softmax": 0.88, "LMCL, s = 16": 0.90, "LMCL, 32 epochs": 0.87, "A-Softmax, 32 epochs": 0.87}
    recs = [rec(lab, s, a + 0.003 * s) for lab, a in accs.items() for s in range(3)]
    v = E.design_verdict(recs)
    by = {p["a"]: p for p in v["pairs_vs_asoftmax"]}
    assert by["LMCL"]["b"] == "A-Softmax" and by["LMCL"]["diff"] == pytest.approx(-0.02) and by["LMCL"]["resolved"]
    assert by["LMCL, 32 epochs"]["b"] == "A-Softmax, 32 epochs" and by["LMCL, 32 epochs"]["diff"] == pytest.approx(0)
    assert by["LMCL, s = 16"]["diff"] == pytest.approx(0.02) and v["decided_by_design"]
    assert "LMCL, s = 16" in v["lines"][-1] and "A-Softmax ahead of LMCL beyond noise: LMCL." == v["lines"][0]
    # without the reversing variant no choice decides it
    v2 = E.design_verdict([r for r in recs if r["label"] != "LMCL, s = 16"])
    assert not v2["decided_by_design"] and v2["lines"][-1].endswith("none.")


def test_convergence_summary_checks_each_trained_network_once():
    _, shipped, manifest = _shipped()
    grid = [r for r in shipped if r["experiment"] != "check"]
    summary = E.convergence_summary(grid)
    # NSL / LMCL appear in several experiments but were trained once; 28x24 and 56x48 runs are different networks
    assert summary["n"] == manifest["distinct_runs"] == len({E.run_id(r) for r in grid}) < len(grid)
    assert summary["n_ok"] == sum(E.converged(r["history"]) for r in E.distinct(grid))
    assert summary["lines"][0].startswith(f"{summary['n_ok']} of {summary['n']} distinct runs pass")
