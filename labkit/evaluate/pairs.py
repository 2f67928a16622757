"""Verification on any identity-folder face set, ``ROOT/<identity>/<image>``, against a pairs file in LFW's format.

The protocol is LFW View 2's (the paper's Table 3 setting, Sec. 4.2): pairs in ``k`` folds, each fold ``n`` matched
lines ``name i j`` then ``n`` mismatched lines ``name1 i name2 j``, a header ``k n`` (``10 300`` for LFW); one
threshold per fold chosen on the other folds (:func:`labkit.evaluate.verification.kfold_verification`); scores are
cosines of the flip-concatenated features (Sec. 4.1). The file is parsed by :func:`labkit.data.lfw.read_pairs`,
the one pairs parser of the lab.

Image index rule (:data:`INDEX_RULE`): image ``i`` of identity ``NAME`` is ``NAME/NAME_iiii.<ext>`` (LFW's names,
four digits), or else the file of ``NAME/`` whose stem is the number ``i`` (``s1/1.pgm``, ``10001/182659.jpg``).
Anything else is an error naming the pairs file's line.

``--pairs auto`` (:func:`auto_pairs`): a person-disjoint split of the folder into ``k`` folds, seeded. Identities are
shuffled and dealt to the folds in turn (those with two or more images first, so that every fold can form matched
pairs); inside a fold, matched pairs are drawn one identity at a time in a shuffled round so that no one person
dominates, mismatched pairs as two different identities of the fold with one image each. Every fold gets the same
``n`` (the largest that every fold can fill, at most ``pairs_per_fold``), and the pairs are written in
``pairs.txt`` format (:func:`write_pairs`), so the same file can be given back with ``--pairs FILE``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit.data.images import IMAGE_EXTENSIONS
from labkit.data.lfw import Pair, ProtocolFormatError, read_pairs
from labkit.evaluate.features import cosine_pairs
from labkit.evaluate.verification import VerificationResult, kfold_verification

#: image files an identity folder may hold (PIL decodes them all; ``.pgm`` for sets like AT&T's ``s1/1.pgm``)
PAIR_IMAGE_EXTENSIONS = tuple(sorted(set(IMAGE_EXTENSIONS) | {".pgm", ".ppm", ".tif", ".tiff"}))
INDEX_RULE = ("image i of identity NAME is NAME/NAME_iiii.<ext> (LFW's names: four digits, e.g. NAME_0003.jpg), "
              "or else the file in NAME/ whose stem is the number i (e.g. s1/3.pgm)")


class PairsError(ValueError):
    """A pairs file that does not fit the folder (a missing identity or image, an index out of range) or a folder
    that cannot give the pairs asked for; the message says which and how to fix it."""


# ------------------------------------------------------------------------------------------------ the index rule


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PAIR_IMAGE_EXTENSIONS)


def identity_index(folder: str | Path) -> dict[int, Path]:
    """Image index -> file for one identity folder, by :data:`INDEX_RULE`.

    Files named ``<folder name>_<digits>.<ext>`` take their LFW index; the others count when their stem is a number.
    Raises :class:`PairsError` for two files with one index, and for a file that follows neither rule.
    """
    folder = Path(folder)
    lfw = re.compile(re.escape(folder.name) + r"_(\d+)$")
    out: dict[int, Path] = {}
    for path in _images(folder):
        m = lfw.match(path.stem)
        if m:
            i = int(m.group(1))
        elif path.stem.isdigit():
            i = int(path.stem)
        else:
            raise PairsError(f"{path} follows neither naming rule ({INDEX_RULE}); rename it or remove it")
        if i in out:
            raise PairsError(f"{out[i]} and {path} both are image {i} of {folder.name} ({INDEX_RULE})")
        out[i] = path
    return out


def _index_of(root: Path, name: str, cache: dict[str, dict[int, Path]], where: str) -> dict[int, Path]:
    if name not in cache:
        folder = root / name
        if not folder.is_dir():
            raise PairsError(f"{where}: identity {name!r} has no folder {folder}; the pairs file does not fit this "
                             f"ROOT (ROOT/<identity>/<image>)")
        cache[name] = identity_index(folder)
    return cache[name]


def resolve_pairs(pairs: Sequence[Pair], root: str | Path, source: str = "pairs") -> list[tuple[Path, Path]]:
    """The two image files of every pair under ``root`` by :data:`INDEX_RULE`. ``source`` names the pairs file in
    errors: pair ``k`` is its line ``k + 2``. Raises :class:`PairsError` for a missing identity or image."""
    root = Path(root)
    cache: dict[str, dict[int, Path]] = {}
    out = []
    for k, p in enumerate(pairs):
        where = f"{source}:{k + 2}"
        two = []
        for name, i in ((p.name1, p.index1), (p.name2, p.index2)):
            index = _index_of(root, name, cache, where)
            if i not in index:
                have = sorted(index)
                span = f"images {have[0]}..{have[-1]} ({len(have)} files)" if have else "no images"
                kind = "out of range" if not have or i > have[-1] else "missing"
                raise PairsError(f"{where}: image index {i} of {name} is {kind}: {root / name} has {span}; "
                                 f"{INDEX_RULE}")
            two.append(index[i])
        out.append((two[0], two[1]))
    return out


def read_folder_pairs(pairs_file: str | Path, root: str | Path) -> tuple[list[Pair], list[tuple[Path, Path]]]:
    """Parse ``pairs_file`` (LFW format, :func:`labkit.data.lfw.read_pairs`) and resolve its images under ``root``.

    Errors (``ProtocolFormatError``, :class:`PairsError`) name ``file:line``.
    """
    path = Path(pairs_file)
    if path.is_dir():
        raise PairsError(f"--pairs {path} is a folder; give a pairs file (LFW pairs.txt format) or 'auto'")
    if not path.is_file():
        raise PairsError(f"pairs file {path} not found; give a file in LFW pairs.txt format or --pairs auto")
    pairs = read_pairs(path)
    return pairs, resolve_pairs(pairs, root, str(path))


# ------------------------------------------------------------------------------------------------ --pairs auto


def _sample_distinct(rng: np.random.Generator, n: int, count: int, draw: Callable[[], tuple],
                     enumerate_all: Callable[[], list[tuple]]) -> list[tuple]:
    """``n`` distinct items out of ``count`` possible: enumerated and chosen when that is cheap, else drawn
    until ``n`` distinct ones came up (``n`` is at most a quarter of ``count`` there, so few draws repeat)."""
    if count <= 4 * n or count <= 20_000:
        every = enumerate_all()
        pick = rng.choice(len(every), size=n, replace=False)
        return [every[i] for i in pick]
    seen: dict[tuple, None] = {}
    while len(seen) < n:
        seen.setdefault(draw(), None)
    return list(seen)


def _matched(rng: np.random.Generator, people: list[tuple[str, list[int]]], n: int) -> list[Pair]:
    """``n`` matched pairs: a shuffled round over the people with 2+ images, one new pair of each per round."""
    pools = {}
    for name, idx in people:
        if len(idx) >= 2:
            combos = list(itertools.combinations(idx, 2))
            pools[name] = [combos[i] for i in rng.permutation(len(combos))]
    out: list[Pair] = []
    while len(out) < n:
        names = [nm for nm in pools if pools[nm]]
        for nm in (names[i] for i in rng.permutation(len(names))):
            if len(out) == n:
                break
            a, b = pools[nm].pop()
            out.append(Pair(nm, a, nm, b, True, 0))
    return out


def _mismatched(rng: np.random.Generator, people: list[tuple[str, list[int]]], n: int) -> list[Pair]:
    """``n`` distinct mismatched pairs: two different people of the fold, one image of each."""
    sizes = np.array([len(idx) for _, idx in people])
    count = int((sizes.sum() ** 2 - (sizes ** 2).sum()) // 2)

    def draw() -> tuple:
        a, b = sorted(rng.choice(len(people), size=2, replace=False).tolist())
        return a, int(rng.choice(people[a][1])), b, int(rng.choice(people[b][1]))

    def every() -> list[tuple]:
        return [(a, i, b, j) for a, b in itertools.combinations(range(len(people)), 2)
                for i in people[a][1] for j in people[b][1]]

    picked = _sample_distinct(rng, n, count, draw, every)
    return [Pair(people[a][0], i, people[b][0], j, False, 0) for a, i, b, j in picked]


@dataclass
class AutoPairs:
    """A person-disjoint pairs split made by :func:`auto_pairs`: the pairs (with folds), ``n`` pairs of each kind
    per fold, and which identities went to which fold."""

    pairs: list[Pair]
    n_folds: int
    per_fold: int
    seed: int
    fold_people: list[list[str]] = field(default_factory=list)

    def describe(self) -> str:
        people = sum(len(f) for f in self.fold_people)
        return (f"{len(self.pairs)} pairs made from {people} people: {self.n_folds} person-disjoint folds of "
                f"{self.per_fold} matched + {self.per_fold} mismatched pairs (seed {self.seed})")


def auto_pairs(root: str | Path, n_folds: int = 10, pairs_per_fold: int = 300, seed: int = 0) -> AutoPairs:
    """A seeded, person-disjoint ``n_folds``-fold pairs split of the identity folders under ``root`` (module
    docstring). The same folder and seed give the same pairs. Raises :class:`PairsError` when the folder cannot
    fill the folds (too few people, or too few with two images), or has an identity name with whitespace (the
    pairs format splits on it)."""
    root = Path(root)
    if n_folds < 2:
        raise PairsError(f"--folds {n_folds}: the protocol needs at least 2 folds (a threshold is chosen on the others)")
    people = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(ch.isspace() for ch in folder.name):
            raise PairsError(f"identity folder {folder.name!r} has whitespace in its name, which the pairs format "
                             "cannot hold; rename it (e.g. spaces to underscores)")
        idx = sorted(identity_index(folder))
        if idx:
            people.append((folder.name, idx))
    multi = [p for p in people if len(p[1]) >= 2]
    if len(multi) < n_folds or len(people) < 2 * n_folds:
        raise PairsError(f"{root} has {len(people)} identities ({len(multi)} with 2+ images); {n_folds} person-"
                         f"disjoint folds need at least {2 * n_folds} identities and {n_folds} with 2+ images: add "
                         "people or ask for fewer --folds")
    rng = np.random.default_rng(seed)
    single = [p for p in people if len(p[1]) < 2]
    folds: list[list[tuple[str, list[int]]]] = [[] for _ in range(n_folds)]
    for k, i in enumerate(rng.permutation(len(multi))):
        folds[k % n_folds].append(multi[i])
    for k, i in enumerate(rng.permutation(len(single))):
        folds[(len(multi) + k) % n_folds].append(single[i])
    can = []
    for fold in folds:
        sizes = np.array([len(idx) for _, idx in fold])
        n_match = int((sizes * (sizes - 1) // 2).sum())
        n_mis = int((sizes.sum() ** 2 - (sizes ** 2).sum()) // 2)
        can.append(min(n_match, n_mis))
    n = min(pairs_per_fold, *can)
    pairs: list[Pair] = []
    for f, fold in enumerate(folds):
        for p in _matched(rng, fold, n) + _mismatched(rng, fold, n):
            pairs.append(Pair(p.name1, p.index1, p.name2, p.index2, p.same, f))
    return AutoPairs(pairs, n_folds, n, seed, [sorted(nm for nm, _ in fold) for fold in folds])


def pairs_text(pairs: Sequence[Pair]) -> str:
    """``pairs`` in LFW ``pairs.txt`` format: header ``k n``, then per fold its ``n`` matched then ``n`` mismatched
    lines. The pairs must hold the same ``n`` of each kind in every fold (as :func:`auto_pairs` makes them)."""
    folds = sorted({p.fold for p in pairs})
    blocks, per = [], None
    for f in folds:
        same = [p for p in pairs if p.fold == f and p.same]
        diff = [p for p in pairs if p.fold == f and not p.same]
        if per is None:
            per = len(same)
        if len(same) != per or len(diff) != per:
            raise ValueError(f"fold {f} has {len(same)} matched and {len(diff)} mismatched pairs; the pairs.txt "
                             f"format needs {per} of each in every fold")
        blocks += [f"{p.name1}\t{p.index1}\t{p.index2}" for p in same]
        blocks += [f"{p.name1}\t{p.index1}\t{p.name2}\t{p.index2}" for p in diff]
    return "\n".join([f"{len(folds)}\t{per}", *blocks]) + "\n"


def write_pairs(pairs: Sequence[Pair], path: str | Path) -> Path:
    """Write ``pairs`` to ``path`` in pairs.txt format (:func:`pairs_text`), creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pairs_text(pairs))
    return path


