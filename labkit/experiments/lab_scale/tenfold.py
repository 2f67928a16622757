"""Analysis of the ten-fold grid (:mod:`labkit.experiments.lab_scale.grid`, notebook 07 sections 12-16): the records
of Fig. 5, Table 1 and Table 2 picked out of the shipped runs, a summary per setting with the three measures (10-fold
accuracy on each fold's 600 pairs; TAR at FAR = 1e-3 over the pooled 6,000 View 2 pairs, each scored by its own
fold's model; rank-1 identification among the fold's people) beside the training faces' mean angle to their class
weight, paired differences over folds (:func:`labkit.experiments.lab_scale.stats.paired_over_folds`,
:func:`labkit.experiments.lab_scale.stats.pooled_tar_difference`) and the identities figure's table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from labkit.experiments.lab_scale.stats import fold_differences, paired_over_folds, pooled_tar, pooled_tar_difference

FAR = 1e-3

#: how each experiment names the shared runs: (label, predicate on a record's config)
EXPERIMENTS: dict[str, list[tuple[str, Callable[[dict[str, Any]], bool]]]] = {
    "fig5": [(f"LMCL m={m:g}", (lambda c, m=m: c["head"] == "cosface" and c["normalize_features"]
                                and abs(c["m"] - m) < 1e-9)) for m in (0.0, 0.15, 0.25, 0.35, 0.45)],
    "table1": [("LMCL, feature normalisation", lambda c: c["head"] == "cosface" and c["normalize_features"]
                and abs(c["m"] - 0.35) < 1e-9),
               ("LMCL, no feature normalisation", lambda c: c["head"] == "cosface" and not c["normalize_features"])],
    "table2": [("Softmax", lambda c: c["head"] == "softmax"),
               ("NSL", lambda c: c["head"] == "cosface" and c["normalize_features"] and c["m"] == 0),
               ("A-Softmax", lambda c: c["head"] == "sphereface"),
               ("LMCL", lambda c: c["head"] == "cosface" and c["normalize_features"] and abs(c["m"] - 0.35) < 1e-9)],
}

#: the paired differences notebook 07 section 13 tabulates, per experiment
DIFFERENCE_PAIRS: dict[str, list[tuple[str, str]]] = {
    "fig5": [("LMCL m=0.35", "LMCL m=0"), ("LMCL m=0.15", "LMCL m=0"), ("LMCL m=0.25", "LMCL m=0"),
             ("LMCL m=0.45", "LMCL m=0"), ("LMCL m=0.35", "LMCL m=0.25"), ("LMCL m=0.35", "LMCL m=0.45")],
    "table1": [("LMCL, feature normalisation", "LMCL, no feature normalisation")],
    "table2": [("LMCL", "A-Softmax"), ("A-Softmax", "NSL"), ("NSL", "Softmax"), ("LMCL", "Softmax")],
}


def load(folder: str | Path | None = None) -> list[dict[str, Any]]:
    """The shipped records of the ten-fold grid (default ``data/shipped/lab_scale/ten_folds``); a partial grid
    gives what has finished."""
    from labkit import config
    from labkit.experiments.lab_scale.grid import load_shipped

    return load_shipped(folder or config.shipped_dir() / "lab_scale" / "ten_folds")


def experiment(records: Sequence[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The main-grid records (all training people) of one experiment, relabelled with its setting names."""
    out = []
    for r in records:
        if r.get("experiment", "main") != "main":
            continue
        for label, match in EXPERIMENTS[name]:
            if match(r["config"]):
                out.append({**r, "label": label})
    return out


def folds_per_setting(records: Sequence[dict[str, Any]], name: str) -> dict[str, int]:
    """How many folds each setting of an experiment has so far (a partial grid)."""
    recs = experiment(records, name)
    return {label: sum(r["label"] == label for r in recs) for label, _ in EXPERIMENTS[name]}


