"""Every notebook, opened in JupyterLab in a real Chromium, runs all its cells in fast mode with no error output
and no browser console error; the margin sliders of notebooks 01 and 03 move their figure, and their readout shows the numbers of the new
margin (computed here from the same functions). No test checks how fast: benchmarks/slider_latency.py measures it.
Screenshots land in artifacts/browser/ for a person to look at."""

from __future__ import annotations

import pytest

from labkit.notebooks import notebook_paths
from tests.browser import expected, lab_page

NOTEBOOKS = [p.name for p in notebook_paths()]
SLIDER_NOTEBOOKS = [n for n in NOTEBOOKS if n.startswith(("01_", "03_"))]
# where each notebook's first margin slider starts in fast mode, and what its readout must show after it moved
START_M = {n: (0.35 if n.startswith("01_") else 0.20) for n in SLIDER_NOTEBOOKS}
CHECK_READOUT = {n: (expected.check_decision_readout if n.startswith("01_") else expected.check_toy_readout)
                 for n in SLIDER_NOTEBOOKS}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_clean_in_the_browser(browser, lab, artifacts, name):
    url, token, _ = lab
    page, console = lab_page.open_notebook(browser, url, token, name)
    try:
        try:
            took = lab_page.run_all(page)
        except Exception:
            page.screenshot(path=str(artifacts / f"{name[:-6]}-TIMEOUT.png"))
            raise AssertionError(f"{name} did not finish running in the browser within {lab_page.RUN_ALL_WAIT_S:.0f} s: "
                                 f"{lab_page.state(page)}") from None
        page.screenshot(path=str(artifacts / f"{name[:-6]}.png"), full_page=False)
        assert lab_page.error_outputs(page) == []
        assert lab_page.real_console_errors(console) == []
        print(f"{name}: all cells ran in {took:.1f} s in the browser")
    finally:
        page.close()
        lab_page.shutdown_kernels(url, token)


@pytest.mark.parametrize("name", SLIDER_NOTEBOOKS)
def test_margin_slider_moves_figure_and_readout(browser, lab, artifacts, name):
    url, token, _ = lab
    page, console = lab_page.open_notebook(browser, url, token, name)
    try:
        lab_page.run_all(page)
        slider = page.locator(".labkit-m-slider").first
        slider.scroll_into_view_if_needed()
        figure_before = lab_page.figure_signature(page)
        assert figure_before, "no plotly figure found inside the .labkit-figure output"
        page.screenshot(path=str(artifacts / f"{name[:-6]}-slider-before.png"))
        readout_before, readout_after, value = lab_page.move_slider(page)
        assert float(value) == pytest.approx(START_M[name] + 0.10), f"the slider shows {value} after two steps"
        lab_page.wait_for_readout(page, CHECK_READOUT[name], float(value))
        figure_after, waited = lab_page.wait_for_change(page, lambda: lab_page.figure_signature(page), figure_before)
        assert figure_after != figure_before, (
            f"the figure did not change within {waited:.0f} s of the margin slider moving")
        page.screenshot(path=str(artifacts / f"{name[:-6]}-slider-after.png"))
        assert lab_page.real_console_errors(console) == []
    finally:
        page.close()
        lab_page.shutdown_kernels(url, token)
