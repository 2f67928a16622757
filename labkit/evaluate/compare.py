"""Several models on the same LFW pairs, side by side (notebook 06): cached features, one row per model, and the
MegaFace-style identification with LFW people.

- :func:`cached_features`: flip-concatenated features (Sec. 4.1) of a list of LFW crops, through
  :func:`labkit.evaluate.features.embed_paths`, cached in :func:`labkit.config.cache_dir` under a key of the model's
  weights and of the image list (never in the data root);
- :func:`verification_row`: the 10-fold result on a set of pairs (:func:`labkit.evaluate.lfw.evaluate_lfw`) as a
  :class:`Row`: accuracy +- s.e., TAR at FAR 1e-3 / 1e-4, EER, and whether each FAR is resolved;
- :func:`lfw_identification`: probes and gallery from LFW people with >= 2 images, every other image a distractor
  (:func:`labkit.evaluate.identification.identification`), rank-1 against the number of distractors.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labkit.evaluate.identification import IdentificationResult, identification
from labkit.evaluate.verification import VerificationResult

FARS: tuple[float, ...] = (1e-3, 1e-4)


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 (16 hex digits) of a model's class name and state dict (names, shapes, values): the cache key part
    that changes whenever the weights do."""
    h = hashlib.sha256(type(model).__name__.encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cached_features(model: torch.nn.Module, folder: str | Path, rels: Sequence[str], flip: str = "concat",
                    batch_size: int = 32, device: str = "cpu", cache: bool = True) -> np.ndarray:
    """Features of ``folder/rel`` for each of ``rels`` (rows in order), the image and its mirror combined per ``flip``.

    The cache file is keyed by :func:`model_fingerprint`, the resolved folder, the file list and ``flip``; it is
    written to a temporary file and renamed, so it is always complete.
    """
    from labkit import config
    from labkit.evaluate.features import embed_paths

    rels = list(rels)
    blob = json.dumps({"model": model_fingerprint(model), "folder": str(Path(folder).resolve()), "files": rels,
                       "flip": flip})
    key = hashlib.sha256(blob.encode()).hexdigest()[:20]
    path = config.cache_dir() / "features" / f"features_{key}.npy"
    if cache and path.is_file():
        return np.load(path, allow_pickle=False)
    feats = embed_paths(model, [Path(folder) / r for r in rels], flip=flip, batch_size=batch_size, device=device)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)
    return feats


@dataclass(frozen=True)
class Row:
    """One model on one set of pairs: the numbers notebook 06 puts side by side."""

    name: str
    pairs: str
    result: VerificationResult

    @property
    def accuracy(self) -> str:
        return f"{100 * self.result.mean_accuracy:.2f} ± {100 * self.result.standard_error:.2f} %"

    def tar(self, far: float) -> str:
        """TAR at ``far`` in %, marked when ``far`` is below ``1 / n_mismatched`` (not resolved)."""
        value = f"{100 * self.result.roc.tar_at_far[str(far)]:.2f} %"
        return value + " (FAR not resolved)" if str(far) in self.result.roc.far_below_resolution else value

    @property
    def eer(self) -> str:
        return f"{100 * self.result.roc.eer:.2f} %"

    def cells(self) -> list[str]:
        return [self.name, self.pairs, self.accuracy, *(self.tar(f) for f in FARS), self.eer]


HEADER = ["model", "pairs", "10-fold accuracy ± s.e.", *(f"TAR @ FAR {f:g}" for f in FARS), "EER"]


def verification_row(name: str, features: dict[str, np.ndarray], pairs: Sequence[Any], pairs_label: str,
                     options: dict[str, Any] | None = None) -> Row:
    """The 10-fold LFW protocol on ``pairs`` from per-image ``features`` (``{relpath: vector}``), as a :class:`Row`."""
    from labkit.evaluate.lfw import evaluate_lfw

    return Row(name, pairs_label, evaluate_lfw(features=features, pairs=pairs, options=options))


def markdown(rows: Sequence[Row]) -> str:
    """The rows as one Markdown table (:func:`labkit.evaluate.analysis.markdown_table`)."""
    from labkit.evaluate.analysis import markdown_table

    return markdown_table(HEADER, [r.cells() for r in rows])


@dataclass(frozen=True)
class IdentificationSplit:
    """LFW cut for identification: ``probe_rels`` (people with >= 2 images) with ``probe_labels``, and
    ``distractor_rels`` (everybody else, one image each)."""

    probe_rels: list[str]
    probe_labels: np.ndarray
    distractor_rels: list[str]

    @property
    def n_people(self) -> int:
        return int(np.unique(self.probe_labels).size)


def identification_split(rels: Sequence[str], people: set[str] | None = None, max_per_person: int | None = None,
                         max_distractors: int | None = None, seed: int = 0) -> IdentificationSplit:
    """Probes: the images of people (optionally only those in ``people``) with at least two images, at most
    ``max_per_person`` each (the first ones in sorted order); distractors: the images of people with a single image
    (LFW people with >= 2 images are probes or, outside ``people``, left out, so no distractor matches a probe).
    ``max_distractors`` keeps a seeded random subset of the distractors (a fast mode)."""
    by_person: dict[str, list[str]] = {}
    for r in sorted(rels):
        by_person.setdefault(r.split("/")[0], []).append(r)
    probes: list[str] = []
    distractors: list[str] = []
    for person, imgs in by_person.items():
        if len(imgs) >= 2:
            if people is None or person in people:
                probes += imgs[:max_per_person] if max_per_person else imgs
        else:
            distractors += imgs
    names = [p.split("/")[0] for p in probes]
    _, lab = np.unique(np.asarray(names), return_inverse=True)
    if max_distractors is not None and len(distractors) > max_distractors:
        rng = np.random.default_rng(seed)
        distractors = sorted(rng.choice(distractors, size=max_distractors, replace=False).tolist())
    return IdentificationSplit(probes, lab.astype(np.int64), distractors)


