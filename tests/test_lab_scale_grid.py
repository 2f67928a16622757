"""The ten-fold grid (issue #23): job order and keys, each finished run shipped at once and atomically (record, then
manifest), a restart resuming from the shipped records, the pooled and paired statistics against independent
computations, and the computed verdicts."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from dataclasses import replace

from labkit.experiments.lab_scale import grid as G
from labkit.experiments.lab_scale import stats, tenfold


def test_full_grid_order_and_size():
    jobs = G.ten_fold_jobs("full")
    main = [j for j in jobs if j.experiment == "main"]
    ident = [j for j in jobs if j.experiment == "identities"]
    sched = [j for j in jobs if j.experiment == "schedule"]
    assert len(main) == 80 and len(ident) == 18 and len(sched) == 15 + 14
    assert len({G.job_key(j) for j in jobs}) == 127
    # folds 0-2 first, then the schedule check and the identities figure on them, then folds 3-9
    first = jobs.index(sched[0])
    assert [j.experiment for j in jobs[:first]] == ["main"] * 24 and {j.data.test_fold for j in jobs[:first]} == {0, 1, 2}
    assert jobs[first:first + 15] == sched[:15] and jobs[first + 15:first + 33] == ident
    assert {j.data.test_fold for j in jobs[first + 33:]} == set(range(3, 10))
    # then the second stage: Fig. 5's m = 0.35 and m = 0 at 24 epochs on folds 3-9, after every main run
    assert jobs[-14:] == sched[15:] and [j.experiment for j in jobs[first + 33:-14]] == ["main"] * 56
    assert {(j.config.name, j.data.test_fold) for j in sched[15:]} == {(n, k) for n in G.SCHEDULE_ALL_FOLDS_RECIPES
                                                                       for k in range(3, 10)}
    # the schedule check: 24 epochs of the settings whose comparisons make Tables 1-2, each with a 16-epoch partner
    assert {j.config.epochs for j in sched} == {G.SCHEDULE_EPOCHS} == {24}
    assert {j.config.name for j in sched} == set(G.SCHEDULE_RECIPES) and {j.data.test_fold for j in sched[:15]} == {0, 1, 2}
    for j in sched:
        partner = [m for m in main if m.data == j.data and m.config == replace(j.config, epochs=G.TEN_FOLD_EPOCHS)]
        assert len(partner) == 1
    assert jobs[0].config.name == "LMCL m=0.35" and all(j.data.extra == ("celeba",) for j in jobs)
    # identities runs: nested caps, all trained for the same number of steps as a 16-epoch run on all faces
    assert {j.data.max_identities for j in ident} == {300, 600, 1200}
    assert {j.config.steps for j in ident} == {G.IDENTITY_RUN_STEPS} and all(j.config.steps == 0 for j in main)


def test_shards_split_the_grid_without_overlap_and_skip_what_is_done():
    jobs = G.ten_fold_jobs("full")
    done = {G.job_key(j) for j in jobs[:26]}
    parts = [G.jobs_to_train(jobs, done, (k, 3)) for k in range(3)]
    keys = [[G.job_key(j) for j in p] for p in parts]
    assert sum(map(len, keys)) == len(jobs) - 26 and len(set().union(*map(set, keys))) == len(jobs) - 26
    assert not set().union(*map(set, keys)) & done
    assert G.jobs_to_train(jobs, done) == jobs[26:]  # one shard: the full list in order
    with pytest.raises(ValueError, match="0 <= k < K"):
        G.jobs_to_train(jobs, done, (3, 3))


def _ship_many(args):
    out, first, n = args
    jobs = G.ten_fold_jobs("full")
    for j in jobs[first:first + n]:
        rec = {"label": j.config.name, "split": j.data.split, "data": {"train_people": 1}, "seconds": 1.0,
               "accuracy": 0.5, "converged": True}
        G.ship_record(out, j, rec, {"command": "test"})


def test_shards_shipping_at_once_keep_every_entry(tmp_path):
    """Eight processes ship 12 runs each into one folder at the same moment: the locked manifest lists all 96."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(8) as pool:
        pool.map(_ship_many, [(str(tmp_path), 12 * k, 12) for k in range(8)])
    man = G.read_manifest(tmp_path)
    assert man["runs_done"] == 96 and len(G.shipped_keys(tmp_path)) == 96
    assert sorted(e["order"] for e in man["runs"].values()) == list(range(96))


