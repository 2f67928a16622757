"""The instructor's dashboard wires the theory explorer and the toy sweep; its sliders drive the readouts."""

from __future__ import annotations

import ipywidgets
import pytest

from labkit.dashboard import build_dashboard

PLOTLY = "application/vnd.plotly.v1+json"


def _figure(out) -> dict:
    """The one plotly figure an explorer's Output holds."""
    assert len(out.outputs) == 1, "the Output should hold exactly the current figure"
    return out.outputs[0]["data"][PLOTLY]


def test_dashboard_tabs_and_sliders_drive_readouts():
    tabs = build_dashboard()
    assert [tabs.get_title(i) for i in range(3)] == [
        "Decision margins (Fig. 2)", "Unit circle (Fig. 3)", "8 identities (Fig. 4)"]
    _, sliders, readout, _ = tabs.explorers["decision"]
    before = readout.value
    sliders["m"].value = 0.1 if sliders["m"].value != 0.1 else 0.2
    assert readout.value != before

    toy = tabs.explorers["toy"]
    toy.m_slider.value = 0.0
    gap0 = toy.last["train_min_gap_deg"]
    text0 = toy.readout.value
    toy.m_slider.value = 0.2
    assert toy.readout.value != text0
    assert abs(toy.last["m"] - 0.2) < 1e-9
    assert toy.last["train_min_gap_deg"] > gap0  # the margin opens the gaps between classes (Fig. 4)


def test_explorers_replace_their_figure_without_capturing_output(monkeypatch):
    """Drawing goes through the Output's ``outputs`` trait, never ``with output:`` (which hung papermill/Voila)."""
    entered = []
    monkeypatch.setattr(ipywidgets.Output, "__enter__", lambda self: entered.append(self))
    tabs = build_dashboard()
    _, sliders, _, out = tabs.explorers["decision"]
    first = _figure(out)
    sliders["m"].value = 0.1 if sliders["m"].value != 0.1 else 0.2
    assert _figure(out) != first

    _, circle_sliders, _, circle_out = tabs.explorers["circle"]
    first = _figure(circle_out)
    circle_sliders["phi_deg"].value = 60.0
    assert _figure(circle_out) != first

    toy = tabs.explorers["toy"]
    first = _figure(toy.output)
    toy.m_slider.value = 0.0 if toy.m_slider.value != 0.0 else 0.1
    assert _figure(toy.output) != first
    assert entered == [], "an explorer printed into an Output under `with output:`"


@pytest.mark.parametrize("css, kind", [("labkit-m-slider", ipywidgets.FloatSlider), ("labkit-readout", ipywidgets.HTML),
                                       ("labkit-figure", ipywidgets.Output)])
def test_browser_hooks_are_on_every_explorer(css, kind):
    """tests/browser finds the margin slider, readout and figure by these CSS classes."""
    tabs = build_dashboard()
    for name, explorer in tabs.explorers.items():
        box = explorer.box if hasattr(explorer, "box") else explorer[0]
        found = [w for w in _descendants(box) if css in w._dom_classes]
        assert len(found) == 1 and isinstance(found[0], kind), f"{name}: {css}"


def _descendants(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)
