"""Identity overlap between two face sets: which identities of one set are (probably) people of the other?

Two data sets that share people cannot be used as training and test set of one experiment: a model tested on LFW
pairs must not have trained on the same person under another name (CelebA numbers its people; LFW names them). The
check compares *identities*, not images: every face is embedded with a model (the paper's test features,
Sec. 4.1 "Testing": image and mirror image concatenated), each feature is L2-normalised, an identity's features are
averaged and the mean re-normalised, and two identities overlap when the cosine of their means is above a
threshold ``t``:

    mu_A = normalise(mean_i normalise(f(x_i)))  over the faces x_i of identity A,
    A and B overlap  <=>  mu_A . mu_B > t.

This is how ``celeba_test_112x96/excluded_identities.tsv`` was made (README of that folder: t = 0.5, a strong
pretrained model), and what :func:`overlapping_identities` recomputes for any model
:func:`labkit.evaluate.features.embed_batches` takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch

from labkit.evaluate.features import embed_batches, l2_normalize

#: faces of one identity: a stack of normalised images (N, 3, H, W), or image paths read by
#: :func:`labkit.evaluate.features.embed_paths`
Faces = Union[torch.Tensor, Sequence[Union[str, Path]]]


@dataclass(frozen=True)
class Overlap:
    """One pair of identities whose mean embeddings have a cosine above the threshold."""

    a: str
    b: str
    cosine: float


def identity_means(model: torch.nn.Module, faces: Mapping[str, Faces], flip: str = "concat", batch_size: int = 256,
                   device: str | torch.device | None = None) -> tuple[list[str], np.ndarray]:
    """``(names, means)``: one unit-length mean embedding per identity (module docstring), rows in ``names``
    order. Identities with no face raise ValueError."""
    from labkit.evaluate.features import embed_paths

    names = list(faces)
    empty = [n for n in names if len(faces[n]) == 0]
    if empty:
        raise ValueError(f"{len(empty)} identities have no face, e.g. {empty[:3]}")
    tensors = all(isinstance(faces[n], torch.Tensor) for n in names)
    if tensors:
        stack = torch.cat([faces[n] for n in names])
        feats = embed_batches(model, stack, flip=flip, batch_size=batch_size, device=device)
    else:
        paths = [p for n in names for p in faces[n]]
        feats = embed_paths(model, paths, flip=flip, batch_size=batch_size, device=str(device or "cpu"))
    feats = l2_normalize(feats.astype(np.float64))
    owner = np.repeat(np.arange(len(names)), [len(faces[n]) for n in names])
    sums = np.zeros((len(names), feats.shape[1]))
    np.add.at(sums, owner, feats)
    return names, l2_normalize(sums)


def overlaps_from_means(names_a: Sequence[str], means_a: np.ndarray, names_b: Sequence[str], means_b: np.ndarray,
                        threshold: float = 0.5) -> list[Overlap]:
    """Every pair (identity of A, identity of B) whose unit mean embeddings have a cosine above ``threshold``,
    highest cosine first."""
    a, b = l2_normalize(np.asarray(means_a, float)), l2_normalize(np.asarray(means_b, float))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two sets were embedded to different sizes ({a.shape[1]} and {b.shape[1]})")
    cos = a @ b.T
    i, j = np.nonzero(cos > threshold)
    out = [Overlap(str(names_a[p]), str(names_b[q]), float(cos[p, q])) for p, q in zip(i, j)]
    return sorted(out, key=lambda o: -o.cosine)


def overlapping_identities(model: torch.nn.Module, set_a: Mapping[str, Faces], set_b: Mapping[str, Faces],
                           threshold: float = 0.5, device: str | torch.device | None = None) -> list[Overlap]:
    """The pairs of identities, one from each set, that are probably one person: cosine of their mean embeddings
    (module docstring) above ``threshold``, highest first. ``set_a`` / ``set_b``: ``{identity: faces}``."""
    na, ma = identity_means(model, set_a, device=device)
    nb, mb = identity_means(model, set_b, device=device)
    return overlaps_from_means(na, ma, nb, mb, threshold)


def faces_by_identity(folder: str | Path, names: Sequence[str] | None = None, max_per_identity: int = 0,
                      min_images: int = 1) -> dict[str, list[Path]]:
    """``{identity: [image path, ...]}`` of a folder-per-identity face set (sorted; at most ``max_per_identity``
    each when > 0; identities with fewer than ``min_images`` left out), for :func:`overlapping_identities`."""
    folder = Path(folder)
    chosen = sorted(names) if names is not None else sorted(p.name for p in folder.iterdir() if p.is_dir())
    out = {}
    for n in chosen:
        files = sorted(p for p in (folder / n).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        files = files[:max_per_identity] if max_per_identity else files
        if len(files) >= min_images:
            out[n] = files
    return out
