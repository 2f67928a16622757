"""The toy's class-weight initialisation (notebook 03). The toy network itself is :class:`labkit.models.SmallCNN`
with a 2-D bias-free feature layer (``feat_dim=2``), the same small CNN the lab-scale runs use with 128 dimensions.

Normalised heads start with their 8 class weights evenly spaced on the circle, in an order drawn from the seed
(:func:`circle_order`): in label order every run kept that order, so the same pairs of people were forced to be
neighbours in every seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def spread_weights_on_circle(weight: torch.Tensor, order: list[int] | None = None) -> None:
    """Set the (C, 2) class weights to unit vectors evenly spaced on the circle (in place), in ``order``."""
    c = weight.shape[0]
    order = list(range(c)) if order is None else order
    with torch.no_grad():
        for k, cls in enumerate(order):
            a = 2 * math.pi * k / c
            weight[cls, 0], weight[cls, 1] = math.cos(a), math.sin(a)


def circle_order(num_classes: int, seed: int | None = None) -> list[int]:
    """The order in which :func:`spread_weights_on_circle` places the classes: label order for ``seed=None``, else
    a random permutation drawn from ``seed`` (its own generator, ``numpy.random.default_rng([0xC05FACE, seed])``,
    so it does not share a stream with the training sampler seeded by the same number)."""
    if seed is None:
        return list(range(num_classes))
    return [int(c) for c in np.random.default_rng([0xC05FACE, int(seed)]).permutation(num_classes)]
