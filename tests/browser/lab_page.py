"""Driving one JupyterLab notebook page: open, run all, read errors, move a slider, screenshot.

Widgets the tests drive carry CSS classes set by labkit's explorers: ``labkit-m-slider`` (the margin slider),
``labkit-readout`` (the numeric readout) and ``labkit-figure`` (the Output holding the plotly figure).
"""

from __future__ import annotations

import json
import time
import urllib.request

# How long a test waits for a widget to react before it reports what never happened. A wait for a condition, not a
# speed check: the latency figures live in benchmarks/slider_latency.py.
READOUT_WAIT_S = 30.0
# Console messages that are the browser's, not the lab's (the machine has no network, no GPU).
BENIGN_CONSOLE = ("favicon", "net::ERR_", "Failed to load resource", "WebGL", "GPU stall")


def open_notebook(browser, url: str, token: str, name: str, viewport=(1400, 1000)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))
    page.goto(f"{url}/lab/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    wait_kernel_idle(url, token, name)
    return page, console


def wait_kernel_idle(url: str, token: str, name: str, timeout_s: float = 90.0) -> None:
    """Wait until the server has a session for this notebook whose kernel reports 'idle' (on a cold machine the
    page can look ready before its first kernel is, and a Run All sent then is lost)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=10) as resp:
            sessions = json.load(resp)
        if any(s.get("path", "").endswith(name) and s.get("kernel", {}).get("execution_state") == "idle"
               for s in sessions):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the kernel of {name} did not become idle within {timeout_s} s")


#: how long Run All may take before a browser test calls the notebook stuck: a bound on how long a failure takes to
#: report, never a speed check. Notebook 06 embeds ~2,000 faces with the reference model uncached (68 s on a quiet
#: 2-core machine, over 4 min on a loaded one), so the bound is far above any notebook's loaded time
RUN_ALL_WAIT_S = 1200.0


def run_all(page, timeout_s: float = RUN_ALL_WAIT_S) -> float:
    """Run > Run All Cells, then wait until no cell is queued or running; returns the seconds it took."""
    t0 = time.monotonic()
    started = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                         .some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""
    for attempt in range(2):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(started, timeout=20_000, polling=250)
            break
        except Exception:
            if attempt:
                raise
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
            const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return prompts.length > 0 && prompts.every(t => /\\[\\d+\\]/.test(t))
                   && ind && ind.dataset.status === 'idle';
        }""",
        timeout=timeout_s * 1000,
        polling=500,
    )
    return time.monotonic() - t0


def state(page) -> dict:
    """Prompts and kernel status, for failure messages."""
    return page.evaluate(
        """() => ({prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent),
                   status: document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
                   dialogs: [...document.querySelectorAll('.jp-Dialog')].map(e => e.innerText.slice(0, 300))})"""
    )


def error_outputs(page) -> list[str]:
    """Texts of error outputs (tracebacks) in the notebook."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
                 .map(e => e.textContent).filter(t => /Traceback|Error/.test(t))"""
    )


def real_console_errors(console: list[str]) -> list[str]:
    return [m for m in console if not any(b in m for b in BENIGN_CONSOLE)]


def widget_text(page, css_class: str) -> str:
    """Text of the first *visible* widget with this class (hidden tabs are skipped)."""
    return page.locator(f".{css_class}:visible").first.inner_text()


def figure_signature(page, css_class: str = "labkit-figure") -> str:
    """A string that changes when the plotly figure in the labelled Output is redrawn with other data."""
    return page.evaluate(
        f"""() => {{
            const fig = [...document.querySelectorAll('.{css_class} .js-plotly-plot')].find(e => e.offsetParent !== null);
            if (!fig) return '';
            const data = (fig.data || []).map(t => JSON.stringify([t.x, t.y, t.r, t.theta]).slice(0, 4000));
            return data.join('|') + [...fig.querySelectorAll('path')].slice(0, 50).map(p => p.getAttribute('d')).join('');
        }}"""
    )


