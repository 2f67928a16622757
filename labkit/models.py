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


# ---------------------------------------------------------------------------------------------------- MobileFaceNet
#
# The lab's reference model (labkit.reference) is a pretrained MobileFaceNet (Chen et al., 2018): NOT the CosFace
# paper's network, loss or data (trained by a third party with ArcFace on a cleaned MS-Celeb-1M), but a
# margin-trained embedding network at the paper's scale, for running the lab's protocols on. The layer recipe below
# is read off that model's ONNX graph (operator order, strides, paddings, groups, Clip(0, 6) = ReLU6) and its state
# dict (module names and shapes), so that the published weights load with ``strict=True``:
#
#   112x112 RGB -> conv 3x3/2 (64) -> depthwise 3x3 (64) + pointwise 1x1 (64)
#     -> 15 inverted-residual bottlenecks (expand 1x1, depthwise 3x3, linear project 1x1; identity shortcut when
#        the stride is 1 and the width is kept):  (t=2, 64, 5, s=2), (t=4, 128, 1, s=2), (t=2, 128, 6, s=1),
#        (t=4, 128, 1, s=2), (t=2, 128, 2, s=1)   [t = expansion, c = width, n = repeats, s = stride of the first]
#     -> conv 1x1 (512) -> global depthwise 7x7 (512, no padding: the "GDConv" that replaces global pooling)
#     -> conv 1x1 (128, with bias) -> batch norm -> 128-d embedding (not normalised).
#
# Every convolution but the last is followed by batch norm; activations are ReLU6, except the two of the first
# depthwise-separable block, which are plain ReLU (as the graph has them).

#: (expansion, output width, repeats, stride of the first repeat) of the bottleneck stages
MOBILEFACENET_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))
MOBILEFACENET_INPUT = (3, 112, 112)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 conv - BN - ReLU, then pointwise 1x1 conv - BN - ReLU (MobileFaceNet's second layer)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.pointwise(self.relu(self.bn1(self.depthwise(x))))))


class Bottleneck(nn.Module):
    """Inverted residual: expand 1x1 (x t, ReLU6) -> depthwise 3x3 (stride, ReLU6) -> project 1x1 (linear, BN);
    ``x + f(x)`` when the stride is 1 and the width is unchanged."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.conv = nn.Sequential(
            _conv_bn(cin, hidden, 1),
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


class GlobalDepthwise(nn.Module):
    """The global depthwise convolution: a 7x7 kernel per channel over the whole 7x7 map, then BN (no activation)."""

    def __init__(self, channels: int, kernel: int = 7) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, kernel, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.depthwise(x))


class ArcFaceInput(nn.Module):
    """The lab's crops -> a 112x112 ArcFace-layout network's input.

    In: (B, 3, 112, 96) pixels as :func:`labkit.data.images.to_tensor` makes them, ``(v - 127.5) / 128``. The
    ArcFace 5-point template is the SphereFace/CosFace one shifted 8 px to the right, so 8 black columns are added on
    each side; black is the ``to_tensor`` value of 0, -127.5 / 128. Then each pixel goes back to ``v / 255`` and is
    normalised with the ImageNet mean and standard deviation per RGB channel. Out: (B, 3, 112, 112).

    The constants are non-persistent buffers: they follow ``.to(device)`` but add nothing to a state dict.
    """

    pad: int = 8

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        super().__init__()
        from labkit.data.images import PIXEL_MEAN, PIXEL_SCALE

        self.black = -PIXEL_MEAN / PIXEL_SCALE
        # (v * 128 + 127.5) / 255 = pixel / 255, then (. - mean) / std, folded into one scale and one shift
        scale = torch.tensor([PIXEL_SCALE / 255.0 / s for s in std]).view(1, 3, 1, 1)
        shift = torch.tensor([(PIXEL_MEAN / 255.0 - m) / s for m, s in zip(mean, std)]).view(1, 3, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (self.pad, self.pad, 0, 0), value=self.black)
        return x * self.scale + self.shift


class MobileFaceNet(nn.Module):
    """MobileFaceNet (Chen et al., 2018; recipe in the comment above :data:`MOBILEFACENET_STAGES`):
    (B, 3, 112, 112) ImageNet-normalised RGB -> (B, 128) embeddings, about 1.0 M parameters.

    ``crops=True`` puts :class:`ArcFaceInput` in front, so the network takes the lab's 112x96 ``to_tensor`` crops;
    the state dict is the same either way (the adapter holds no parameters). That is the form a face-model file
    rebuilds (``EXTRA_CONSTRUCTORS["mobilefacenet"]``); :mod:`labkit.reference` uses ``crops=False`` with the
    adapter as the ``preprocess`` of its :class:`labkit.zoo.FaceModel`.
    """

    def __init__(self, embedding_dim: int = 128, crops: bool = False) -> None:
        super().__init__()
        self.preprocess = ArcFaceInput() if crops else None
        self.conv1 = _conv_bn(3, 64, 3, 2)
        self.dw_conv = DepthwiseSeparable(64)
        blocks: list[nn.Module] = []
        cin = 64
        for t, c, n, s in MOBILEFACENET_STAGES:
            for i in range(n):
                blocks.append(Bottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*blocks)
        self.conv2 = _conv_bn(cin, 512, 1)
        self.gdconv = GlobalDepthwise(512)
        self.conv3 = nn.Conv2d(512, embedding_dim, 1)
        self.bn = nn.BatchNorm2d(embedding_dim)
        self.embedding_dim = int(embedding_dim)
        self.input_size = MOBILEFACENET_INPUT if not crops else INPUT_SIZE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocess is not None:
            x = self.preprocess(x)
        # channels-last (NHWC) layout: PyTorch's CPU depthwise convolutions run ~1.5x faster in it (same numbers up
        # to float rounding); an ONNX export sees no operator for it
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.gdconv(self.conv2(self.features(self.dw_conv(self.conv1(x)))))
        return torch.flatten(self.bn(self.conv3(x)), 1)


def mobilefacenet(embedding_dim: int = 128, crops: bool = True) -> MobileFaceNet:
    """A MobileFaceNet taking the lab's 112x96 crops (``crops=False``: 112x112 ImageNet-normalised input)."""
    return MobileFaceNet(embedding_dim, crops=crops)


#: extra network constructors a face-model file may name (read by :mod:`labkit.zoo`): name -> callable(**kwargs)
EXTRA_CONSTRUCTORS = {"mobilefacenet": mobilefacenet}
