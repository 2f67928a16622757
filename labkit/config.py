"""Run configuration shared by notebooks, commands and tests: mode, device, seed and where data lives.

Every notebook has a cell tagged ``parameters`` holding literals only (``MODE = "fast"``, ``DEVICE = "auto"``,
``SEED = 0``, ...). The next cell calls :func:`resolve` so that a notebook never interprets its own parameters.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODES = ("fast", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent


class DataMissingError(FileNotFoundError):
    """A data set the caller asked for is not in the data root. The message says how to get it."""


@dataclass(frozen=True)
class RunConfig:
    """Resolved notebook/command parameters."""

    mode: str
    device: str
    seed: int

    @property
    def fast(self) -> bool:
        return self.mode == "fast"


def resolve(mode: str = "fast", device: str = "auto", seed: int = 0) -> RunConfig:
    """Check and resolve the standard parameters, seed every generator, and return a :class:`RunConfig`.

    ``device="auto"`` picks CUDA when present, else the CPU.
    """
    if mode not in MODES:
        raise ValueError(f"MODE must be one of {MODES}, got {mode!r}: use 'fast' on a CPU, 'full' for the paper's scale")
    dev = pick_device(device)
    seed_everything(int(seed))
    return RunConfig(mode=mode, device=dev, seed=int(seed))


def pick_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; anything else is checked and returned."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"DEVICE={device!r} but no CUDA GPU is visible; use DEVICE='cpu' or 'auto'")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so runs repeat."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def data_root() -> Path:
    """The data root: ``$LABKIT_DATA`` if set, else ``data/`` in the checkout.

    The root may be read-only; nothing in labkit writes into it except ``python -m labkit data get``.
    """
    env = os.environ.get("LABKIT_DATA")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def cache_dir() -> Path:
    """A writable folder for caches (``$LABKIT_CACHE``, else ``~/.cache/labkit``), never inside the data root."""
    env = os.environ.get("LABKIT_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "labkit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_data() -> bool:
    """True when ``LABKIT_REQUIRE_DATA=1``: a missing data set must fail, not skip (CI sets it)."""
    return os.environ.get("LABKIT_REQUIRE_DATA", "") not in ("", "0", "false", "no")


def shipped_dir() -> Path:
    """Small results shipped with the lab (tracked in git under ``data/shipped``, with a manifest)."""
    return REPO_ROOT / "data" / "shipped"
