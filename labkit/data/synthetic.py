"""A synthetic, face-shaped data set of any size: for throughput and pipeline tests, never for accuracy claims.

Each class has its own face geometry and colouring (face-oval size, skin tone, eye spacing, mouth width, hair);
each image adds a small shift, brightness change and pixel noise. Image ``i`` depends only on ``(seed, i)``, so any
index can be generated alone, in any worker, in any order, and is the same every time. The facial features sit at
the 5-point template positions of the 112x96 crop, so shapes match aligned faces.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from labkit.data.images import to_tensor

CASIA_CLASSES = 10_572
CASIA_IMAGES = 494_414


class SyntheticFaces(Dataset):
    """``num_classes x images_per_class`` synthetic faces of ``size`` (H, W); item ``i`` has label
    ``i // images_per_class``. ``transform`` takes the ``uint8`` (H, W, 3) array (default: the paper's
    normalisation). ``SyntheticFaces.casia_like()`` has CASIA-WebFace's class count."""

    def __init__(
        self,
        num_classes: int = 100,
        images_per_class: int = 10,
        size: tuple[int, int] = (112, 96),
        seed: int = 0,
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
    ) -> None:
        if num_classes < 1 or images_per_class < 1:
            raise ValueError(f"need at least one class and one image per class, got {num_classes}, {images_per_class}")
        h, w = size
        if h < 16 or w < 16:
            raise ValueError(f"size must be at least 16x16, got {size}")
        self.num_classes, self.images_per_class = int(num_classes), int(images_per_class)
        self.size = (int(h), int(w))
        self.seed = int(seed)
        self.transform = transform or to_tensor
        self.classes = [f"synthetic_{c:05d}" for c in range(self.num_classes)]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self._yy, self._xx = yy * (112.0 / h), xx * (96.0 / w)  # template coordinates

    @classmethod
    def casia_like(cls, images_per_class: int = 47, **kw) -> "SyntheticFaces":
        """10,572 classes at 112x96 (the count of the cleaned CASIA-WebFace lists used by SphereFace/InsightFace; the
        paper quotes 10,575 for the raw set); 47 per class gives ~497k images, like CASIA's ~0.49M."""
        return cls(num_classes=CASIA_CLASSES, images_per_class=images_per_class, **kw)

    def __len__(self) -> int:
        return self.num_classes * self.images_per_class

    @property
    def targets(self) -> np.ndarray:
        """Labels of all items (for samplers and histograms)."""
        return np.repeat(np.arange(self.num_classes), self.images_per_class)

    def label(self, index: int) -> int:
        return index // self.images_per_class

    def _class_params(self, c: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 1, c]).random(12)

    def image(self, index: int) -> np.ndarray:
        """The ``uint8`` (H, W, 3) image of item ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} synthetic faces")
        p = self._class_params(self.label(index))
        r = np.random.default_rng([self.seed, 2, index])
        dx, dy = r.normal(0, 1.5, 2)
        yy, xx = self._yy - dy, self._xx - dx
        bg = np.array([0.2, 0.3, 0.4]) + 0.5 * r.random(3)
        skin = np.array([0.55 + 0.4 * p[0], 0.4 + 0.35 * p[0], 0.3 + 0.3 * p[1]])
        img = np.empty(yy.shape + (3,), np.float32)
        img[:] = bg * (0.7 + 0.3 * yy[..., None] / 112.0)
        face = ((xx - 48) / (30 + 8 * p[2])) ** 2 + ((yy - 66) / (42 + 8 * p[3])) ** 2 < 1
        img[face] = skin
        hair = face & (yy < 30 + 10 * p[4])
        img[hair] = np.array([0.1, 0.07, 0.05]) + 0.4 * p[5]
        spread = 16 + 5 * p[6]
        for ex in (48 - spread, 48 + spread):
            eye = ((xx - ex) / 5.0) ** 2 + ((yy - 51.6) / (2.5 + 1.5 * p[7])) ** 2 < 1
            img[eye] = 0.1
        nose = (np.abs(xx - 48) < 2 + 2 * p[8]) & (yy > 55) & (yy < 72)
        img[nose] = skin * 0.8
        mouth = (np.abs(xx - 48) < 10 + 6 * p[9]) & (np.abs(yy - 92 + 3 * p[10]) < 1.5 + p[11])
        img[mouth] = np.array([0.6, 0.2, 0.2])
        img = img * (0.85 + 0.3 * r.random()) + r.normal(0, 0.03, img.shape).astype(np.float32)
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.image(index)), self.label(index)