def check_person_disjoint(pairs: Sequence[Pair]) -> dict[str, int]:
    """Person -> fold, checking that no person appears in two folds (raises ``ValueError`` naming one that does)."""
    where: dict[str, int] = {}
    for p in pairs:
        for name in (p.name1, p.name2):
            if where.setdefault(name, p.fold) != p.fold:
                raise ValueError(f"{name} appears in folds {where[name]} and {p.fold}: the folds share a person")
    return where


# ------------------------------------------------------------------------------------------------ evaluation


def unique_paths(paths: Sequence[tuple[Path, Path]], root: str | Path) -> list[Path]:
    """The distinct images of the pairs, sorted by their path relative to ``root`` (the order
    :func:`labkit.evaluate.lfw.unique_images` gives LFW, so both embed the same batches)."""
    root = Path(root)
    return sorted({q for ab in paths for q in ab}, key=lambda q: q.relative_to(root).as_posix())


def evaluate_pairs(features: dict[Path, np.ndarray], pairs: Sequence[Pair], paths: Sequence[tuple[Path, Path]],
                   protocol: str = "pairs", options: dict[str, Any] | None = None) -> VerificationResult:
    """k-fold verification of ``pairs`` from per-image ``features`` (keyed by the paths of ``paths``): cosine scores
    (:func:`labkit.evaluate.features.cosine_pairs`), folds and labels from the pairs, the threshold rule of
    :func:`labkit.evaluate.verification.kfold_verification`."""
    a = np.stack([features[x] for x, _ in paths])
    b = np.stack([features[y] for _, y in paths])
    scores = cosine_pairs(a, b)
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    opts = {"score": "cosine", "pairs": f"{len(pairs)} pairs, {len(set(folds.tolist()))} folds",
            "index_rule": INDEX_RULE, **(options or {})}
    return kfold_verification(scores, labels, folds, protocol=protocol, options=opts)


__all__ = ["AutoPairs", "INDEX_RULE", "PAIR_IMAGE_EXTENSIONS", "PairsError", "ProtocolFormatError", "auto_pairs",
           "check_person_disjoint", "evaluate_pairs", "identity_index", "pairs_text", "read_folder_pairs",
           "resolve_pairs", "unique_paths", "write_pairs"]
