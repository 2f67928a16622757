"""5-point face alignment to the paper's 112x96 crop (similarity transform, scikit-image), and its fallback.

The paper (Sec. 4.1) detects faces and 5 landmarks with MTCNN, then aligns with a similarity transform to a fixed
template and crops 112x96. The template below is SphereFace's (the CosFace code uses the same). Landmark files have
one image per line: ``relative/path x1 y1 x2 y2 x3 y3 x4 y4 x5 y5`` (left eye, right eye, nose tip, left and right
mouth corner, in pixel coordinates of the source image, pixel centres at integers), as SphereFace's
``lfw_landmark.txt``.

Fallback without landmarks (:func:`center_crop`): a fixed crop of the (deep-)funneled 250x250 LFW image. It is the one
scale + offset (no rotation) that best maps all 13,233 LFW landmark sets onto the template (least squares over the
whole ``lfw_landmark.txt``: scale 0.8189, offset (-54.47, -38.59)). It is right on average but ignores each face's
pose and size: measured on the original LFW images, the landmarks land 6.3 px RMS from the template (eyes 4.0 px
mean), against 3.5 px RMS left by a per-image 5-point fit. Deep funneling already removes part of that variation,
so on funneled images the error is smaller, but no landmarks exist for them to measure it. Expect lower
verification accuracy than with true alignment; say so next to any number computed on fallback crops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.transform import SimilarityTransform, warp

from labkit.data.images import IMAGE_EXTENSIONS, CorruptImageError, load_image
from labkit.data.lfw import ProtocolFormatError

log = logging.getLogger(__name__)

# (x, y) in the 96-wide x 112-high crop: left eye, right eye, nose tip, left mouth corner, right mouth corner.
TEMPLATE_112x96 = np.array(
    [[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366], [33.5493, 92.3655], [62.7299, 92.2041]],
    dtype=np.float64,
)
# The fallback crop of a 250x250 (deep-)funneled LFW image: the similarity transform averaged over LFW's landmarks,
# as (scale, tx, ty) mapping source pixel -> crop pixel (no rotation). See module docstring.
FALLBACK_LFW_250 = (0.8189, -54.47, -38.59)


def parse_size(text: str) -> tuple[int, int]:
    """``"112x96"`` -> ``(112, 96)`` (height x width, the paper's convention)."""
    try:
        h, w = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like HEIGHTxWIDTH, e.g. 112x96, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return h, w


def template_for(size: tuple[int, int] = (112, 96)) -> np.ndarray:
    """The 5-point template for a crop of ``size`` (H, W): 112x96 as is, 112x112 shifted right by 8 px (ArcFace),
    other sizes scaled from 112x96 (by height) and centred horizontally."""
    h, w = size
    s = h / 112.0
    t = TEMPLATE_112x96 * s
    t[:, 0] += (w - 96 * s) / 2.0
    return t


def read_landmarks(path: str | Path) -> dict[str, np.ndarray]:
    """Parse a landmark file into ``{relative path: (5, 2) array of (x, y)}``; bad lines raise with ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"landmark file {path} not found")
    out: dict[str, np.ndarray] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tok = line.split()
        if len(tok) != 11:
            raise ProtocolFormatError(
                f"{path}:{n}: expected an image path then ten numbers (x1 y1 ... x5 y5), found {len(tok)} fields"
            )
        try:
            pts = np.array([float(t) for t in tok[1:]], dtype=np.float64).reshape(5, 2)
        except ValueError:
            raise ProtocolFormatError(f"{path}:{n}: the ten landmark coordinates must be numbers: {line!r}") from None
        out[tok[0]] = pts
    return out


def estimate_transform(landmarks: np.ndarray, size: tuple[int, int] = (112, 96)) -> SimilarityTransform:
    """Least-squares similarity transform (rotation, uniform scale, translation) from ``landmarks`` to the template."""
    src = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    dst = template_for(size)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        tform = SimilarityTransform.from_estimate(src, dst)
        ok = bool(tform)
    else:  # pragma: no cover - older scikit-image
        tform = SimilarityTransform()
        ok = tform.estimate(src, dst)
    if not ok:
        raise ValueError(f"cannot fit a similarity transform to landmarks {src.tolist()} (degenerate points)")
    return tform


def align_face(img: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (112, 96)) -> np.ndarray:
    """Warp ``img`` (H, W, 3 uint8) so its 5 landmarks land on the template; returns a ``size`` uint8 crop.

    Bilinear interpolation, black outside the source image.
    """
    tform = estimate_transform(landmarks, size)
    out = warp(img, tform.inverse, output_shape=size, order=1, mode="constant", cval=0.0, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def center_crop(img: np.ndarray, size: tuple[int, int] = (112, 96)) -> np.ndarray:
    """Landmark-free fallback: the fixed average LFW alignment applied to a 250x250 (deep-)funneled image.

    For other source sizes the same crop is scaled. See the module docstring for what it costs.
    """
    s, tx, ty = FALLBACK_LFW_250
    k = img.shape[0] / 250.0
    h, w = size
    f = h / 112.0
    tform = SimilarityTransform(scale=s * f / k, translation=(tx * f + (w - 96 * f) / 2.0, ty * f))
    out = warp(img, tform.inverse, output_shape=size, order=1, mode="constant", cval=0.0, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def align_folder(
    src: str | Path,
    dst: str | Path,
    landmarks: str | Path | dict[str, np.ndarray] | None,
    size: tuple[int, int] = (112, 96),
    quality: int = 95,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write an aligned copy of every image under ``src`` to ``dst`` in the same relative layout.

    Images with landmarks are aligned; images without get the :func:`center_crop` fallback (counted, logged).
    Unreadable images are skipped and counted. JPEG output keeps ``.jpg`` names (quality ``quality``); other
    extensions are written losslessly as PNG with their own name. Returns counts:
    ``aligned``, ``fallback``, ``skipped``.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"source folder {src} does not exist")
    if dst.resolve() == src.resolve():
        raise ValueError("destination must differ from the source (the source is never modified)")
    table = read_landmarks(landmarks) if isinstance(landmarks, (str, Path)) else (landmarks or {})
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    counts = {"aligned": 0, "fallback": 0, "skipped": 0}
    for k, path in enumerate(files):
        rel = path.relative_to(src).as_posix()
        try:
            img = load_image(path)
        except CorruptImageError as exc:
            log.warning("skipping %s", exc)
            counts["skipped"] += 1
            continue
        if rel in table:
            crop = align_face(img, table[rel], size)
            counts["aligned"] += 1
        else:
            crop = center_crop(img, size)
            counts["fallback"] += 1
            log.info("no landmarks for %s: fixed centre crop used", rel)
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
        Image.fromarray(crop).save(tmp, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
        tmp.replace(out)
        if progress:
            progress(k + 1, len(files))
    return counts
