"""Notebook 07's closing reading of the ten-fold grid ("What the ten-fold grid shows", after section 16) quotes
numbers in prose: each is recomputed here from the shipped records with the library the notebook calls, and must
appear in that cell as quoted. If the shipped grid changes, this fails until the prose is read off it again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.experiments import lab_scale as E
from labkit.experiments.lab_scale import schedule_check as SC
from labkit.experiments.lab_scale import tenfold as TF

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_margin_and_normalization.ipynb"


@pytest.fixture(scope="module")
def reading() -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if "".join(c["source"]).startswith("### What the ten-fold grid shows")]
    assert len(found) == 1, "notebook 07 has no single 'What the ten-fold grid shows' cell"
    return found[0].replace("\u2212", "-")  # the prose writes minus signs as U+2212


@pytest.fixture(scope="module")
def records() -> list[dict]:
    recs = TF.load()
    assert {r["experiment"] for r in recs} == {"main", "schedule", "identities"}
    return recs


def pm(p: dict, sign: bool = True) -> str:
    return f"{100 * p['diff']:{'+' if sign else ''}.2f} ± {100 * p['se']:.2f}"


def test_the_margin_paragraph(reading, records):
    fig5 = {(d["a"], d["b"]): d for d in TF.differences(records, "fig5", [("LMCL m=0.35", "LMCL m=0")]
                                                         + [(f"LMCL m={m:g}", "LMCL m=0") for m in (0.15, 0.25, 0.45)])}
    base = fig5[("LMCL m=0.35", "LMCL m=0")]
    assert f"{pm(base['accuracy'])} accuracy points ({base['accuracy']['same_sign']} of 10 folds)" in reading
    assert f"{pm(base['rank1'])} rank-1 points ({base['rank1']['same_sign']} of 10)" in reading
    r1 = sorted(100 * d["rank1"]["diff"] for d in fig5.values())
    assert all(d["rank1"]["resolved"] for d in fig5.values()) and f"+{r1[0]:.2f} to +{r1[-1]:.2f} points" in reading
    angles = {r["label"]: r["angle_deg"] for r in TF.summary(records, "fig5")}
    others = [a for k, a in angles.items() if k != "LMCL m=0"]
    assert f"{angles['LMCL m=0']:.1f}° at m = 0, {min(others):.1f}–{max(others):.1f}° for m > 0" in reading
    tv = E.tenfold_verdicts(records)
    assert tv["margin"]["by_measure"]["accuracy"] == tv["margin"]["by_measure"]["rank1"] == "shown"
    comps = {(c["a"], c["b"]): c for c in SC.comparisons(records)}
    long = comps[("LMCL m=0.35", "LMCL m=0")]
    assert long["n"] == 10 and not long["accuracy"]["long"]["resolved"]
    assert f"{pm(long['accuracy']['long'])} ({long['accuracy']['long']['same_sign']} of 10 folds, not resolved)" in reading
    assert f"Rank-1 holds at\n  {pm(long['rank1']['long'])} ({long['rank1']['long']['same_sign']} of 10)" in reading
    gains = {r["recipe"]: r for r in SC.longer_vs_shorter(records)}
    lmcl, nsl = gains["LMCL m=0.35"]["accuracy"], gains["LMCL m=0"]["accuracy"]
    assert lmcl["diff"] < 0 < nsl["diff"]
    assert f"loses {pm(lmcl, False)[1:]} accuracy points" in reading and f"NSL gains {pm(nsl, False)}" in reading


def test_the_normalisation_and_order_paragraphs(reading, records):
    t1 = TF.differences(records, "table1", [("LMCL, feature normalisation", "LMCL, no feature normalisation")])[0]
    assert f"{pm(t1['rank1'])} rank-1 points ({t1['rank1']['same_sign']} of 10 folds)" in reading
    assert f"accuracy {pm(t1['accuracy'])} ({t1['accuracy']['same_sign']} of 10), not resolved" in reading
    rows = {r["label"]: r for r in TF.summary(records, "table1")}
    assert rows["LMCL, no feature normalisation"]["converged"] == 0
    assert (f"({rows['LMCL, no feature normalisation']['angle_deg']:.1f}° against "
            f"{rows['LMCL, feature normalisation']['angle_deg']:.1f}°)") in reading
    t2 = {(d["a"], d["b"]): d for d in TF.differences(records, "table2", [("LMCL", "A-Softmax"), ("A-Softmax", "NSL"),
                                                                           ("NSL", "Softmax")])}
    la, an, ns = t2[("LMCL", "A-Softmax")], t2[("A-Softmax", "NSL")], t2[("NSL", "Softmax")]
    assert la["rank1"]["resolved"] and an["accuracy"]["resolved"] and not ns["accuracy"]["resolved"]
    assert f"({pm(la['rank1'])}, {la['rank1']['same_sign']} of 10 folds)" in reading
    assert f"({pm(an['accuracy'])}, {an['accuracy']['same_sign']} of 10;" in reading
    assert f"({pm(ns['accuracy'])} accuracy)" in reading
    conv = {r["label"]: r["converged"] for r in TF.summary(records, "table2")}
    assert f"Softmax fails the convergence rule in {10 - conv['Softmax']} of 10 folds" in reading and conv["A-Softmax"] == 0
    assert all(v["by_measure"][m] != "contradicted" for v in E.tenfold_verdicts(records).values()
               for m, _ in E.verdicts.MEASURES)
    assert E.tenfold_verdicts(records)["order"]["by_measure"] == {"accuracy": "not shown", "rank1": "not shown",
                                                                  "tar": "not shown"}


def test_the_tar_and_identities_paragraphs(reading, records):
    tars = [d["tar"] for name, ps in TF.DIFFERENCE_PAIRS.items() for d in TF.differences(records, name, ps)]
    assert len(tars) == 11 and not any(t["resolved"] for t in tars)  # "TAR at FAR = 1e-3 resolves nothing"
    rows = TF.identities_table(records, folds=(0, 1, 2))
    lo, mid, hi = rows[0], rows[2], rows[-1]
    assert lo["people"] == 300 and mid["people"] == 1200 and f"on all\n  {hi['people']:,.0f} it is" in reading
    assert lo["Softmax"]["train_acc"] == lo["LMCL m=0.35"]["train_acc"] == 1.0
    assert f"is {100 * lo['diff_rank1']['diff']:+.2f} rank-1 points on 300 people" in reading
    assert f"it is {100 * hi['diff_rank1']['diff']:+.2f}, and the growth" in reading
    g1, g0 = TF.identities_growth(rows, "diff_rank1"), TF.identities_growth(rows, "diff")
    assert g1["resolved"] and f"growth, {pm(g1)} points, holds in {g1['same_sign']} of 3 folds" in reading
    assert not g0["resolved"] and f"(growth {pm(g0)}, {g0['same_sign']} of 3 folds, not resolved" in reading
    assert f"goes from {100 * lo['diff']['diff']:+.2f}\n  to {100 * hi['diff']['diff']:+.2f}" in reading
    assert f"{pm(mid['diff_rank1'])} rank-1 points and {pm(mid['diff'])} accuracy points" in reading
