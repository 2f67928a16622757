"""Face embedding networks at the paper's input size, 112x96 (height x width).

The CosFace paper trains the 64-layer residual CNN of SphereFace (Liu et al., 2017). Its recipe, in four stages:

- a 3x3 stride-2 convolution + PReLU that halves the resolution and sets the width (64, 128, 256, 512 channels),
- then ``units[i]`` residual units, each two 3x3 stride-1 convolutions + PReLU with an identity shortcut,
- no batch normalisation; after stage 4 the 512x7x6 map is flattened into a fully connected 512-d embedding.

Units per stage: sphere20 (1, 2, 4, 1), sphere36 (2, 4, 8, 2), sphere64 (3, 8, 16, 3). The "N layers" count
convolutions: 4 + 2 * sum(units). ``lab_cnn`` is the same recipe, narrower (16..128 channels, one unit per stage,
128-d embedding), for training on a laptop CPU in minutes.

``describe(model)`` prints the parameter count and the multiply-accumulates (MACs) of one forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SIZE = (3, 112, 96)


class ResidualUnit(nn.Module):
    """x + PReLU(conv(PReLU(conv(x)))), both convolutions 3x3, stride 1, same width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act1 = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act2 = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act2(self.conv2(self.act1(self.conv1(x))))


class SphereNet(nn.Module):
    """SphereFace-style residual network: images (B, 3, 112, 96) -> embeddings (B, embedding_dim).

    Initialisation follows SphereFace's Caffe definition: Xavier for the stride-2 convolutions and the FC layer,
    Gaussian (std 0.01) for the convolutions inside residual units, zero biases, PReLU slopes 0.25.
    """

    def __init__(
        self,
        units: tuple[int, ...] = (1, 2, 4, 1),
        channels: tuple[int, ...] = (64, 128, 256, 512),
        embedding_dim: int = 512,
        input_size: tuple[int, int, int] = INPUT_SIZE,
    ) -> None:
        super().__init__()
        if len(units) != len(channels):
            raise ValueError(f"units {units} and channels {channels} must have one entry per stage")
        layers: list[nn.Module] = []
        c_in, (_, h, w) = input_size[0], input_size
        for n, c in zip(units, channels):
            down = nn.Conv2d(c_in, c, 3, 2, 1)
            nn.init.xavier_uniform_(down.weight)
            layers += [down, nn.PReLU(c)]
            for _ in range(n):
                unit = ResidualUnit(c)
                for conv in (unit.conv1, unit.conv2):
                    nn.init.normal_(conv.weight, std=0.01)
                layers.append(unit)
            c_in, h, w = c, (h + 1) // 2, (w + 1) // 2
        self.features = nn.Sequential(*layers)
        self.feature_map = (c_in, h, w)
        self.fc = nn.Linear(c_in * h * w, embedding_dim)
        nn.init.xavier_uniform_(self.fc.weight)
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.zeros_(mod.bias)
        self.embedding_dim = embedding_dim
        self.input_size = tuple(input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


# name -> (units per stage, channels per stage, embedding size)
ARCHS: dict[str, tuple[tuple[int, ...], tuple[int, ...], int]] = {
    "sphere20": ((1, 2, 4, 1), (64, 128, 256, 512), 512),
    "sphere36": ((2, 4, 8, 2), (64, 128, 256, 512), 512),
    "sphere64": ((3, 8, 16, 3), (64, 128, 256, 512), 512),
    "lab_cnn": ((1, 1, 1, 1), (16, 32, 64, 128), 128),
}


def make_model(arch: str, embedding_dim: int | None = None) -> SphereNet:
    """Build a network by name (one of :data:`ARCHS`); ``embedding_dim`` overrides the default size."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {sorted(ARCHS)}")
    units, channels, dim = ARCHS[arch]
    return SphereNet(units, channels, embedding_dim or dim)


def sphere20(embedding_dim: int = 512) -> SphereNet:
    """The 20-layer SphereFace network (units 1, 2, 4, 1)."""
    return make_model("sphere20", embedding_dim)


def sphere36(embedding_dim: int = 512) -> SphereNet:
    """The 36-layer SphereFace network (units 2, 4, 8, 2)."""
    return make_model("sphere36", embedding_dim)


def sphere64(embedding_dim: int = 512) -> SphereNet:
    """The 64-layer SphereFace network used in the CosFace paper (units 3, 8, 16, 3)."""
    return make_model("sphere64", embedding_dim)


def lab_cnn(embedding_dim: int = 128) -> SphereNet:
    """A narrow 12-conv version of the recipe (4 + 2 * 4 by the rule above: one unit per stage), for CPU training
    in minutes (notebook 05, fast mode)."""
    return make_model("lab_cnn", embedding_dim)


def count_macs(model: nn.Module, input_size: tuple[int, ...] = INPUT_SIZE) -> int:
    """Multiply-accumulates of one forward pass of one image, over Conv2d and Linear layers (hooks on a dry run)."""
    total = 0

    def conv_hook(mod: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += out[0].numel() * k

    def linear_hook(mod: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += out[0].numel() * mod.in_features

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
    try:
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=param.device, dtype=param.dtype))
    finally:
        for h in handles:
            h.remove()
    return total


def describe(model: nn.Module, input_size: tuple[int, ...] = INPUT_SIZE, name: str = "") -> dict[str, int]:
    """Print and return the parameter count and forward MACs (FLOPs ~= 2 x MACs) for one image."""
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model, input_size)
    label = name or type(model).__name__
    print(f"{label}: {params:,} parameters ({params / 1e6:.2f} M), {macs / 1e9:.3f} GMACs "
          f"({2 * macs / 1e9:.3f} GFLOPs) per {input_size[1]}x{input_size[2]} image")
    return {"params": params, "macs": macs}


# ---------------------------------------------------------------------------------------------------- small CNN


def _small_block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A small CNN for downsampled faces on a CPU: the toy's 2-D features (notebook 03) and the lab-scale
    embeddings (notebook 07).

        (3, H, W) -> [conv3x3 - BN - PReLU - maxpool2] x (len(channels) - 1) -> conv3x3 - BN - PReLU
                  -> flatten -> FC(hidden) - PReLU [-> BatchNorm1d(hidden)] -> Linear(hidden, feat_dim, no bias)

    ``bn_before_feature`` keeps the BatchNorm1d between the hidden layer and the feature layer (the toy recipe
    drops it: see :mod:`labkit.experiments.toy`). The feature layer has no bias, so the feature norm is free for the
    heads that use it (softmax, A-Softmax, LMCL without normalisation).
    """

    def __init__(self, input_size: tuple[int, int] = (28, 24), channels: tuple[int, ...] = (16, 32, 64, 64),
                 hidden: int = 64, feat_dim: int = 2, bn_before_feature: bool = True) -> None:
        super().__init__()
        blocks, cin = [], 3
        for i, c in enumerate(channels):
            blocks.append(_small_block(cin, c, pool=i < len(channels) - 1))
            cin = c
        self.body = nn.Sequential(*blocks)
        h, w = input_size
        for _ in range(len(channels) - 1):
            h, w = h // 2, w // 2
        fc: list[nn.Module] = [nn.Flatten(), nn.Linear(cin * h * w, hidden), nn.PReLU(hidden)]
        if bn_before_feature:
            fc.append(nn.BatchNorm1d(hidden))
        self.fc = nn.Sequential(*fc)
        self.feature = nn.Linear(hidden, feat_dim, bias=False)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.bn_before_feature = bool(bn_before_feature)
        self.embedding_dim = int(feat_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature(self.fc(self.body(x)))
