"""From any photo to the paper's aligned 112x96 face crop (Sec. 4.1: MTCNN finds the face and its 5 landmarks, a
similarity transform maps them onto the template, the crop is 112x96).

- :func:`load_photo`: any image file as (H, W, 3) uint8 RGB: the EXIF orientation applied (phone photos are stored
  sideways with a tag saying how to turn them), grey, 16-bit grey, palette and CMYK images converted, transparent
  pixels composited over white.
- :func:`find_faces`: :func:`labkit.faces.detect.detect` with three practical additions:

  1. a photo longer than :data:`SEARCH_SIDE` pixels is searched in a copy reduced to that size; the faces are
     mapped back to the original's pixels (the alignment then samples the original, at full resolution);
  2. the smallest face searched for is :data:`MIN_FACE_FRACTION` of the short side (at least 20 px), which skips the
     costly fine pyramid levels; only when nothing is found there is the search repeated down to 20 px;
  3. a small image (short side <= :data:`TIGHT_SIDE`, e.g. an already cropped face) or one where nothing was found is
     searched again inside a black border of half its height and width, because a face that fills the whole image
     is missed or mislocated by the cascade, whose windows then reach past the image.

- :func:`align_photo`: the largest face, aligned by :func:`labkit.data.align.align_face`; :class:`NoFaceError`
  names the photo when none is found.
- :func:`crop_or_center`: the aligned crop, or the documented fixed centre crop of
  :func:`labkit.data.align.center_crop` when no face is found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from labkit.data.align import align_face, center_crop
from labkit.data.images import CorruptImageError
from labkit.faces.detect import Face, detect

SEARCH_SIDE = 640  # a longer photo is searched at this size (its longer side), then aligned from the original
MIN_FACE_FRACTION = 1 / 8  # first search: faces at least this fraction of the short side of the searched image
MIN_FACE = 20  # the second search, when the first finds nothing, goes down to faces of this many pixels
TIGHT_SIDE = 160  # an image whose short side is at most this is treated as a face crop and padded
PAD_FRACTION = 0.5  # black border, on each side, as a fraction of the image's height / width
SIZE_TIE = 0.9  # faces at least this fraction of the largest one's size count as equally large (see find_faces)


class NoFaceError(ValueError):
    """No face was found in a photo; the message names it."""


@dataclass
class AlignedPhoto:
    """The result of :func:`align_photo`: ``crop`` (size uint8 RGB), ``face`` (the largest, in the photo's pixels),
    ``n_faces`` (how many faces the search found), ``image`` (the RGB photo), ``source`` (its path or name)."""

    crop: np.ndarray
    face: Face
    n_faces: int
    image: np.ndarray
    source: str


def _to_rgb(im: Image.Image) -> np.ndarray:
    """A decoded PIL image of any mode -> (H, W, 3) uint8 RGB."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit or float grey: scale the full range to 0..255
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    return np.array(im.convert("RGB"), dtype=np.uint8)


def load_photo(path: str | Path) -> np.ndarray:
    """Decode any photo to (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    A missing file raises ``FileNotFoundError``, a folder ``ValueError``, a file that is not an image or is
    truncated :class:`labkit.data.images.CorruptImageError`; each message names the path.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a photo; give an image file (JPEG, PNG, ...)")
    if not path.exists():
        raise FileNotFoundError(f"photo {path} not found; check the path")
    try:
        with Image.open(path) as im:
            im.load()  # a full decode, so that a truncated file fails here
            return _to_rgb(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"cannot decode photo {path} ({exc}); give a JPEG, PNG or other image file") from exc


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR, reducing_gap=2.0), dtype=np.uint8)


def _search(image: np.ndarray, pad: bool) -> list[Face]:
    """Faces of ``image`` by the coarse-then-fine search of the module docstring (optionally inside a border)."""
    dy = dx = 0
    if pad:
        h, w = image.shape[:2]
        dy, dx = int(round(h * PAD_FRACTION)), int(round(w * PAD_FRACTION))
        image = np.pad(image, [(dy, dy), (dx, dx), (0, 0)])
    short = min(image.shape[:2])
    coarse = max(MIN_FACE, short * MIN_FACE_FRACTION / (1 + 2 * PAD_FRACTION if pad else 1))
    faces = detect(image, min_face=coarse)
    if not faces and coarse > MIN_FACE:
        faces = detect(image, min_face=MIN_FACE)
    return [f.mapped(1.0, 1.0, -dx, -dy) for f in faces] if pad else faces


def find_faces(image: np.ndarray) -> list[Face]:
    """Every face of ``image`` ((H, W, 3) uint8 RGB) in its own pixels, largest first (of faces within 10 % of the
    largest size, the one nearest the centre first): reduced-size search of large photos, coarse-then-fine minimum
    face size, padding of tight crops (see the module docstring)."""
    h, w = image.shape[:2]
    scale = min(1.0, SEARCH_SIDE / max(h, w))
    small = _resize(image, scale) if scale < 1.0 else image
    tight = min(small.shape[:2]) <= TIGHT_SIDE
    faces = _search(small, pad=tight)
    if not faces and not tight:
        faces = _search(small, pad=True)
    if scale < 1.0:
        sx, sy = w / small.shape[1], h / small.shape[0]
        faces = [f.mapped(sx, sy) for f in faces]
    return _main_face_first(faces, w, h)


def _main_face_first(faces: list[Face], width: int, height: int) -> list[Face]:
    """Largest first; among the faces within :data:`SIZE_TIE` of the largest size (box sizes vary by ~5 % between
    runs of the cascade, so these are equally large), the one nearest the image centre comes first."""
    faces = sorted(faces, key=lambda f: -f.size)
    if len(faces) < 2:
        return faces
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    tied = [i for i, f in enumerate(faces) if f.size >= SIZE_TIE * faces[0].size]
    first = min(tied, key=lambda i: float(np.linalg.norm(faces[i].landmarks.mean(axis=0) - centre)))
    return [faces[first]] + faces[:first] + faces[first + 1:]


def _as_image(photo: str | Path | np.ndarray, name: str | None) -> tuple[np.ndarray, str]:
    if isinstance(photo, (str, Path)):
        return load_photo(photo), str(name or photo)
    image = np.asarray(photo)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"a photo array must be (H, W, 3) uint8 RGB, got shape {image.shape} and dtype "
                         f"{image.dtype}; load files with labkit.faces.load_photo")
    return image, name or "<array>"


def align_photo(photo: str | Path | np.ndarray, size: tuple[int, int] = (112, 96),
                name: str | None = None) -> AlignedPhoto:
    """Detect the faces of ``photo`` (a path or an RGB array) and align the largest to ``size`` (H, W) with the 5-point
    similarity transform of :mod:`labkit.data.align`. ``name`` names an array in messages. Raises
    :class:`NoFaceError` naming the photo when no face is found."""
    image, source = _as_image(photo, name)
    faces = find_faces(image)
    if not faces:
        raise NoFaceError(f"no face found in {source}; give a photo with a face of at least {MIN_FACE} px "
                          "(crop_or_center falls back to a fixed centre crop)")
    face = faces[0]
    return AlignedPhoto(crop=_align_near(image, face, size), face=face, n_faces=len(faces), image=image,
                        source=source)


def _align_near(image: np.ndarray, face: Face, size: tuple[int, int]) -> np.ndarray:
    """:func:`labkit.data.align.align_face` on the part of ``image`` around ``face`` (its box grown by one box size
    on each side; all of the template crop lies inside it): the same crop, without converting a whole large photo
    to floating point first."""
    h, w = image.shape[:2]
    side = max(face.box[2] - face.box[0], face.box[3] - face.box[1], 1.0)
    x0, y0 = (max(0, int(np.floor(v - side))) for v in face.box[:2])
    x1, y1 = min(w, int(np.ceil(face.box[2] + side)) + 1), min(h, int(np.ceil(face.box[3] + side)) + 1)
    if (x1 - x0) * (y1 - y0) >= h * w:
        return align_face(image, face.landmarks, size)
    return align_face(image[y0:y1, x0:x1], face.landmarks - [x0, y0], size)


def crop_or_center(photo: str | Path | np.ndarray, size: tuple[int, int] = (112, 96)) -> tuple[np.ndarray, Face | None]:
    """The aligned crop of the largest face and that face, or, when no face is found, the fixed centre crop of
    :func:`labkit.data.align.center_crop` (the average LFW alignment, meant for 250x250 LFW-like photos) and None."""
    try:
        out = align_photo(photo, size)
    except NoFaceError:
        image, _ = _as_image(photo, None)
        return center_crop(image, size), None
    return out.crop, out.face


def landmarks_for_folder(src: str | Path, out: str | Path | None = None,
                         progress=None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Detect the main face (:func:`find_faces`) of every image under ``src``: ``({relative path: (5, 2)
    landmarks}, [relative paths with no face])``. Unreadable images are left to the caller (they are in neither).

    With ``out``, the landmarks are also written there, one ``relative/path<TAB>x1<TAB>y1 ... y5`` line per image
    (the format :func:`labkit.data.align.read_landmarks` reads), via a temporary file and a rename.
    """
    from labkit.data.images import IMAGE_EXTENSIONS

    src = Path(src)
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    table: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for k, path in enumerate(files):
        rel = path.relative_to(src).as_posix()
        try:
            faces = find_faces(load_photo(path))
        except CorruptImageError:
            faces = None
        if faces:
            table[rel] = faces[0].landmarks
        elif faces is not None:
            missing.append(rel)
        if progress:
            progress(k + 1, len(files))
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.write_text("".join(rel + "\t" + "\t".join(f"{v:.2f}" for v in pts.reshape(-1)) + "\n"
                               for rel, pts in table.items()), encoding="utf-8")
        tmp.replace(out)
    return table, missing
