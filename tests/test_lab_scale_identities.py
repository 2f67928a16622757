"""The identities figure's numbers (issue #23, notebook 07 section 15): softmax and LMCL m = 0.35 per number of
training people, and whether the LMCL − softmax gap grows from the fewest people to all of them, against direct
computations on synthetic records."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.experiments.lab_scale import tenfold

HEADS = {"Softmax": ("softmax", 0.0), "LMCL m=0.35": ("cosface", 0.35)}
#: LMCL − softmax accuracy per cap: softmax ahead on few people, LMCL ahead on all of them (0 = all the people)
GAP = {300: -0.03, 600: -0.01, 0: 0.01}
PEOPLE = {300: 300, 600: 600, 0: 2400}


def _rec(name: str, fold: int, cap: int, experiment: str, epochs: int = 16) -> dict:
    head, m = HEADS[name]
    acc = 0.80 + 0.02 * (cap == 0) + 0.002 * fold + (GAP[cap] + 0.001 * fold if name == "LMCL m=0.35" else 0.0)
    if experiment == "schedule":
        acc += 0.05  # a longer run: must not be read as a point of the figure
    return {"label": name, "experiment": experiment, "config": {"head": head, "m": m, "normalize_features": True,
                                                                "epochs": epochs},
            "data": {"test_fold": fold, "max_identities": cap, "train_people": PEOPLE[cap] + fold},
            "split": f"View 2 fold {fold}", "accuracy": acc, "identification": {"rank1": acc - 0.5},
            "pair_scores": [0.9, 0.8, 0.1], "pair_same": [True, True, False],
            "history": [{"train_acc": 1.0 if cap else 0.95}]}


@pytest.fixture
def records() -> list[dict]:
    recs = [_rec(n, k, cap, "identities" if cap else "main") for k in range(3) for cap in GAP for n in HEADS]
    recs += [_rec(n, k, 0, "schedule", epochs=24) for k in range(3) for n in HEADS]
    recs += [_rec(n, 5, 0, "main") for n in HEADS]  # a fold outside the figure's folds
    return recs


def test_identities_table_reads_the_capped_and_the_16_epoch_runs_only(records):
    rows = tenfold.identities_table(records, folds=(0, 1, 2))
    assert [r["max_identities"] for r in rows] == [300, 600, -1]  # fewest first, all the people last
    assert [r["people"] for r in rows] == [301, 601, 2401]
    for r, cap in zip(rows, GAP):
        soft = np.mean([0.80 + 0.02 * (cap == 0) + 0.002 * k for k in range(3)])
        assert r["Softmax"]["folds"] == 3 and r["Softmax"]["accuracy"] == pytest.approx(soft)  # no schedule run in it
        assert r["diff"]["diff"] == pytest.approx(GAP[cap] + 0.001) and r["diff"]["folds"] == [0, 1, 2]
        assert r["diff_rank1"]["diff"] == pytest.approx(r["diff"]["diff"])
    assert rows[-1]["Softmax"]["train_acc"] == pytest.approx(0.95)
    table = tenfold.identities_markdown(rows)
    assert table.count("\n") == 1 + len(rows) and "| 2,401 | 3, 3 |" in table


def test_the_gap_grows_from_the_fewest_people_to_all(records):
    rows = tenfold.identities_table(records, folds=(0, 1, 2))
    g = tenfold.identities_growth(rows)
    # per fold: (0.01 + 0.001 k) - (-0.03 + 0.001 k) = 0.04 exactly, the same in every fold
    assert g["from_people"] == 301 and g["to_people"] == 2401 and g["n"] == 3
    assert g["diff"] == pytest.approx(0.04) and g["same_sign"] == 3
    assert g["per_fold"] == pytest.approx([0.04] * 3)
    # with only one row there is nothing to compare
    assert tenfold.identities_growth(rows[-1:]) is None
