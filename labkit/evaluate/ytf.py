"""YouTube Faces (YTF) video verification: 5,000 video pairs in 10 splits of 500 (250 same, 250 different).

- The protocol file ``splits.txt``: a header line, then ``split, pair#, Person/video, Person/video, is_same``.
- Frames are read from YTF's ``frame_images_DB/<Person>/<video>/*.jpg`` (or ``aligned_images_DB``, same layout).
- A video's feature is the mean of its frames' features (each frame feature L2-normalised first by default, an
  explicit option recorded in the result); pairs are scored by cosine similarity and evaluated with the same
  10-fold rule as LFW (:func:`labkit.evaluate.verification.kfold_verification`), split = fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labkit.config import DataMissingError, data_root
from labkit.data.images import IMAGE_EXTENSIONS
from labkit.data.lfw import ProtocolFormatError
from labkit.evaluate.features import cosine_pairs, l2_normalize
from labkit.evaluate.verification import VerificationResult, kfold_verification

HEADER_PREFIX = "split number"


@dataclass(frozen=True)
class VideoPair:
    """One YTF pair: ``video1``/``video2`` as ``Person_Name/<video number>``; ``split`` 1..10 as in the file."""

    split: int
    number: int
    video1: str
    video2: str
    same: bool
    line: int


def _video(tok: str, where: str) -> str:
    parts = tok.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ProtocolFormatError(f"{where}: expected a video as 'Person_Name/<video number>', found {tok!r}")
    return tok


def read_splits(path: str | Path) -> list[VideoPair]:
    """Parse YTF ``splits.txt``. A header line starting with ``split number`` is optional (some copies lack it).

    Malformed lines raise :class:`labkit.data.lfw.ProtocolFormatError` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(
            f"YTF protocol file {path} not found: put splits.txt from https://www.cs.tau.ac.il/~wolf/ytfaces/ "
            "under <data root>/ytf_protocol/"
        )
    out: list[VideoPair] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if n == 1 and line.lower().startswith(HEADER_PREFIX):
            continue
        where = f"{path}:{n}"
        tok = [t.strip() for t in line.split(",")]
        if len(tok) != 5:
            raise ProtocolFormatError(
                f"{where}: expected 5 comma-separated fields 'split, pair#, Person/video, Person/video, is_same', "
                f"found {len(tok)}: {raw!r}"
            )
        try:
            split, number, same = int(tok[0]), int(tok[1]), int(tok[4])
        except ValueError:
            raise ProtocolFormatError(f"{where}: split, pair number and is_same must be integers, found {raw!r}") from None
        if same not in (0, 1):
            raise ProtocolFormatError(f"{where}: is_same must be 0 or 1, found {tok[4]!r}")
        if split < 1:
            raise ProtocolFormatError(f"{where}: split numbers start at 1, found {split}")
        v1, v2 = _video(tok[2], where), _video(tok[3], where)
        if same and v1.split("/")[0] != v2.split("/")[0]:
            raise ProtocolFormatError(f"{where}: marked same (1) but the people differ: {v1} vs {v2}")
        out.append(VideoPair(split, number, v1, v2, bool(same), n))
    if not out:
        raise ProtocolFormatError(f"{path}: no pair lines found")
    return out


def splits_path(root: str | Path | None = None) -> Path:
    """``<data root>/ytf_protocol/splits.txt``, with a clear error when missing."""
    p = (Path(root) if root else data_root()) / "ytf_protocol" / "splits.txt"
    if not p.is_file():
        raise DataMissingError(f"YTF splits.txt not found at {p}: copy it there (see the data README) or set LABKIT_DATA")
    return p


def unique_videos(pairs: Sequence[VideoPair]) -> list[str]:
    return sorted({v for p in pairs for v in (p.video1, p.video2)})


def video_frames(frames_root: str | Path, video: str) -> list[Path]:
    """Sorted frame images of ``video`` (``Person/<n>``) under ``frames_root`` (``.../frame_images_DB``)."""
    folder = Path(frames_root) / video
    if not folder.is_dir():
        raise DataMissingError(
            f"YTF video folder {folder} not found: expected frames at frame_images_DB/<Person>/<video>/*.jpg "
            "(YTF is not shipped with the lab; see https://www.cs.tau.ac.il/~wolf/ytfaces/)"
        )
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not frames:
        raise DataMissingError(f"YTF video folder {folder} holds no images")
    return frames


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
        pairs = read_splits(splits_path())
    missing = sorted({v for p in pairs for v in (p.video1, p.video2) if v not in video_features})
    if missing:
        raise KeyError(f"{len(missing)} video(s) of the pairs have no feature, e.g. {missing[0]!r}")
    a = np.stack([video_features[p.video1] for p in pairs])
    b = np.stack([video_features[p.video2] for p in pairs])
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.split for p in pairs])
    opts = {"score": "cosine", "video_feature": "mean of frame features", **(options or {})}
    return kfold_verification(cosine_pairs(a, b), labels, folds, protocol="YTF 10-fold (5,000 video pairs)", options=opts)
