"""labkit.experiments.lab_scale: identity-disjoint split on the real protocol files, a tiny real CNN + LMCL run well above
chance, JSON round trip of records, clear errors for bad configs."""

from __future__ import annotations

import json

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


@pytest.fixture(scope="module")
def lab_data():
    from labkit import config

    if not (config.data_root() / "lfw_aligned_112x96").is_dir():
        if config.require_data():
            pytest.fail("LABKIT_REQUIRE_DATA=1 and the aligned LFW is missing under the data root", pytrace=False)
        pytest.skip(f"aligned LFW not found under {config.data_root()}; set LABKIT_DATA")
    return E.load_lab_data(progress=False)


def test_lab_data_uses_only_training_people(lab_data):
    train, test = E.identity_split(min_images=5)
    assert set(lab_data.classes) == set(train)
    test_people = {r.split("/")[0] for r in lab_data.test_rel}
    assert not test_people & set(lab_data.classes)
    assert lab_data.train_x.shape[0] == lab_data.train_y.shape[0]
    # the default backbone sees pixels: (N, 3, 28, 24), (x - 127.5) / 128, the mirror image by flipping
    assert lab_data.backbone == "cnn"
    assert tuple(lab_data.train_x.shape[1:]) == (3, *E.DataConfig().image_size)
    assert float(lab_data.train_x.min()) >= -127.5 / 128 - 1e-6 and float(lab_data.train_x.max()) <= 1.0
    # the uint8 cache lives in the cache folder, never in the data root
    from labkit import config

    cached = list((config.cache_dir() / "faces").glob("faces_28x24_*.npz"))
    assert cached and not any(str(config.data_root()) in str(p.parent) for p in cached)


def test_tiny_cnn_lmcl_run_is_well_above_chance_and_records_round_trip(lab_data, tmp_path):
    cfg = E.ExperimentConfig(head="cosface", m=0.35, epochs=2)
    assert cfg.backbone == "cnn"
    recs = E.run_grid([cfg], seeds=[0], data=lab_data, progress=False, cache=False)
    assert len(recs) == 1
    r = recs[0]
    assert r["accuracy"] > 0.68, r["accuracy"]  # chance is 0.5; the raw-pixel cosine baseline ~0.64 on View 2
    assert 0 < r["std_err"] < 0.1
    assert len(r["fold_accuracies"]) == 10
    assert np.isfinite(r["train_loss"]) and r["loss_per_epoch"][-1] < r["loss_per_epoch"][0]
    path = E.save_records(recs, tmp_path / "r.json")
    back = E.load_records(path)
    assert back == json.loads(json.dumps(recs))
    assert back[0]["config"]["m"] == 0.35 and back[0]["label"] == "LMCL m=0.35"
    assert back[0]["config"]["backbone"] == "cnn" and back[0]["data"]["backbone"] == "cnn"
    rows = E.summarize(back)
    assert rows[0]["n_seeds"] == 1 and rows[0]["se_kind"].startswith("10-fold")


def test_unknown_backbone_fails_clearly():
    with pytest.raises(ValueError, match="unknown backbone"):
        E.load_lab_data(backbone="hog-mlp")


def test_run_records_per_epoch_diagnostics_and_convergence_rule(lab_data):
    model, hist = E.train_run(E.ExperimentConfig(head="cosface", m=0.35, epochs=2), lab_data)
    assert len(hist["history"]) == 2
    for h in hist["history"]:
        assert 0 <= h["train_acc"] <= 1 and h["feat_norm"] > 0 and 0 < h["angle_deg"] < 180
        assert h["loss"] > h["loss_no_margin"]  # the margin costs s*m at the target logit
        assert 0.5 < h["verification_acc"] <= 1
    flat = [{"train_acc": 0.9, "loss_no_margin": 1.0}] * 3
    assert E.converged(flat) and not E.converged(flat[:2])
    assert not E.converged(flat[:2] + [{"train_acc": 0.95, "loss_no_margin": 1.0}])
    assert not E.converged(flat[:2] + [{"train_acc": 0.9, "loss_no_margin": 0.8}])


def test_summarize_standard_error_over_seeds():
    recs = [{"label": "a", "config": {}, "accuracy": a, "std_err": 0.01, "train_loss": 1.0, "seconds": 1.0}
            for a in (0.7, 0.8, 0.9)]
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
    ],
)
def test_bad_configs_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.ExperimentConfig(**kwargs)


def test_run_grid_rejects_non_configs():
    with pytest.raises(TypeError, match="ExperimentConfig"):
        E.run_grid([{"head": "cosface"}], data=object())


def test_presets_and_suite():
    assert E.preset("full")["m_grid"][0] == 0.0 and E.preset("full")["m_grid"][-1] == pytest.approx(0.45)
    assert len(E.preset("full")["seeds"]) >= 3
    with pytest.raises(ValueError, match="mode"):
        E.preset("huge")
    s = E.suite([0.0, 0.35], epochs=2)
    assert [c.name for c in s["table2"]] == ["Softmax", "NSL", "A-Softmax", "LMCL"]
    # NSL is LMCL with m = 0: the same run as the Fig. 5 point at m = 0
    assert s["table2"][1].key() == s["fig5"][0].key()
    assert s["table1"][1].normalize_features is False
    assert {c.backbone for v in s.values() for c in v} == {"cnn"}
    assert E.ExperimentConfig().learning_rate == 3e-3


def test_markdown_table_puts_paper_numbers_beside():
    rows = [{"label": "LMCL, 8 epochs", "accuracy": 0.8, "se": 0.01, "se_kind": "over 3 seeds", "train_loss": 1.0,
             "seconds": 2.0},
            {"label": "NSL", "accuracy": 0.78, "se": 0.01, "se_kind": "over 3 seeds", "train_loss": 1.0, "seconds": 2.0}]
    text = E.markdown_table(rows, E.PAPER["table2"]["rows"])
    assert "| LMCL, 8 epochs | 80.00 ± 1.00 |" in text and "99.33 |" in text
    assert "not reported" in text.splitlines()[-1]
    assert E.PAPER["table2"]["rows"]["Softmax"]["LFW"] == 97.88
    assert E.PAPER["table2"]["rows"]["A-Softmax"]["LFW"] == 99.42
