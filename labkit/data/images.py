"""Reading face images and turning them into network input, as the paper's preprocessing does (Sec. 4.1):
aligned crops of 112x96 (height x width), each pixel mapped to (x - 127.5) / 128, so the input lies in [-1, 1)."""

from __future__ import annotations

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