def distractor_counts(n: int) -> list[int]:
    """10, 30, 100, 300, ... up to ``n``, and ``n`` itself."""
    out, k = [], 0
    while True:
        c = (10, 30)[k % 2] * 10 ** (k // 2)
        if c >= n:
            break
        out.append(c)
        k += 1
    return out + [n]


def lfw_identification(probe_features: np.ndarray, probe_labels: np.ndarray, distractor_features: np.ndarray,
                       far: float | None = 1e-3, options: dict[str, Any] | None = None) -> IdentificationResult:
    """Rank-1 at each of :func:`distractor_counts` (MegaFace devkit rule: every image of a person takes its turn as
    the gallery mate), TAR at ``far`` against all distractors."""
    counts = distractor_counts(len(distractor_features))
    return identification(probe_features, probe_labels, distractor_features, counts=counts, far=far,
                          options=options)


# ------------------------------------------------------------------------------------------- the models of notebook 06


def load_named(name: str) -> tuple[Any, str]:
    """``(FaceModel, "")`` for a registered model (:func:`labkit.zoo.load_face_model`), or ``(None, why)`` with one
    printable line when it is not installed, not written yet, or unreadable."""
    from labkit import zoo

    try:
        return zoo.load_face_model(name), ""
    except (FileNotFoundError, ValueError) as exc:  # DataMissingError, UnknownModelError, a checksum error
        from labkit.cli import one_line

        return None, f"--model {name} is not available here: {one_line(exc)}"


def test_fold_of(model: Any) -> tuple[int, int] | None:
    """``(View 2 fold, sub-folds)`` a model was tested on, from its card (``info["data"]["test_fold"]``, as
    :mod:`labkit.experiments.lab_scale.export` writes it), or None when the card names no fold."""
    data = (getattr(getattr(model, "card", None), "info", None) or {}).get("data") or {}
    if data.get("protocol", "view2") != "view2" or "test_fold" not in data:
        return None
    return int(data["test_fold"]), int(data.get("n_folds", 10))


def fold_subset(pairs: Sequence[Any], folds: Sequence[int]) -> list[Any]:
    """The pairs of the given View 2 folds, in file order (a fast mode's subset: whole folds, so every fold keeps
    its 300 matched and 300 mismatched pairs and the 10-fold rule still chooses each threshold on other folds)."""
    keep = set(int(f) for f in folds)
    return [p for p in pairs if int(p.fold) in keep]


def pair_scores_of(features: dict[str, np.ndarray], pairs: Sequence[Any]) -> np.ndarray:
    """Cosine score of each pair from ``{relpath: feature}`` (:func:`labkit.evaluate.lfw.lfw_pair_scores`)."""
    from labkit.evaluate.lfw import lfw_pair_scores

    return lfw_pair_scores(features, pairs)


def errors_figure(title: str, pairs: Sequence[Any], scores: np.ndarray, result: VerificationResult,
                  folder: str | Path, k: int = 3):
    """A matplotlib figure of the ``k`` worst false rejects and ``k`` worst false accepts of one model, each pair
    judged with the threshold its own fold got from the other folds (:func:`labkit.evaluate.analysis.pair_errors`).
    Returns ``(figure or None, PairErrors)``; None when the model gets no pair wrong."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from labkit.evaluate.analysis import pair_errors, per_pair_thresholds

    thr = per_pair_thresholds(result, [p.fold for p in pairs])
    errors = pair_errors(scores, [p.same for p in pairs], thr)
    picks = errors.worst(k)
    if not picks:
        return None, errors
    fig, axes = plt.subplots(2, len(picks), figsize=(1.7 * len(picks), 4.2), squeeze=False)
    for col, (kind, i) in enumerate(picks):
        for row, rel in enumerate(pairs[i].relpaths()):
            ax = axes[row, col]
            ax.imshow(Image.open(Path(folder) / rel))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(rel.split("/")[0][:16], fontsize=7)
        axes[0, col].set_title(f"{kind}\ncos {scores[i]:.2f} (thr {thr[i]:.2f})", fontsize=7)
    fig.suptitle(f"{title}: {errors.summary()}", fontsize=9)
    fig.tight_layout()
    return fig, errors


#: what separates each row of notebook 06 from the paper's CosFace (network, loss, data, scale)
DIFFERENCES_HEADER = ["row", "network", "loss", "training data", "input"]
DIFFERENCES: dict[str, list[str]] = {
    "paper: CosFace (Table 3)": ["64-layer residual CNN (SphereFace's)", "LMCL, s = 64, m = 0.35",
                                 "CASIA-WebFace 0.49M (Tables 1-2) / ~5M private (Table 3)", "112x96"],
    "reference": ["MobileFaceNet, 1.0 M parameters, 128-d", "ArcFace (additive angular margin)",
                  "cleaned MS-Celeb-1M, 3.8M faces of 85K people (third party)", "112x112 (crop padded)"],
    "lab model": ["SmallCNN, 128-d", "LMCL", "LFW people outside its test fold (card below)", "56x48 or 28x24"],
    "raw pixels": ["none (grey pixels, centred)", "none", "none", "28x24 grey"],
}
