"""YouTube Faces (YTF): the ``splits.txt`` verification protocol and per-video frame folders.

``splits.txt`` (as distributed): a header line ``split number, pair number in split, first name, second name,
is same:`` then 5,000 lines ``split, pair#, Person/video#, Person/video#, is_same``: 10 splits of 500 pairs, pairs
1..250 of each split same-person and 251..500 different-person. (Some copies lack the header or use CRLF; both are
accepted.) Frames live in ``frame_images_DB/<Person>/<video#>/<n>.<frame>.jpg`` or
``aligned_images_DB/<Person>/<video#>/aligned_detect_<video#>.<frame>.jpg``.

This module is the owner of the YTF protocol parser; the evaluation code should import it from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.data import layout
from labkit.data.images import IMAGE_EXTENSIONS
from labkit.data.lfw import ProtocolFormatError


@dataclass(frozen=True)
class VideoPair:
    """One YTF pair of videos. ``fold`` is the 0-based split; ``number`` the 1-based pair number in its split."""

    fold: int
    number: int
    name1: str
    video1: int
    name2: str
    video2: int
    same: bool

    @property
    def videos(self) -> tuple[str, str]:
        """``("Person/video#", "Person/video#")`` as written in splits.txt (and as the frame folders are named)."""
        return f"{self.name1}/{self.video1}", f"{self.name2}/{self.video2}"


def _video(tok: str, where: str) -> tuple[str, int]:
    name, sep, num = tok.strip().rpartition("/")
    if not sep or not name or not num.isdigit():
        raise ProtocolFormatError(f"{where}: expected a video as 'Person_Name/<number>', found {tok.strip()!r}")
    return name, int(num)


def read_ytf_splits(path: str | Path, check_structure: bool = True) -> list[VideoPair]:
    """Parse YTF ``splits.txt``. With ``check_structure`` the standard shape is enforced: 10 splits x 500 pairs,
    numbered 1..500, first 250 same and last 250 different. Malformed lines raise :class:`ProtocolFormatError`
    with ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"YTF protocol {path} not found; see `python -m labkit data get ytf`")
    out: list[VideoPair] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or (n == 1 and line.lower().startswith("split")):
            continue
        where = f"{path}:{n}"
        tok = line.split(",")
        if len(tok) != 5:
            raise ProtocolFormatError(
                f"{where}: expected 5 comma-separated fields 'split, pair#, Person/video#, Person/video#, is_same', "
                f"found {len(tok)}: {line!r}"
            )
        split, number, same = (t.strip() for t in (tok[0], tok[1], tok[4]))
        if not split.isdigit() or not number.isdigit():
            raise ProtocolFormatError(f"{where}: split and pair number must be integers, found {line!r}")
        if same not in ("0", "1"):
            raise ProtocolFormatError(f"{where}: is_same must be 0 or 1, found {same!r}")
        (n1, v1), (n2, v2) = _video(tok[2], where), _video(tok[3], where)
        if same == "1" and n1 != n2:
            raise ProtocolFormatError(f"{where}: marked same (1) but the people differ: {n1}/{v1} vs {n2}/{v2}")
        out.append(VideoPair(int(split) - 1, int(number), n1, v1, n2, v2, same == "1"))
    if check_structure:
        _check_structure(out, path)
    return out


def _check_structure(pairs: Sequence[VideoPair], path: Path) -> None:
    if len(pairs) != 5000:
        raise ProtocolFormatError(f"{path}: expected 5,000 pairs (10 splits x 500), found {len(pairs)}")
    for k, p in enumerate(pairs):
        fold, pos = divmod(k, 500)
        if p.fold != fold or p.number != pos + 1 or p.same != (pos < 250):
            raise ProtocolFormatError(
                f"{path}: pair {k + 1} is split {p.fold + 1} #{p.number} same={int(p.same)}; expected split {fold + 1} "
                f"#{pos + 1} same={int(pos < 250)} (each split: 250 same then 250 different pairs)"
            )


def ytf_protocol_path(root: str | Path | None = None) -> Path:
    """The YTF ``splits.txt`` under the data root (``ytf_protocol/splits.txt`` in the layout table,
    :mod:`labkit.data.layout`), with a clear error when missing. Used in notebook 06, section 2 ("YTF")."""
    return layout.locate("ytf", root, "protocol")


def ytf_frames_root(root: str | Path | None = None, aligned: bool = False) -> Path:
    """The YTF frame folder (``ytf/frame_images_DB``, or ``ytf/aligned_images_DB`` with ``aligned``) under the data
    root, with a clear error (what to request, where to put it) when missing."""
    return layout.locate("ytf", root, "aligned_frames" if aligned else "frames")


def _frame_key(p: Path) -> tuple[int, str]:
    nums = re.findall(r"\d+", p.stem)
    return (int(nums[-1]) if nums else -1, p.name)


def video_frames(frames_root: str | Path, name: str, video: int) -> list[Path]:
    """Frame images of one video, in frame order (``frames_root`` is ``frame_images_DB`` or ``aligned_images_DB``)."""
    folder = Path(frames_root) / name / str(video)
    if not folder.is_dir():
        raise FileNotFoundError(f"YTF video folder {folder} not found (expected <root>/<Person>/<video#>/<frames>)")
    frames = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=_frame_key)
    if not frames:
        raise FileNotFoundError(f"YTF video folder {folder} holds no images")
    return frames


def scan_videos(frames_root: str | Path) -> dict[str, list[int]]:
    """``{person: [video numbers]}`` of a YTF frame folder."""
    root = Path(frames_root)
    if not root.is_dir():
        raise FileNotFoundError(f"YTF frame folder {root} not found; see `python -m labkit data get ytf`")
    return {
        p.name: sorted(int(v.name) for v in p.iterdir() if v.is_dir() and v.name.isdigit())
        for p in sorted(root.iterdir())
        if p.is_dir()
    }
