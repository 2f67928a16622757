"""Plots of the toy experiment: the Fig. 4 layout (features in the plane on top, the same features normalised
onto the unit circle below, class weight directions drawn), an animation over m, and a numbers table.

Colours: the Okabe-Ito palette (safe for the common colour-vision deficiencies), one colour per identity.
"""

from __future__ import annotations

import numpy as np

from labkit.experiments.toy.data import IDENTITIES

from labkit.palette import PALETTE  # noqa: E402  (one colour per identity)


def title_of(res) -> str:
    c = res.config
    return "Softmax" if c.head == "softmax" else f"LMCL m={c.m:.2f} (s={c.s:g})"


def _traces(res, row: int, split: str = "train", showlegend: bool = False, max_points: int = 400):
    import plotly.graph_objects as go

    mask = res.is_train if split == "train" else ~res.is_train
    f, y = res.features[mask].astype(np.float64), res.labels[mask]
    if row == 2:
        f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        # each identity on its own ring (radius 1 + 0.04 k) so overlapping classes stay visible
        f = f * (1.0 + 0.04 * y[:, None])
    traces = []
    for c, name in enumerate(IDENTITIES):
        pts = f[y == c][:max_points]
        traces.append(go.Scatter(
            x=pts[:, 0], y=pts[:, 1], mode="markers", name=name.replace("_", " "), legendgroup=name,
            showlegend=showlegend, marker=dict(size=4 if row == 1 else 5, color=PALETTE[c], opacity=0.7),
        ))
    w = res.weights.astype(np.float64)
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    r = (np.abs(f).max() * 1.05 if row == 1 and len(f) else 1.35)
    xs, ys = [], []
    for c in range(len(w)):
        xs += [0, w[c, 0] * r, None]
        ys += [0, w[c, 1] * r, None]
    traces.append(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="grey", width=1, dash="dash"),
                             name="class weight W_j", legendgroup="w", showlegend=showlegend, hoverinfo="skip"))
    return traces


def fig4(results, split: str = "train", height: int = 560):
    """One column per run (e.g. Softmax, LMCL m = 0, 0.1, 0.2, 0.35, 0.45): features in the plane (top row),
    normalised onto the unit circle (bottom row; each identity on a slightly larger ring), weights dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(results)
    fig = make_subplots(rows=2, cols=n, subplot_titles=[title_of(r) for r in results], horizontal_spacing=0.03,
                        vertical_spacing=0.08)
    for j, res in enumerate(results, start=1):
        for row in (1, 2):
            for t in _traces(res, row, split, showlegend=(j == 1 and row == 1)):
                fig.add_trace(t, row=row, col=j)
            fig.update_xaxes(title_text="feature 1" if row == 2 else None, row=row, col=j)
            fig.update_yaxes(scaleanchor=f"x{(row - 1) * n + j if (row - 1) * n + j > 1 else ''}", row=row, col=j)
        fig.update_yaxes(title_text="feature 2" if j == 1 else None, row=1, col=j)
        fig.update_yaxes(title_text="normalised (angle)" if j == 1 else None, row=2, col=j)
    fig.update_layout(height=height, width=max(600, 230 * n + 150), template="plotly_white",
                      title=f"8 identities, 2-D features ({split} split): Euclidean (top), angular (bottom)",
                      legend=dict(itemsizing="constant"), margin=dict(l=50, r=10, t=70, b=40))
    return fig


def margin_animation(sweep, s: float, split: str = "train"):
    """A plotly figure with one frame per m at scale ``s`` (play button and slider), the normalised features."""
    import plotly.graph_objects as go

    runs = [sweep.get(m, s) for m in sweep.ms_at(s)]
    runs = [r for r in runs if abs(r.config.s - s) < 1e-9]
    frames = [go.Frame(data=_traces(r, 2, split, showlegend=True), name=f"{r.config.m:.2f}") for r in runs]
    fig = go.Figure(data=frames[0].data if frames else [], frames=frames)
    steps = [dict(method="animate", label=f.name, args=[[f.name], dict(mode="immediate", frame=dict(duration=400, redraw=True))]) for f in frames]
    fig.update_layout(
        title=f"LMCL at s={s:g}: normalised features as m grows", template="plotly_white", width=620, height=640,
        xaxis=dict(range=[-1.5, 1.5], title="cos"), yaxis=dict(range=[-1.5, 1.5], scaleanchor="x", title="sin"),
        sliders=[dict(steps=steps, currentvalue=dict(prefix="m = "))],
        updatemenus=[dict(type="buttons", buttons=[dict(label="play", method="animate", args=[None, dict(frame=dict(duration=500, redraw=True), fromcurrent=True)])])],
    )
    return fig


TABLE_COLUMNS = ("setting", "train_acc", "test_acc", "train_spread_deg", "train_min_gap_deg", "test_min_gap_deg",
                 "weight_margin")


def table_text(rows: list[dict], columns=TABLE_COLUMNS) -> str:
    """A fixed-width text table (the README/notebook numbers)."""
    head = " | ".join(f"{c:>17}" for c in columns)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(" | ".join(f"{r[c]:>17.3f}" if isinstance(r[c], float) else f"{str(r[c]):>17}" for c in columns))
    return "\n".join(lines)
