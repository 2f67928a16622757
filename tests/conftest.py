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


@pytest.fixture(scope="session")
def reference_model_dir() -> Path:
    """The installed reference model (labkit.reference), found through the data-root layout (``models/mobilefacenet``
    in the data root, or ``../models/mobilefacenet`` beside it as in CI's ../shared); skip or fail like ``data_dir``."""
    from labkit.data import layout

    found = layout.find("mobilefacenet")
    if found is not None:
        return found.resolve()
    msg = (f"the reference model is not installed under the data root {config.data_root()}; run `python -m labkit "
           "data get mobilefacenet [--from ../shared/models/mobilefacenet]` or set LABKIT_DATA (CI: ../shared/data)")
    if config.require_data():
        pytest.fail("LABKIT_REQUIRE_DATA=1 and " + msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def pytest_sessionfinish(session, exitstatus):
    """Hermetic runs (``make test`` sets LABKIT_HOME_MUST_STAY_EMPTY=1 and points HOME at an empty folder): fail the
    session if any test, notebook, kernel or browser wrote under HOME. A cache or runtime folder that lands there
    would survive between CI runs on a real home and let a test pass on stale state."""
    if os.environ.get("LABKIT_HOME_MUST_STAY_EMPTY", "") in ("", "0"):
        return
    home = Path(os.environ["HOME"])
    written = _files_under(home) if home.is_dir() else []
    if written:
        shown = ", ".join(written[:10]) + (f" and {len(written) - 10} more" if len(written) > 10 else "")
        session.config.get_terminal_writer().line(
            f"HERMETIC CHECK FAILED: the test run wrote under HOME={home}: {shown}. Point that tool's cache or "
            "runtime folder into build/hermetic (see TEST_ENV in the Makefile).", red=True)
        session.exitstatus = 1
