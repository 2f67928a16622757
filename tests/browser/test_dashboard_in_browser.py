"""`make demo`'s Voila dashboard in a real Chromium: it renders without code cells, and the margin sliders of its
Fig. 2 tab and its 8-identity tab move their figures, and their readouts show the new margin's numbers (no speed
check: benchmarks/slider_latency.py measures the latency)."""

from __future__ import annotations

import shutil

import pytest

from labkit.notebooks import NOTEBOOK_DIR
from tests.browser import expected, harness, lab_page

DASHBOARD = "08_instructor_dashboard.ipynb"


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("voila")
    shutil.copy2(NOTEBOOK_DIR / DASHBOARD, workdir / DASHBOARD)
    with harness.jupyter_server("voila", workdir, extra=[DASHBOARD]) as (url, token):
        yield url, token


def _move_visible_slider(page, artifacts, tag: str, check) -> None:
    page.locator(".labkit-m-slider:visible").first.scroll_into_view_if_needed()
    fig_before = lab_page.figure_signature(page)
    assert fig_before, f"{tag}: no visible plotly figure"
    page.screenshot(path=str(artifacts / f"dashboard-{tag}-before.png"))
    _, after, value = lab_page.move_slider(page)
    lab_page.wait_for_readout(page, check, float(value))
    fig_after, waited = lab_page.wait_for_change(page, lambda: lab_page.figure_signature(page), fig_before)
    assert fig_after != fig_before, f"{tag}: the figure did not change within {waited:.0f} s of the slider moving"
    page.screenshot(path=str(artifacts / f"dashboard-{tag}-after.png"))


def test_dashboard_boots_without_code_and_sliders_move(browser, voila, artifacts):
    url, token = voila
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))
    try:
        # Voila streams the page while it runs the notebook; wait for the widgets, not for the load event.
        page.goto(f"{url}/?token={token}", wait_until="commit", timeout=60_000)
        try:
            page.wait_for_selector(".labkit-m-slider:visible .noUi-handle", timeout=180_000)
        except Exception:
            page.screenshot(path=str(artifacts / "dashboard-TIMEOUT.png"))
            raise
        assert page.locator(".cm-editor, .CodeMirror").count() == 0, "Voila is showing code cells"
        _move_visible_slider(page, artifacts, "fig2", expected.check_decision_readout)
        page.get_by_role("tab", name="8 identities (Fig. 4)").click()
        page.wait_for_selector(".labkit-m-slider:visible >> nth=0", timeout=lab_page.READOUT_WAIT_S * 1000)
        _move_visible_slider(page, artifacts, "fig4", expected.check_toy_readout)
        assert lab_page.real_console_errors(console) == []
    finally:
        page.close()
