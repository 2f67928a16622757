"""LFW (Labeled Faces in the Wild): the standard folder layout and the official protocol files.

Layout under the data root (folder names as in the official archives)::

    lfw/lfw-deepfunneled/<Name>/<Name>_NNNN.jpg      deep-funneled 250x250 (lfw-deepfunneled.tgz)
    lfw/lfw/<Name>/<Name>_NNNN.jpg                   original 250x250 (lfw.tgz), optional
    lfw/pairs.txt, pairsDevTrain.txt, pairsDevTest.txt, peopleDevTrain.txt, peopleDevTest.txt, lfw-names.txt
    lfw_aligned_112x96/lfw-112x96/<Name>/<Name>_NNNN.jpg   5-point aligned 112x96 crops

Protocol formats (View 2 ``pairs.txt``): a header ``<folds> <pairs per half fold>`` (``10 300``), then per fold
300 matched lines ``name i j`` followed by 300 mismatched lines ``name1 i name2 j``. View 1
(``pairsDevTrain.txt``/``pairsDevTest.txt``): a header with one count ``N``, then N matched and N mismatched lines.
People files: a header (count of people, or ``<folds>`` then per fold a count) then ``name n_images`` lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from labkit import config
from labkit.data.folders import IdentityFolderDataset
from labkit.data.images import CorruptImageError, load_image, to_tensor

PROTOCOL_FILES = ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt", "peopleDevTrain.txt", "peopleDevTest.txt", "lfw-names.txt")
VARIANTS = {
    # variant name -> (folder relative to the data root, what to fetch)
    "deepfunneled": ("lfw/lfw-deepfunneled", "python -m labkit data get lfw"),
    "original": ("lfw/lfw", "python -m labkit data get lfw --variant original"),
    "funneled": ("lfw/lfw_funneled", "python -m labkit data get lfw --variant funneled"),
    "aligned": (
        "lfw_aligned_112x96/lfw-112x96",
        "python -m labkit data get lfw --variant original` then `python -m labkit data align <root>/lfw/lfw "
        "<root>/lfw_aligned_112x96/lfw-112x96 --landmarks lfw_landmark.txt --size 112x96` (landmarks: "
        "github.com/clcarwin/sphereface_pytorch data/lfw_landmark.txt",
    ),
}


class ProtocolFormatError(ValueError):
    """A protocol file (pairs, people, splits, template list) that does not have the expected format.

    The message names ``file:line``, what was found and what was expected.
    """


@dataclass(frozen=True)
class Pair:
    """One verification pair: image ``index1`` of ``name1`` against image ``index2`` of ``name2``.

    Image indices are 1-based as in the LFW file names (``<name>_0001.jpg``). ``fold`` is 0-based
    (always 0 for View 1 files).
    """

    name1: str
    index1: int
    name2: str
    index2: int
    same: bool
    fold: int

    def relpaths(self, ext: str = ".jpg") -> tuple[str, str]:
        """The two images as ``<Name>/<Name>_NNNN<ext>`` relative to an LFW image folder."""
        return image_relpath(self.name1, self.index1, ext), image_relpath(self.name2, self.index2, ext)


def image_relpath(name: str, index: int, ext: str = ".jpg") -> str:
    """``("George_W_Bush", 1)`` -> ``"George_W_Bush/George_W_Bush_0001.jpg"``."""
    return f"{name}/{name}_{index:04d}{ext}"


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(
            f"LFW protocol file {path} not found: run `python -m labkit data get lfw` or copy the official "
            f"file from http://vis-www.cs.umass.edu/lfw/{path.name} there"
        )
    return path.read_text(encoding="utf-8").splitlines()


def _int(tok: str, where: str, what: str) -> int:
    try:
        value = int(tok)
    except ValueError:
        raise ProtocolFormatError(f"{where}: expected {what} (an integer), found {tok!r}") from None
    return value


def _pair_line(line: str, where: str, fold: int, expect_same: bool | None) -> Pair:
    tok = line.split()
    if len(tok) == 3:
        name, a, b = tok
        p = Pair(name, _int(a, where, "image index"), name, _int(b, where, "image index"), True, fold)
    elif len(tok) == 4:
        n1, a, n2, b = tok
        p = Pair(n1, _int(a, where, "image index"), n2, _int(b, where, "image index"), False, fold)
    else:
        raise ProtocolFormatError(
            f"{where}: expected 'name i j' (matched pair) or 'name1 i name2 j' (mismatched pair), "
            f"found {len(tok)} fields: {line!r}"
        )
    if p.index1 < 1 or p.index2 < 1:
        raise ProtocolFormatError(f"{where}: image indices start at 1, found {line!r}")
    if expect_same is not None and p.same != expect_same:
        kind = "matched ('name i j')" if expect_same else "mismatched ('name1 i name2 j')"
        raise ProtocolFormatError(f"{where}: expected a {kind} pair at this position of the fold, found {line!r}")
    return p


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse an LFW pairs file: View 2 ``pairs.txt`` (header ``folds n``) or View 1 (header ``n``).

    Each fold holds ``n`` matched pairs then ``n`` mismatched pairs; pairs come back in file order with their
    0-based fold. Malformed input raises :class:`ProtocolFormatError` naming ``file:line``.
    """
    path = Path(path)
    lines = _read_lines(path)
    # tolerate trailing blank lines only
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ProtocolFormatError(f"{path}:1: empty file, expected a header '10<TAB>300' or '<n>'")
    head = lines[0].split()
    if len(head) == 2:
        folds, n = _int(head[0], f"{path}:1", "number of folds"), _int(head[1], f"{path}:1", "pairs per half fold")
    elif len(head) == 1:
        folds, n = 1, _int(head[0], f"{path}:1", "number of pairs of each kind")
    else:
        raise ProtocolFormatError(
            f"{path}:1: expected a header '<folds> <n>' (View 2, e.g. '10 300') or '<n>' (View 1), found {lines[0]!r}"
        )
    if folds < 1 or n < 1:
        raise ProtocolFormatError(f"{path}:1: header counts must be positive, found {lines[0]!r}")
    body = lines[1:]
    if len(body) != folds * 2 * n:
        raise ProtocolFormatError(
            f"{path}: header {lines[0]!r} promises {folds} fold(s) x 2 x {n} = {folds * 2 * n} pair lines, "
            f"found {len(body)}: the file is truncated or has extra lines"
        )
    out: list[Pair] = []
    for k, line in enumerate(body):
        fold, pos = divmod(k, 2 * n)
        out.append(_pair_line(line, f"{path}:{k + 2}", fold, expect_same=pos < n))
    return out


def read_people(path: str | Path) -> dict[str, int]:
    """Parse an LFW people file (``peopleDevTrain.txt``/``peopleDevTest.txt``/``people.txt``) or ``lfw-names.txt``.

    Returns ``{name: number of images}`` in file order. For the 10-fold ``people.txt`` the folds are merged (use
    :func:`read_people_folds` to keep them).
    """
    merged: dict[str, int] = {}
    for fold in read_people_folds(path):
        merged.update(fold)
    return merged


def read_people_folds(path: str | Path) -> list[dict[str, int]]:
    """Parse a people file into its folds: ``[{name: n_images}, ...]`` (one fold for View 1 / ``lfw-names.txt``)."""
    path = Path(path)
    lines = [ln for ln in _read_lines(path)]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ProtocolFormatError(f"{path}:1: empty file, expected a count or 'name<TAB>n' lines")

    def entry(i: int) -> tuple[str, int]:
        tok = lines[i].split()
        if len(tok) != 2:
            raise ProtocolFormatError(f"{path}:{i + 1}: expected 'name<TAB>number_of_images', found {lines[i]!r}")
        n = _int(tok[1], f"{path}:{i + 1}", "number of images")
        if n < 1:
            raise ProtocolFormatError(f"{path}:{i + 1}: a person has at least one image, found {lines[i]!r}")
        return tok[0], n

    first = lines[0].split()
    if len(first) == 2:  # lfw-names.txt: no header
        return [dict(entry(i) for i in range(len(lines)))]
    n_first = _int(first[0], f"{path}:1", "a count header")
    # View 1: '<count>' then count lines. 10-fold people.txt: '<folds>' then per fold '<count>' + lines.
    if len(lines) - 1 == n_first:
        return [dict(entry(i) for i in range(1, len(lines)))]
    folds: list[dict[str, int]] = []
    i = 1
    for _ in range(n_first):
        if i >= len(lines):
            raise ProtocolFormatError(f"{path}:{i + 1}: file ends before fold {len(folds) + 1} of {n_first}")
        count = _int(lines[i].strip(), f"{path}:{i + 1}", "the number of people in this fold")
        if i + 1 + count > len(lines):
            raise ProtocolFormatError(f"{path}:{i + 1}: fold promises {count} people but the file ends first")
        folds.append(dict(entry(j) for j in range(i + 1, i + 1 + count)))
        i += 1 + count
    if i != len(lines):
        raise ProtocolFormatError(
            f"{path}:{i + 1}: extra lines after {n_first} folds (header says {n_first} people or folds; "
            f"found {len(lines) - 1} lines after it)"
        )
    return folds


