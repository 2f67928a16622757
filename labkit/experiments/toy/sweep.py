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

M_GRID = (0.0, 0.1, 0.2)  # the Fig. 4 grid of the shipped sweep
S_GRID = (16.0,)
SEEDS = (0, 1, 2, 3, 4)
FIG4_MARGINS = (0.0, 0.1, 0.2, 0.35, 0.45)
MANIFEST = "MANIFEST.json"


class ManifestError(ValueError):
    """A shipped file is missing, extra, or does not match the sha256 recorded in the MANIFEST."""


def shipped_sweep_dir() -> Path:
    return config.shipped_dir() / "toy_sweep"


def grid(ms: Iterable[float] = M_GRID, ss: Iterable[float] = S_GRID, seed: int | Iterable[int] = SEEDS,
         epochs: int = ToyConfig.epochs) -> list[ToyConfig]:
    """Softmax plus LMCL at every (m, s), for each seed."""
    seeds = [seed] if isinstance(seed, int) else list(seed)
    cfgs = []
    for sd in seeds:
        cfgs.append(ToyConfig(head="softmax", seed=sd, epochs=epochs))
        cfgs += [ToyConfig(head="cosface", m=float(m), s=float(s), seed=sd, epochs=epochs) for s in ss for m in ms]
    return cfgs


def run_sweep(out: str | Path, data, configs: list[ToyConfig], progress: bool = True, skip_existing: bool = True,
              threads: int = 2) -> list[Path]:
    out = Path(out)
    written = []
    for cfg in configs:
        if skip_existing and (out / f"{cfg.name}.npz").exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Eq. 7 warnings are recorded in the run's metadata instead
            res = train_toy(cfg, data, threads=threads)
        npz, js = res.save(out, float16=True)
        written += [npz, js]
        if progress:
            print(f"{cfg.name:<28} {res.meta['seconds']:6.1f}s  train {res.train_acc:.3f}  held-out {res.test_acc:.3f}", flush=True)
    return written


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(folder: str | Path, command: str, seeds: int | Iterable[int]) -> Path:
    """Write ``MANIFEST.json``: the commands that produced the folder (appended to an existing manifest's, since a
    sweep can be grown by a second command with ``skip_existing``), the seeds, library versions, sha256 per file."""
    import torch

    folder = Path(folder)
    path = folder / MANIFEST
    commands = json.loads(path.read_text()).get("commands", []) if path.exists() else []
    commands = [c for c in commands if c != command] + [command]
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {
        "what": "8-identity 2-D toy sweep (CosFace Fig. 4): softmax + LMCL over m x s x seeds",
        "command": " && ".join(commands), "commands": commands,
        "seeds": sorted({int(json.loads((folder / n).read_text())["config"]["seed"]) for n in files if n.endswith(".json")}),
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "files": {name: _sha256(folder / name) for name in files},
    }
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
    """A loaded sweep: runs by key ``("softmax", None, None, seed)`` or ``("cosface", m, s, seed)``."""

    runs: dict[tuple, ToyResult] = field(default_factory=dict)

    @staticmethod
    def key(cfg: ToyConfig) -> tuple:
        if cfg.head == "softmax":
            return ("softmax", None, None, cfg.seed)
        return (cfg.head, round(cfg.m, 4), float(cfg.s), cfg.seed)

    def add(self, res: ToyResult) -> None:
        self.runs[self.key(res.config)] = res

    @property
    def ms(self) -> list[float]:
        return sorted({k[1] for k in self.runs if k[0] != "softmax"})

    @property
    def ss(self) -> list[float]:
        return sorted({k[2] for k in self.runs if k[0] != "softmax"})

    @property
    def seeds(self) -> list[int]:
        return sorted({k[3] for k in self.runs})

    def _seed(self, seed: int | None) -> int:
        return self.seeds[0] if seed is None else seed

    def softmax(self, seed: int | None = None) -> ToyResult | None:
        return self.runs.get(("softmax", None, None, self._seed(seed))) if self.runs else None

    def ms_at(self, s: float) -> list[float]:
        """The margins trained at scale ``s`` (exactly; plots draw only these points)."""
        return sorted({k[1] for k in self.runs if k[0] != "softmax" and k[2] == float(s)})

    def get(self, m: float, s: float, seed: int | None = None) -> ToyResult:
        """The run of ``seed`` (default: the first) at the scale nearest ``s`` and, among that scale's margins,
        the margin nearest ``m``."""
        cands = [k for k in self.runs if k[0] != "softmax" and k[3] == self._seed(seed)]
        if not cands:
            raise KeyError(f"the sweep has no margin runs for seed {self._seed(seed)}")
        s_near = min({k[2] for k in cands}, key=lambda v: abs(v - s))
        k = min((k for k in cands if k[2] == s_near), key=lambda k: abs(k[1] - m))
        return self.runs[k]

    def over_seeds(self, m: float | None, s: float | None = None) -> dict[str, tuple[float, float, int]]:
        """Every metric of the setting (softmax when ``m`` is None) as (mean, standard error, seeds) over seeds."""
        if m is None:
            group = [r for k, r in self.runs.items() if k[0] == "softmax"]
        else:
            group = [r for k, r in self.runs.items() if k[0] != "softmax" and k[1] == round(m, 4) and k[2] == s]
        if not group:
            raise KeyError(f"no runs for m={m}, s={s}")
        metrics = [g.metrics() for g in group]
        out = {}
        for name in metrics[0]:
            v = np.array([mt[name] for mt in metrics], dtype=float)
            se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
            out[name] = (float(v.mean()), se, len(v))
        return out

    def table(self) -> list[dict]:
        rows = []
        for k in sorted(self.runs, key=lambda k: (k[0] != "softmax", k[2] or 0, k[1] or 0, k[3])):
            r = self.runs[k]
            name = "softmax" if k[0] == "softmax" else f"LMCL m={k[1]:.2f} s={k[2]:g}"
            rows.append({"setting": name, "seed": k[3], **r.metrics()})
        return rows