def summary(records: Sequence[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """One row per setting: folds, mean accuracy ± s.e. over folds, pooled TAR at FAR = 1e-3, mean rank-1 ± s.e.,
    the training faces' mean angle to their class weight, final training accuracy, runs passing the convergence
    rule."""
    from labkit.experiments.lab_scale.training import converged

    recs = experiment(records, name)
    rows = []
    for label, _ in EXPERIMENTS[name]:
        rs = [r for r in recs if r["label"] == label]
        if not rs:
            continue
        acc = np.array([r["accuracy"] for r in rs])
        r1 = np.array([r["identification"]["rank1"] for r in rs])
        n = len(rs)

        def se(v: np.ndarray) -> float:
            return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")

        rows.append({"label": label, "folds": n, "accuracy": float(acc.mean()), "se": se(acc),
                     "tar": pooled_tar(rs, FAR), "rank1": float(r1.mean()), "rank1_se": se(r1),
                     "angle_deg": float(np.mean([r["train_angle_deg"] for r in rs])),
                     "train_acc": float(np.mean([r["history"][-1]["train_acc"] for r in rs])),
                     "converged": int(sum(converged(r["history"]) for r in rs)), "config": rs[0]["config"]})
    return rows


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`summary`."""
    lines = ["| setting | folds | accuracy (%) ± s.e. | TAR @ FAR 1e-3, pooled (%) | rank-1 among fold people (%) ± s.e. | "
             "mean angle to class weight, training faces (°) | final train acc (%) | converged |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['folds']} | {100 * r['accuracy']:.2f} ± {100 * r['se']:.2f} | "
                     f"{100 * r['tar']:.1f} | {100 * r['rank1']:.1f} ± {100 * r['rank1_se']:.1f} | {r['angle_deg']:.1f} | "
                     f"{100 * r['train_acc']:.1f} | {r['converged']} of {r['folds']} |")
    return "\n".join(lines)


def differences(records: Sequence[dict[str, Any]], name: str, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """For each (a, b): the paired differences over the folds both have, of accuracy, rank-1 and the mean angle,
    and of the pooled TAR at FAR = 1e-3 (its s.e. and interval from a paired bootstrap over folds)."""
    recs = experiment(records, name)
    have = {r["label"] for r in recs}
    out = []
    for a, b in pairs:
        if a not in have or b not in have:
            continue
        try:
            row = {"a": a, "b": b,
                   "accuracy": paired_over_folds(recs, a, b, lambda r: r["accuracy"]),
                   "rank1": paired_over_folds(recs, a, b, lambda r: r["identification"]["rank1"]),
                   "angle": paired_over_folds(recs, a, b, lambda r: r["train_angle_deg"]),
                   "tar": pooled_tar_difference(recs, a, b, FAR)}
        except ValueError:  # no fold has both yet
            continue
        out.append(row)
    return out


def agreement(p: dict[str, Any]) -> str:
    """How much of the evidence agrees with a difference's sign: folds for a per-fold difference, bootstrap
    resamples of the folds for the pooled TAR (:func:`labkit.experiments.lab_scale.stats.pooled_tar_difference`)."""
    if "share" in p:
        return f"{100 * p['share']:.0f} % of fold resamples"
    return f"{p['same_sign']} of {p['n']} folds"


def difference_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`differences`: mean ± s.e. over folds, folds agreeing in sign (for the pooled TAR:
    the share of bootstrap resamples of the folds with the full pool's sign), resolved or not."""
    def cell(p: dict[str, Any], scale: float = 100.0, unit: str = "") -> str:
        mark = " **(resolved)**" if p["resolved"] else ""
        return f"{scale * p['diff']:+.2f}{unit} ± {scale * p['se']:.2f} ({agreement(p)}){mark}"

    lines = ["| difference | accuracy (points) | TAR @ FAR 1e-3, pooled (points, bootstrap s.e.) | rank-1 (points) | "
             "angle to class weight (°) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['a']} − {r['b']} | {cell(r['accuracy'])} | {cell(r['tar'])} | {cell(r['rank1'])} | "
                     f"{cell(r['angle'], 1.0, '°')} |")
    return "\n".join(lines)


def identities_table(records: Sequence[dict[str, Any]], folds: Sequence[int] = (0, 1, 2)) -> list[dict[str, Any]]:
    """The identities figure's numbers (notebook 07 section 15): for softmax and LMCL m = 0.35, per number of
    training people (the capped runs and the main grid's 16-epoch run on all the people of the same folds; the
    schedule check's longer runs are left out), the mean over the folds present of accuracy, rank-1 and pooled TAR,
    and the LMCL − softmax difference paired over those folds (``diff``, ``diff_rank1``). Rows go from the fewest
    people to all of them."""
    def kind(c: dict[str, Any]) -> str | None:
        if c["head"] == "softmax":
            return "Softmax"
        if c["head"] == "cosface" and c["normalize_features"] and abs(c["m"] - 0.35) < 1e-9:
            return "LMCL m=0.35"
        return None

    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in records:
        k = kind(r["config"])
        # the schedule check's longer runs train on all the people too, but for more steps: not a point of this figure
        if k is None or r["data"]["test_fold"] not in folds or r.get("experiment", "main") not in ("main", "identities"):
            continue
        n = r["data"]["max_identities"] or 0
        if r.get("experiment") == "main" and n == 0:
            n = -1  # all training people
        groups.setdefault((n, k), []).append({**r, "label": k})
    rows = []
    for n in sorted({n for n, _ in groups}, key=lambda v: (v < 0, v)):
        both = groups.get((n, "Softmax"), []) + groups.get((n, "LMCL m=0.35"), [])
        row: dict[str, Any] = {"max_identities": n, "people": float(np.mean([r["data"]["train_people"] for r in both]))}
        for k in ("Softmax", "LMCL m=0.35"):
            rs = groups.get((n, k), [])
            row[k] = {"folds": len(rs), "accuracy": float(np.mean([r["accuracy"] for r in rs])) if rs else float("nan"),
                      "rank1": float(np.mean([r["identification"]["rank1"] for r in rs])) if rs else float("nan"),
                      "tar": pooled_tar(rs, FAR) if rs else float("nan"),
                      "train_acc": float(np.mean([r["history"][-1]["train_acc"] for r in rs])) if rs else float("nan")}
        try:
            row["diff"] = paired_over_folds(both, "LMCL m=0.35", "Softmax", lambda r: r["accuracy"])
            row["diff_rank1"] = paired_over_folds(both, "LMCL m=0.35", "Softmax", lambda r: r["identification"]["rank1"])
        except ValueError:
            row["diff"] = row["diff_rank1"] = None
        rows.append(row)
    return rows


def identities_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`identities_table`."""
    lines = ["| training people | folds (softmax, LMCL) | softmax acc / rank-1 / train acc (%) | LMCL acc / rank-1 / train acc (%) | "
             "LMCL − softmax, accuracy (points) | LMCL − softmax, rank-1 (points) |", "|---|---|---|---|---|---|"]
    for r in rows:
        s, m = r["Softmax"], r["LMCL m=0.35"]

        def diff(p: dict[str, Any] | None) -> str:
            return "–" if p is None else f"{100 * p['diff']:+.2f} ± {100 * p['se']:.2f} ({p['same_sign']} of {p['n']})"

        lines.append(f"| {r['people']:,.0f} | {s['folds']}, {m['folds']} | {100 * s['accuracy']:.1f} / {100 * s['rank1']:.1f} / "
                     f"{100 * s['train_acc']:.1f} | {100 * m['accuracy']:.1f} / {100 * m['rank1']:.1f} / {100 * m['train_acc']:.1f} | "
                     f"{diff(r['diff'])} | {diff(r['diff_rank1'])} |")
    return "\n".join(lines)


def identities_growth(rows: Sequence[dict[str, Any]], key: str = "diff") -> dict[str, Any] | None:
    """Does the margin's advantage grow with the number of identities? The LMCL − softmax difference (``key``:
    ``"diff"`` accuracy, ``"diff_rank1"`` rank-1) on all the training people minus the same difference on the
    fewest, paired on the fold (a difference of paired differences over the folds both rows have): mean, s.e.,
    ``same_sign`` and ``resolved`` as :func:`labkit.experiments.lab_scale.stats.paired_over_folds`, plus the two
    rows' people. None when fewer than two rows have the difference."""
    have = [r for r in rows if r.get(key) is not None]
    if len(have) < 2:
        return None
    lo, hi = have[0], have[-1]
    at_lo = dict(zip(lo[key]["folds"], lo[key]["per_fold"]))
    at_hi = dict(zip(hi[key]["folds"], hi[key]["per_fold"]))
    folds = sorted(set(at_lo) & set(at_hi))
    if not folds:
        return None
    return {"from_people": lo["people"], "to_people": hi["people"],
            **fold_differences([at_hi[k] - at_lo[k] for k in folds], folds)}
