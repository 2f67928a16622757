"""Shared test fixtures.

Real-face tests ask for a data set with ``data_dir("lfw")``. With the data missing they skip, printing why; with
``LABKIT_REQUIRE_DATA=1`` (set by ``.ci/run``) they fail instead, so CI never silently skips a data test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from labkit import config  # noqa: E402


def _locate(name: str) -> Path:
    path = config.data_root() / name
    if path.exists():
        return path
    msg = (
        f"data set {name!r} not found at {path} (data root {config.data_root()}); "
        "set LABKIT_DATA to a folder holding it (CI uses ../shared/data) or run `python -m labkit data get`"
    )
    if config.require_data():
        pytest.fail("LABKIT_REQUIRE_DATA=1 and " + msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def data_dir():
    """Return a function mapping a data-set folder name (e.g. ``"lfw"``) to its path, or skip/fail."""
    return _locate


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield
