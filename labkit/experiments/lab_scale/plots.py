"""Plotly figures of the lab-scale grid (notebook 07): Fig. 5 with error bars (section 5), bars for Tables 1-2
(sections 6-7) and the per-epoch training curves of every setting side by side (section 4)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from labkit.palette import SERIES as COLORS

#: the per-epoch diagnostics plotted by :func:`plot_diagnostics`: (history key, panel title, scale)
DIAGNOSTICS = (
    ("train_acc", "training accuracy (%)", 100.0),
    ("loss", "training loss (with margin term)", 1.0),
    ("loss_no_margin", "loss without the margin term", 1.0),
    ("feat_norm", "mean feature norm |x| (before normalisation)", 1.0),
    ("angle_deg", "mean angle to the class weight (°)", 1.0),
    ("verification_acc", "DevTest verification accuracy (%)", 100.0),
)


def plot_margin_curve(summary: Sequence[dict[str, Any]], title: str = ""):
    """Fig. 5 at lab scale (notebook 07 section 5): accuracy (%) vs m with s.e. error bars, one line per training
    length."""
    import plotly.graph_objects as go

    fig = go.Figure()
    lengths = sorted({r["config"]["epochs"] for r in summary})
    for i, ep in enumerate(lengths):
        rows = sorted((r for r in summary if r["config"]["epochs"] == ep), key=lambda r: r["config"]["m"])
        fig.add_trace(go.Scatter(
            x=[r["config"]["m"] for r in rows], y=[100 * r["accuracy"] for r in rows], mode="lines+markers",
            error_y={"type": "data", "array": [100 * r["se"] for r in rows], "visible": True},
            line={"color": COLORS[i % len(COLORS)], "dash": ("solid", "dash", "dot")[i % 3]},
            marker={"symbol": ("circle", "square", "diamond")[i % 3]},
            name=f"LMCL, {ep} epochs ({rows[0]['n_seeds']} seed{'s' if rows[0]['n_seeds'] > 1 else ''})",
            hovertemplate="m=%{x}<br>accuracy %{y:.2f}%<extra></extra>",
        ))
    fig.update_layout(
        title=title or "Verification accuracy vs cosine margin m (lab scale; cf. paper Fig. 5)",
        xaxis_title="cosine margin m", yaxis_title="verification accuracy (%), mean ± s.e.", template="plotly_white",
        legend={"title": "training length"},
    )
    return fig


def plot_bars(summary: Sequence[dict[str, Any]], title: str = ""):
    """Table 1/2 at lab scale (notebook 07 sections 6-7): one bar per setting, accuracy (%) with s.e. error bars."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(
        x=[r["label"] for r in summary], y=[100 * r["accuracy"] for r in summary],
        error_y={"type": "data", "array": [100 * r["se"] for r in summary], "visible": True},
        marker_color=[COLORS[i % len(COLORS)] for i in range(len(summary))],
        text=[f"{100 * r['accuracy']:.1f}" for r in summary], textposition="outside",
    ))
    lo = min(100 * (r["accuracy"] - r["se"]) for r in summary)
    fig.update_layout(title=title, xaxis_title="loss", yaxis_title="verification accuracy (%), mean ± s.e.",
                      yaxis_range=[max(50.0, lo - 5), 100], template="plotly_white")
    return fig


def epoch_curves(records: Sequence[dict[str, Any]], key: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per label: (epochs, mean over seeds, s.e. over seeds) of one per-epoch diagnostic."""
    groups: dict[str, list[list[float]]] = {}
    for r in records:
        vals = [h.get(key, np.nan) for h in r.get("history", [])]
        groups.setdefault(r["label"], []).append(vals)
    out = {}
    for label, runs in groups.items():
        n = min(len(v) for v in runs)
        a = np.array([v[:n] for v in runs], float)
        se = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros(n)
        out[label] = (np.arange(1, n + 1), a.mean(axis=0), se)
    return out


def plot_diagnostics(records: Sequence[dict[str, Any]], title: str = ""):
    """Training curves of every setting side by side (notebook 07 section 4): one panel per diagnostic of
    :data:`DIAGNOSTICS`, one line per setting (mean over seeds, shaded ± s.e.), x = epoch."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=3, subplot_titles=[d[1] for d in DIAGNOSTICS], horizontal_spacing=0.07,
                        vertical_spacing=0.14)
    labels = list(dict.fromkeys(r["label"] for r in records))
    for k, (key, _title, scale) in enumerate(DIAGNOSTICS):
        curves = epoch_curves(records, key)
        row, col = k // 3 + 1, k % 3 + 1
        for i, label in enumerate(labels):
            x, mean, se = curves[label]
            color = COLORS[i % len(COLORS)]
            fig.add_trace(go.Scatter(x=x, y=scale * mean, mode="lines+markers", marker={"size": 4},
                                     line={"color": color, "dash": ("solid", "dash", "dot", "dashdot")[i % 4]},
                                     error_y={"type": "data", "array": scale * se, "visible": bool(np.any(se > 0))},
                                     name=label, legendgroup=label, showlegend=k == 0), row=row, col=col)
            fig.update_xaxes(title_text="epoch", row=row, col=col)
    fig.update_layout(title=title or "Per-epoch diagnostics (mean ± s.e. over seeds)", template="plotly_white",
                      height=650, legend={"orientation": "h", "y": -0.12})
    return fig


def plot_identities(rows: Sequence[dict[str, Any]], title: str = ""):
    """The identities figure (notebook 07 section 15): verification accuracy, pooled TAR at FAR = 1e-3 and rank-1
    against the number of training people, softmax and LMCL m = 0.35, means over the folds present
    (:func:`labkit.experiments.lab_scale.tenfold.identities_table`)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = (("accuracy", "10-fold accuracy (%)"), ("tar", "TAR @ FAR 1e-3, pooled (%)"), ("rank1", "rank-1 (%)"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[p[1] for p in panels], horizontal_spacing=0.08)
    for i, name in enumerate(("Softmax", "LMCL m=0.35")):
        x = [r["people"] for r in rows if r[name]["folds"]]
        for k, (key, _) in enumerate(panels):
            y = [100 * r[name][key] for r in rows if r[name]["folds"]]
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name, showlegend=k == 0,
                                     line={"color": COLORS[i], "dash": ("dash", "solid")[i]},
                                     marker={"symbol": ("square", "circle")[i]},
                                     hovertemplate="%{x:.0f} people<br>%{y:.1f}%<extra>" + name + "</extra>"),
                          row=1, col=k + 1)
            fig.update_xaxes(type="log", title_text="training people", row=1, col=k + 1)
    fig.update_layout(title=title or "More training identities (LFW + CelebA, nested samples; mean over folds)",
                      template="plotly_white", height=420)
    return fig