def _record(label: str, fold: int, acc: float, scores, same, rank1: float = 0.5, angle: float = 50.0) -> dict:
    return {"label": label, "config": {"head": "cosface", "m": 0.35, "normalize_features": True}, "seed": 0,
            "split": f"View 2 fold {fold}", "data": {"test_fold": fold, "max_identities": 0, "train_people": 10},
            "accuracy": acc, "pair_scores": list(scores), "pair_same": list(same), "experiment": "main",
            "identification": {"rank1": rank1}, "train_angle_deg": angle, "history": [{"train_acc": 1.0}],
            "seconds": 1.0, "converged": True}


def test_paired_over_folds_matches_a_direct_computation():
    a = [_record("A", k, 0.80 + 0.01 * k, [0], [True]) for k in range(5)]
    b = [_record("B", k, 0.79 + 0.012 * k, [0], [True]) for k in range(1, 6)]  # fold 5 has no partner
    p = stats.paired_over_folds(a + b, "A", "B", lambda r: r["accuracy"])
    d = np.array([0.01 - 0.002 * k for k in range(1, 5)])
    assert p["n"] == 4 and p["folds"] == [1, 2, 3, 4]
    assert p["diff"] == pytest.approx(d.mean()) and p["se"] == pytest.approx(d.std(ddof=1) / 2)
    assert p["same_sign"] == 4 and p["resolved"] == (abs(d.mean()) > 3.182 * d.std(ddof=1) / 2)
    with pytest.raises(ValueError, match="no fold has both"):
        stats.paired_over_folds(a, "A", "C", lambda r: r["accuracy"])


def test_pooled_tar_and_its_fold_bootstrap():
    rng = np.random.default_rng(0)
    recs = []
    for label, shift in (("A", 2.0), ("B", 1.0)):
        for k in range(4):
            same = np.r_[np.ones(300, bool), np.zeros(300, bool)]
            recs.append(_record(label, k, 0.9, np.where(same, rng.normal(shift, 1, 600), rng.normal(0, 1, 600)), same))
    a = [r for r in recs if r["label"] == "A"]
    b = [r for r in recs if r["label"] == "B"]
    # independent TAR at FAR 1e-3 over 1,200 impostors: at most 1 impostor above the threshold
    s = np.concatenate([r["pair_scores"] for r in a])
    y = np.concatenate([r["pair_same"] for r in a])
    imp = np.sort(s[~y])[::-1]
    # floor(1e-3 * 1,200) = 1 false accept allowed: accept a score above the second-highest impostor
    assert stats.pooled_tar(a, 1e-3) == pytest.approx(np.mean(s[y] > imp[1]))
    # the vectorised resampler agrees with the ROC computation on every multiset of folds, ties included
    tied = [{**r, "pair_scores": list(np.round(r["pair_scores"], 1))} for r in a]
    picks = np.array([[0, 1, 2, 3], [0, 0, 0, 0], [3, 1, 1, 2], [2, 3, 2, 3]])
    for far in (1e-3, 1e-2, 0.1, 0.0):
        want = [stats.pooled_tar([tied[i] for i in row], far) for row in picks]
        assert stats.pooled_tar_resampled(tied, picks, far) == pytest.approx(want)
    # the paired bootstrap: the same resamples for both settings, recomputed here through the ROC
    p = stats.pooled_tar_difference(recs, "A", "B", n_boot=60, seed=3)
    again = np.random.default_rng(3).integers(0, 4, size=(60, 4))
    direct = np.array([stats.pooled_tar([a[i] for i in row]) - stats.pooled_tar([b[i] for i in row]) for row in again])
    assert p["se"] == pytest.approx(direct.std(ddof=1)) and p["n"] == 4
    assert p["ci95"] == pytest.approx(tuple(np.percentile(direct, [2.5, 97.5])))
    assert p["diff"] == pytest.approx(stats.pooled_tar(a) - stats.pooled_tar(b)) and p["diff"] > 0.15
    assert p["resolved"] and p["share"] == pytest.approx(np.mean(direct > 0))  # a shift of one s.d. is resolved
    same_dist = [{**r, "label": "A2"} for r in a]
    q = stats.pooled_tar_difference(recs + same_dist, "A", "A2", n_boot=60)
    assert q["diff"] == 0 and q["se"] == 0 and not q["resolved"]  # identical scores: no difference, none resolved


