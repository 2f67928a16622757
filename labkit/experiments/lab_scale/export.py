"""A lab-scale run as a face-model file (:func:`labkit.zoo.save_face_model`), usable anywhere ``--model FILE`` is
accepted (``verify``, ``eval pairs``, ``eval lfw``, the notebooks), and the shipped lab model ``--model lab``
(:mod:`labkit.shipped_model`).

The network is the run's :class:`labkit.models.SmallCNN`; :class:`labkit.zoo.FaceModel` area-averages the lab's
112x96 crops to the run's input size, so the file behaves like any other model. Its card carries the verification
threshold: the paper scores a pair by the cosine of the flip-concatenated features (Sec. 4.1, "Testing"); the card's
threshold is the best-accuracy one on the 600 pairs of the View 2 fold the run was tested on (people it never saw
in training), chosen by :func:`labkit.evaluate.calibrate.calibrate`, and ``threshold_source`` says so.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from labkit.experiments.lab_scale.configs import CNN_CHANNELS, DataConfig, ExperimentConfig
from labkit.experiments.lab_scale.data import LabData


def arch_kwargs(cfg: ExperimentConfig, data_config: DataConfig) -> dict[str, Any]:
    """The constructor arguments of the run's :class:`labkit.models.SmallCNN` (what the model file stores)."""
    return {"input_size": list(data_config.image_size), "channels": list(CNN_CHANNELS), "hidden": int(cfg.hidden),
            "feat_dim": int(cfg.embedding_dim), "bn_before_feature": True}


def save_run_model(path: str | Path, network: nn.Module, cfg: ExperimentConfig, data: LabData, seed: int,
                   name: str = "", command: str = "", extra_info: dict[str, Any] | None = None) -> Any:
    """Write ``network`` (trained by :func:`labkit.experiments.lab_scale.train_run` on ``data``) as a face-model
    file with a card: the threshold calibrated on the run's own test pairs (a View 2 fold: pairs of people outside
    training), the accuracy at that threshold, and the 10-fold accuracy of the LFW protocol on the same pairs.
    Returns the :class:`labkit.zoo.ModelCard` written."""
    from labkit.evaluate.calibrate import calibrate
    from labkit.experiments.lab_scale.training import evaluate_run
    from labkit.zoo import ModelCard, save_face_model

    from labkit.data.lfw import lfw_paths
    from labkit.evaluate import cosine_pairs, kfold_verification
    from labkit.evaluate.features import embed_paths
    from labkit.zoo import FaceModel

    dc = data.data_config
    if dc.protocol != "view2":
        raise ValueError("a shipped model is calibrated on the View 2 fold it never saw: train it on protocol='view2'")
    # score the pairs the way a user of the file will: the 112x96 crops through the FaceModel (which area-averages
    # the float crop; training saw uint8 area-downsampled faces, a few scores differ by that round-off)
    wrapped = FaceModel(network, ModelCard(name="calibrating"), tuple(dc.image_size))
    folder = lfw_paths(None, variant="aligned")
    feats = embed_paths(wrapped, [folder / r for r in data.test_rel])
    scores = cosine_pairs(feats[data.pair_index[:, 0]], feats[data.pair_index[:, 1]])
    same = np.asarray(data.pair_same, bool)
    pairs_name = f"LFW {dc.split} (pairs.txt)"
    threshold, source = calibrate(scores, same, pairs_name,
                                  note="whose people the model never saw in training")
    ten_fold = kfold_verification(scores, same, data.pair_fold)
    at_training_input = evaluate_run(network, data)
    h, w = dc.image_size
    card = ModelCard(
        name=name or Path(path).stem,
        description=(f"lab-scale {cfg.name} ({h}x{w} SmallCNN, {cfg.embedding_dim}-d), trained on "
                     f"{data.info['train_people']:,} people / {data.info['train_images']:,} faces "
                     f"({'LFW + ' + ' + '.join(dc.extra) if dc.extra else 'LFW only'}), tested on {dc.split}"),
        threshold=float(threshold), threshold_source=source,
        info={"command": command, "recipe": asdict(cfg), "seed": int(seed), "data": {**asdict(dc), **data.info},
              "test_split": dc.split, "test_pairs": int(same.size),
              "accuracy_10fold": float(ten_fold.mean_accuracy), "accuracy_10fold_se": float(ten_fold.standard_error),
              "accuracy_at_threshold": float(np.mean((scores > threshold) == same)),
              "scored_as": "112x96 crops through the FaceModel (as --model uses it)",
              "accuracy_10fold_training_input": float(at_training_input.mean_accuracy),
              "score": "cosine of flip-concatenated features", "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              **(extra_info or {})},
    )
    save_face_model(path, network, "SmallCNN", arch_kwargs(cfg, dc), tuple(dc.image_size), card)
    return card


def train_and_save(path: str | Path, cfg: ExperimentConfig, data_config: DataConfig, seed: int = 0,
                   name: str = "", command: str = "", progress: bool = True) -> tuple[Any, dict[str, Any]]:
    """Train one lab-scale run (:func:`labkit.experiments.lab_scale.train_run`) and write it with
    :func:`save_run_model`. Returns (card, the run's training summary)."""
    from labkit.experiments.lab_scale.data import load_lab_data
    from labkit.experiments.lab_scale.training import train_run

    data = load_lab_data(data_config, progress=progress)
    network, hist = train_run(cfg, data, seed)
    info = {"converged": bool(hist["converged"]), "train_seconds": round(float(hist["seconds"]), 1),
            "final_epoch": hist["history"][-1]}
    card = save_run_model(path, network, cfg, data, seed, name=name, command=command, extra_info=info)
    return card, hist


def recalibrate(path: str | Path, out: str | Path | None = None) -> Any:
    """Rewrite the card of a face-model file written by :func:`save_run_model` (threshold and accuracies recomputed
    on its test fold, training information kept) into ``out`` (default: in place). Returns the new card."""
    from labkit.experiments.lab_scale.data import load_lab_data
    from labkit.zoo import load_model_file

    model = load_model_file(path)
    info = dict(model.card.info)
    cfg = ExperimentConfig(**{k: v for k, v in info["recipe"].items()})
    fields = {f for f in DataConfig.__dataclass_fields__}
    dc = DataConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in info["data"].items() if k in fields})
    data = load_lab_data(dc, progress=False)
    keep = {k: info[k] for k in ("converged", "train_seconds", "final_epoch", "written") if k in info}
    return save_run_model(out or path, model.network, cfg, data, int(info["seed"]), name=model.card.name,
                          command=info.get("command", ""), extra_info={**keep, "recalibrated":
                          "card recomputed by labkit.experiments.lab_scale.export.recalibrate"})
