"""What a readout must show after its slider moved, computed here in Python from the same functions the widgets call:
the browser tests compare the page with these, so a readout that changes to the wrong run's numbers fails."""

from __future__ import annotations

import math

from tests.browser.lab_page import plain_text


def check_toy_readout(shown: str, m: float, s: float = 16.0, seed: int = 0) -> None:
    """The toy explorer (notebook 03, dashboard Fig. 4 tab) shows exactly the shipped run's numbers for (m, s, seed)."""
    from labkit.experiments.toy.sweep import load_sweep
    from labkit.experiments.toy.widgets import readout, readout_html

    expected = readout_html(readout(load_sweep(), m, s, seed))
    assert plain_text(shown) == plain_text(expected), (
        f"the readout does not show the shipped run for m = {m:.2f}, s = {s:g}, seed {seed}:\n"
        f"shown:    {shown!r}\nexpected: {plain_text(expected)!r}")


def check_decision_readout(shown: str, m: float) -> None:
    """The decision-margin explorer (notebook 01, dashboard Fig. 2 tab) reports LMCL's margin width for the slider's
    m: sqrt(2) m between the two boundaries along the diagonal of cosine space (Eq. 5, Fig. 2)."""
    width = f"√2·m = {math.sqrt(2) * m:.4f}"
    assert width in shown, f"the readout does not report the margin width for m = {m:.2f} ({width}): {shown!r}"
