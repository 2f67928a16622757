"""Test-time face features as in the paper (Sec. 4.1, "Testing"): the embedding of the image and the embedding of
its horizontal flip are concatenated into the final representation, and two faces are compared by the cosine of
their representations.

The flip handling is always explicit, one of :data:`FLIP_MODES`:

- ``"concat"`` (the paper): ``[f(x), f(flip(x))]``, twice the embedding size
- ``"sum"``: ``f(x) + f(flip(x))``, a common alternative with the embedding size
- ``"none"``: ``f(x)`` only
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

FLIP_MODES = ("concat", "sum", "none")


def check_flip_mode(flip: str) -> str:
    if flip not in FLIP_MODES:
        raise ValueError(f"flip must be one of {FLIP_MODES} (the paper uses 'concat'), got {flip!r}")
    return flip


def combine_flip(feat: torch.Tensor | np.ndarray, feat_flipped: torch.Tensor | np.ndarray | None, flip: str):
    """Combine the features of images and of their horizontal flips according to ``flip``."""
    check_flip_mode(flip)
    if flip == "none":
        return feat
    if feat_flipped is None:
        raise ValueError(f"flip={flip!r} needs the features of the flipped images")
    if feat.shape != feat_flipped.shape:
        raise ValueError(f"feature shapes differ: {tuple(feat.shape)} vs flipped {tuple(feat_flipped.shape)}")
    if flip == "sum":
        return feat + feat_flipped
    if isinstance(feat, torch.Tensor):
        return torch.cat([feat, feat_flipped], dim=1)
    return np.concatenate([feat, feat_flipped], axis=1)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row is an error (its cosine is undefined)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    if (n <= eps).any():
        bad = int(np.flatnonzero(n.reshape(-1) <= eps)[0])
        raise ValueError(f"feature row {bad} is all zeros: cosine similarity is undefined")
    return x / n


def cosine_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of row ``i`` of ``a`` with row ``i`` of ``b`` (the verification score)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"pair feature arrays differ in shape: {a.shape} vs {b.shape}")
    return np.sum(l2_normalize(a) * l2_normalize(b), axis=1)


@torch.no_grad()
def embed_batches(
    model: torch.nn.Module, images: torch.Tensor, flip: str = "concat", batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Features of a stack of normalised images ``(N, 3, H, W)``, flip combined per ``flip``, as float32 numpy: the
    lab's one embedding routine (the paper tests on the image and its mirror image, Sec. 4.1; ``flip="none"`` for
    the image alone). Runs in eval mode without gradients and restores the model's mode; the flip is along the
    width axis. ``device`` defaults to the model's (CPU for a model without parameters)."""
    check_flip_mode(flip)
    was = model.training
    first = next(model.parameters(), None)
    dev = device or (first.device if first is not None else "cpu")
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):  # gradients are off: the function is @torch.no_grad()
        x = images[i : i + batch_size].to(dev)
        f = model(x)
        g = model(torch.flip(x, dims=[3])) if flip != "none" else None
        out.append(combine_flip(f, g, flip).float().cpu())
    model.train(was)
    if not out:
        raise ValueError("no images to embed")
    return torch.cat(out).numpy()


def embed_paths(
    model: torch.nn.Module,
    paths: Sequence[str | Path],
    flip: str = "concat",
    batch_size: int = 256,
    device: str = "cpu",
    transform: Callable[[np.ndarray], torch.Tensor] | None = None,
) -> np.ndarray:
    """Read each image (``labkit.data.images.load_image``), apply ``transform`` (default: the paper's pixel
    normalisation ``to_tensor``) and return the features, one row per path, in order."""
    from labkit.data.images import load_image, to_tensor

    transform = transform or to_tensor
    check_flip_mode(flip)
    rows = []
    for i in range(0, len(paths), batch_size):
        batch = torch.stack([transform(load_image(p)) for p in paths[i : i + batch_size]])
        rows.append(embed_batches(model, batch, flip=flip, batch_size=batch_size, device=device))
    if not rows:
        raise ValueError("no image paths given")
    return np.concatenate(rows)
