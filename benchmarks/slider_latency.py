"""Slider-to-readout latency in a real browser: notebooks 01 and 03 in JupyterLab and the instructor's dashboard in
Voila (the figures that used to sit in the browser tests as "readout <= 1 s" assertions).

Each target is opened in Debian's Chromium (Playwright, the browser tests' harness), run, and its first visible
margin slider is moved 20 times (right, left, right, ...). Each move is timed inside the page: from the keydown to
the moment the readout's text changed (a MutationObserver stamps it). The baseline, measured in the same run and
the same browser, is a bare ipywidgets slider whose observer writes its value into an HTML widget: the cost of the
kernel round trip itself. Printed per target: median and worst of the 20 moves, and the ratio of the medians
against the baseline's.

    python benchmarks/slider_latency.py [--moves 20]

Needs /usr/bin/chromium (`make browser-deps`). Servers listen on 127.0.0.1 only and are stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from labkit.notebooks import NOTEBOOK_DIR  # noqa: E402
from tests.browser import harness, lab_page  # noqa: E402

BASELINE = "baseline_slider.ipynb"
BASELINE_CODE = """import ipywidgets as W
slider = W.FloatSlider(value=0.2, min=0.0, max=0.45, step=0.05, description="m")
readout = W.HTML(value="m = 0.20")
slider.add_class("labkit-m-slider"); readout.add_class("labkit-readout")
slider.observe(lambda change: setattr(readout, "value", f"m = {change['new']:.2f}"), names="value")
W.VBox([slider, readout])"""
NOTEBOOKS = ("01_softmax_to_cosine.ipynb", "03_toy_8_identities.ipynb")
DASHBOARD = "08_instructor_dashboard.ipynb"


def moves(page, n: int) -> list[float]:
    out = []
    for i in range(n):
        key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"
        before, after, seconds = lab_page.slider_latency(page, key=key, presses=1)
        if after == before:
            raise RuntimeError(f"the readout did not change on move {i + 1} ({key})")
        out.append(seconds)
    return out


def in_lab(browser, n: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in NOTEBOOKS:
            (work / name).write_bytes((NOTEBOOK_DIR / name).read_bytes())
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(BASELINE_CODE)], metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
        nbformat.write(nb, work / BASELINE)
        with harness.jupyter_server("lab", work) as (url, token):
            for name in (BASELINE, *NOTEBOOKS):
                page, _ = lab_page.open_notebook(browser, url, token, name)
                try:
                    lab_page.run_all(page)
                    page.locator(".labkit-m-slider").first.scroll_into_view_if_needed()
                    results[name] = moves(page, n)
                finally:
                    page.close()
                    lab_page.shutdown_kernels(url, token)
    return results


def in_voila(browser, n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / DASHBOARD).write_bytes((NOTEBOOK_DIR / DASHBOARD).read_bytes())
        with harness.jupyter_server("voila", work, extra=[DASHBOARD]) as (url, token):
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            try:
                page.goto(f"{url}/?token={token}", wait_until="commit", timeout=60_000)
                page.wait_for_selector(".labkit-m-slider:visible .noUi-handle", timeout=180_000)
                return moves(page, n)
            finally:
                page.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=20, help="slider moves per target (default 20)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(harness.CHROMIUM), args=harness.CHROMIUM_ARGS)
        try:
            results = in_lab(browser, args.moves)
            results["dashboard (Voila, Fig. 2 tab)"] = in_voila(browser, args.moves)
        finally:
            browser.close()
    base = statistics.median(results[BASELINE])
    print(f"{args.moves} moves each; latency = keydown -> readout text changed, measured in the page")
    for name, xs in results.items():
        label = "baseline: bare ipywidgets slider -> HTML" if name == BASELINE else name
        med = statistics.median(xs)
        print(f"{label:<44} median {med * 1e3:7.1f} ms  worst {max(xs) * 1e3:7.1f} ms  "
              f"({med / base:.1f}x the baseline)")


if __name__ == "__main__":
    main()
