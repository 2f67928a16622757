"""The toy data set: the 8 LFW identities with at least 60 images (1,348 faces), decoded once and cached small.

Choices (all stated so a notebook can print them):

- Input size: the aligned 112x96 crops are area-downsampled (PIL ``Image.BOX``) to ``size`` (default 28x24, a
  factor 4 on each side) so a model trains in seconds on a laptop CPU. The paper's normalisation
  (x - 127.5) / 128 is applied when batches are built; horizontal flips are the augmentation (as in the paper).
- Held-back split: per identity, every ``holdout_every``-th image in sorted file order (default every 5th: 20 %)
  is held back. Deterministic, independent of the training seed.
- Class imbalance (George_W_Bush has 530 images, Junichiro_Koizumi 60): training uses *balanced sampling*,
  see :func:`balanced_epoch`: every epoch draws the same number of images from each identity, walking through a
  fresh permutation of that identity's training images (small classes are revisited more often, large ones are
  sub-sampled differently each epoch).

The decoded small images are cached by :func:`labkit.data.images.face_images` in ``labkit.config.cache_dir()``,
never in the data root; labels and file names come from the folder listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit import config

#: The 8 LFW people with >= 60 images, in the label order used throughout the toy experiment.
IDENTITIES = (
    "George_W_Bush",
    "Colin_Powell",
    "Tony_Blair",
    "Donald_Rumsfeld",
    "Gerhard_Schroeder",
    "Ariel_Sharon",
    "Hugo_Chavez",
    "Junichiro_Koizumi",
)
DEFAULT_SIZE = (28, 24)
HOLDOUT_EVERY = 5


@dataclass
class ToyData:
    """Decoded toy images. ``images`` is uint8 (N, H, W, 3); ``is_train`` marks the training split."""

    images: np.ndarray
    labels: np.ndarray
    files: list[str]
    is_train: np.ndarray
    names: tuple[str, ...] = IDENTITIES

    @property
    def size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def summary(self) -> str:
        tr = np.bincount(self.labels[self.is_train], minlength=len(self.names))
        te = np.bincount(self.labels[~self.is_train], minlength=len(self.names))
        rows = [f"{n:<20} train {a:4d}  held-out {b:3d}" for n, a, b in zip(self.names, tr, te)]
        h, w = self.size
        return f"{len(self.labels)} images at {h}x{w}\n" + "\n".join(rows)


def lfw_folder(root: str | Path | None = None) -> Path:
    """The folder of aligned LFW identities (``lfw_aligned`` in :mod:`labkit.data.layout`): ``root`` may be the
    data root, the ``lfw_aligned_112x96`` folder or the ``lfw-112x96`` folder itself. Raises
    :class:`labkit.config.DataMissingError` when absent or when it lacks the toy identities."""
    from labkit.data import layout

    base = Path(root) if root else config.data_root()
    folder = layout.find("lfw_aligned", base, "images")
    if folder is not None and (folder / IDENTITIES[-1]).is_dir():
        return folder
    raise config.DataMissingError(
        f"the 8 toy identities were not found under {base}: expected "
        f"{layout.canonical('lfw_aligned', base, 'images')}/<Name>/*.jpg (aligned 112x96 LFW, e.g. {IDENTITIES[0]}). "
        "Set LABKIT_DATA (or --data / DATA_ROOT) to the data root holding lfw_aligned_112x96/. The shipped sweep "
        "works without it.\n" + layout.instructions("lfw_aligned", base)
    )


def holdout_mask(labels: np.ndarray, every: int = HOLDOUT_EVERY) -> np.ndarray:
    """True for training images: within each identity (in file order) every ``every``-th image is held back."""
    is_train = np.ones(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        is_train[idx[every - 1 :: every]] = False
    return is_train


def load_toy_data(
    root: str | Path | None = None, size: tuple[int, int] = DEFAULT_SIZE, cache: bool = True, verbose: bool = False
) -> ToyData:
    """The 8 identities in our label order (files sorted within each), decoded once, area-downsampled to ``size``
    and cached by :func:`labkit.data.images.face_images` in ``labkit.config.cache_dir()``."""
    from labkit.data import scan_identity_folders
    from labkit.data.images import face_images

    folder = lfw_folder(root)
    table = scan_identity_folders(folder, names=IDENTITIES)
    files = [f"{name}/{p.name}" for name in IDENTITIES for p in table[name]]
    labels = np.array([label for label, name in enumerate(IDENTITIES) for _ in table[name]], dtype=np.int64)
    images = face_images(folder, files, size, cache=cache, progress=verbose)
    return ToyData(images, labels, files, holdout_mask(labels))


def normalise(images_u8: np.ndarray):
    """uint8 (N, H, W, 3) -> float32 tensor (N, 3, H, W) with the paper's (x - 127.5) / 128."""
    import torch

    from labkit.data.images import PIXEL_MEAN, PIXEL_SCALE

    x = torch.from_numpy(np.ascontiguousarray(images_u8)).permute(0, 3, 1, 2).float()
    return (x - PIXEL_MEAN) / PIXEL_SCALE


def balanced_epoch(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices for one balanced epoch: ``per_class`` images from every class (a fresh permutation of the class,
    cycled if the class is smaller), shuffled together."""
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        reps = -(-per_class // len(idx))
        pool = np.concatenate([rng.permutation(idx) for _ in range(reps)])
        out.append(pool[:per_class])
    return rng.permutation(np.concatenate(out))


def describe_data_choices(size: tuple[int, int] = DEFAULT_SIZE, per_class: int | None = None) -> str:
    return json.dumps(
        {
            "input": f"112x96 aligned LFW, area-downsampled to {size[0]}x{size[1]}",
            "normalisation": "(x - 127.5) / 128",
            "augmentation": "random horizontal flip (p = 0.5)",
            "split": f"per identity, every {HOLDOUT_EVERY}th image in file order held back",
            "imbalance": f"balanced sampling: {per_class or 'N'} images per identity per epoch",
        }
    )
