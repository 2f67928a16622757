"""Notebook 01, Sec. 1 (used through Secs. 2-4, Eqs. 1-5 of the paper): a batch small enough to follow by hand
through the Softmax, NSL and LMCL logits.
"""

from __future__ import annotations

from typing import Any


def tiny_batch(seed: int = 0) -> dict[str, Any]:
    """A batch a reader can follow by hand: 4 features in R^2, 3 classes, fixed weights of unequal norm.

    Returns torch tensors ``features`` (4, 2), ``weight`` (3, 2) and ``labels`` (4,).
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    weight = torch.tensor([[2.0, 0.0], [-0.5, 0.9], [-0.6, -1.2]], dtype=torch.float64)
    angles = torch.tensor([0.3, 1.9, -2.0, 0.9], dtype=torch.float64) + 0.05 * torch.randn(4, generator=gen,
                                                                                          dtype=torch.float64)
    radii = torch.tensor([3.0, 1.0, 2.0, 0.5], dtype=torch.float64)
    features = torch.stack([radii * torch.cos(angles), radii * torch.sin(angles)], dim=1)
    labels = torch.tensor([0, 1, 2, 0])
    return {"features": features, "weight": weight, "labels": labels}
