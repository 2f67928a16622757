"""The schedule check of the ten-fold grid (notebook 07 section 14): does the training length decide a verdict?

Three of the grid's settings (Softmax, A-Softmax, LMCL without feature normalisation) still gain training accuracy
at the end of their 16 epochs, so they fail the lab's convergence rule
(:func:`labkit.experiments.lab_scale.training.converged`). The grid therefore also trains the settings whose
comparisons make Fig. 5 and Tables 1-2 (:data:`labkit.experiments.lab_scale.grid.SCHEDULE_RECIPES`) for 24 epochs
on folds 0-2, with the same seed, and then Fig. 5's two settings
(:data:`labkit.experiments.lab_scale.grid.SCHEDULE_ALL_FOLDS_RECIPES`) on the other seven folds. This module pairs
each 24-epoch run with its 16-epoch run on the same fold, asks of every comparison the verdicts use whether it keeps
its sign when both settings train longer (on the folds where all four runs exist), and puts each difference a
ten-fold verdict resolves beside its value at 24 epochs."""

from __future__ import annotations

from typing import Any, Sequence

from labkit.experiments.lab_scale.stats import paired_over_folds

#: the comparisons behind the Fig. 5, Table 1 and Table 2 verdicts (recipe names as the grid labels its runs)
COMPARISONS = (("LMCL m=0.35", "LMCL m=0"), ("LMCL m=0.35", "A-Softmax m=4"), ("A-Softmax m=4", "LMCL m=0"),
               ("LMCL m=0", "Softmax"), ("LMCL m=0.35", "Softmax"), ("LMCL m=0.35", "LMCL m=0.35, no feature norm"))
#: what each record gives a paired difference of: (key, printed name, value)
VALUES = (("accuracy", "accuracy", lambda r: r["accuracy"]),
          ("rank1", "rank-1", lambda r: r["identification"]["rank1"]),
          ("train_acc", "final training accuracy", lambda r: r["history"][-1]["train_acc"]))
_NAME = {key: name for key, name, _ in VALUES}


def recipe_of() -> dict[str, str]:
    """The grid recipe (:func:`labkit.experiments.lab_scale.grid.main_configs`, by name) behind each setting name of
    :data:`labkit.experiments.lab_scale.tenfold.EXPERIMENTS`, found by that setting's own predicate."""
    from dataclasses import asdict

    from labkit.experiments.lab_scale.grid import main_configs
    from labkit.experiments.lab_scale.tenfold import EXPERIMENTS

    return {label: c.name for settings in EXPERIMENTS.values() for label, match in settings
            for c in main_configs() if match(asdict(c))}


