"""LFW verification, View 2 (``pairs.txt``), "unrestricted with labeled outside data" as reported in the paper.

The 6,000 pairs of ``pairs.txt`` form ten contiguous blocks of 600 (300 matched then 300 mismatched); block ``k`` is
fold ``k``. Scores are cosine similarities of the test-time features (:mod:`labkit.evaluate.features`); the 10-fold
rule is :func:`labkit.evaluate.verification.kfold_verification`.

The pairs file is parsed by :func:`labkit.data.lfw.read_pairs` (owned by the data module).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labkit.data.lfw import Pair, lfw_paths, protocol_path, read_pairs
from labkit.evaluate.features import cosine_pairs
from labkit.evaluate.verification import VerificationResult, kfold_verification

__all__ = ["Pair", "embed_lfw", "evaluate_lfw", "lfw_pair_scores", "load_lfw_pairs", "unique_images"]


def load_lfw_pairs(root: str | Path | None = None, file: str = "pairs.txt") -> list[Pair]:
    """The pairs of an LFW protocol file under the data root (default: View 2 ``pairs.txt``)."""
    return read_pairs(protocol_path(file, root))


def unique_images(pairs: Sequence[Pair]) -> list[str]:
    """The distinct images (``<Name>/<Name>_NNNN.jpg``) the pairs refer to, sorted: embed each once."""
    return sorted({rel for p in pairs for rel in p.relpaths()})


def lfw_pair_scores(features: Mapping[str, np.ndarray], pairs: Sequence[Pair]) -> np.ndarray:
    """Cosine score of each pair, from ``features[relpath]`` (a mapping from :func:`unique_images` keys)."""
    missing = [r for p in pairs for r in p.relpaths() if r not in features]
    if missing:
        raise KeyError(f"{len(set(missing))} pair image(s) have no feature, e.g. {missing[0]!r}")
    a = np.stack([features[p.relpaths()[0]] for p in pairs])
    b = np.stack([features[p.relpaths()[1]] for p in pairs])
    return cosine_pairs(a, b)


def evaluate_lfw(
    features: Mapping[str, np.ndarray] | None = None,
    pairs: Sequence[Pair] | None = None,
    scores: np.ndarray | None = None,
    options: dict[str, Any] | None = None,
) -> VerificationResult:
    """10-fold LFW verification from per-image ``features`` (or from precomputed pair ``scores``).

    Folds come from the pairs (``Pair.fold``, one per 600-line block of ``pairs.txt``), labels from ``Pair.same``.
    ``options`` (data variant, network, flip mode ...) is recorded in the result next to the protocol options.
    """
    if pairs is None:
        pairs = load_lfw_pairs()
    if (features is None) == (scores is None):
        raise ValueError("give exactly one of features (per image) or scores (per pair)")
    s = lfw_pair_scores(features, pairs) if scores is None else np.asarray(scores, dtype=np.float64)
    if s.shape != (len(pairs),):
        raise ValueError(f"{s.shape[0]} scores for {len(pairs)} pairs")
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    opts = {"score": "cosine", "pairs": f"{len(pairs)} pairs, {len(set(folds.tolist()))} folds", **(options or {})}
    return kfold_verification(s, labels, folds, protocol="LFW 10-fold (unrestricted, labeled outside data)", options=opts)


def embed_lfw(
    embed: Callable[[list[Path]], np.ndarray],
    pairs: Sequence[Pair],
    root: str | Path | None = None,
    variant: str = "aligned",
) -> dict[str, np.ndarray]:
    """Features for every image of ``pairs``: ``embed(list_of_paths) -> (N, D)`` is called once on the images of
    the chosen LFW variant (:func:`labkit.data.lfw.lfw_paths`)."""
    folder = lfw_paths(root, variant)
    rels = unique_images(pairs)
    feats = embed([folder / r for r in rels])
    if len(feats) != len(rels):
        raise ValueError(f"embed returned {len(feats)} rows for {len(rels)} images")
    return dict(zip(rels, np.asarray(feats)))
