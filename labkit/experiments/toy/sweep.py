"""The sweep over (m, s) plus softmax, its shipped copy in ``data/shipped/toy_sweep`` and the MANIFEST.

``run_sweep(out, data)`` trains every setting of the grid and writes ``<name>.npz/.json`` per run, then
``write_manifest(out, command, seed)`` records the command, seed, library versions and the sha256 of every file;
``verify(folder)`` recomputes the hashes and raises :class:`ManifestError` on any mismatch.
``load_sweep(folder)`` reads a sweep into a :class:`Sweep` (used by the notebook explorer).
"""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labkit import config
from labkit.experiments.toy.train import ToyConfig, ToyResult, train_toy

M_GRID = tuple(round(0.05 * i, 2) for i in range(10))  # 0, 0.05, ..., 0.45
S_GRID = (8.0, 16.0, 32.0)
FIG4_MARGINS = (0.0, 0.1, 0.2, 0.35, 0.45)
MANIFEST = "MANIFEST.json"


class ManifestError(ValueError):
    """A shipped file is missing, extra, or does not match the sha256 recorded in the MANIFEST."""


def shipped_sweep_dir() -> Path:
    return config.shipped_dir() / "toy_sweep"


def grid(ms: Iterable[float] = M_GRID, ss: Iterable[float] = S_GRID, seed: int = 0, epochs: int = 30) -> list[ToyConfig]:
    """Softmax plus LMCL at every (m, s)."""
    cfgs = [ToyConfig(head="softmax", seed=seed, epochs=epochs)]
    cfgs += [ToyConfig(head="cosface", m=float(m), s=float(s), seed=seed, epochs=epochs) for s in ss for m in ms]
    return cfgs


def run_sweep(out: str | Path, data, configs: list[ToyConfig], progress: bool = True, skip_existing: bool = True) -> list[Path]:
    out = Path(out)
    written = []
    for cfg in configs:
        if skip_existing and (out / f"{cfg.name}.npz").exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Eq. 7 warnings are recorded in the run's metadata instead
            res = train_toy(cfg, data)
        npz, js = res.save(out, float16=True)
        written += [npz, js]
        if progress:
            print(f"{cfg.name:<28} {res.meta['seconds']:6.1f}s  train {res.train_acc:.3f}  held-out {res.test_acc:.3f}", flush=True)
    return written


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(folder: str | Path, command: str, seed: int) -> Path:
    import torch

    folder = Path(folder)
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {
        "what": "8-identity 2-D toy sweep (CosFace Fig. 4): softmax + LMCL over m x s",
        "command": command, "seed": seed,
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "files": {name: _sha256(folder / name) for name in files},
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def verify(folder: str | Path | None = None) -> dict:
    """Check every file listed in the MANIFEST against its sha256 (and that no unlisted file is present).
    Returns the manifest; raises :class:`ManifestError` naming each problem."""
    folder = Path(folder) if folder else shipped_sweep_dir()
    path = folder / MANIFEST
    if not path.exists():
        raise ManifestError(f"no {MANIFEST} in {folder}")
    manifest = json.loads(path.read_text())
    problems = []
    for name, digest in manifest["files"].items():
        f = folder / name
        if not f.exists():
            problems.append(f"missing {name}")
        elif _sha256(f) != digest:
            problems.append(f"sha256 mismatch for {name} (file changed since the manifest was written)")
    extra = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST and p.name not in manifest["files"])
    problems += [f"unlisted file {name}" for name in extra]
    if problems:
        raise ManifestError(f"{folder}: " + "; ".join(problems))
    return manifest


@dataclass
class Sweep:
    """A loaded sweep: runs by key ``("softmax", None, None)`` or ``("cosface", m, s)``."""

    runs: dict[tuple, ToyResult] = field(default_factory=dict)

    @staticmethod
    def key(cfg: ToyConfig) -> tuple:
        return ("softmax", None, None) if cfg.head == "softmax" else (cfg.head, round(cfg.m, 4), float(cfg.s))

    def add(self, res: ToyResult) -> None:
        self.runs[self.key(res.config)] = res

    @property
    def ms(self) -> list[float]:
        return sorted({k[1] for k in self.runs if k[0] != "softmax"})

    @property
    def ss(self) -> list[float]:
        return sorted({k[2] for k in self.runs if k[0] != "softmax"})

    def softmax(self) -> ToyResult | None:
        return self.runs.get(("softmax", None, None))

    def get(self, m: float, s: float) -> ToyResult:
        """The run nearest to (m, s) in the grid."""
        cands = [k for k in self.runs if k[0] != "softmax"]
        if not cands:
            raise KeyError("the sweep has no margin runs")
        k = min(cands, key=lambda k: (abs(k[2] - s) / max(s, 1e-9), abs(k[1] - m)))
        return self.runs[k]

    def table(self) -> list[dict]:
        rows = []
        for k in sorted(self.runs, key=lambda k: (k[0] != "softmax", k[2] or 0, k[1] or 0)):
            r = self.runs[k]
            rows.append({"setting": "softmax" if k[0] == "softmax" else f"LMCL m={k[1]:.2f} s={k[2]:g}", **r.metrics()})
        return rows


def load_sweep(folder: str | Path | None = None, check: bool = True) -> Sweep:
    folder = Path(folder) if folder else shipped_sweep_dir()
    if check and (folder / MANIFEST).exists():
        verify(folder)
    sw = Sweep()
    for npz in sorted(folder.glob("*.npz")):
        sw.add(ToyResult.load(npz))
    return sw