def fold_indices(pairs: Sequence[Pair]) -> list[np.ndarray]:
    """Indices into ``pairs`` of each fold, in fold order (for 10-fold cross-validation)."""
    folds = sorted({p.fold for p in pairs})
    arr = np.array([p.fold for p in pairs])
    return [np.flatnonzero(arr == f) for f in folds]


def pair_paths(pairs: Sequence[Pair], image_root: str | Path, ext: str = ".jpg") -> list[tuple[Path, Path]]:
    """Absolute image paths for each pair under an LFW image folder (e.g. ``lfw/lfw-deepfunneled``)."""
    root = Path(image_root)
    return [(root / a, root / b) for a, b in (p.relpaths(ext) for p in pairs)]


def missing_pair_images(pairs: Sequence[Pair], image_root: str | Path, ext: str = ".jpg") -> list[Path]:
    """The distinct image paths referenced by ``pairs`` that do not exist under ``image_root`` (sorted)."""
    seen: set[Path] = set()
    for a, b in pair_paths(pairs, image_root, ext):
        seen.add(a)
        seen.add(b)
    return sorted(p for p in seen if not p.is_file())


def lfw_root(root: str | Path | None = None) -> Path:
    """The ``lfw`` folder of the data root (holding the protocol files), without checking that it exists."""
    return (Path(root) if root else config.data_root()) / "lfw"


