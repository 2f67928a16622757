"""Reading face images and turning them into network input, as the paper's preprocessing does (Sec. 4.1):
aligned crops of 112x96 (height x width), each pixel mapped to (x - 127.5) / 128, so the input lies in [-1, 1)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
PIXEL_MEAN = 127.5
PIXEL_SCALE = 128.0


class CorruptImageError(OSError):
    """An image file that cannot be decoded (truncated, not an image, empty)."""


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array of shape (H, W, 3).

    Raises :class:`CorruptImageError` naming the path when the file is unreadable or truncated.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()  # force a full decode so truncation is caught here, not later
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"cannot decode image {path}: {exc}") from exc


def crop_arcface_to_sphereface(img: np.ndarray) -> np.ndarray:
    """Crop a 112x112 ArcFace-aligned face to the 112x96 SphereFace/CosFace layout.

    The ArcFace 5-point template is the SphereFace one shifted 8 px to the right, so the crop is columns 8..103:
    no re-alignment needed.
    """
    if img.shape[0] != 112 or img.shape[1] != 112:
        raise ValueError(f"expected a 112x112 ArcFace-aligned image, got {img.shape[1]}x{img.shape[0]} (W x H)")
    return img[:, 8:104]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 with the paper's normalisation (x - 127.5) / 128."""
    x = torch.from_numpy(np.array(img, dtype=np.uint8, copy=not img.flags.writeable or not img.flags.c_contiguous)).permute(2, 0, 1).float()
    return (x - PIXEL_MEAN) / PIXEL_SCALE


def downsample(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-downsample (PIL ``BOX``) a ``uint8`` (H, W, 3) face to ``size`` = (height, width)."""
    if img.shape[:2] == tuple(size):
        return img
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BOX), dtype=np.uint8)


def face_images(folder: str | Path, relpaths: Sequence[str], size: tuple[int, int], cache: bool = True,
                progress: bool = True) -> np.ndarray:
    """uint8 (N, H, W, 3): the faces ``folder/relpath``, decoded once and area-downsampled to ``size``.

    Cached in :func:`labkit.config.cache_dir` (never in the data root) under a key of the folder, the file list and
    the size; written to a temporary file and renamed, so a cache file is always complete. An unreadable image
    raises :class:`CorruptImageError` naming it.
    """
    from tqdm.auto import tqdm

    from labkit import config

    size = (int(size[0]), int(size[1]))
    blob = json.dumps({"folder": str(Path(folder).resolve()), "files": list(relpaths), "size": size})
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    path = config.cache_dir() / "faces" / f"faces_{size[0]}x{size[1]}_{key}.npz"
    if cache and path.is_file():
        return np.load(path, allow_pickle=False)["images"]
    images = np.stack([downsample(load_image(Path(folder) / r), size)
                       for r in tqdm(relpaths, desc=f"decode faces at {size[0]}x{size[1]}", disable=not progress,
                                     unit="img")])
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # one per process: two may fill the cache at once
        np.savez(tmp, images=images)
        tmp.replace(path)
    return images
