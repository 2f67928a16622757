"""Looking inside a verification result: the pieces notebook 06 ("Benchmarks") shows, as tested functions.

- fold tables and a constructed example of the 10-fold rule (section 1);
- pairs per fold, and a no-learning baseline: the cosine of raw grey pixels (section 2);
- per-pair scores and thresholds, and the pairs a model gets wrong (section 3);
- a MegaFace-style identification on a small face set, splitting it into probes and distractors (section 4);
- a mean and standard error over seeds, labelled by what it is over (section 5);
- :func:`markdown_table`, the one Markdown renderer (also used by :mod:`labkit.experiments.published`).

Every threshold here is the one the 10-fold protocol chose for the pair's own fold, from the other folds only
(:func:`labkit.evaluate.verification.kfold_verification`); nothing is tuned on the pairs it is applied to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from labkit.evaluate.features import cosine_pairs
from labkit.evaluate.identification import IdentificationResult, identification
from labkit.evaluate.verification import VerificationResult

#: distractor counts tried in the small identification run (plus the total), a coarse stand-in for 10 .. 10^6
SMALL_DISTRACTOR_STEPS: tuple[int, ...] = (10, 30, 100, 300, 1000)


class _Folded(Protocol):
    fold: int
    same: bool


# ------------------------------------------------------------------------------------------------ tables


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: one header row, a rule, and one line per row (cells shown with ``str``; ``|`` escaped).

    Used in notebook 06, sections 1, 2 and 5.
    """
    def cell(c: Any) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fold_table(result: VerificationResult, threshold_decimals: int = 4, accuracy_decimals: int = 2) -> str:
    """Markdown: each fold's threshold (chosen on the other folds) and its accuracy on the fold, in %.

    Used in notebook 06, sections 1 ("The 10-fold protocol on scores whose answer we know") and 2.
    """
    rows = [
        (name, f"{t:.{threshold_decimals}f}", f"{100 * a:.{accuracy_decimals}f} %")
        for name, t, a in zip(_fold_names(result), result.fold_thresholds, result.fold_accuracies)
    ]
    return markdown_table(["fold", "threshold (from the other folds)", "accuracy on the fold"], rows)


def _fold_names(result: VerificationResult) -> list[str]:
    names = result.options.get("folds")
    return list(names) if names and len(names) == result.n_folds else [str(i) for i in range(result.n_folds)]


