"""The notebook explorer of the toy sweep.

- :func:`explorer_view` is the slider callback as a pure function: (sweep, m, s) -> (plotly figure, readout dict).
  No browser or widget needed; tests call it directly.
- :func:`build_toy_explorer` wires it to ``ipywidgets``: a margin slider (0 to 0.45), a scale slider, a readout, a
  plotly ``go.Figure`` redrawn inside an ``ipywidgets.Output`` on every change (no FigureWidget), and a
  "train at this m" button that trains a fresh model at the sliders' values with a live loss/accuracy plot and a
  progress bar, then adds it to the sweep. Without face data the button explains where to put it.

Figures reach their ``Output`` through :func:`labkit.notebooks.show_in_output` (the ``outputs`` trait), never
``with output:``: capturing output while the building cell ran hung papermill and Voila (see that function).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from labkit.bounds import m_upper_bound
from labkit.experiments.toy.plots import fig4
from labkit.notebooks import show_in_output

BOUND = m_upper_bound(8, 2).value


def readout(sweep, m: float, s: float, seed: int | None = None) -> dict[str, Any]:
    """The numbers of the selected seed's run nearest (m, s), softmax for comparison, and the same setting's
    mean ± standard error over every seed the sweep holds (notebook 03 and the dashboard's Fig. 4 tab)."""
    res = sweep.get(m, s, seed)
    mt = res.metrics()
    out = {"m": res.config.m, "s": res.config.s, "eq7_bound": round(BOUND, 4), "past_bound": res.config.m >= BOUND,
           **{k: mt[k] for k in ("train_acc", "test_acc", "train_spread_deg", "train_min_gap_deg", "test_min_gap_deg",
                                 "weight_margin")}}
    out["seed"] = res.config.seed
    sm = sweep.softmax(res.config.seed)
    if sm is not None:
        out["softmax_train_acc"], out["softmax_test_acc"] = sm.train_acc, sm.test_acc
    over = sweep.over_seeds(res.config.m, res.config.s)
    out["seeds"] = over["train_min_gap_deg"][2]
    for k in ("train_min_gap_deg", "train_spread_deg", "test_acc"):
        out[f"mean_{k}"], out[f"se_{k}"] = over[k][0], over[k][1]
    return out


def readout_html(r: dict[str, Any]) -> str:
    warn = (f"<b style='color:#D55E00'>m = {r['m']:.2f} is past the Eq. 7 bound {r['eq7_bound']:.3f}: no weight "
            "arrangement leaves that margin between all 8 classes.</b>" if r["past_bound"] else
            f"m = {r['m']:.2f} is below the Eq. 7 bound 1 - cos(2&pi;/8) = {r['eq7_bound']:.3f}.")
    rows = [
        ("accuracy train / held-out", f"{r['train_acc']:.3f} / {r['test_acc']:.3f}"),
        ("mean angular spread in a class", f"{r['train_spread_deg']:.1f}&deg;"),
        ("smallest gap between neighbours (train / held-out)", f"{r['train_min_gap_deg']:.1f}&deg; / {r['test_min_gap_deg']:.1f}&deg;"),
        ("cosine margin left by the learned weights", f"{r['weight_margin']:.3f}"),
    ]
    if "softmax_train_acc" in r:
        rows.append(("softmax, for comparison", f"{r['softmax_train_acc']:.3f} / {r['softmax_test_acc']:.3f}"))
    if r.get("seeds", 0) > 1:
        rows.append((f"over {r['seeds']} seeds: smallest gap / spread / held-out accuracy",
                     f"{r['mean_train_min_gap_deg']:.1f} &plusmn; {r['se_train_min_gap_deg']:.1f}&deg; / "
                     f"{r['mean_train_spread_deg']:.1f} &plusmn; {r['se_train_spread_deg']:.1f}&deg; / "
                     f"{r['mean_test_acc']:.3f} &plusmn; {r['se_test_acc']:.3f}"))
    body = "".join(f"<tr><td>{html.escape(a)}</td><td><b>{b}</b></td></tr>" for a, b in rows)
    return (f"<div><b>LMCL m={r['m']:.2f}, s={r['s']:g}, seed {r.get('seed', 0)}</b> &mdash; {warn}"
            f"<table>{body}</table></div>")


def figure_view(sweep, m: float, s: float, seed: int | None = None):
    """The figure for (m, s) and one seed: softmax and the nearest LMCL run, in the Fig. 4 layout."""
    runs = [r for r in (sweep.softmax(sweep.get(m, s, seed).config.seed), sweep.get(m, s, seed)) if r is not None]
    fig = fig4(runs, height=560)
    fig.update_layout(width=760)
    return fig


def explorer_view(sweep, m: float, s: float, seed: int | None = None):
    """Slider callback as a pure function: the figure (Fig. 4 layout) and the readout numbers for (m, s, seed)."""
    return figure_view(sweep, m, s, seed), readout(sweep, m, s, seed)


@dataclass
class ToyExplorer:
    box: Any
    m_slider: Any
    s_slider: Any
    readout: Any
    output: Any
    train_button: Any
    train_output: Any
    sweep: Any
    status: Any = None
    last: dict | None = None
    progress: Any = None
    seed_picker: Any = None

    def refresh(self, *_: Any) -> None:
        """Redraw the readout and the figure for the sliders' current (m, s) and the selected seed."""
        seed = self.seed_picker.value if self.seed_picker is not None else None
        # The numbers first (cheap), so the readout follows the slider at once; then the figure (slower to build).
        numbers = readout(self.sweep, self.m_slider.value, self.s_slider.value, seed)
        self.last = numbers
        self.readout.value = readout_html(numbers)
        show_in_output(self.output, figure_view(self.sweep, self.m_slider.value, self.s_slider.value, seed))


def train_and_add(sweep, m: float, s: float, data=None, epochs: int = 30, seed: int = 0, live=None, progress=True):
    """Train a fresh LMCL model at (m, s) and add it to ``sweep``. ``live(epoch, history)`` is called per epoch."""
    import warnings

    from labkit.experiments.toy.data import load_toy_data
    from labkit.experiments.toy.train import ToyConfig, train_toy

    data = data if data is not None else load_toy_data()
    hist: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}

    def cb(epoch: int, rec: dict) -> None:
        for k in hist:
            hist[k].append(rec[k])
        if live is not None:
            live(epoch, hist)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train_toy(ToyConfig(head="cosface", m=round(float(m), 4), s=float(s), epochs=epochs, seed=seed), data,
                        progress=progress, callback=cb)
    sweep.add(res)
    return res