def _runs(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The schedule check's 24-epoch runs and the main grid's runs of the same recipes on the same folds, each
    labelled ``"<recipe> @<epochs>"`` (identities-figure runs are left out)."""
    sched = [r for r in records if r.get("experiment") == "schedule"]
    folds = {r["data"]["test_fold"] for r in sched}
    names = {r["label"] for r in sched}
    keep = sched + [r for r in records if r.get("experiment", "main") == "main" and r["label"] in names
                    and r["data"]["test_fold"] in folds]
    return [{**r, "label": f"{r['label']} @{r['config']['epochs']}"} for r in keep]


def epochs_present(records: Sequence[dict[str, Any]]) -> tuple[int, int] | None:
    """(short, long) training lengths of the check, or None before its first run has finished."""
    long = sorted({r["config"]["epochs"] for r in records if r.get("experiment") == "schedule"})
    short = sorted({r["config"]["epochs"] for r in records if r.get("experiment", "main") == "main"})
    return (short[0], long[0]) if long and short else None


def longer_vs_shorter(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recipe: the long run minus the short run on the folds that have both, for accuracy, rank-1 and the final
    training accuracy, and how many runs of each length pass the convergence rule."""
    from labkit.experiments.lab_scale.training import converged

    span = epochs_present(records)
    if span is None:
        return []
    short, long = span
    runs = _runs(records)
    rows = []
    for name in dict.fromkeys(r["label"].rsplit(" @", 1)[0] for r in runs if r["experiment"] == "schedule"):
        a, b = f"{name} @{long}", f"{name} @{short}"
        try:
            diffs = {key: paired_over_folds(runs, a, b, value) for key, _, value in VALUES}
        except ValueError:  # the long run's fold has no short partner yet
            continue
        folds = set(diffs["accuracy"]["folds"])
        conv = {n: sum(converged(r["history"]) for r in runs if r["label"] == lab and r["data"]["test_fold"] in folds)
                for n, lab in ((short, b), (long, a))}
        rows.append({"recipe": name, "short": short, "long": long, "n": len(folds), "converged": conv, **diffs})
    return rows


def comparisons(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each comparison of :data:`COMPARISONS` at both lengths, paired over the folds where all four runs exist:
    the differences in accuracy and rank-1, and whether the mean keeps its sign (``kept``)."""
    span = epochs_present(records)
    if span is None:
        return []
    short, long = span
    runs = _runs(records)
    out = []
    for a, b in COMPARISONS:
        labels = [f"{x} @{n}" for n in (short, long) for x in (a, b)]
        folds = set.intersection(*({r["data"]["test_fold"] for r in runs if r["label"] == lab} for lab in labels))
        if not folds:
            continue
        sub = [r for r in runs if r["data"]["test_fold"] in folds]
        row: dict[str, Any] = {"a": a, "b": b, "n": len(folds)}
        for key, _, value in VALUES[:2]:
            at = {n: paired_over_folds(sub, f"{a} @{n}", f"{b} @{n}", value) for n in (short, long)}
            row[key] = {"short": at[short], "long": at[long],
                        "kept": (at[short]["diff"] > 0) == (at[long]["diff"] > 0)}
        out.append(row)
    return out


def _pm(p: dict[str, Any], of: str = "") -> str:
    return f"{100 * p['diff']:+.2f} ± {100 * p['se']:.2f} ({p['same_sign']} of {p['n']}{of})"


def longer_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`longer_vs_shorter`."""
    if not rows:
        return "The schedule check has no finished pair of runs yet."
    s, l = rows[0]["short"], rows[0]["long"]
    lines = [f"| recipe | folds | {l} − {s} epochs: accuracy (points) | rank-1 (points) | final training accuracy "
             f"(points) | converged at {s} / {l} epochs |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['n']} | {_pm(r['accuracy'])} | {_pm(r['rank1'])} | {_pm(r['train_acc'])} | "
                     f"{r['converged'][s]} / {r['converged'][l]} of {r['n']} |")
    return "\n".join(lines)


def comparison_table(rows: Sequence[dict[str, Any]], short: int, long: int) -> str:
    """Markdown table of :func:`comparisons`."""
    if not rows:
        return "No comparison has all four runs yet."
    lines = [f"| comparison | folds | accuracy at {short} epochs | at {long} | rank-1 at {short} epochs | at {long} | "
             "sign kept (accuracy, rank-1) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        a, k = r["accuracy"], r["rank1"]
        lines.append(f"| {r['a']} − {r['b']} | {r['n']} | {_pm(a['short'])} | {_pm(a['long'])} | {_pm(k['short'])} | "
                     f"{_pm(k['long'])} | {'yes' if a['kept'] else 'no'}, {'yes' if k['kept'] else 'no'} |")
    return "\n".join(lines)


def statement(longer: Sequence[dict[str, Any]], comps: Sequence[dict[str, Any]]) -> list[str]:
    """What the check shows, one sentence per finding, each read off the two tables."""
    if not longer:
        return ["The schedule check has not finished a pair of runs yet."]
    s, l = longer[0]["short"], longer[0]["long"]
    out = []
    acc = [r["accuracy"]["diff"] for r in longer]
    out.append(f"Training {l} instead of {s} epochs moves the mean test accuracy of the {len(longer)} recipes by "
               f"{100 * min(acc):+.2f} to {100 * max(acc):+.2f} points; resolved for "
               f"{sum(r['accuracy']['resolved'] for r in longer)} of them.")
    conv_s = sum(r["converged"][s] for r in longer)
    conv_l = sum(r["converged"][l] for r in longer)
    runs = sum(r["n"] for r in longer)
    out.append(f"{conv_s} of {runs} runs pass the convergence rule at {s} epochs, {conv_l} of {runs} at {l}.")
    for key, what in (("accuracy", "accuracy"), ("rank1", "rank-1")):
        flipped = [f"{c['a']} − {c['b']}" for c in comps if not c[key]["kept"]]
        out.append(f"In {what}, {len(comps) - len(flipped)} of {len(comps)} comparisons keep their sign at {l} epochs"
                   + (f"; these change sign: {', '.join(flipped)}." if flipped else "."))
    return out


def resolved_at_both_lengths(verdicts: dict[str, dict[str, Any]], comps: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each difference that a ten-fold verdict resolves (:func:`labkit.experiments.lab_scale.verdicts.tenfold_verdicts`,
    accuracy or rank-1, 16 epochs on every fold) next to the same comparison at the check's longer schedule on its
    folds (:func:`comparisons`): ``kept`` says whether the longer runs' mean has the same sign; ``long`` is None
    when the check does not train both settings."""
    by = {(c["a"], c["b"]): c for c in comps}
    recipe = recipe_of()
    out = []
    for v in verdicts.values():
        for d in v["pairs"]:
            for key in ("accuracy", "rank1"):
                if not d[key]["resolved"]:
                    continue
                comp = by.get((recipe.get(d["a"]), recipe.get(d["b"])))
                long = comp[key]["long"] if comp else None
                out.append({"claim": v["claim"], "a": d["a"], "b": d["b"], "measure": key, "ten_fold": d[key],
                            "long": long, "kept": None if long is None else (long["diff"] > 0) == (d[key]["diff"] > 0)})
    return out


def resolved_statement(rows: Sequence[dict[str, Any]], long_epochs: int) -> str:
    """One sentence on :func:`resolved_at_both_lengths`."""
    if not rows:
        return "No ten-fold verdict resolves a difference yet, so the schedule check has none to test."
    checked = [r for r in rows if r["kept"] is not None]
    flipped = [r for r in checked if not r["kept"]]
    missing = [r for r in rows if r["kept"] is None]

    def say(r: dict[str, Any]) -> str:
        return f"{r['a']} − {r['b']} ({_NAME[r['measure']]})"

    text = (f"Of the {len(rows)} differences the ten-fold verdicts resolve, the schedule check trains both settings of "
            f"{len(checked)}; {len(checked) - len(flipped)} of them keep their sign at {long_epochs} epochs")
    text += f", these change it: {', '.join(say(r) for r in flipped)}" if flipped else ""
    text += f". Not in the check: {', '.join(say(r) for r in missing)}." if missing else "."
    return text


def resolved_table(rows: Sequence[dict[str, Any]], short: int, long: int) -> str:
    """Markdown table of :func:`resolved_at_both_lengths`: each resolved ten-fold difference at the grid's length
    and at the check's, with whether it keeps its sign and whether it is still resolved."""
    checked = [r for r in rows if r["long"] is not None]
    if not checked:
        return "The schedule check trains no pair of settings behind a resolved ten-fold difference yet."
    lines = [f"| difference | measure | {short} epochs (points) | {long} epochs (points) | sign kept | resolved at {long} |",
             "|---|---|---|---|---|---|"]
    for r in checked:
        t, l = r["ten_fold"], r["long"]
        lines.append(f"| {r['a']} − {r['b']} | {_NAME[r['measure']]} | {_pm(t, ' folds')} | {_pm(l, ' folds')} | "
                     f"{'yes' if r['kept'] else 'no'} | {'yes' if l['resolved'] else 'no'} |")
    return "\n".join(lines)
