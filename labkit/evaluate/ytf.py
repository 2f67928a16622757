"""YouTube Faces (YTF) video verification: 5,000 video pairs in 10 splits of 500 (250 same, 250 different).

- The protocol file ``splits.txt`` is parsed by :func:`labkit.data.ytf.read_ytf_splits` (the one parser).
- Frames are read from YTF's ``frame_images_DB/<Person>/<video>/*.jpg`` (or ``aligned_images_DB``, same layout).
- A video's feature is the mean of its frames' features (each frame feature L2-normalised first by default, an
  explicit option recorded in the result); pairs are scored by cosine similarity and evaluated with the same
  10-fold rule as LFW (:func:`labkit.evaluate.verification.kfold_verification`), split = fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit.data.ytf import VideoPair, read_ytf_splits, video_frames, ytf_protocol_path
from labkit.evaluate.features import cosine_pairs, l2_normalize
from labkit.evaluate.verification import VerificationResult, kfold_verification

def unique_videos(pairs: Sequence[VideoPair]) -> list[str]:
    """Every video named by the pairs, as ``Person/<video number>``, sorted."""
    return sorted({v for p in pairs for v in p.videos})


def video_feature(frame_features: np.ndarray, normalize_frames: bool = True) -> np.ndarray:
    """The video's feature: mean of its frames' features (``(F, D)`` -> ``(D,)``), frames L2-normalised first if
    ``normalize_frames``."""
    f = np.asarray(frame_features, dtype=np.float32)
    if f.ndim != 2 or f.shape[0] == 0:
        raise ValueError(f"expected frame features of shape (frames, dim) with at least one frame, got {f.shape}")
    return (l2_normalize(f) if normalize_frames else f).mean(axis=0)


def evaluate_ytf(
    video_features: Mapping[str, np.ndarray],
    pairs: Sequence[VideoPair] | None = None,
    options: dict[str, Any] | None = None,
) -> VerificationResult:
    """10-fold YTF verification from per-video features (``{"Person/n": (D,)}``); split number = fold."""
    if pairs is None:
        pairs = read_ytf_splits(ytf_protocol_path())
    missing = sorted({v for p in pairs for v in p.videos if v not in video_features})
    if missing:
        raise KeyError(f"{len(missing)} video(s) of the pairs have no feature, e.g. {missing[0]!r}")
    a = np.stack([video_features[p.videos[0]] for p in pairs])
    b = np.stack([video_features[p.videos[1]] for p in pairs])
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    opts = {"score": "cosine", "video_feature": "mean of frame features", **(options or {})}
    return kfold_verification(cosine_pairs(a, b), labels, folds, protocol="YTF 10-fold (5,000 video pairs)", options=opts)


__all__ = ["VideoPair", "evaluate_ytf", "read_ytf_splits", "unique_videos", "video_feature", "video_frames",
           "ytf_protocol_path"]
