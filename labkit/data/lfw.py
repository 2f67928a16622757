"""LFW (Labeled Faces in the Wild): the official protocol files, and the one implementation of pairs and folds.

Where LFW lives under the data root is in the layout table (:mod:`labkit.data.layout`, entries ``lfw`` and
``lfw_aligned``)::

    lfw/lfw-deepfunneled/<Name>/<Name>_NNNN.jpg      deep-funneled 250x250 (lfw-deepfunneled.tgz)
    lfw/lfw/<Name>/<Name>_NNNN.jpg                   original 250x250 (lfw.tgz), optional
    lfw/pairs.txt, pairsDevTrain.txt, pairsDevTest.txt, peopleDevTrain.txt, peopleDevTest.txt, lfw-names.txt
    lfw_aligned_112x96/lfw-112x96/<Name>/<Name>_NNNN.jpg   5-point aligned 112x96 crops

Protocol formats (View 2 ``pairs.txt``): a header ``<folds> <pairs per half fold>`` (``10 300``), then per fold
300 matched lines ``name i j`` followed by 300 mismatched lines ``name1 i name2 j``. View 1
(``pairsDevTrain.txt``/``pairsDevTest.txt``): a header with one count ``N``, then N matched and N mismatched lines.
People files: a header (count of people, or ``<folds>`` then per fold a count) then ``name n_images`` lines.

Folds, in one place:

- View 2: the fold is the 600-line block of ``pairs.txt`` (:func:`read_pairs`);
- any other list of pairs (View 1 DevTest, for the lab-scale experiments): :func:`assign_folds` cuts the matched and
  the mismatched pairs, each in file order, into ``n_folds`` even parts (:func:`devtest_pairs`);
- the LFW accuracy logged during training: :func:`probe_pairs`, View 2 minus the pairs of training identities,
  optionally a subset balanced over folds and labels (:func:`balanced_subset`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from labkit import config
from labkit.data import layout
from labkit.data.folders import IdentityFolderDataset
from labkit.data.images import CorruptImageError, load_image, to_tensor

PROTOCOL_FILES = layout.LFW_PROTOCOL_FILES
#: image variants: ``"aligned"`` is the ``lfw_aligned`` table entry, the others are parts of the ``lfw`` entry
VARIANTS = ("deepfunneled", "original", "funneled", "aligned")


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


def lfw_paths(root: str | Path | None = None, variant: str = "deepfunneled", must_exist: bool = True) -> Path:
    """The image folder of an LFW variant under the data root ``root`` (default :func:`labkit.config.data_root`).

    ``variant``: ``"deepfunneled"`` (``lfw/lfw-deepfunneled``), ``"aligned"`` (``lfw_aligned_112x96/lfw-112x96``),
    ``"original"`` (``lfw/lfw``) or ``"funneled"`` (``lfw/lfw_funneled``), as in :mod:`labkit.data.layout`.
    ``root`` may also be the ``lfw`` folder itself or the image folder. Raises
    :class:`labkit.config.DataMissingError` saying how to get it when missing (``must_exist=False``: return where
    it should be instead). Used in notebook 04, section 3 ("The LFW verification protocol").
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown LFW variant {variant!r}; choose one of {sorted(VARIANTS)}")
    name, kind = ("lfw_aligned", "images") if variant == "aligned" else ("lfw", variant)
    if must_exist:
        return layout.locate(name, root, kind)
    return layout.find(name, root, kind) or layout.canonical(name, root, kind)


def protocol_path(name: str, root: str | Path | None = None) -> Path:
    """Path of an LFW protocol file (``"pairs.txt"`` ...) under the data root, with a clear error when missing.

    ``root`` may be the data root or the folder holding the protocol files.
    """
    if name not in PROTOCOL_FILES and name != "people.txt":
        raise ValueError(f"unknown LFW protocol file {name!r}; expected one of {PROTOCOL_FILES + ('people.txt',)}")
    base = Path(root) if root else config.data_root()
    for folder in layout.candidates("lfw", base, "protocol") + [base]:
        if (folder / name).is_file():
            return folder / name
    raise config.DataMissingError(
        f"LFW protocol file {name} not found under {layout.canonical('lfw', base, 'protocol')}: run `python -m labkit "
        f"data get lfw` (downloads {layout.dataset('lfw').source}{name} and verifies its checksum)"
    )


# ------------------------------------------------------------------------------------------------ pairs and folds


def assign_folds(pairs: Sequence[Pair], n_folds: int) -> list[Pair]:
    """Give every pair a fold: the matched pairs and the mismatched pairs are each cut, in file order, into
    ``n_folds`` even parts (pair ``i`` of a half goes to fold ``i * n_folds // len(half)``).

    So every fold holds the same number of matched and of mismatched pairs (give or take one when the halves do not
    divide evenly). The pairs come back in their given order with ``fold`` replaced. Raises ValueError when a half
    has fewer pairs than folds (a fold would miss a label). Used for the View 1 DevTest pairs (:func:`devtest_pairs`).
    """
    if n_folds < 1:
        raise ValueError(f"n_folds must be at least 1, got {n_folds}")
    halves = {True: [i for i, p in enumerate(pairs) if p.same], False: [i for i, p in enumerate(pairs) if not p.same]}
    for same, idx in halves.items():
        if len(idx) < n_folds:
            kind = "matched" if same else "mismatched"
            raise ValueError(f"{len(idx)} {kind} pairs cannot fill {n_folds} folds (each fold needs both labels)")
    fold = [0] * len(pairs)
    for idx in halves.values():
        for k, i in enumerate(idx):
            fold[i] = k * n_folds // len(idx)
    return [dataclasses.replace(p, fold=f) for p, f in zip(pairs, fold)]


