"""From image files to the paper's test-time features: aligned crops as they are, or photos detected and aligned.

Sec. 4.1 of the paper: faces are detected with MTCNN, aligned with a 5-point similarity transform to 112x96, the
pixels mapped to ``(x - 127.5) / 128``, and a face is represented by the features of the crop and of its mirror
image concatenated. Two entry points, both ending in :func:`labkit.evaluate.features.embed_batches`:

- :func:`embed_aligned`: the files are already aligned crops, 112x96 (the lab's and SphereFace's layout) or 112x112
  (ArcFace's, cut to 112x96 by :func:`labkit.data.images.crop_arcface_to_sphereface`); anything else is an error
  naming the file and the fix (``--detect``). The sizes are read from the file headers first, so a wrong set stops
  before any decoding.
- :func:`embed_detected`: any photo goes through :func:`labkit.faces.crop_or_center` (MTCNN + alignment); a photo
  in which no face is found falls back to the documented centre crop of :func:`labkit.data.align.center_crop` and
  is listed in the result, so one such photo does not stop an evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from labkit.data.images import CorruptImageError, crop_arcface_to_sphereface, to_tensor
from labkit.evaluate.features import embed_batches, embed_paths

ALIGNED_SIZES = ((112, 96), (112, 112))  # (height, width): SphereFace/CosFace crops, ArcFace crops


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file from its header (no decoding). Raises
    :class:`labkit.data.images.CorruptImageError` naming a file that is not an image, and ``ValueError`` for a
    folder."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file")
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"cannot decode image {path}: not an image file ({exc})") from exc


def check_aligned(paths: Sequence[str | Path]) -> dict[tuple[int, int], int]:
    """Check every file is an aligned crop (:data:`ALIGNED_SIZES`); returns how many of each size. Raises
    ``ValueError`` naming the first file of another size, the count of such files and what to do."""
    counts: dict[tuple[int, int], int] = {}
    bad: list[tuple[Path, tuple[int, int]]] = []
    for p in paths:
        hw = image_size(p)
        counts[hw] = counts.get(hw, 0) + 1
        if hw not in ALIGNED_SIZES:
            bad.append((Path(p), hw))
    if bad:
        (first, (h, w)) = bad[0]
        raise ValueError(f"{len(bad)} of {len(paths)} images are not aligned 112x96 (or 112x112 ArcFace) crops, "
                         f"e.g. {first} is {w}x{h} (WxH); pass --detect to detect and align the faces")
    return counts


def aligned_tensor(img: np.ndarray) -> torch.Tensor:
    """An aligned crop as network input: 112x112 ArcFace crops are cut to 112x96, then ``to_tensor``."""
    if img.shape[:2] == (112, 112):
        img = crop_arcface_to_sphereface(img)
    return to_tensor(img)


def embed_aligned(model: torch.nn.Module, paths: Sequence[str | Path], flip: str = "concat", batch_size: int = 128,
                  device: str = "cpu") -> np.ndarray:
    """Features of aligned crops, one row per path (:func:`check_aligned`, then
    :func:`labkit.evaluate.features.embed_paths`: the same batches as ``eval lfw`` for the same list)."""
    check_aligned(paths)
    return embed_paths(model, list(paths), flip=flip, batch_size=batch_size, device=device, transform=aligned_tensor)


@dataclass
class DetectedFeatures:
    """Features of detected photos (:func:`embed_detected`), and the photos whose crop is the centre-crop fallback
    because no face was found in them."""

    features: np.ndarray
    no_face: list[Path] = field(default_factory=list)


def embed_detected(model: torch.nn.Module, paths: Sequence[str | Path], flip: str = "concat", batch_size: int = 128,
                   device: str = "cpu") -> DetectedFeatures:
    """Features of photos detected and aligned by :func:`labkit.faces.crop_or_center`; photos without a face are
    centre-cropped (:func:`labkit.data.align.center_crop`) and listed in ``no_face``."""
    from labkit.faces import crop_or_center

    rows, no_face = [], []
    for i in range(0, len(paths), batch_size):
        crops = []
        for p in paths[i:i + batch_size]:
            if Path(p).is_dir():
                raise ValueError(f"{p} is a folder, not an image file")
            crop, face = crop_or_center(p)
            if face is None:
                no_face.append(Path(p))
            crops.append(to_tensor(crop))
        rows.append(embed_batches(model, torch.stack(crops), flip=flip, batch_size=batch_size, device=device))
    if not rows:
        raise ValueError("no images to embed")
    return DetectedFeatures(np.concatenate(rows), no_face)
