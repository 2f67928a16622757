"""The ten-fold grid's schedule check (issue #23): 24-epoch runs paired with their 16-epoch runs on the same fold,
and each Table 1-2 comparison at both lengths, against direct computations on synthetic records."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.experiments.lab_scale import schedule_check as S

HEADS = {"LMCL m=0.35": ("cosface", 0.35, True), "Softmax": ("softmax", 0.0, True), "LMCL m=0": ("cosface", 0.0, True),
         "A-Softmax m=4": ("sphereface", 4, True), "LMCL m=0.35, no feature norm": ("cosface", 0.35, False)}
#: accuracy per recipe at 16 epochs; at 24 epochs Softmax gains 3 points and so overtakes NSL
BASE = {"LMCL m=0.35": 0.90, "Softmax": 0.86, "LMCL m=0": 0.88, "A-Softmax m=4": 0.89, "LMCL m=0.35, no feature norm": 0.87}


def _history(rising: bool) -> list[dict]:
    acc = [0.80, 0.84, 0.88] if rising else [0.900, 0.901, 0.902]
    return [{"train_acc": a, "loss_no_margin": 0.5, "verification_acc": 0.9} for a in acc]


def _rec(name: str, fold: int, epochs: int, experiment: str) -> dict:
    head, m, norm = HEADS[name]
    gain = (0.03 if name == "Softmax" else 0.002) if epochs == 24 else 0.0
    acc = BASE[name] + gain + 0.003 * fold
    return {"label": name, "experiment": experiment, "config": {"head": head, "m": m, "normalize_features": norm,
                                                                "epochs": epochs},
            "data": {"test_fold": fold, "max_identities": 0}, "split": f"View 2 fold {fold}", "accuracy": acc,
            "identification": {"rank1": acc - 0.2}, "history": _history(rising=epochs == 16 and name == "Softmax")}


@pytest.fixture
def records() -> list[dict]:
    recs = [_rec(n, k, 16, "main") for k in range(5) for n in HEADS]  # the main grid has more folds than the check
    recs += [_rec(n, k, 24, "schedule") for k in range(3) for n in HEADS]
    recs.append({**_rec("Softmax", 0, 16, "identities"), "data": {"test_fold": 0, "max_identities": 300}})
    return recs


def test_longer_vs_shorter_pairs_each_recipe_on_its_folds(records):
    rows = {r["recipe"]: r for r in S.longer_vs_shorter(records)}
    assert set(rows) == set(HEADS) and S.epochs_present(records) == (16, 24)
    soft = rows["Softmax"]
    assert soft["n"] == 3 and soft["accuracy"]["folds"] == [0, 1, 2]  # folds 3-4 have no 24-epoch run
    assert soft["accuracy"]["diff"] == pytest.approx(0.03) and rows["LMCL m=0"]["accuracy"]["diff"] == pytest.approx(0.002)
    # the 16-epoch softmax runs still rise by 8 points over their last 3 epochs: none converged; at 24 all did
    assert soft["converged"] == {16: 0, 24: 3} and rows["LMCL m=0.35"]["converged"] == {16: 3, 24: 3}
    direct = np.array([0.902 - 0.88] * 3)  # final training accuracy: converged at 24, still rising at 16
    assert soft["train_acc"]["diff"] == pytest.approx(direct.mean()) and rows["LMCL m=0"]["train_acc"]["diff"] == 0


def test_comparisons_say_which_sign_flips(records):
    comps = {(c["a"], c["b"]): c for c in S.comparisons(records)}
    nsl_soft = comps[("LMCL m=0", "Softmax")]
    assert nsl_soft["n"] == 3
    assert nsl_soft["accuracy"]["short"]["diff"] == pytest.approx(0.02)
    assert nsl_soft["accuracy"]["long"]["diff"] == pytest.approx(0.002 - 0.01)
    assert not nsl_soft["accuracy"]["kept"] and comps[("LMCL m=0.35", "A-Softmax m=4")]["accuracy"]["kept"]
    lines = S.statement(S.longer_vs_shorter(records), S.comparisons(records))
    assert any("5 of 6 comparisons keep their sign" in s and "LMCL m=0 − Softmax" in s for s in lines)
    assert any(s.startswith("12 of 15 runs pass the convergence rule at 16 epochs, 15 of 15 at 24") for s in lines)
    table = S.comparison_table(S.comparisons(records), 16, 24)
    assert table.count("\n") == 2 + len(S.COMPARISONS) - 1


def test_resolved_ten_fold_differences_are_looked_up_at_the_longer_schedule(records):
    def diff(value: float, resolved: bool) -> dict:
        return {"diff": value, "resolved": resolved, "se": 0.005, "same_sign": 9, "n": 10}

    verdicts = {"order": {"claim": "order", "pairs": [
        {"a": "LMCL", "b": "NSL", "accuracy": diff(0.02, True), "rank1": diff(0.05, True)},
        {"a": "NSL", "b": "Softmax", "accuracy": diff(0.02, True), "rank1": diff(0.01, False)}]},
        "margin": {"claim": "margin", "pairs": [
            {"a": "LMCL m=0.35", "b": "LMCL m=0.25", "accuracy": diff(0.01, True), "rank1": diff(0.0, False)}]}}
    rows = S.resolved_at_both_lengths(verdicts, S.comparisons(records))
    assert [(r["a"], r["measure"]) for r in rows] == [("LMCL", "accuracy"), ("LMCL", "rank1"), ("NSL", "accuracy"),
                                                      ("LMCL m=0.35", "accuracy")]
    # LMCL (m = 0.35) - NSL (m = 0) stays at +2 points at 24 epochs; NSL - Softmax turns to -0.8 (softmax gains 3)
    assert rows[0]["long"]["diff"] == pytest.approx(0.02) and rows[0]["kept"] and rows[1]["kept"]
    assert rows[2]["long"]["diff"] == pytest.approx(-0.008) and rows[2]["kept"] is False
    assert rows[3]["long"] is None and rows[3]["kept"] is None  # m = 0.25 is not trained longer
    line = S.resolved_statement(rows, 24)
    assert line == ("Of the 4 differences the ten-fold verdicts resolve, the schedule check trains both settings of 3; "
                    "2 of them keep their sign at 24 epochs, these change it: NSL − Softmax (accuracy). "
                    "Not in the check: LMCL m=0.35 − LMCL m=0.25 (accuracy).")
    assert S.resolved_statement([], 24).startswith("No ten-fold verdict resolves")
    table = S.resolved_table(rows, 16, 24)
    assert table.count("\n") == 1 + 3  # header, rule, the three differences the check trains
    assert "| NSL − Softmax | accuracy | +2.00 ± 0.50 (9 of 10 folds) | " in table and "| -0.80 ± 0.00 (3 of 3 folds) | no | yes |" in table


def test_before_the_check_has_run():
    main_only = [_rec(n, 0, 16, "main") for n in HEADS]
    assert S.epochs_present(main_only) is None
    assert S.longer_vs_shorter(main_only) == [] and S.comparisons(main_only) == []
    assert S.statement([], []) == ["The schedule check has not finished a pair of runs yet."]
