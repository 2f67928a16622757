"""The toy network: four small conv blocks and a bias-free 2-D feature layer (Fig. 4 of the paper).

    (3, H, W) -> [conv3x3 - BN - PReLU - maxpool2] x 3 -> conv3x3 - BN - PReLU -> flatten -> FC(64) - PReLU
              -> BatchNorm1d(64) -> Linear(64, 2, bias=False) = the 2-D feature

The BatchNorm just before the 2-D layer (``bn_before_feature=True``, the default) keeps the 2-D features centred
on the origin from the first step, so normalised heads (NSL/LMCL) see features spread over all angles instead of a
thin wedge; without it an early probe run of NSL stalled at 39 % training accuracy (240 steps, class weights in
label order). It also ties the classes together: the batch statistics of the 64 hidden units shift every class's
feature with the batch, which keeps within-class spread high under LMCL; with random-order circle weights and
~1000 steps the network trains without it (``bn_before_feature=False``) and the Fig. 4 lesson holds in every seed.
The classification head (``labkit.losses``) is kept separately.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ToyNet(nn.Module):
    """Images (B, 3, H, W) -> 2-D features (B, feat_dim). ``channels`` are the widths of the four blocks;
    ``bn_before_feature`` keeps (default) or drops the BatchNorm1d between the hidden layer and the 2-D layer."""

    def __init__(
        self, input_size: tuple[int, int] = (28, 24), channels: tuple[int, ...] = (16, 32, 64, 64),
        hidden: int = 64, feat_dim: int = 2, bn_before_feature: bool = True,
    ) -> None:
        super().__init__()
        blocks, cin = [], 3
        for i, c in enumerate(channels):
            blocks.append(_block(cin, c, pool=i < len(channels) - 1))
            cin = c
        self.body = nn.Sequential(*blocks)
        h, w = input_size
        for _ in range(len(channels) - 1):
            h, w = h // 2, w // 2
        fc: list[nn.Module] = [nn.Flatten(), nn.Linear(cin * h * w, hidden), nn.PReLU(hidden)]
        if bn_before_feature:
            fc.append(nn.BatchNorm1d(hidden))
        self.fc = nn.Sequential(*fc)
        self.bn_before_feature = bool(bn_before_feature)
        self.feature = nn.Linear(hidden, feat_dim, bias=False)
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature(self.fc(self.body(x)))


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