def lfw_paths(root: str | Path | None = None, variant: str = "deepfunneled", must_exist: bool = True) -> Path:
    """The image folder of an LFW variant under the data root ``root`` (default :func:`labkit.config.data_root`).

    ``variant``: ``"deepfunneled"`` (``lfw/lfw-deepfunneled``), ``"aligned"`` (``lfw_aligned_112x96/lfw-112x96``),
    ``"original"`` (``lfw/lfw``) or ``"funneled"`` (``lfw/lfw_funneled``). ``root`` may also be the ``lfw`` folder
    itself or the image folder. Raises :class:`labkit.config.DataMissingError` saying how to get it when missing.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown LFW variant {variant!r}; choose one of {sorted(VARIANTS)}")
    base = Path(root) if root else config.data_root()
    rel, how = VARIANTS[variant]
    leaf = Path(rel).name
    candidates = [base / rel, base / leaf]
    if base.name == leaf:
        candidates.insert(0, base)
    for c in candidates:
        if c.is_dir():
            return c
    if must_exist:
        raise config.DataMissingError(
            f"LFW ({variant}) not found: looked for {candidates[0]}. Get it with `{how}` "
            f"(data root {base}; set LABKIT_DATA to change it)"
        )
    return candidates[0]


def protocol_path(name: str, root: str | Path | None = None) -> Path:
    """Path of an LFW protocol file (``"pairs.txt"`` ...) under the data root, with a clear error when missing."""
    if name not in PROTOCOL_FILES and name != "people.txt":
        raise ValueError(f"unknown LFW protocol file {name!r}; expected one of {PROTOCOL_FILES + ('people.txt',)}")
    base = Path(root) if root else config.data_root()
    for c in (base / "lfw" / name, base / name):
        if c.is_file():
            return c
    raise config.DataMissingError(
        f"LFW protocol file {name} not found under {base / 'lfw'}: run `python -m labkit data get lfw` "
        f"(downloads http://vis-www.cs.umass.edu/lfw/{name} and verifies its checksum)"
    )


class LFWPairs(Dataset):
    """LFW verification pairs as a torchvision-style Dataset: ``(img1, img2, same)`` per item.

    ``root``: data root (``None``: :func:`labkit.config.data_root`); ``view``: ``"pairs"`` (View 2, 6,000 pairs),
    ``"devtrain"`` or ``"devtest"`` (View 1); ``variant`` picks the image folder (see :func:`lfw_paths`);
    ``download=True`` fetches missing files with :func:`labkit.data.download.get_lfw`.
    """

    FILES = {"pairs": "pairs.txt", "devtrain": "pairsDevTrain.txt", "devtest": "pairsDevTest.txt"}

    def __init__(
        self,
        root: str | Path | None = None,
        view: str = "pairs",
        variant: str = "aligned",
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
        download: bool = False,
    ) -> None:
        if view not in self.FILES:
            raise ValueError(f"view must be one of {sorted(self.FILES)}, got {view!r}")
        self.root = Path(root) if root else config.data_root()
        if download:
            from labkit.data.download import get_lfw

            get_lfw(self.root)
        self.image_root = lfw_paths(self.root, variant)
        self.pairs = read_pairs(protocol_path(self.FILES[view], self.root))
        self.paths = pair_paths(self.pairs, self.image_root)
        self.transform = transform or to_tensor

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        a, b = self.paths[index]
        return self.transform(load_image(a)), self.transform(load_image(b)), self.pairs[index].same


class LFWPeople(IdentityFolderDataset):
    """LFW identities as a classification Dataset (``(image, label)``), torchvision-style.

    ``split``: ``"all"`` (every identity), ``"devtrain"``/``"devtest"`` (View 1 people files); ``min_images`` keeps
    identities with at least that many images (e.g. 60 -> the 8 people of the toy experiment); ``variant`` as for
    :func:`lfw_paths`; ``download=True`` runs :func:`labkit.data.download.get_lfw` first.
    """

    SPLITS = {"devtrain": "peopleDevTrain.txt", "devtest": "peopleDevTest.txt"}

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "all",
        variant: str = "aligned",
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
        download: bool = False,
        min_images: int = 1,
    ) -> None:
        if split != "all" and split not in self.SPLITS:
            raise ValueError(f"split must be 'all' or one of {sorted(self.SPLITS)}, got {split!r}")
        base = Path(root) if root else config.data_root()
        if download:
            from labkit.data.download import get_lfw

            get_lfw(base)
        names = None if split == "all" else list(read_people(protocol_path(self.SPLITS[split], base)))
        super().__init__(lfw_paths(base, variant), transform=transform, names=names, min_images=min_images)
        self.split = split


__all__ = [
    "CorruptImageError",
    "LFWPairs",
    "LFWPeople",
    "Pair",
    "ProtocolFormatError",
    "fold_indices",
    "image_relpath",
    "lfw_paths",
    "lfw_root",
    "missing_pair_images",
    "pair_paths",
    "protocol_path",
    "read_pairs",
    "read_people",
    "read_people_folds",
]
