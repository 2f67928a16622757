"""Computed statements for notebook 07 (sections 5-8 and 10): each sentence is built from the records it describes,
so the prose beside a table cannot drift from its numbers. A difference counts as shown only when its 95 %
interval (paired over seeds and folds, :func:`labkit.experiments.lab_scale.paired_difference`) excludes 0."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from labkit.experiments.lab_scale.stats import describe_difference, paired_difference, summarize


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def margin_pairs(fig5: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fig. 5's paired differences (section 5): every m > 0 against m = 0, and m = 0.35 against every other m."""
    rows = sorted(summarize(fig5), key=lambda r: r["config"]["m"])
    base = rows[0]["label"]
    out = [paired_difference(fig5, r["label"], base) for r in rows[1:]]
    ref = next((r["label"] for r in rows if abs(r["config"]["m"] - 0.35) < 1e-9), None)
    if ref is not None:
        out += [paired_difference(fig5, ref, r["label"]) for r in rows if r["label"] not in (ref, base)]
    return out


def margin_verdict(fig5: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Paper claim 1 (section 5): a margin helps, and the accuracy peaks near m = 0.35."""
    rows = sorted(summarize(fig5), key=lambda r: r["config"]["m"])
    best = max(rows, key=lambda r: r["accuracy"])
    pairs = margin_pairs(fig5)
    vs0 = [p for p in pairs if p["b"] == rows[0]["label"]]
    helped = [p for p in vs0 if p["resolved"] and p["diff"] > 0]
    hurt = [p for p in vs0 if p["resolved"] and p["diff"] < 0]
    near = [p for p in pairs if p["b"] != rows[0]["label"]]
    peak = abs(best["config"]["m"] - 0.35) < 1e-9 and all(p["resolved"] and p["diff"] > 0 for p in near)
    lines = [f"Highest mean accuracy at m = {best['config']['m']:g}: {_pct(best['accuracy'])} ± {_pct(best['se'])} "
             f"(m = 0: {_pct(rows[0]['accuracy'])} ± {_pct(rows[0]['se'])})."]
    lines.append(f"Margins that beat m = 0 by more than their noise: "
                 f"{', '.join(p['a'] for p in helped) or 'none'}; that lose to it: {', '.join(p['a'] for p in hurt) or 'none'}.")
    lines.append("m = 0.35 beats every other m > 0 by more than the noise: " + ("yes." if peak else "no."))
    return {"shows_margin_helps": bool(helped) and not hurt, "shows_peak_at_035": bool(peak), "lines": lines,
            "pairs": pairs}


def norm_verdict(table1: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Paper claim 2 (section 6): feature normalisation helps; with the Sec. 3.3 diagnostic, the feature norm of
    the un-normalised model (does |x| shrink once the margin is switched on?)."""
    rows = summarize(table1)
    with_n = next(r for r in rows if r["config"]["normalize_features"])
    without = next(r for r in rows if not r["config"]["normalize_features"])
    p = paired_difference(table1, with_n["label"], without["label"])
    lines = [describe_difference(p)]
    runs = [r for r in table1 if not r["config"]["normalize_features"]]
    drops = []
    for r in runs:  # one per split and seed
        h = r["history"]
        on = [i for i, e in enumerate(h) if e["margin_on"]]
        first = on[0] if on else 0
        before = h[first - 1]["feat_norm"] if first > 0 else h[0]["feat_norm"]
        drops.append((before, min(e["feat_norm"] for e in h[first:]), h[-1]["feat_norm"]))
    d = np.array(drops)
    lines.append(f"Without normalisation the mean |x| is {d[:, 0].mean():.2f} at the end of the softmax warm-up, falls "
                 f"to {d[:, 1].mean():.2f} after the margin is switched on and ends at {d[:, 2].mean():.2f} "
                 f"(mean over {len(runs)} runs; with normalisation the features are rescaled to s = "
                 f"{with_n['config']['s']:g} and |x| before normalisation ends at {with_n['feat_norm']:.2f}).")
    lines.append(f"Final training accuracy {100 * with_n['train_acc']:.1f} % with normalisation, "
                 f"{100 * without['train_acc']:.1f} % without; mean angle to the class weight "
                 f"{with_n['angle_deg']:.1f}° vs {without['angle_deg']:.1f}°.")
    return {"shows_norm_helps": bool(p["resolved"] and p["diff"] > 0), "norm_shrinks": bool(np.all(d[:, 1] < d[:, 0])),
            "pair": p, "lines": lines}


def ranking_verdict(table2: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Paper claim 3 (section 7): LMCL >= A-Softmax >= NSL >= Softmax. Reports the observed order and, for each
    step of the paper's order, whether the paired difference is resolved and which way."""
    rows = summarize(table2)
    by = {r["label"].split(",")[0]: r for r in rows}
    order = ["LMCL", "A-Softmax", "NSL", "Softmax"]
    labels = {k: by[k]["label"] for k in order if k in by}
    pairs = [paired_difference(table2, labels[a], labels[b]) for a, b in
             (("LMCL", "A-Softmax"), ("A-Softmax", "NSL"), ("NSL", "Softmax"), ("LMCL", "Softmax"), ("LMCL", "NSL"))
             if a in labels and b in labels]
    observed = sorted(rows, key=lambda r: -r["accuracy"])
    lines = ["Observed order of the means: " + " > ".join(f"{r['label']} ({_pct(r['accuracy'])})" for r in observed) + "."]
    wrong = [p for p in pairs[:3] if p["resolved"] and p["diff"] < 0]
    right = [p for p in pairs[:3] if p["resolved"] and p["diff"] > 0]
    lines.append(f"Steps of the paper's order LMCL ≥ A-Softmax ≥ NSL ≥ Softmax confirmed beyond noise: "
                 f"{', '.join(p['a'] + ' > ' + p['b'] for p in right) or 'none'}; contradicted beyond noise: "
                 f"{', '.join(p['b'] + ' > ' + p['a'] for p in wrong) or 'none'}.")
    return {"shows_order": len(right) == 3, "contradicts_order": bool(wrong), "pairs": pairs, "lines": lines}


def loss_reading(records: Sequence[dict[str, Any]]) -> list[str]:
    """Section 8: the training loss with the margin term is not a measure of fit. Per setting, the final loss with
    and without the margin term and their gap, next to the training accuracy."""
    out = []
    for r in summarize(records):
        gap = r["train_loss"] - r["loss_no_margin"]
        out.append(f"{r['label']}: loss {r['train_loss']:.2f} = {r['loss_no_margin']:.2f} without the margin term "
                   f"+ {gap:.2f} from the margin; training accuracy {100 * r['train_acc']:.1f} %.")
    return out


def design_verdict(design: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Section 8 ("does a design choice decide it?"): every LMCL variant of
    :func:`labkit.experiments.lab_scale.design_checks` against A-Softmax changed the same way where the grid has
    that (twice as long, the larger input) and plain A-Softmax otherwise, paired on the seed; and against the plain
    LMCL run. A choice "decides" the comparison when the variant's difference to A-Softmax is
    resolved with the opposite sign to the plain LMCL's."""
    rows = summarize(design)
    labels = [r["label"] for r in rows]
    asoft = [lab for lab in labels if lab.startswith("A-Softmax")]
    lmcl = [lab for lab in labels if lab.startswith("LMCL")]
    base_a = "A-Softmax" if "A-Softmax" in labels else asoft[0]
    base_l = "LMCL" if "LMCL" in labels else lmcl[0]

    def rival(lab: str) -> str:  # A-Softmax changed the same way when the grid has it ("…, 32 epochs")
        twin = "A-Softmax" + lab[len("LMCL"):]
        return twin if twin in labels else base_a

    vs_a = [paired_difference(design, lab, rival(lab)) for lab in lmcl]
    vs_l = [paired_difference(design, lab, base_l) for lab in lmcl if lab != base_l]
    base = vs_a[lmcl.index(base_l)]
    flips = [p for p in vs_a if p["resolved"] and base["resolved"] and np.sign(p["diff"]) != np.sign(base["diff"])]
    a_ahead = [p["a"] for p in vs_a if p["resolved"] and p["diff"] < 0]
    l_ahead = [p["a"] for p in vs_a if p["resolved"] and p["diff"] > 0]
    open_ = [p["a"] for p in vs_a if not p["resolved"]]
    lines = [
        f"A-Softmax ahead of LMCL beyond noise: {', '.join(a_ahead) or 'in no setting'}.",
        f"LMCL ahead of A-Softmax beyond noise: {', '.join(l_ahead) or 'in no setting'}.",
        f"Not resolved: {', '.join(open_) or 'none'}.",
        "A design choice that reverses the plain comparison beyond noise: "
        + (", ".join(p["a"] for p in flips) if flips else "none") + ".",
    ]
    return {"pairs_vs_asoftmax": vs_a, "pairs_vs_lmcl": vs_l, "decided_by_design": bool(flips), "lines": lines,
            "rows": rows}


def _verdict(right: bool, wrong: bool) -> str:
    return "contradicted" if wrong else "shown" if right else "not shown"


def _say(p: dict[str, Any], what: str = "accuracy", scale: float = 100.0, unit: str = " points") -> str:
    from labkit.experiments.lab_scale.tenfold import agreement

    return (f"{p['a']} − {p['b']}: {scale * p['diff']:+.2f}{unit} ± {scale * p['se']:.2f} {what}, {agreement(p)} "
            f"agree ({'resolved' if p['resolved'] else 'not resolved'})")


#: the ten-fold grid's measures, in the order the verdicts print them (notebook 07 section 13)
MEASURES = (("accuracy", "accuracy"), ("rank1", "rank-1"), ("tar", "TAR@1e-3"))


def tenfold_verdicts(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The paper's three claims on the ten-fold grid (notebook 07 section 16), each *shown*, *not shown* or
    *contradicted* from differences paired over folds
    (:func:`labkit.experiments.lab_scale.stats.paired_over_folds`: resolved = the 95 % interval over folds excludes
    0), once per measure: ``by_measure`` holds the verdict from the accuracy (the paper's measure, also ``verdict``),
    from rank-1 among the fold's people and from the pooled TAR at FAR = 1e-3 (paired bootstrap over folds).

    1. a margin helps and the accuracy saturates at 0.35 (the paper: m = 0 is worst, accuracy rises with m and
       saturates at 0.35): shown when LMCL m = 0.35 beats m = 0 (resolved) and no other m beats
       m = 0.35 (resolved); contradicted when m = 0 beats m = 0.35 (resolved) or another m beats it.
    2. normalisation helps: with − without, resolved positive (shown) or negative (contradicted).
    3. LMCL >= A-Softmax >= NSL >= Softmax: shown when every step is resolved in the paper's direction,
       contradicted when any step is resolved against it."""
    from labkit.experiments.lab_scale.tenfold import differences

    def lines(ds: Sequence[dict[str, Any]]) -> list[str]:
        return ["; ".join(_say(d[m], what) for m, what in MEASURES) for d in ds]

    def verdicts(rule: Any) -> dict[str, str]:
        return {m: _verdict(*rule(m)) for m, _ in MEASURES}

    out: dict[str, dict[str, Any]] = {}
    fig5 = differences(records, "fig5", [("LMCL m=0.35", "LMCL m=0")]
                       + [("LMCL m=0.35", f"LMCL m={m:g}") for m in (0.15, 0.25, 0.45)])
    base = next((d for d in fig5 if d["b"] == "LMCL m=0"), None)
    others = [d for d in fig5 if d["b"] != "LMCL m=0"]
    if base is not None:
        def margin_rule(m: str) -> tuple[bool, bool]:
            p = base[m]
            beaten = [d for d in others if d[m]["resolved"] and d[m]["diff"] < 0]
            return p["resolved"] and p["diff"] > 0 and not beaten, (p["resolved"] and p["diff"] < 0) or bool(beaten)

        out["margin"] = {"claim": "a margin helps and the accuracy saturates at m = 0.35 (Fig. 5)", "by_measure": verdicts(margin_rule),
                         "lines": lines(fig5), "pairs": fig5}
    t1 = differences(records, "table1", [("LMCL, feature normalisation", "LMCL, no feature normalisation")])
    if t1:
        def norm_rule(m: str) -> tuple[bool, bool]:
            p = t1[0][m]
            return p["resolved"] and p["diff"] > 0, p["resolved"] and p["diff"] < 0

        out["norm"] = {"claim": "feature normalisation helps (Table 1)", "by_measure": verdicts(norm_rule),
                       "lines": lines(t1), "pairs": t1}
    steps = differences(records, "table2", [("LMCL", "A-Softmax"), ("A-Softmax", "NSL"), ("NSL", "Softmax")])
    if steps:
        def order_rule(m: str) -> tuple[bool, bool]:
            return (len(steps) == 3 and all(d[m]["resolved"] and d[m]["diff"] > 0 for d in steps),
                    any(d[m]["resolved"] and d[m]["diff"] < 0 for d in steps))

        out["order"] = {"claim": "LMCL ≥ A-Softmax ≥ NSL ≥ Softmax (Table 2)", "by_measure": verdicts(order_rule),
                        "lines": lines(steps), "pairs": steps}
    for v in out.values():
        v["verdict"] = v["by_measure"]["accuracy"]
    return out
