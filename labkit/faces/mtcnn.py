"""The three MTCNN networks (Zhang et al., "Joint face detection and alignment using multi-task cascaded
convolutional networks", 2016), the detector the CosFace paper runs before alignment (Sec. 4.1: "face area and
landmarks are detected by MTCNN").

- :class:`PNet`, the proposal net: fully convolutional, a 12x12 window per output cell (stride 2); per cell a face
  probability and 4 box offsets.
- :class:`RNet`, the refine net: a 24x24 crop per candidate -> face probability, 4 box offsets.
- :class:`ONet`, the output net: a 48x48 crop -> face probability, 4 box offsets, 5 landmarks (10 numbers).

The layer names match the trained weights shipped in the ``facenet-pytorch`` wheel (``data/pnet.pt``, ``rnet.pt``,
``onet.pt``, MIT license); they are read with ``torch.load(..., weights_only=True)`` and the package itself is never
imported (it imports torchvision). The conventions of those weights, measured on real faces (see
``tests/test_faces_detect.py``), are:

- input: RGB, pixels mapped to ``(x - 127.5) / 128`` (:data:`PIXEL_MEAN`, :data:`PIXEL_SCALE`), NCHW, not transposed;
- the fully connected layers of R-Net and O-Net read the last feature map flattened in (width, height, channel)
  order (the original nets were trained in a column-major framework), see :func:`_flatten`;
- box offsets are ``(dx1, dy1, dx2, dy2)`` in units of the box width/height;
- the 10 landmark outputs are the five x's, then the five y's, as fractions of the box, in the order left eye,
  right eye, nose, left mouth corner, right mouth corner (as seen in the image).
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PIXEL_MEAN = 127.5
PIXEL_SCALE = 128.0
WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, W*H*C): the feature order the dense layers of the trained weights expect."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


def max_pool_ceil(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Max pooling with the output size rounded up (the last window may overhang the edge), as the original nets
    were trained with: the same numbers as ``F.max_pool2d(x, kernel, stride, ceil_mode=True)`` (for
    ``kernel >= stride``), computed as separable maxima of strided slices, several times faster on one CPU core
    for these small feature maps."""
    h, w = x.shape[-2:]
    oh, ow = math.ceil((h - kernel) / stride) + 1, math.ceil((w - kernel) / stride) + 1
    ph, pw = (oh - 1) * stride + kernel - h, (ow - 1) * stride + kernel - w
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), value=float("-inf"))
    span_w, span_h = (ow - 1) * stride + 1, (oh - 1) * stride + 1
    rows = x[..., :, 0:span_w:stride]
    for i in range(1, kernel):
        rows = torch.maximum(rows, x[..., :, i:i + span_w:stride])
    out = rows[..., 0:span_h:stride, :]
    for i in range(1, kernel):
        out = torch.maximum(out, rows[..., i:i + span_h:stride, :])
    return out


class Pool(nn.Module):
    """:func:`max_pool_ceil` as a layer (no parameters, so the weight files' names are unaffected)."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool_ceil(x, self.kernel, self.stride)


class PNet(nn.Module):
    """Proposal net. (N, 3, H, W) -> face probability (N, H', W') and box offsets (N, 4, H', W'),
    H' = ceil((H - 2) / 2) - 4 (one cell per 12x12 window, stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = Pool(2, 2)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        logits = self.conv4_1(x)
        prob = torch.softmax(logits, dim=1)[:, 1]
        return prob, self.conv4_2(x)


class RNet(nn.Module):
    """Refine net. (N, 3, 24, 24) -> face probability (N,), box offsets (N, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = Pool(3, 2)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = Pool(3, 2)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten(x)))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output net. (N, 3, 48, 48) -> face probability (N,), box offsets (N, 4), landmarks (N, 10) as 5 x's then
    5 y's, each a fraction of the box width/height."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = Pool(3, 2)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = Pool(3, 2)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = Pool(2, 2)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_flatten(x)))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


class WeightsMissingError(FileNotFoundError):
    """The trained MTCNN weight files cannot be found."""


def weights_dir() -> Path:
    """The folder holding ``pnet.pt``, ``rnet.pt``, ``onet.pt``: ``facenet_pytorch/data`` of the installed wheel,
    located without importing the package."""
    spec = importlib.util.find_spec("facenet_pytorch")
    folder = Path(spec.submodule_search_locations[0]) / "data" if spec and spec.submodule_search_locations else None
    if folder is None or not all((folder / f).is_file() for f in WEIGHT_FILES):
        raise WeightsMissingError(
            "the trained MTCNN weights (facenet_pytorch/data/pnet.pt, rnet.pt, onet.pt) are not installed; run "
            "`make setup` (it installs the facenet-pytorch wheel with --no-deps for its weight files)")
    return folder


def _load(net: nn.Module, path: Path) -> nn.Module:
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False).to(memory_format=torch.channels_last)


@functools.lru_cache(maxsize=1)
def load_nets() -> tuple[PNet, RNet, ONet]:
    """The three trained networks in eval mode, loaded once per process."""
    folder = weights_dir()
    return (_load(PNet(), folder / "pnet.pt"), _load(RNet(), folder / "rnet.pt"), _load(ONet(), folder / "onet.pt"))