def devtest_pairs(root: str | Path | None = None, n_folds: int = 10) -> list[Pair]:
    """The 1,000 View 1 DevTest pairs (``pairsDevTest.txt``) in ``n_folds`` folds by :func:`assign_folds`: with
    10 folds, 50 matched + 50 mismatched pairs each. Their people never appear in ``peopleDevTrain.txt``.

    Used by :mod:`labkit.experiments.lab_scale` (notebooks 06, section 3, and 07).
    """
    return assign_folds(read_pairs(protocol_path("pairsDevTest.txt", root)), n_folds)


def view2_fold_pairs(fold: int, root: str | Path | None = None, n_folds: int = 10) -> list[Pair]:
    """The 600 pairs of View 2 fold ``fold`` (0-9) of ``pairs.txt`` (300 matched, 300 mismatched), cut into
    ``n_folds`` sub-folds by :func:`assign_folds` for choosing the threshold. The ten folds of ``pairs.txt`` share
    no person. Used by :mod:`labkit.experiments.lab_scale` (notebook 07) to test a model trained on everybody else.
    """
    pairs = [p for p in read_pairs(protocol_path("pairs.txt", root)) if p.fold == fold]
    if not pairs:
        raise ValueError(f"pairs.txt has no fold {fold}; its folds are numbered 0-9")
    return assign_folds(pairs, n_folds)


def pair_people(pairs: Sequence[Pair]) -> set[str]:
    """Every person named in ``pairs``."""
    return {p.name1 for p in pairs} | {p.name2 for p in pairs}


def balanced_subset(pairs: Sequence[Pair], max_pairs: int) -> list[Pair]:
    """At most about ``max_pairs`` pairs, balanced over folds and labels: the first ``max_pairs // (2 * folds)``
    pairs (at least one) of every (fold, same/different) group, in file order. ``max_pairs <= 0`` keeps them all.

    With fewer than ``2 * folds`` pairs asked for, one pair per group is kept (so every fold keeps both labels).
    """
    if max_pairs <= 0:
        return list(pairs)
    n_folds = len({p.fold for p in pairs}) or 1
    per = max(1, max_pairs // (2 * n_folds))
    kept, seen = [], {}
    for p in pairs:
        key = (p.fold, p.same)
        if seen.get(key, 0) < per:
            kept.append(p)
            seen[key] = seen.get(key, 0) + 1
    return kept


@dataclass(frozen=True)
class ProbePairs:
    """The pairs of the LFW accuracy logged during training (:func:`probe_pairs`) and how they were chosen.

    ``n_view2``: pairs in the file; ``n_excluded``: left out because they involve an excluded identity;
    ``n_subsampled_out``: dropped afterwards to reach ``max_pairs``. ``excluded_names``: the excluded identities
    that occur in the file.
    """

    pairs: list[Pair]
    n_view2: int
    n_excluded: int
    n_subsampled_out: int
    excluded_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.pairs)

    def summary(self) -> str:
        return (f"{len(self.pairs)} of {self.n_view2} LFW View 2 pairs: {self.n_excluded} left out for involving "
                f"{len(self.excluded_names)} training identities, {self.n_subsampled_out} left out for size")


def probe_pairs(
    max_pairs: int = 0,
    exclude_names: Iterable[str] = (),
    root: str | Path | None = None,
    file: str = "pairs.txt",
) -> ProbePairs:
    """LFW View 2 pairs for the accuracy logged while training: the pairs that involve any identity in
    ``exclude_names`` are left out (names compared with spaces as underscores, ``"George W Bush"`` ==
    ``"George_W_Bush"``), then, with ``max_pairs > 0``, a subset balanced over folds and labels is kept
    (:func:`balanced_subset`). The counts of what was left out come back with the pairs.

    Used by :class:`labkit.train.LFWProbe`.
    """
    pairs = read_pairs(protocol_path(file, root))
    banned = {n.replace(" ", "_") for n in exclude_names}
    kept = [p for p in pairs if p.name1 not in banned and p.name2 not in banned]
    present = sorted(banned & {n for p in pairs for n in (p.name1, p.name2)})
    subset = balanced_subset(kept, max_pairs)
    return ProbePairs(subset, len(pairs), len(pairs) - len(kept), len(kept) - len(subset), tuple(present))


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
    "ProbePairs",
    "ProtocolFormatError",
    "assign_folds",
    "balanced_subset",
    "devtest_pairs",
    "view2_fold_pairs",
    "pair_people",
    "fold_indices",
    "image_relpath",
    "lfw_paths",
    "missing_pair_images",
    "pair_paths",
    "probe_pairs",
    "protocol_path",
    "read_pairs",
    "read_people",
    "read_people_folds",
]