def shifted_fold_example(
    n_folds: int = 10, per_label: int = 5, shifted: int = 9,
    usual: tuple[float, float] = (0.9, 0.1), odd: tuple[float, float] = (0.4, 0.05),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constructed scores whose 10-fold answer is known: ``(scores, labels, folds)``.

    Every fold has ``per_label`` matched pairs scored ``usual[0]`` and ``per_label`` mismatched pairs scored
    ``usual[1]``, except fold ``shifted``, scored ``odd`` instead. The threshold for the shifted fold comes from the
    other folds (midway between 0.1 and 0.9 by default: 0.5), so its matched pairs at 0.4 are rejected and that fold
    scores 50 %, although a threshold tuned on the fold itself would give 100 %.

    Used in notebook 06, section 1.
    """
    scores, labels, folds = [], [], []
    for f in range(n_folds):
        pos, neg = odd if f == shifted else usual
        scores += [pos] * per_label + [neg] * per_label
        labels += [1] * per_label + [0] * per_label
        folds += [f] * (2 * per_label)
    return np.array(scores, dtype=np.float64), np.array(labels, dtype=np.int64), np.array(folds, dtype=np.int64)


def fold_counts(pairs: Iterable[_Folded]) -> dict[int, tuple[int, int]]:
    """``{fold: (matched, mismatched)}`` for LFW pairs or YTF video pairs (anything with ``fold`` and ``same``).

    Used in notebook 06, section 2 (LFW View 2 and YTF).
    """
    out: dict[int, list[int]] = {}
    for p in pairs:
        c = out.setdefault(int(p.fold), [0, 0])
        c[0 if p.same else 1] += 1
    return {f: (c[0], c[1]) for f, c in sorted(out.items())}


# ------------------------------------------------------------------------------------------------ raw pixels


def raw_pixel_features(
    image_root: str | Path, rels: Sequence[str], size: tuple[int, int] = (28, 24)
) -> dict[str, np.ndarray]:
    """A no-learning "network": each image as grey pixels, resized to ``size`` (height, width) with bilinear
    filtering, flattened and centred (its mean subtracted). ``{relpath: vector}``.

    Used in notebook 06, section 2 ("LFW View 2 on real pairs ... a no-learning baseline").
    """
    from PIL import Image

    root = Path(image_root)
    h, w = size
    out = {}
    for rel in rels:
        with Image.open(root / rel) as im:
            v = np.asarray(im.convert("L").resize((w, h), Image.BILINEAR), dtype=np.float32).ravel()
        out[rel] = v - v.mean()
    return out


def raw_pixel_baseline(
    pairs: Sequence[Any], image_root: str | Path, size: tuple[int, int] = (28, 24)
) -> VerificationResult:
    """LFW 10-fold verification of :func:`raw_pixel_features` scored by cosine: what alignment alone gives.

    ``pairs``: :class:`labkit.data.lfw.Pair` (View 2 for the published protocol); ``image_root``: an LFW image folder
    (the 112x96 aligned crops in the notebook). Used in notebook 06, section 2.
    """
    from labkit.evaluate.lfw import evaluate_lfw, unique_images

    feats = raw_pixel_features(image_root, unique_images(pairs), size)
    h, w = size
    return evaluate_lfw(features=feats, pairs=pairs,
                        options={"features": f"raw pixels {h}x{w} grey, centred", "flip": "none",
                                 "images": str(image_root)})


# ------------------------------------------------------------------------------------------------ per pair


def pair_scores(features: np.ndarray, pair_index: np.ndarray) -> np.ndarray:
    """Cosine score of each pair, the pair given as two row numbers of ``features`` (``pair_index``: ``(P, 2)``).

    Used in notebook 06, section 3.
    """
    idx = np.asarray(pair_index)
    if idx.ndim != 2 or idx.shape[1] != 2:
        raise ValueError(f"pair_index must have shape (pairs, 2), got {idx.shape}")
    f = np.asarray(features)
    return cosine_pairs(f[idx[:, 0]], f[idx[:, 1]])


def per_pair_thresholds(result: VerificationResult, folds: Sequence[Any]) -> np.ndarray:
    """The threshold each pair was judged with: its fold's threshold from ``result`` (chosen on the other folds).

    ``folds`` must be the fold labels ``result`` was computed with (folds are taken in sorted order, as in
    :func:`labkit.evaluate.verification.kfold_verification`). Used in notebook 06, section 3 ("Which pairs fail").
    """
    f = np.asarray(folds).reshape(-1)
    names = np.unique(f)
    if names.size != result.n_folds or f.size != result.n_pairs:
        raise ValueError(f"{f.size} fold labels in {names.size} folds do not match the result "
                         f"({result.n_pairs} pairs, {result.n_folds} folds)")
    return np.asarray(result.fold_thresholds, dtype=np.float64)[np.searchsorted(names, f)]


@dataclass(frozen=True)
class PairErrors:
    """The pairs judged wrongly: ``false_rejects`` (matched, scored at or below their threshold), lowest score
    first, and ``false_accepts`` (mismatched, scored above it), highest score first. Both hold pair indices."""

    false_rejects: np.ndarray
    false_accepts: np.ndarray
    n_pairs: int

    def worst(self, k: int = 4) -> list[tuple[str, int]]:
        """The ``k`` worst of each kind: ``[("false reject", i), ..., ("false accept", j), ...]``."""
        return ([("false reject", int(i)) for i in self.false_rejects[:k]]
                + [("false accept", int(i)) for i in self.false_accepts[:k]])

    def summary(self) -> str:
        return (f"{self.false_rejects.size} false rejects and {self.false_accepts.size} false accepts among "
                f"{self.n_pairs} pairs")


def pair_errors(scores: Any, same: Any, thresholds: Any) -> PairErrors:
    """The pairs the decision ``score > threshold`` gets wrong, worst first (see :class:`PairErrors`).

    Used in notebook 06, section 3 ("Which pairs fail, and why").
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(same).astype(bool).reshape(-1)
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), s.shape)
    if y.shape != s.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    fr = np.flatnonzero(y & (s <= t))
    fa = np.flatnonzero(~y & (s > t))
    return PairErrors(fr[np.argsort(s[fr], kind="stable")], fa[np.argsort(-s[fa], kind="stable")], int(s.size))


# ------------------------------------------------------------------------------------------------ identification


@dataclass(frozen=True)
class ProbeSplit:
    """A face set cut for identification: ``is_probe`` marks the faces of people with at least ``min_images``
    faces (the probes), the rest are distractors; ``probe_labels`` numbers the probe people (one int per probe
    face); ``probe_names`` the people, in label order."""

    is_probe: np.ndarray
    probe_labels: np.ndarray
    probe_names: list[str]

    @property
    def n_distractors(self) -> int:
        return int((~self.is_probe).sum())


