"""CASIA-WebFace, the paper's training set (0.49M images, 10,575 subjects), in either form people have it.

Looked for under ``<data root>/casia_webface/`` (the ``casia`` entry of :mod:`labkit.data.layout`; see
``python -m labkit data get casia``):

- ``faces_webface_112x112/train.rec`` + ``train.idx``: InsightFace's packed 112x112 ArcFace-aligned copy, read
  without mxnet and cropped to 112x96 (:class:`labkit.data.recordio.RecordIODataset`);
- ``CASIA-WebFace/<identity>/<image>``: one folder per identity, already aligned to 112x96 (or 112x112 ArcFace,
  then pass ``crop="arcface_to_sphereface"``) (:class:`labkit.data.folders.IdentityFolderDataset`).

It cannot be downloaded here: ``download=True`` raises :class:`labkit.config.DataMissingError` with the exact
instructions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from labkit import config
from labkit.data import layout
from labkit.data.folders import IdentityFolderDataset
from labkit.data.recordio import RecordIODataset

REC_DIR = layout.relpath("casia", "recordio")
FOLDER_DIR = layout.relpath("casia", "folders")


def casia_instructions(root: str | Path | None = None) -> str:
    """What to fetch, from where, and where to put it (the text of ``python -m labkit data get casia``)."""
    return layout.instructions("casia", root)


def CASIAWebFace(  # noqa: N802 - a factory named like the torchvision-style class it returns
    root: str | Path | None = None,
    transform: Callable[[np.ndarray], torch.Tensor] | None = None,
    download: bool = False,
    crop: str | None = None,
) -> RecordIODataset | IdentityFolderDataset:
    """The CASIA-WebFace training set under the data root as a ``(image, label)`` Dataset.

    Prefers the RecordIO copy (always cropped 112x112 -> 112x96), else the identity folders (``crop`` as given).
    Both expose ``len()`` (images) and class counts (``num_classes`` / ``len(classes)``); unreadable images are
    skipped and counted in ``skipped``.
    """
    base = Path(root) if root else config.data_root()
    rec = layout.find("casia", base, "recordio")
    folders = layout.find("casia", base, "folders")
    if rec is not None:
        return RecordIODataset(rec / "train.rec", transform=transform, crop="arcface_to_sphereface")
    if folders is not None:
        return IdentityFolderDataset(folders, transform=transform, crop=crop)
    why = "it cannot be downloaded automatically" if download else "it is not in the data root"
    raise config.DataMissingError(f"CASIA-WebFace not found under {base / 'casia_webface'} ({why}).\n"
                                  + casia_instructions(base))
