"""Fixtures for the real-browser tests: a JupyterLab server and a headless Chromium, both started here and
stopped here. Marked ``browser`` (``make test-browser`` runs them alone; ``make test`` runs them too)."""

from __future__ import annotations

import os

import pytest

from labkit.notebooks import NOTEBOOK_DIR
from tests.browser import harness


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path():
    if not harness.CHROMIUM.exists():
        msg = (f"{harness.CHROMIUM} not found: install Debian's chromium (make test does it: "
               "apt-get install chromium chromium-driver)")
        if os.environ.get("LABKIT_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail("LABKIT_REQUIRE_BROWSER=1 and " + msg, pytrace=False)
        pytest.skip(msg)
    return harness.CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium_path), args=harness.CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab on a temporary copy of the notebooks; yields (base_url, token, workdir)."""
    workdir = harness.copy_notebooks(NOTEBOOK_DIR, tmp_path_factory.mktemp("lab"))
    with harness.jupyter_server("lab", workdir) as (url, token):
        yield url, token, workdir


@pytest.fixture
def artifacts():
    harness.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return harness.ARTIFACTS