def test_fast_grid_ships_each_run_atomically_and_resumes(tmp_path, data_dir):
    data_dir("celeba_test_112x96")
    out = tmp_path / "grid"
    assert G.run_ten_fold_grid(out, "fast", command="test", stop_after=1, log=lambda s: None) == 1
    man = json.loads((out / "MANIFEST.json").read_text())
    assert man["runs_done"] == 1 and man["runs_total"] == 3
    (key, entry), = man["runs"].items()
    text = (out / entry["file"]).read_bytes()
    assert hashlib.sha256(text).hexdigest() == entry["sha256"]
    rec = json.loads(text)
    assert len(rec["pair_scores"]) == 600 and sum(rec["pair_same"]) == 300
    assert 0 <= rec["identification"]["rank1"] <= 1 and 0 < rec["train_angle_deg"] < 180
    assert not list(out.rglob("*.tmp"))  # nothing half-written is left behind
    # a record file the manifest does not list (a crash between the two writes) is not counted as done
    (out / "runs" / "stray.json").write_text("{}")
    assert G.shipped_keys(out) == {key}
    # restarted: the shipped run is skipped, the other two are trained
    assert G.run_ten_fold_grid(out, "fast", command="test", log=lambda s: None) == 2
    assert G.run_ten_fold_grid(out, "fast", command="test", log=lambda s: None) == 0
    recs = G.load_shipped(out)
    assert [r["run_key"] for r in recs][0] == key and len(recs) == 3
    rows = tenfold.summary(recs, "table2")
    assert {r["label"] for r in rows} == {"LMCL", "Softmax"}


def test_verdicts_on_synthetic_folds():
    from labkit.experiments.lab_scale.verdicts import tenfold_verdicts

    def rec(head, m, fold, acc, norm=True):
        # rank-1 runs against accuracy in Fig. 5: m = 0 identifies best in every fold, larger m worse
        r = _record("", fold, acc, [0.9, 0.1], [True, False], rank1=0.6 - 0.1 * m + 0.001 * (k % 2) * m)
        r["config"] = {"head": head, "m": m, "normalize_features": norm}
        return r

    recs = []
    for k in range(10):
        recs += [rec("cosface", 0.0, k, 0.85 + 0.001 * k), rec("cosface", 0.35, k, 0.88 + 0.002 * (k % 3)),
                 rec("cosface", 0.15, k, 0.86), rec("cosface", 0.25, k, 0.87), rec("cosface", 0.45, k, 0.875),
                 rec("cosface", 0.35, k, 0.90 - 0.001 * k, norm=False), rec("softmax", 0.0, k, 0.84 + 0.001 * (k % 2)),
                 rec("sphereface", 4, k, 0.89 + 0.001 * (k % 4))]
    v = tenfold_verdicts(recs)
    assert v["margin"]["verdict"] == "shown"
    assert v["norm"]["verdict"] == "contradicted"  # without normalisation is higher in every fold here
    assert v["order"]["verdict"] == "contradicted"  # A-Softmax above LMCL in every fold here
    # each measure has its own verdict; the headline one is the accuracy's
    assert v["margin"]["by_measure"] == {"accuracy": "shown", "rank1": "contradicted", "tar": "not shown"}
    assert all(x["verdict"] == x["by_measure"]["accuracy"] for x in v.values())
    assert all(len(line.split("; ")) == 3 for x in v.values() for line in x["lines"])


def test_every_shipped_grid_record_is_there_and_tracked():
    """The ten-fold manifest in the repository lists only records that exist with their sha256 and that git does not
    ignore. A manifest committed without its runs/ files broke notebook 07 on a fresh clone once (a `runs/` rule in
    .gitignore hid them); this test fails on that clone, and locally it asks git whether any record would be left out."""
    import shutil
    import subprocess
    from pathlib import Path

    out = Path(__file__).resolve().parents[1] / "data" / "shipped" / "lab_scale" / "ten_folds"
    runs = G.read_manifest(out).get("runs", {})
    listed = set(runs)
    assert G.shipped_keys(out) == listed, "a record the manifest lists is missing or has another sha256"
    assert len(G.load_shipped(out)) == len(listed)
    root = out.parents[3]
    if (root / ".git").exists() and shutil.which("git"):
        files = [str(out / e["file"]) for e in runs.values()] + [str(out / "MANIFEST.json")]
        ignored = subprocess.run(["git", "-C", str(root), "check-ignore", *files], capture_output=True, text=True)
        assert ignored.stdout.strip() == "", f"git ignores shipped grid records: {ignored.stdout.split()[:3]}"


def test_a_manifest_without_its_records_says_what_is_missing(tmp_path):
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"runs": {"k": {"file": "runs/k.json", "sha256": "0", "order": 0}}}))
    with pytest.raises(FileNotFoundError, match=r"lists 1 record\(s\) that are not there \(first: runs/k.json\)"):
        G.load_shipped(tmp_path)
