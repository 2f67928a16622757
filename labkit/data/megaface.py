"""MegaFace Challenge 1: the devkit's FaceScrub probe list and distractor lists, and the noise lists.

The devkit (``devkit/templatelists/``) gives JSON template lists:

- ``facescrub_features_list.json``: ``{"path": [...], "id": [...]}``, probe image paths relative to the FaceScrub
  image folder and their identity names (same length);
- ``megaface_features_list.json_<N>_<set>`` (N in 10 .. 1,000,000, set 1..3): ``{"path": [...]}``, distractor
  paths relative to the MegaFace image folder.

Noise lists (``facescrub_noises.txt``, ``megaface_noises.txt``, as published with the cleaned evaluation) are text:
one image per line (first whitespace field; ``#`` comments and blank lines ignored). They are **not** applied unless
asked: pass ``noise=...`` and the result's ``noise_removed`` says which file was applied and how many entries went.
Report ``describe()`` next to any MegaFace number so "cleaned" or "original" is never ambiguous.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from labkit.data.lfw import ProtocolFormatError


@dataclass
class TemplateList:
    """A probe or distractor list. ``ids`` is empty for distractors. ``noise_removed``: ``(noise file, count)``."""

    source: Path
    paths: list[str]
    ids: list[str] = field(default_factory=list)
    noise_removed: tuple[str, int] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def identities(self) -> Counter:
        """Images per identity (probe lists)."""
        return Counter(self.ids)

    def describe(self) -> str:
        """One line saying what list this is and whether a noise list was applied."""
        what = f"{len(self.paths)} images" + (f" of {len(set(self.ids))} identities" if self.ids else "")
        noise = (
            f"noise list {self.noise_removed[0]} applied ({self.noise_removed[1]} removed)"
            if self.noise_removed
            else "no noise list applied (original devkit list)"
        )
        return f"{self.source.name}: {what}; {noise}"


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"MegaFace template list {path} not found; see `python -m labkit data get megaface`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProtocolFormatError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); expected the devkit's list") from exc
    if not isinstance(data, dict) or not isinstance(data.get("path"), list):
        raise ProtocolFormatError(f"{path}: expected a JSON object with a 'path' list (devkit template list format)")
    if not all(isinstance(p, str) for p in data["path"]):
        raise ProtocolFormatError(f"{path}: every entry of 'path' must be a string")
    return data


def read_noise_list(path: str | Path) -> set[str]:
    """Image names of a noise list (first field of each non-comment line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"noise list {path} not found")
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.add(line.split()[0])
    return out


def _noisy(path: str, noise: set[str]) -> bool:
    return path in noise or Path(path).name in noise


def _apply_noise(paths: list[str], ids: list[str], noise_file: str | Path | None) -> tuple[list[str], list[str], tuple[str, int] | None]:
    if noise_file is None:
        return paths, ids, None
    noise = read_noise_list(noise_file)
    keep = [i for i, p in enumerate(paths) if not _noisy(p, noise)]
    removed = len(paths) - len(keep)
    return [paths[i] for i in keep], [ids[i] for i in keep] if ids else [], (Path(noise_file).name, removed)


def read_probe_list(path: str | Path, noise: str | Path | None = None) -> TemplateList:
    """FaceScrub probes (``facescrub_features_list.json``). ``noise``: a noise list to apply (explicit opt-in)."""
    path = Path(path)
    data = _load_json(path)
    ids = data.get("id")
    if not isinstance(ids, list) or len(ids) != len(data["path"]):
        raise ProtocolFormatError(f"{path}: a probe list needs an 'id' list as long as 'path' ({len(data['path'])})")
    paths, ids, removed = _apply_noise(list(data["path"]), [str(i) for i in ids], noise)
    return TemplateList(path, paths, ids, removed)


def read_distractor_list(path: str | Path, noise: str | Path | None = None) -> TemplateList:
    """MegaFace distractors (``megaface_features_list.json_<N>_<set>``); ``noise`` as for :func:`read_probe_list`."""
    path = Path(path)
    data = _load_json(path)
    paths, _, removed = _apply_noise(list(data["path"]), [], noise)
    return TemplateList(path, paths, [], removed)


def distractor_list_path(templatelists: str | Path, size: int, set_number: int = 1) -> Path:
    """``<templatelists>/megaface_features_list.json_<size>_<set>`` (the devkit naming)."""
    return Path(templatelists) / f"megaface_features_list.json_{size}_{set_number}"