def settle(page, quiet_ms: int = 400, timeout_ms: int = 30_000) -> None:
    """Wait until the page has rendered what scrolling brought into view (JupyterLab renders cells lazily, and a
    large plotly figure can keep the browser's main thread busy): two animation frames, then a quiet spell."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(quiet_ms)
    page.wait_for_load_state("networkidle", timeout=timeout_ms)


def press_slider(page, slider_class: str, key: str = "ArrowRight", presses: int = 1) -> None:
    handle = page.locator(f".{slider_class}:visible .noUi-handle").first
    handle.scroll_into_view_if_needed()
    settle(page)
    handle.focus()
    for _ in range(presses):
        handle.press(key)


def wait_for_change(page, read, before: str, timeout_s: float = READOUT_WAIT_S) -> tuple[str, float]:
    """Poll ``read()`` until it differs from ``before`` or ``timeout_s`` passes; returns (value, seconds waited).
    The caller asserts the change; the timeout only bounds how long a failure takes to report."""
    t0 = time.monotonic()
    while True:
        now = read()
        if now != before:
            return now, time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            return now, time.monotonic() - t0
        page.wait_for_timeout(25)


def shutdown_kernels(url: str, token: str) -> None:
    """Delete every session of the server so kernels do not pile up between tests."""
    req = urllib.request.Request(f"{url}/api/sessions?token={token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        sessions = json.load(resp)
    for s in sessions:
        urllib.request.urlopen(
            urllib.request.Request(f"{url}/api/sessions/{s['id']}?token={token}", method="DELETE"), timeout=10
        )


def slider_value(page, slider_class: str = "labkit-m-slider") -> str:
    """The value the visible slider displays (ipywidgets' readout next to the handle)."""
    return page.locator(f".{slider_class}:visible .widget-readout").first.inner_text().strip()


def move_slider(page, slider_class: str = "labkit-m-slider", readout_class: str = "labkit-readout",
                key: str = "ArrowRight", presses: int = 2, timeout_s: float = READOUT_WAIT_S) -> tuple[str, str, str]:
    """Press ``key`` on the visible slider and wait (up to ``timeout_s``) until the visible readout's text changed.
    Returns (readout before, readout after, the slider's displayed value after); raises AssertionError saying what
    never happened when the readout did not change in time."""
    before, after, seconds = slider_latency(page, slider_class, readout_class, key, presses, timeout_s)
    if after == before:
        raise AssertionError(f"the readout never changed within {timeout_s:.0f} s of pressing {key} x{presses} on "
                             f".{slider_class}; it still reads {before[:200]!r}")
    return before, after, slider_value(page, slider_class)


def wait_for_readout(page, check, value: float, readout_class: str = "labkit-readout",
                     timeout_s: float = READOUT_WAIT_S) -> str:
    """Poll the visible readout until ``check(text, value)`` passes, or ``timeout_s`` passes; then run the check once
    more so that its message says what the readout shows instead. Two key presses update the readout twice, so the
    first change seen may still be the intermediate value: the test waits for the final one, never timing it."""
    t0 = time.monotonic()
    while True:
        text = widget_text(page, readout_class)
        try:
            check(text, value)
            return text
        except AssertionError:
            if time.monotonic() - t0 > timeout_s:
                raise
        page.wait_for_timeout(100)


def slider_latency(page, slider_class: str = "labkit-m-slider", readout_class: str = "labkit-readout",
                   key: str = "ArrowRight", presses: int = 2, timeout_s: float = READOUT_WAIT_S) -> tuple[str, str, float]:
    """Press a key on the visible slider and measure, inside the page, the time from the first keydown to the
    moment the visible readout's text changed (a MutationObserver stamps it). Returns (before, after, seconds);
    seconds is inf if the readout never changed. A measurement for ``benchmarks/slider_latency.py``: tests use
    :func:`move_slider`, which asserts the change, never its speed."""

    handle = page.locator(f".{slider_class}:visible .noUi-handle").first
    handle.scroll_into_view_if_needed()
    settle(page)
    before = page.evaluate(
        f"""() => {{
            const el = [...document.querySelectorAll('.{readout_class}')].find(e => e.offsetParent !== null);
            const t = window.__labkit = {{before: el.innerText, key: null, changed: null}};
            new MutationObserver(() => {{
                if (t.changed === null && el.innerText !== t.before) t.changed = performance.now();
            }}).observe(el, {{subtree: true, childList: true, characterData: true, attributes: true}});
            document.addEventListener('keydown', () => {{ if (t.key === null) t.key = performance.now(); }},
                                      {{capture: true}});
            return t.before;
        }}"""
    )
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    try:
        page.wait_for_function("() => window.__labkit.changed !== null", timeout=timeout_s * 1000, polling=50)
    except Exception:
        return before, widget_text(page, readout_class), float("inf")
    t = page.evaluate("() => window.__labkit")
    return before, widget_text(page, readout_class), (t["changed"] - t["key"]) / 1000.0


def plain_text(html_text: str) -> str:
    """The text a browser shows for an HTML fragment, whitespace removed (for comparing a readout's innerText with
    the HTML the lab's Python code builds for it)."""
    import html
    import re

    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", html_text)))