def probe_distractor_split(names: Sequence[str], min_images: int = 2) -> ProbeSplit:
    """Probes = faces of people with ``min_images`` or more faces in ``names`` (one name per face); distractors =
    the faces of everybody else (people with a single face), who match no probe.

    Used in notebook 06, section 4 (MegaFace-style identification on the LFW DevTest faces).
    """
    arr = np.asarray(list(names))
    uniq, cnt = np.unique(arr, return_counts=True)
    multi = uniq[cnt >= min_images]
    is_probe = np.isin(arr, multi)
    probe_names, labels = np.unique(arr[is_probe], return_inverse=True)
    return ProbeSplit(is_probe, labels.astype(np.int64), [str(n) for n in probe_names])


def distractor_steps(n_distractors: int, steps: Sequence[int] = SMALL_DISTRACTOR_STEPS) -> list[int]:
    """The distractor counts to report: each of ``steps`` up to ``n_distractors``, and ``n_distractors`` itself."""
    if n_distractors < 1:
        raise ValueError("no distractors: every person has at least two faces")
    return sorted({s for s in steps if s <= n_distractors} | {n_distractors})


def singleton_identification(
    features: np.ndarray,
    names: Sequence[str],
    far: float = 1e-3,
    steps: Sequence[int] = SMALL_DISTRACTOR_STEPS,
    options: dict[str, Any] | None = None,
) -> tuple[IdentificationResult, ProbeSplit]:
    """The MegaFace-style protocol (:func:`labkit.evaluate.identification.identification`) on one small face set:
    people with two or more faces are the probes, single-face people the distractors (:func:`probe_distractor_split`),
    rank-1 at each of :func:`distractor_steps`, TAR at ``far`` (1e-6 needs far more impostor pairs than a small set).

    Used in notebook 06, section 4.
    """
    feats = np.asarray(features)
    split = probe_distractor_split(names)
    distractors = feats[~split.is_probe]
    counts = distractor_steps(len(distractors), steps)
    res = identification(feats[split.is_probe], split.probe_labels, distractors, counts=counts, far=far,
                         options={"probes": "people with >= 2 faces", "distractors": "people with 1 face",
                                  **(options or {})})
    return res, split


# ------------------------------------------------------------------------------------------------ seeds


@dataclass(frozen=True)
class SeedSummary:
    """A mean accuracy and its standard error, with what the error is over (``"3 seeds"`` or ``"10-fold"``)."""

    mean: float
    se: float
    over: str
    accuracies: tuple[float, ...]

    def text(self, decimals: int = 2) -> str:
        """``"97.12 ± 0.31 (3 seeds)"`` (in %)."""
        return f"{100 * self.mean:.{decimals}f} ± {100 * self.se:.{decimals}f} ({self.over})"


def seed_summary(accuracies: Sequence[float], fold_se: float | None = None, n_folds: int = 10) -> SeedSummary:
    """Mean over seeds with its standard error ``std(ddof=1) / sqrt(n)``; with a single seed, that run's k-fold
    standard error ``fold_se`` instead (labelled as such, since it measures something else).

    Used in notebook 06, sections 3 and 5 (the lab's row of Table 3).
    """
    acc = np.asarray(list(accuracies), dtype=np.float64)
    if acc.size == 0:
        raise ValueError("no accuracies given")
    if acc.size > 1:
        return SeedSummary(float(acc.mean()), float(acc.std(ddof=1) / math.sqrt(acc.size)), f"{acc.size} seeds",
                           tuple(acc.tolist()))
    if fold_se is None:
        raise ValueError("one seed: pass fold_se, the run's k-fold standard error")
    return SeedSummary(float(acc[0]), float(fold_se), f"{n_folds}-fold s.e., 1 seed", tuple(acc.tolist()))


def roc_curves(named: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``[(label with AUC and EER, RocSummary), ...]`` for plotting several ROC curves with one legend style.

    ``named`` maps a name to a :class:`labkit.evaluate.verification.RocSummary`. Used in notebook 06, "ROC curves".
    """
    return [(f"{name}: AUC {r.auc:.3f}, EER {100 * r.eer:.1f} %", r) for name, r in named.items()]


__all__ = [
    "PairErrors",
    "ProbeSplit",
    "SMALL_DISTRACTOR_STEPS",
    "SeedSummary",
    "distractor_steps",
    "fold_counts",
    "fold_table",
    "markdown_table",
    "pair_errors",
    "pair_scores",
    "per_pair_thresholds",
    "probe_distractor_split",
    "raw_pixel_baseline",
    "raw_pixel_features",
    "roc_curves",
    "seed_summary",
    "shifted_fold_example",
    "singleton_identification",
]
