"""The instructor's dashboard (``make demo``): the decision-margin explorer of notebook 01 and the toy sliders of
notebook 03 side by side in tabs, served by Voila with no code cells. It boots in seconds because the toy part
reads the shipped sweep (``data/shipped/toy_sweep``) instead of training.

Voila executes the notebook with nbclient, like papermill, so the explorers must not print into their ``Output``
under ``with output:`` while the cell runs (that could leave the page waiting forever); they replace its content
through :func:`labkit.notebooks.show_in_output`, and ``test_dashboard.py`` checks it."""

from __future__ import annotations

from typing import Any


def build_dashboard(toy_sweep: Any | None = None, data_root: str | None = None) -> Any:
    """Tabs: "Decision margins (Fig. 2)", "Unit circle (Fig. 3)", "8 identities (Fig. 4)". Returns the Tab widget;
    its ``explorers`` attribute holds the underlying explorers so tests can drive their sliders."""
    import ipywidgets as widgets

    from labkit import theory
    from labkit.experiments.toy.sweep import load_sweep
    from labkit.experiments.toy.widgets import build_toy_explorer

    decision = theory.build_decision_explorer()
    circle = theory.build_circle_explorer()
    toy = build_toy_explorer(toy_sweep if toy_sweep is not None else load_sweep(), data_root=data_root)
    tabs = widgets.Tab(children=[decision[0], circle[0], toy.box])
    for i, title in enumerate(("Decision margins (Fig. 2)", "Unit circle (Fig. 3)", "8 identities (Fig. 4)")):
        tabs.set_title(i, title)
    tabs.explorers = {"decision": decision, "circle": circle, "toy": toy}  # type: ignore[attr-defined]
    return tabs