def load_sweep(folder: str | Path | None = None, check: bool = True) -> Sweep:
    folder = Path(folder) if folder else shipped_sweep_dir()
    if check and (folder / MANIFEST).exists():
        verify(folder)
    sw = Sweep()
    for npz in sorted(folder.glob("*.npz")):
        sw.add(ToyResult.load(npz))
    return sw


def fig4_lesson(sweep: Sweep, s: float = 16.0, ms: tuple[float, ...] = (0.0, 0.1, 0.2)) -> dict:
    """The lesson of Fig. 4 checked on a multi-seed sweep (notebook 03, "The numbers"), on the TRAINING features as
    the paper plots them. Per seed: does the smallest neighbour gap grow and the within-class spread shrink from the
    first margin to the last (``ends``), and at every step of ``ms`` (``chain``)? Returns ``{"per_seed": [...],
    "ends_in_every_seed", "chain_in_every_seed", "chain_seeds", "rows"}``; ``rows`` holds softmax and each m with
    (mean, s.e., n) over seeds of the main metrics."""
    per_seed = []
    for seed in sweep.seeds:
        try:
            runs = [sweep.runs[("cosface", round(m, 4), float(s), seed)].metrics() for m in ms]
        except KeyError:
            continue
        gaps = [r["train_min_gap_deg"] for r in runs]
        spreads = [r["train_spread_deg"] for r in runs]
        chain = all(a < b for a, b in zip(gaps, gaps[1:])) and all(a > b for a, b in zip(spreads, spreads[1:]))
        ends = gaps[-1] > gaps[0] and spreads[-1] < spreads[0]
        per_seed.append({"seed": seed, "gaps_deg": gaps, "spreads_deg": spreads, "chain": chain, "ends": ends})
    keys = ("train_min_gap_deg", "train_spread_deg", "train_acc", "test_acc", "test_min_gap_deg", "test_spread_deg",
            "train_cos_rule_acc", "test_cos_rule_acc", "weight_margin")
    rows = []
    for m in (None, *ms):
        stats = sweep.over_seeds(m, None if m is None else float(s))
        rows.append({"setting": "softmax" if m is None else f"LMCL m={m:g}",
                     **{k: stats[k] for k in keys if k in stats}})
    return {"per_seed": per_seed, "rows": rows,
            "ends_in_every_seed": bool(per_seed) and all(p["ends"] for p in per_seed),
            "chain_in_every_seed": bool(per_seed) and all(p["chain"] for p in per_seed),
            "chain_seeds": [p["seed"] for p in per_seed if p["chain"]]}


def achieved_margins(sweep: Sweep, s: float = 16.0) -> list[dict]:
    """For every margin m of the sweep at scale ``s``: the margin the run actually achieved, mean ± s.e. over seeds
    (notebook 03, "Past the bound"). ``weight_margin`` = 1 - max cos between learned class weights;
    ``feature_margin`` = the 5th percentile over training features of cos(theta_y) - max_{j != y} cos(theta_j).
    Both should follow the asked-for m up to the Eq. 7 bound 1 - cos(2 pi / 8) and stop there."""
    out = []
    for m in sweep.ms_at(s):
        stats = sweep.over_seeds(m, float(s))
        out.append({"m": m, "weight_margin": stats["weight_margin"],
                    "feature_margin": stats["train_feature_margin_p5"], "train_acc": stats["train_acc"]})
    return out