def live_figure(hist: dict[str, list[float]], epochs: int):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "accuracy"))
    x = list(range(1, len(hist["loss"]) + 1))
    fig.add_trace(go.Scatter(x=x, y=hist["loss"], name="loss", line=dict(color="#0072B2")), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=hist["train_acc"], name="train acc", line=dict(color="#E69F00")), row=1, col=2)
    fig.add_trace(go.Scatter(x=x, y=hist["test_acc"], name="held-out acc", line=dict(color="#009E73")), row=1, col=2)
    fig.update_xaxes(title_text="epoch", range=[0, epochs + 1])
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=300, width=760, template="plotly_white")
    return fig


def build_toy_explorer(sweep, data_root: str | None = None, epochs: int = 30, seed: int = 0) -> ToyExplorer:
    """The widget box: margin and scale sliders over the sweep, readout, figure, and the "train at this m" button."""
    import ipywidgets as W

    ss = sweep.ss or [16.0]
    m_slider = W.FloatSlider(value=0.2, min=0.0, max=0.45, step=0.05, description="margin m", continuous_update=True,
                             readout_format=".2f")
    s_slider = W.SelectionSlider(options=ss, value=16.0 if 16.0 in ss else ss[0], description="scale s")
    read = W.HTML()
    out = W.Output()
    # CSS hooks for the real-browser tests (tests/browser): margin slider, readout, figure.
    m_slider.add_class("labkit-m-slider")
    read.add_class("labkit-readout")
    out.add_class("labkit-figure")
    button = W.Button(description="train at this m", icon="play", tooltip="train a fresh model at (m, s)")
    train_out = W.Output()
    status = W.HTML()
    # Shown only while a model trains; replaces the tqdm bar, which would need `with train_out:` to be seen.
    progress = W.IntProgress(value=0, min=0, max=epochs, description="epochs", layout=W.Layout(display="none"))
    seeds = sweep.seeds or [seed]
    seed_picker = W.Dropdown(options=seeds, value=seed if seed in seeds else seeds[0], description="seed")
    ex = ToyExplorer(W.VBox([W.HBox([m_slider, s_slider, seed_picker, button]), read, out, status, progress,
                             train_out]),
                     m_slider, s_slider, read, out, button, train_out, sweep, status, progress=progress,
                     seed_picker=seed_picker)

    def on_train(_btn: Any = None) -> None:
        from labkit import config
        from labkit.experiments.toy.data import load_toy_data

        train_out.outputs = ()
        try:
            data = load_toy_data(data_root or None)
        except config.DataMissingError as exc:
            status.value = f"<b>Cannot train here:</b> {html.escape(str(exc))}"
            return
        m, s = m_slider.value, s_slider.value
        status.value = f"training LMCL m={m:.2f}, s={s:g} for {epochs} epochs ..."
        progress.value, progress.max, progress.layout.display = 0, epochs, ""

        def live(epoch: int, hist: dict) -> None:
            progress.value = epoch + 1
            status.value = (f"training LMCL m={m:.2f}, s={s:g}: epoch {epoch + 1}/{epochs}, "
                            f"loss {hist['loss'][-1]:.3f}, held-out accuracy {hist['test_acc'][-1]:.3f}")
            show_in_output(train_out, live_figure(hist, epochs))

        button.disabled = True
        try:
            res = train_and_add(sweep, m, s, data=data, epochs=epochs, seed=seed_picker.value, live=live, progress=False)
        except Exception as exc:
            # No Output captures this callback, so say it where the student looks; the traceback goes to the log.
            status.value = f"<b>Training failed:</b> {html.escape(repr(exc))}"
            raise
        finally:
            button.disabled = False
            progress.layout.display = "none"
        status.value = (f"trained {res.config.name}: train {res.train_acc:.3f}, held-out {res.test_acc:.3f}; "
                        "added to the sweep")
        ex.refresh()

    m_slider.observe(ex.refresh, names="value")
    s_slider.observe(ex.refresh, names="value")
    seed_picker.observe(ex.refresh, names="value")
    button.on_click(on_train)
    ex.on_train = on_train  # type: ignore[attr-defined]
    ex.refresh()
    return ex
