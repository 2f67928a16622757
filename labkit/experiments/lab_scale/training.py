"""Training and scoring one lab-scale run through the lab's one engine (:func:`labkit.engine.fit`, ``lab`` preset),
and the cached grid of runs. Notebook 07 sections 3 (``run_grid``), 4 (the convergence rule, :func:`converged`) and
9 (the tiny live run) use it; ``tests/test_experiments.py`` re-trains a shipped run with it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from labkit import config
from labkit.engine import fit
from labkit.experiments.lab_scale.configs import CNN_CHANNELS, RUN_VERSION, ExperimentConfig, run_identity
from labkit.experiments.lab_scale.data import LabData, load_lab_data
from labkit.losses import head_kwargs, make_head_quietly
from labkit.presets import preset as fit_preset

#: CPU threads a run uses (the lab budget: a shared 2-core CPU). ``python -m labkit.experiments --threads`` sets it.
CPU_THREADS = 2


def build_backbone(cfg: ExperimentConfig, data: LabData) -> nn.Module:
    """The embedding network: :class:`labkit.models.SmallCNN` at the data's input size with :data:`CNN_CHANNELS`,
    FC(``hidden``)-PReLU-BN and a bias-free linear ``embedding_dim``-d output."""
    from labkit.models import SmallCNN

    return SmallCNN(tuple(data.train_x.shape[2:]), CNN_CHANNELS, hidden=cfg.hidden, feat_dim=cfg.embedding_dim)


def head_for(cfg: ExperimentConfig, num_classes: int, steps: int) -> tuple[nn.Module, list[str]]:
    """The head of ``cfg`` from the registry (bound warnings returned as messages). A-Softmax's lambda is annealed
    so that it reaches its floor (5) halfway through the run."""
    name = "cosface-unnorm" if cfg.head == "cosface" and not cfg.normalize_features else cfg.head
    kwargs = head_kwargs(name, s=cfg.s, m=cfg.m)
    if name == "sphereface":
        base, floor = 1000.0, 5.0
        kwargs.update(base=base, lambda_min=floor, gamma=(base / floor - 1.0) / max(1.0, 0.5 * steps))
    return make_head_quietly(name, cfg.embedding_dim, num_classes, **kwargs)


def convergence_checks(history: Sequence[dict[str, Any]], window: int = 3, acc_tol: float = 0.02,
                       loss_tol: float = 0.03, loss_floor: float = 0.1, ver_tol: float = 0.015) -> dict[str, Any]:
    """The numbers behind :func:`converged` (notebook 07 section 4): over the last ``window`` epochs, the range of the
    training accuracy, the range of the loss without the margin term (absolute and relative to the last value) and
    the range of the verification accuracy, whether each is within its tolerance (``train_acc_ok``, ``loss_ok``,
    ``verification_ok``) and whether all are (``passes``)."""
    rows = [r for r in history if "train_acc" in r][-window:]
    if len(rows) < window:
        return {"epochs": len(rows), "passes": False}
    acc = [r["train_acc"] for r in rows]
    loss = [r["loss_no_margin"] for r in rows]
    ver = [r["verification_acc"] for r in rows if "verification_acc" in r]
    out = {
        "train_acc_range": max(acc) - min(acc), "loss_range": max(loss) - min(loss),
        "loss_rel_range": (max(loss) - min(loss)) / max(1e-9, abs(loss[-1])),
        "verification_range": (max(ver) - min(ver)) if len(ver) == window else float("nan"),
    }
    out["train_acc_ok"] = bool(out["train_acc_range"] <= acc_tol)
    out["loss_ok"] = bool(out["loss_range"] <= max(loss_tol * abs(loss[-1]), loss_floor))
    out["verification_ok"] = bool(len(ver) < window or out["verification_range"] <= ver_tol)
    out["passes"] = out["train_acc_ok"] and out["loss_ok"] and out["verification_ok"]
    return out


def converged(history: Sequence[dict[str, Any]], window: int = 3, acc_tol: float = 0.02, loss_tol: float = 0.03,
              loss_floor: float = 0.1, ver_tol: float = 0.015) -> bool:
    """The lab's convergence rule (stated per run in notebook 07 section 4): over the last ``window`` (3) epochs
    the training accuracy moved by at most ``acc_tol`` (2 points), the loss without the margin term by at most
    ``loss_tol`` (3 %) of its last value or ``loss_floor`` (0.1 nat), whichever is larger (a loss near 0 moves by a
    large fraction of itself while the fit no longer changes), and the DevTest verification accuracy by at most
    ``ver_tol`` (1.5 points, about one 10-fold s.e. of a single run). The lab's cosine schedule slows every run
    down at its end, so the rule is backed by ``benchmarks/lab_scale_accuracy.py``: separate runs of 1 to 24
    epochs."""
    return bool(convergence_checks(history, window, acc_tol, loss_tol, loss_floor, ver_tol)["passes"])


def train_run(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train one embedding network with the lab's engine (``lab`` preset: Adam, warm-up over the first 10 % of the
    steps then cosine decay, flips), evaluating the DevTest pairs after every epoch. Returns the network and
    ``{"history", "train_loss", "iters", "seconds", "warnings", "converged"}``; ``history`` has one record per
    epoch with the engine's diagnostics (training accuracy, loss with and without the margin term, mean feature
    norm, mean angle to the class weight) and the verification accuracy. The first
    ``cfg.margin_off_fraction`` of the steps train with the margin off (by default a third for LMCL without feature
    normalisation, which the paper starts from the softmax loss, and none otherwise). The backbone's initial weights
    and the batch order depend on the seed only, so runs of different heads with one seed are paired."""
    cfg.validate()
    n = data.train_x.shape[0]
    spe = max(1, n // cfg.batch)
    steps = int(cfg.steps) or spe * cfg.epochs
    if cfg.steps:  # a fixed step count on few faces: at most ~16 log/evaluation windows ("epochs" of the history)
        spe = max(spe, steps // 16)
    torch.manual_seed(seed)
    model = build_backbone(cfg, data)
    head, caught = head_for(cfg, len(data.classes), steps)
    fc = fit_preset("lab", steps=steps, batch=cfg.batch, lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                    warmup=max(1, steps // 10), seed=seed, log_every=spe, eval_every=spe, device=device,
                    threads=CPU_THREADS if device == "cpu" else 0, progress=progress,
                    margin_warmup=int(steps * cfg.margin_off_fraction))

    def verify(backbone: nn.Module, _head: nn.Module, step: int) -> dict[str, float]:
        return {"verification_acc": evaluate_run(backbone, data, device).mean_accuracy}

    res = fit(model, head, (data.train_x, data.train_y), fc, evaluate=verify)
    epochs: list[dict[str, Any]] = []
    for rec in res.history:
        if "loss" in rec:
            epochs.append({k: rec[k] for k in ("step", "loss", "loss_no_margin", "train_acc", "feat_norm", "angle_deg",
                                               "margin_on")})
        elif "verification_acc" in rec and epochs:
            epochs[-1]["verification_acc"] = rec["verification_acc"]
    return model, {"history": epochs, "train_loss": epochs[-1]["loss"], "iters": steps, "seconds": res.seconds,
                   "warnings": caught, "converged": converged(epochs), "head": res.head}


def test_features(model: nn.Module, data: LabData, device: str = "cpu") -> np.ndarray:
    """Features of every test face: image and mirror image embedded and concatenated (Sec. 4.1, "Testing")."""
    from labkit.evaluate.features import embed_batches

    return embed_batches(model, data.test_x, flip="concat", device=device)


def pair_scores(model: nn.Module, data: LabData, device: str = "cpu", feats: np.ndarray | None = None) -> np.ndarray:
    """The cosine score of every test pair, in the protocol file's order (the paper's test: cosine of the
    flip-concatenated features)."""
    from labkit.evaluate import cosine_pairs

    f = test_features(model, data, device) if feats is None else feats
    return cosine_pairs(f[data.pair_index[:, 0]], f[data.pair_index[:, 1]])


def fold_identification(feats: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Rank-1 identification among the test people only (notebook 07 section 6): every person with two or more
    faces gives their first face to the gallery and the rest are probes; every face of every *other* test person
    joins the gallery as a distractor. A probe succeeds when its own gallery face scores strictly above every
    distractor (:func:`labkit.evaluate.identification.identification`, ``gallery="first"``, one call per person).
    ``feats``: one row per face, ``names``: its person."""
    from labkit.evaluate.identification import identification

    arr = np.asarray(names)
    hits = trials = people = 0
    for person in np.unique(arr):
        mine = np.flatnonzero(arr == person)
        if mine.size < 2:
            continue
        res = identification(feats[mine], np.zeros(mine.size, np.int64), feats[arr != person],
                             counts=[int((arr != person).sum())], far=None, gallery="first")
        hits += round(res.rank1[0] * res.n_trials)
        trials += res.n_trials
        people += 1
    return {"rank1": hits / trials if trials else float("nan"), "probes": int(trials), "gallery_people": int(people),
            "faces": int(arr.size)}


@torch.no_grad()
def class_weight_angle(model: nn.Module, head: nn.Module, data: LabData, device: str = "cpu") -> dict[str, float]:
    """On every training face (no flip, eval mode): the mean angle (degrees) between its feature x and its class
    weight W_y, arccos(W_y . x / (|W_y| |x|)), the quantity LMCL's margin acts on (Eq. 4), and the fraction of
    faces whose nearest class weight by angle is their own."""
    from labkit.evaluate.features import embed_batches

    f = torch.from_numpy(embed_batches(model, data.train_x, flip="none", device=device)).double()
    w = head.weight.detach().cpu().double()
    cos = torch.nn.functional.normalize(f, dim=1) @ torch.nn.functional.normalize(w, dim=1).T
    y = data.train_y
    own = cos[torch.arange(y.numel()), y].clamp(-1, 1)
    return {"train_angle_deg": float(torch.rad2deg(torch.acos(own)).mean()),
            "train_angle_acc": float((cos.argmax(1) == y).double().mean())}


def evaluate_run(model: nn.Module, data: LabData, device: str = "cpu", feats: np.ndarray | None = None):
    """10-fold verification on the split's test pairs (View 1 DevTest, or one View 2 fold): embeddings of each image
    and its mirror image concatenated (as the paper tests), cosine scores, :func:`labkit.evaluate.kfold_verification`."""
    from labkit.evaluate import kfold_verification

    scores = pair_scores(model, data, device, feats)
    where = "View 1 DevTest" if data.data_config.protocol == "view1" else data.data_config.split
    return kfold_verification(
        scores, data.pair_same, data.pair_fold,
        protocol=f"LFW {where}, {len(scores)} pairs in {len(np.unique(data.pair_fold))} folds",
        options={"features": "flip concat", "score": "cosine"},
    )


def run_one(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Train and evaluate one (config, seed): a JSON-ready record with the per-epoch diagnostics."""
    return train_and_record(cfg, data, seed, device)[2]


def train_and_record(cfg: ExperimentConfig, data: LabData, seed: int = 0, device: str = "cpu",
                     measures: bool = False) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """:func:`run_one`, also returning the network and head. With ``measures`` the record also holds what the
    ten-fold grid pools afterwards: the test pairs' scores (``pair_scores``, protocol order) and labels, rank-1
    identification among the test people (:func:`fold_identification`) and the training faces' mean angle to their
    class weight (:func:`class_weight_angle`)."""
    model, hist = train_run(cfg, data, seed, device)
    head = hist.pop("head")
    feats = test_features(model, data, device)
    res = evaluate_run(model, data, device, feats)
    extra: dict[str, Any] = {}
    if measures:
        scores = pair_scores(model, data, device, feats)
        extra = {"pair_scores": [round(float(x), 6) for x in scores], "pair_same": [bool(x) for x in data.pair_same],
                 "identification": fold_identification(feats[data.ident_rows], data.ident_names),
                 **class_weight_angle(model, head, data, device)}
    return model, head, {**_record(cfg, data, seed, hist, res), **extra}


def _record(cfg: ExperimentConfig, data: LabData, seed: int, hist: dict[str, Any], res: Any) -> dict[str, Any]:
    return {
        "label": cfg.name, "config": asdict(cfg), "seed": int(seed), "split": data.data_config.split,
        "accuracy": res.mean_accuracy, "std_err": res.standard_error, "fold_accuracies": res.fold_accuracies,
        "auc": res.roc.auc, "eer": res.roc.eer, "train_loss": hist["train_loss"], "history": hist["history"],
        "loss_per_epoch": [h["loss"] for h in hist["history"]], "converged": hist["converged"],
        "iters": hist["iters"], "seconds": hist["seconds"], "warnings": hist["warnings"],
        "data": {**asdict(data.data_config), **{k: v for k, v in data.info.items() if k != "cache"}},
        "protocol": res.protocol, "run_version": RUN_VERSION,
    }


def _run_key(cfg: ExperimentConfig, seed: int, data: LabData) -> str:
    blob = json.dumps({**run_identity(cfg, data.data_config, seed), "v": RUN_VERSION, "torch": torch.__version__},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def run_grid(
    configs: Sequence[ExperimentConfig],
    seeds: Sequence[int] = (0,),
    data: LabData | None = None,
    device: str = "cpu",
    progress: bool = True,
    cache: bool = True,
) -> list[dict[str, Any]]:
    """Every config x seed, trained and evaluated (notebook 07 section 3): a tidy list of records (one per pair, in
    order; ``label`` from the config). Identical configs (up to ``label``) are trained once. Finished runs are
    cached as JSON under :func:`labkit.config.cache_dir` so a repeated grid costs nothing (``cache=False``
    recomputes)."""
    from tqdm.auto import tqdm

    for c in configs:
        if not isinstance(c, ExperimentConfig):
            raise TypeError(f"configs must be ExperimentConfig objects, got {type(c).__name__}")
        c.validate()
    needed = {c.backbone for c in configs}
    if data is not None and needed - {data.backbone}:
        raise ValueError(f"data were built for backbone {data.backbone!r}, the configs need {sorted(needed)}")
    loaded = {data.backbone: data} if data is not None else {b: load_lab_data(progress=progress, backbone=b)
                                                              for b in sorted(needed)}
    folder = config.cache_dir() / "experiments" / "runs"
    jobs = [(c, int(s)) for c in configs for s in seeds]
    done: dict[str, dict[str, Any]] = {}
    out = []
    bar = tqdm(jobs, desc="runs", unit="run", disable=not progress)
    for cfg, seed in bar:
        data = loaded[cfg.backbone]
        key = _run_key(cfg, seed, data)
        bar.set_postfix_str(f"{cfg.name}, seed {seed}")
        path = folder / f"{key}.json"
        if key not in done:
            if cache and path.is_file():
                done[key] = {**json.loads(path.read_text()), "cached": True}
            else:
                rec = run_one(cfg, data, seed, device)
                if cache:
                    folder.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(rec))
                done[key] = {**rec, "cached": False}
        out.append({**done[key], "label": cfg.name, "config": asdict(cfg)})
    return out
