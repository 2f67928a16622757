"""MTCNN face detection: the image pyramid, the three stages and non-maximum suppression (Zhang et al. 2016), run
before the 5-point alignment of the CosFace paper (Sec. 4.1: "face area and landmarks are detected by MTCNN").

Coordinates: internally boxes are in *edge* coordinates (the image spans ``[0, W] x [0, H]``, pixel ``i`` covers
``[i, i + 1]``). What :func:`detect` returns (:class:`Face`) is in the convention of the landmark files and of
:mod:`labkit.data.align`: pixel centres at integer coordinates (edge coordinate minus 0.5).

The cascade:

1. **Pyramid.** The image is resized by ``s_k = (12 / min_face) * factor**k`` while its short side stays >= 12 px, so
   P-Net's 12x12 window meets faces of ``min_face`` px and larger (:func:`pyramid_scales`).
2. **P-Net** on every level: a cell ``(i, j)`` of its output stands for the window ``[2j, 2j + 12) x [2i, 2i + 12)``
   of that level; cells with face probability >= ``thresholds[0]`` become boxes (:func:`pnet_candidates`), NMS at
   IoU 0.5 per level, then 0.7 over all levels, box regression (:func:`apply_offsets`), then square boxes
   (:func:`square`).
3. **R-Net** on each box resampled to 24x24 (black outside the image, :func:`crop_boxes`): keep probability >=
   ``thresholds[1]``, NMS 0.7, regression, square.
4. **O-Net** on 48x48 crops: keep probability >= ``thresholds[2]``; the 5 landmarks are fractions of the O-Net input
   box; regression, then NMS 0.7 with intersection over the *smaller* box, so a box inside another is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from labkit.faces.mtcnn import PIXEL_MEAN, PIXEL_SCALE, load_nets

PYRAMID_FACTOR = 0.709  # each pyramid level is 0.709x the previous one (area halves every two levels)
THRESHOLDS = (0.6, 0.7, 0.7)  # face-probability thresholds of P-Net, R-Net, O-Net
NMS_LEVEL, NMS_PYRAMID, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7
PNET_WINDOW, PNET_STRIDE = 12, 2
SUPERSAMPLE = 2  # at most 2x2 bilinear samples per pixel of an R-Net/O-Net crop


@dataclass
class Face:
    """One detected face, in the photo's pixels (pixel centres at integers).

    ``box``: (4,) ``[x1, y1, x2, y2]``; ``score``: O-Net's face probability; ``landmarks``: (5, 2) ``(x, y)`` of the
    left eye, right eye, nose, left and right mouth corner as seen in the image (the order of
    :data:`labkit.data.align.TEMPLATE_112x96`).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """The geometric mean of the box's width and height, in pixels."""
        return float(math.sqrt(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0)))

    def to_json(self) -> dict:
        """``{"box": [x1, y1, x2, y2], "score": p, "landmarks": [[x, y] x 5]}`` as plain floats."""
        return {"box": [float(v) for v in self.box], "score": float(self.score),
                "landmarks": [[float(x), float(y)] for x, y in self.landmarks]}

    def mapped(self, scale_x: float, scale_y: float, dx: float = 0.0, dy: float = 0.0) -> "Face":
        """This face seen in another image: edge coordinates ``u`` become ``u * scale + d``."""
        k = np.array([scale_x, scale_y])
        d = np.array([dx, dy])
        pts = (self.landmarks + 0.5) * k + d - 0.5
        box = (self.box.reshape(2, 2) + 0.5) * k + d - 0.5
        return Face(box=box.reshape(4), score=self.score, landmarks=pts)


