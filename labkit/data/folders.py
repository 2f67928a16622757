"""Identity-per-folder face data sets: ``root/<identity>/<image>``, the layout of LFW, of CASIA-WebFace as most
people unpack it, and of the lab's small training set. Identity folder names may contain spaces."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from labkit.data._shared import SharedFlags
from labkit.data.images import IMAGE_EXTENSIONS, CorruptImageError, load_image, to_tensor

log = logging.getLogger(__name__)


def scan_identity_folders(
    root: str | Path, names: Iterable[str] | None = None, min_images: int = 1
) -> dict[str, list[Path]]:
    """Map each identity folder under ``root`` to its sorted image paths.

    ``names`` restricts (and orders nothing: the result is sorted by name); identities with fewer than
    ``min_images`` images are left out. A missing root or a requested name that is absent is a clear error.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"face folder {root} does not exist: expected one sub-folder of images per identity")
    if names is None:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    else:
        folders = [root / n for n in sorted(set(names))]
        missing = [f.name for f in folders if not f.is_dir()]
        if missing:
            raise FileNotFoundError(f"identities not found under {root}: {missing[:5]}{'...' if len(missing) > 5 else ''}")
    out: dict[str, list[Path]] = {}
    for folder in folders:
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if len(images) >= min_images:
            out[folder.name] = images
    return out


class IdentityFolderDataset(Dataset):
    """A ``torch.utils.data.Dataset`` over ``root/<identity>/<image>``, returning ``(image, label)``.

    - ``transform`` takes the decoded ``uint8`` (H, W, 3) array and returns a tensor; by default the paper's
      normalisation :func:`labkit.data.images.to_tensor`.
    - ``crop``: ``None`` or ``"arcface_to_sphereface"`` (112x112 InsightFace crops read as 112x96).
    - An unreadable image never stops an epoch: it is logged with its path, counted in ``skipped``, and the next
      readable image stands in for it.
    """

    def __init__(
        self,
        root: str | Path,
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
        names: Iterable[str] | None = None,
        min_images: int = 1,
        crop: str | None = None,
    ) -> None:
        self.root = Path(root)
        table = scan_identity_folders(self.root, names=names, min_images=min_images)
        self.classes = list(table)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = [(p, self.class_to_idx[name]) for name, paths in table.items() for p in paths]
        self.targets = [label for _, label in self.samples]
        if crop not in (None, "arcface_to_sphereface"):
            raise ValueError(f"crop must be None or 'arcface_to_sphereface', got {crop!r}")
        self.crop = crop
        self.transform = transform or to_tensor
        self.skipped: set[Path] = set()
        self._skip_flags = SharedFlags(len(self.samples))

    @property
    def skipped_count(self) -> int:
        """Distinct unreadable images met so far, by this process and its DataLoader workers (``skipped`` holds
        only the paths this process saw)."""
        return self._skip_flags.count()

    def skipped_paths(self) -> list[Path]:
        """Paths of every unreadable image met so far, by this process and its DataLoader workers."""
        return [self.samples[i][0] for i in self._skip_flags.indices()]

    def __len__(self) -> int:
        return len(self.samples)

    def read(self, index: int) -> np.ndarray:
        """The decoded, cropped ``uint8`` image at ``index`` (raises CorruptImageError if unreadable)."""
        from labkit.data.images import crop_arcface_to_sphereface

        img = load_image(self.samples[index][0])
        return crop_arcface_to_sphereface(img) if self.crop else img

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        for step in range(len(self.samples)):
            i = (index + step) % len(self.samples)
            try:
                img = self.read(i)
            except CorruptImageError as exc:
                if self.samples[i][0] not in self.skipped:
                    self.skipped.add(self.samples[i][0])
                    self._skip_flags.mark(i)
                    log.warning("skipping unreadable image (%d so far): %s", len(self.skipped), exc)
                continue
            return self.transform(img), self.samples[i][1]
        raise CorruptImageError(f"no readable image at all under {self.root}")
