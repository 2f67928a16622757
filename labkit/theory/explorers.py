"""The slider explorers of notebooks 01 and 02 (and the instructor's dashboard): ipywidgets sliders wired to the
callbacks of Fig. 2 (:mod:`labkit.theory.decision_figure`), Fig. 3 (:mod:`labkit.theory.circle`) and Eqs. 6-7
(:mod:`labkit.theory.bound_figures`). Each change redraws the figure through :func:`labkit.notebooks.show_in_output`.
"""

from __future__ import annotations

from typing import Any, Callable

from labkit.theory.bound_figures import bounds_explorer_state
from labkit.theory.circle import circle_geometry_figure
from labkit.theory.decision_figure import decision_boundaries_figure
from labkit.theory.result import CallbackResult


def _wire(callback: Callable[..., CallbackResult], sliders: dict[str, Any], title: str) -> tuple[Any, dict, Any, Any]:
    import ipywidgets as widgets

    from labkit.notebooks import show_in_output

    out = widgets.Output()
    readout = widgets.HTML(value="")
    # CSS hooks for the real-browser tests (tests/browser): figure, readout and the margin slider.
    out.add_class("labkit-figure")
    readout.add_class("labkit-readout")
    if "m" in sliders:
        sliders["m"].add_class("labkit-m-slider")

    def redraw(_change: Any = None) -> None:
        try:
            res = callback(**{k: s.value for k, s in sliders.items()})
        except ValueError as exc:  # e.g. a margin beyond the bound: say so instead of drawing
            readout.value = f"<b>Not drawable:</b> {exc}"
            return
        readout.value = res.text
        # Replace the Output's content instead of printing into it under `with out:`: capturing during the cell
        # that builds the explorer hung papermill and Voila (labkit.notebooks.show_in_output explains the chain).
        show_in_output(out, res.figure)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HTML(f"<b>{title}</b>"), widgets.HBox(list(sliders.values())), readout, out])
    return box, sliders, readout, out


def build_decision_explorer(m: float = 0.35, m_sphere: int = 4, norm_ratio: float = 1.5, s: float = 8.0):
    """Sliders (m, A-Softmax m, |W1|/|W2|, s) -> :func:`decision_boundaries_figure`. Returns (box, sliders, readout,
    output); set ``sliders["m"].value`` and the readout's ``value`` changes."""
    import ipywidgets as widgets

    sliders = {
        "m": widgets.FloatSlider(value=m, min=0.0, max=0.8, step=0.05, description="LMCL m"),
        "m_sphere": widgets.IntSlider(value=m_sphere, min=1, max=6, description="A-Softmax m"),
        "norm_ratio": widgets.FloatSlider(value=norm_ratio, min=0.25, max=4.0, step=0.05, description="|W1|/|W2|"),
        "s": widgets.FloatLogSlider(value=s, base=10, min=0, max=2, step=0.05, description="scale s"),
    }
    return _wire(decision_boundaries_figure, sliders, "Decision boundaries in cosine space (Fig. 2)")


def build_circle_explorer(phi_deg: float = 90.0, m: float = 0.35):
    """Sliders (angle between W1 and W2, m) -> :func:`circle_geometry_figure`."""
    import ipywidgets as widgets

    sliders = {
        "phi_deg": widgets.FloatSlider(value=phi_deg, min=10.0, max=180.0, step=5.0, description="∠(W1, W2) °"),
        "m": widgets.FloatSlider(value=m, min=0.0, max=2.0, step=0.05, description="LMCL m"),
    }
    return _wire(circle_geometry_figure, sliders, "LMCL on the unit circle (Fig. 3)")


def build_bounds_explorer(num_classes: int = 8, feat_dim: int = 3, p_w: float = 0.9, steps: int = 300):
    """Sliders (C, K, P_W) -> :func:`bounds_explorer_state` (both bounds + the spread configuration, live)."""
    import ipywidgets as widgets

    sliders = {
        "num_classes": widgets.IntSlider(value=num_classes, min=2, max=64, description="classes C"),
        "feat_dim": widgets.IntSlider(value=feat_dim, min=2, max=16, description="dim K"),
        "p_w": widgets.FloatSlider(value=p_w, min=0.05, max=0.999, step=0.005, readout_format=".3f", description="P_W"),
    }

    def cb(num_classes: int, feat_dim: int, p_w: float) -> CallbackResult:
        return bounds_explorer_state(num_classes, feat_dim, p_w, steps=steps)

    return _wire(cb, sliders, "Bounds on s (Eq. 6) and m (Eq. 7)")