# ------------------------------------------------------------------------------------------------ box arithmetic


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) ``[x1, y1, x2, y2]`` boxes (zero for inverted ones)."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def overlaps(box: np.ndarray, boxes: np.ndarray, mode: str = "union") -> np.ndarray:
    """Overlap of one box with each of ``boxes``: intersection over union (``mode="union"``) or over the smaller of
    the two areas (``mode="min"``)."""
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    a, b = box_areas(box[None])[0], box_areas(boxes)
    if mode == "union":
        denom = a + b - inter
    elif mode == "min":
        denom = np.minimum(a, b)
    else:
        raise ValueError(f"overlap mode must be 'union' or 'min', got {mode!r}")
    return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    Repeatedly keep the best remaining box and drop every remaining box whose overlap with it (see
    :func:`overlaps`) is *greater than* ``threshold``. Ties in score keep the lower index first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[overlaps(boxes[best], boxes[rest], mode) <= threshold]
    return np.array(keep, dtype=np.int64)


def apply_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Box regression: each edge moves by its offset times the box's width (x) or height (y):
    ``x1 + dx1 w, y1 + dy1 h, x2 + dx2 w, y2 + dy2 h``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    return boxes + offsets * np.tile(wh, 2)


def square(boxes: np.ndarray) -> np.ndarray:
    """The square of side ``max(w, h)`` with the same centre as each box."""
    boxes = np.asarray(boxes, dtype=np.float64)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None] / 2.0
    return np.concatenate([c - side, c + side], axis=1)


# ------------------------------------------------------------------------------------------------ the stages


def pyramid_scales(height: int, width: int, min_face: float = 20.0, factor: float = PYRAMID_FACTOR) -> list[float]:
    """Scales of the image pyramid: ``(12 / min_face) * factor**k`` for k = 0, 1, ... while the short side, scaled,
    is still at least the 12-pixel window."""
    if min_face <= 0:
        raise ValueError(f"min_face must be > 0 pixels, got {min_face}")
    if not 0 < factor < 1:
        raise ValueError(f"the pyramid factor must lie in (0, 1), got {factor}")
    s = PNET_WINDOW / float(min_face)
    short = min(height, width)
    out = []
    while short * s >= PNET_WINDOW:
        out.append(s)
        s *= factor
    return out


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Pixels 0..255 -> the networks' input range, ``(x - 127.5) / 128``."""
    return (x - PIXEL_MEAN) / PIXEL_SCALE


