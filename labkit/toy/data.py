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

The cache (``labkit.config.cache_dir()/toy_lfw8_<H>x<W>.npz``) holds uint8 images, labels and file names; it is
never written into the data root.
"""

from __future__ import annotations

import hashlib
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
EXPECTED_COUNTS = (530, 236, 144, 121, 109, 77, 71, 60)
LFW_SUBDIR = Path("lfw_aligned_112x96") / "lfw-112x96"
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

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        mask = self.is_train if which == "train" else ~self.is_train
        return self.images[mask], self.labels[mask]

    def summary(self) -> str:
        tr = np.bincount(self.labels[self.is_train], minlength=len(self.names))
        te = np.bincount(self.labels[~self.is_train], minlength=len(self.names))
        rows = [f"{n:<20} train {a:4d}  held-out {b:3d}" for n, a, b in zip(self.names, tr, te)]
        h, w = self.size
        return f"{len(self.labels)} images at {h}x{w}\n" + "\n".join(rows)


def lfw_folder(root: str | Path | None = None) -> Path:
    """The folder of aligned LFW identities: ``root`` may be the data root, the ``lfw_aligned_112x96`` folder
    or the ``lfw-112x96`` folder itself. Raises :class:`labkit.config.DataMissingError` when absent."""
    base = Path(root) if root else config.data_root()
    for cand in (base / LFW_SUBDIR, base / LFW_SUBDIR.name, base):
        if (cand / IDENTITIES[-1]).is_dir():
            return cand
    raise config.DataMissingError(
        f"the 8 toy identities were not found under {base}: expected {base / LFW_SUBDIR}/<Name>/*.jpg "
        f"(aligned 112x96 LFW, e.g. {IDENTITIES[0]}). Set LABKIT_DATA (or --data / DATA_ROOT) to the data root "
        "holding lfw_aligned_112x96/, or run `python -m labkit data get`. The shipped sweep works without it."
    )


def holdout_mask(labels: np.ndarray, every: int = HOLDOUT_EVERY) -> np.ndarray:
    """True for training images: within each identity (in file order) every ``every``-th image is held back."""
    is_train = np.ones(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        is_train[idx[every - 1 :: every]] = False
    return is_train


def downsample(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if img.shape[:2] == tuple(size):
        return img
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BOX), dtype=np.uint8)


def _cache_key(folder: Path, size: tuple[int, int]) -> str:
    h = hashlib.sha256(f"{folder.resolve()}|{size}".encode()).hexdigest()[:10]
    return f"toy_lfw8_{size[0]}x{size[1]}_{h}.npz"


def load_toy_data(
    root: str | Path | None = None, size: tuple[int, int] = DEFAULT_SIZE, cache: bool = True, verbose: bool = False
) -> ToyData:
    """Decode the 8 identities once (through :class:`labkit.data.IdentityFolderDataset`), downsample to ``size``
    and cache the small arrays in ``labkit.config.cache_dir()``."""
    from labkit.data import IdentityFolderDataset

    folder = lfw_folder(root)
    size = (int(size[0]), int(size[1]))
    path = config.cache_dir() / _cache_key(folder, size)
    if cache and path.exists():
        z = np.load(path, allow_pickle=False)
        labels = z["labels"].astype(np.int64)
        return ToyData(z["images"], labels, list(z["files"]), holdout_mask(labels))
    ds = IdentityFolderDataset(folder, transform=lambda a: a, names=IDENTITIES)
    order = {n: i for i, n in enumerate(IDENTITIES)}  # our label order, not the dataset's alphabetical one
    images, labels, files = [], [], []
    for i in range(len(ds)):
        img = ds.read(i)  # an unreadable image raises here: the toy set must be complete
        p, lab = ds.samples[i]
        images.append(downsample(img, size))
        labels.append(order[ds.classes[lab]])
        files.append(f"{p.parent.name}/{p.name}")
    sort = np.lexsort((np.array(files), np.array(labels)))
    images_a = np.stack(images)[sort]
    labels_a = np.asarray(labels, dtype=np.int64)[sort]
    files_l = [files[i] for i in sort]
    if cache:
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, images=images_a, labels=labels_a, files=np.array(files_l))
        tmp.replace(path)
    if verbose:
        print(f"decoded {len(labels_a)} images from {folder}, cached in {path}")
    return ToyData(images_a, labels_a, files_l, holdout_mask(labels_a))


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
