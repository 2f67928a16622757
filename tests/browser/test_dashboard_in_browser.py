"""`make demo`'s Voila dashboard in a real Chromium: it renders without code cells, and the margin sliders of its
Fig. 2 tab and its 8-identity tab move their readouts and figures."""

from __future__ import annotations

import shutil

import pytest

from labkit.notebooks import NOTEBOOK_DIR
from tests.browser import harness, lab_page

DASHBOARD = "08_instructor_dashboard.ipynb"


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("voila")
    shutil.copy2(NOTEBOOK_DIR / DASHBOARD, workdir / DASHBOARD)
    with harness.jupyter_server("voila", workdir, extra=[DASHBOARD]) as (url, token):
        yield url, token


def _move_visible_slider(page, artifacts, tag: str) -> float:
    page.locator(".labkit-m-slider:visible").first.scroll_into_view_if_needed()
    fig_before = lab_page.figure_signature(page)
    assert fig_before, f"{tag}: no visible plotly figure"
    page.screenshot(path=str(artifacts / f"dashboard-{tag}-before.png"))
    before, after, took = lab_page.slider_latency(page)
    assert after != before, f"{tag}: the readout did not change"
    assert took <= 1.0, f"{tag}: the readout took {took:.2f} s to follow the slider (limit 1 s)"
    fig_after, _ = lab_page.wait_for_change(page, lambda: lab_page.figure_signature(page), fig_before, timeout_s=2.0)
    assert fig_after != fig_before, f"{tag}: the figure did not change"
    page.screenshot(path=str(artifacts / f"dashboard-{tag}-after.png"))
    return took


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
        took = _move_visible_slider(page, artifacts, "fig2")
        page.get_by_role("tab", name="8 identities (Fig. 4)").click()
        page.wait_for_selector(".labkit-m-slider:visible >> nth=0", timeout=10_000)
        took_toy = _move_visible_slider(page, artifacts, "fig4")
        assert lab_page.real_console_errors(console) == []
        print(f"dashboard readouts followed the sliders in {took:.2f} s (Fig. 2) and {took_toy:.2f} s (Fig. 4)")
    finally:
        page.close()