def pnet_candidates(prob: np.ndarray, offsets: np.ndarray, scale_x: float, scale_y: float,
                    threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (edge coordinates of the original image), scores and offsets of the P-Net cells at or above
    ``threshold``. ``prob`` is (H', W'), ``offsets`` (4, H', W'); the level was the image resized by
    ``(scale_x, scale_y)``."""
    i, j = np.nonzero(prob >= threshold)
    x1, y1 = PNET_STRIDE * j, PNET_STRIDE * i
    boxes = np.stack([x1 / scale_x, y1 / scale_y, (x1 + PNET_WINDOW) / scale_x, (y1 + PNET_WINDOW) / scale_y], axis=1)
    return boxes.astype(np.float64), prob[i, j].astype(np.float64), offsets[:, i, j].T.astype(np.float64)


def crop_boxes(image: torch.Tensor, boxes: np.ndarray, size: int, max_supersample: int = SUPERSAMPLE) -> torch.Tensor:
    """Each box of ``image`` (3, H, W float, pixels 0..255) resampled bilinearly to ``size`` x ``size``, black
    outside the image, then normalised: (N, 3, size, size), channels-last.

    Output pixel ``k`` of a box ``[x1, x2]`` samples the edge coordinate ``x1 + (k + 0.5) (x2 - x1) / size``. Boxes
    much larger than ``size`` are sampled on a grid up to ``max_supersample`` times finer and averaged down, so that
    the crop is less aliased.
    """
    _, h, w = image.shape
    n = len(boxes)
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), dtype=torch.float32)
    longest = float(torch.max(torch.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]))) if n else 0.0
    k = int(min(max_supersample, max(1, math.ceil(longest / size))))
    steps = (torch.arange(size * k, dtype=torch.float32) + 0.5) / (size * k)  # (S,) in (0, 1)
    gx = (b[:, 0:1] + steps * (b[:, 2:3] - b[:, 0:1])) * (2.0 / w) - 1.0  # (N, S) grid_sample's [-1, 1] x
    gy = (b[:, 1:2] + steps * (b[:, 3:4] - b[:, 1:2])) * (2.0 / h) - 1.0
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (N, S, S, 2)
    out = F.grid_sample(image.unsqueeze(0).expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    if k > 1:
        out = F.avg_pool2d(out, k)
    return normalise(out).contiguous(memory_format=torch.channels_last)


def _stage1(image: torch.Tensor, min_face: float, threshold: float, factor: float) -> np.ndarray:
    pnet = load_nets()[0]
    _, h, w = image.shape
    all_boxes, all_scores, all_offsets = [], [], []
    for s in pyramid_scales(h, w, min_face, factor):
        hs, ws = int(math.ceil(h * s)), int(math.ceil(w * s))
        level = F.interpolate(image.unsqueeze(0), size=(hs, ws), mode="bilinear", align_corners=False,
                              antialias=True)
        prob, offsets = pnet(normalise(level).contiguous(memory_format=torch.channels_last))
        boxes, scores, offs = pnet_candidates(prob[0].numpy(), offsets[0].numpy(), ws / w, hs / h, threshold)
        if len(boxes):
            keep = nms(boxes, scores, NMS_LEVEL)
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
            all_offsets.append(offs[keep])
    if not all_boxes:
        return np.zeros((0, 4))
    boxes, scores, offs = np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_offsets)
    keep = nms(boxes, scores, NMS_PYRAMID)
    return square(apply_offsets(boxes[keep], offs[keep]))


def _stage2(image: torch.Tensor, boxes: np.ndarray, threshold: float) -> np.ndarray:
    prob, offsets = load_nets()[1](crop_boxes(image, boxes, 24))
    prob, offsets = prob.numpy().astype(np.float64), offsets.numpy().astype(np.float64)
    ok = prob >= threshold
    boxes, prob, offsets = boxes[ok], prob[ok], offsets[ok]
    keep = nms(boxes, prob, NMS_RNET)
    return square(apply_offsets(boxes[keep], offsets[keep]))


def _stage3(image: torch.Tensor, boxes: np.ndarray, threshold: float) -> list[Face]:
    prob, offsets, marks = load_nets()[2](crop_boxes(image, boxes, 48))
    prob, offsets, marks = (t.numpy().astype(np.float64) for t in (prob, offsets, marks))
    ok = prob >= threshold
    boxes, prob, offsets, marks = boxes[ok], prob[ok], offsets[ok], marks[ok]
    wh = boxes[:, 2:] - boxes[:, :2]
    pts = np.stack([boxes[:, None, 0] + wh[:, None, 0] * marks[:, :5],
                    boxes[:, None, 1] + wh[:, None, 1] * marks[:, 5:]], axis=2)
    final = apply_offsets(boxes, offsets)
    keep = nms(final, prob, NMS_ONET, mode="min")
    return [Face(box=final[i] - 0.5, score=float(prob[i]), landmarks=pts[i] - 0.5) for i in keep]


def as_pixels(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 0..255; a clear error for anything else."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detect needs an (H, W, 3) uint8 RGB image, got shape {image.shape} and dtype "
                         f"{image.dtype}; load photos with labkit.faces.load_photo")
    image = np.ascontiguousarray(image) if image.flags.writeable else np.array(image)
    return torch.from_numpy(image).permute(2, 0, 1).float()


def detect(image: np.ndarray, min_face: int = 20, thresholds: tuple[float, float, float] = THRESHOLDS,
           factor: float = PYRAMID_FACTOR) -> list[Face]:
    """Every face of at least about ``min_face`` pixels in ``image`` ((H, W, 3) uint8 RGB), largest first.

    The three-stage MTCNN cascade of the module docstring; boxes and landmarks in the image's pixels.
    """
    pixels = as_pixels(image)
    with torch.inference_mode():
        boxes = _stage1(pixels, min_face, thresholds[0], factor)
        if len(boxes):
            boxes = _stage2(pixels, boxes, thresholds[1])
        faces = _stage3(pixels, boxes, thresholds[2]) if len(boxes) else []
    return sorted(faces, key=lambda f: -f.size)
