"""Notebook 02 (Eqs. 6-7 of the paper and the lab's choice of s and m): the figures of the bounds. Eq. 6's smallest
scale against the number of classes (Sec. 1.3), the class-weight configurations on the circle, the sphere or as a
histogram of pairwise cosines (Secs. 2.1-2.3), Eq. 7's margin against C (Sec. 2.3), the smallest s against the
margin m (Sec. 3.5), and the callback of the Sec. 4 explorer.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from labkit import bounds
from labkit.palette import OKABE_ITO
from labkit.theory.result import CallbackResult


def s_bound_figure(
    p_ws: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999),
    marks: tuple[int, ...] = (8, 10_572),
    scales: tuple[float, ...] = (30.0, 64.0),
    c_max: int = 100_000,
) -> CallbackResult:
    """Eq. 6 as curves s_min(C) for several P_W (log-scaled C), with the class counts in ``marks`` (8: the toy
    experiment of Fig. 4; 10,572: CASIA-WebFace) and the scales in ``scales`` drawn as horizontal lines."""
    import plotly.graph_objects as go

    if not p_ws:
        raise ValueError("p_ws needs at least one target posterior")
    cs = np.unique(np.round(np.logspace(np.log10(2), np.log10(c_max), 300)).astype(int))
    colours = list(OKABE_ITO.values())
    fig = go.Figure()
    values: dict[str, float] = {}
    for k, p in enumerate(p_ws):
        ys = [bounds.s_lower_bound(int(c), p) for c in cs]
        fig.add_trace(go.Scatter(x=cs, y=ys, mode="lines", name=f"P_W = {p}", line=dict(color=colours[k % 8], width=2)))
        mk = [bounds.s_lower_bound(c, p) for c in marks]
        fig.add_trace(go.Scatter(x=list(marks), y=mk, mode="markers+text", marker=dict(size=9, color=colours[k % 8]),
                                 text=[f"{v:.2f}" for v in mk], textposition="top left", showlegend=False))
        for c, v in zip(marks, mk):
            values[f"s_min(C={c}, P_W={p})"] = v
    for sc, dash in zip(scales, ("dot", "dash", "dashdot")):
        fig.add_hline(y=sc, line=dict(color="grey", dash=dash), annotation_text=f"s = {sc:g}")
        for c in marks:
            values[f"posterior(C={c}, s={sc:g})"] = bounds.posterior_at_centre(c, sc)
    for c in marks:
        fig.add_vline(x=c, line=dict(color="lightgrey"), annotation_text=f"C = {c:,}", annotation_position="bottom right")
    fig.update_layout(title="Eq. 6: the smallest scale s for a class-centre posterior P_W",
                      xaxis=dict(type="log", title="number of classes C"), yaxis=dict(title="lower bound on s"),
                      height=450, width=850)
    text = "; ".join(f"{k} = {v:.4g}" for k, v in values.items())
    return CallbackResult(fig, text, values)


@functools.lru_cache(maxsize=256)
def _cached_spread(c: int, k: int, steps: int, seed: int) -> np.ndarray:
    arr = bounds.spread_on_sphere(c, k, steps=steps, seed=seed)
    arr.setflags(write=False)
    return arr


def configuration_figure(weights: np.ndarray, title: str = "") -> Any:
    """The class weights: on the circle (K = 2), on the sphere in 3-D (K = 3), else the histogram of pairwise cosines
    with the simplex value -1/(C-1) marked (K > 3)."""
    import plotly.graph_objects as go

    w = np.asarray(weights, dtype=np.float64)
    c, k = w.shape
    mx = bounds.max_pairwise_cosine(w)
    fig = go.Figure()
    if k == 2:
        t = np.linspace(0, 2 * math.pi, 200)
        fig.add_trace(go.Scatter(x=np.cos(t), y=np.sin(t), mode="lines", line=dict(color="lightgrey"), name="unit circle"))
        for i, (a, b) in enumerate(w):
            fig.add_trace(go.Scatter(x=[0, a], y=[0, b], mode="lines", line=dict(color=OKABE_ITO["blue"]), showlegend=False))
        fig.add_trace(go.Scatter(x=w[:, 0], y=w[:, 1], mode="markers", marker=dict(size=10, color=OKABE_ITO["vermillion"]),
                                 name="class weights W_i"))
        fig.update_xaxes(range=[-1.2, 1.2], title_text="dim 1")
        fig.update_yaxes(range=[-1.2, 1.2], title_text="dim 2", scaleanchor="x")
    elif k == 3:
        u, v = np.meshgrid(np.linspace(0, 2 * math.pi, 30), np.linspace(0, math.pi, 15))
        fig.add_trace(go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.15,
                                 showscale=False, colorscale=[[0, "lightgrey"], [1, "lightgrey"]], hoverinfo="skip"))
        g = w @ w.T
        np.fill_diagonal(g, -np.inf)
        for i in range(c):  # edges between nearest neighbours (the pairs that set the max cosine)
            for j in range(i + 1, c):
                if g[i, j] >= mx - 1e-3:
                    fig.add_trace(go.Scatter3d(x=w[[i, j], 0], y=w[[i, j], 1], z=w[[i, j], 2], mode="lines",
                                               line=dict(color=OKABE_ITO["blue"], width=4), showlegend=False))
        fig.add_trace(go.Scatter3d(x=w[:, 0], y=w[:, 1], z=w[:, 2], mode="markers",
                                   marker=dict(size=6, color=OKABE_ITO["vermillion"]), name="class weights W_i"))
        fig.update_layout(scene=dict(aspectmode="cube", xaxis_title="dim 1", yaxis_title="dim 2", zaxis_title="dim 3"))
    else:
        g = w @ w.T
        off = g[~np.eye(c, dtype=bool)]
        fig.add_trace(go.Histogram(x=off, nbinsx=40, marker_color=OKABE_ITO["sky"], name="W_i·W_j, i ≠ j"))
        fig.add_vline(x=-1 / (c - 1), line=dict(color=OKABE_ITO["green"], dash="dash"), annotation_text="−1/(C−1)")
        fig.add_vline(x=mx, line=dict(color=OKABE_ITO["vermillion"]), annotation_text="max")
        fig.update_xaxes(title_text="pairwise cosine")
        fig.update_yaxes(title_text="number of pairs (i, j)")
    fig.update_layout(title=title or f"C = {c} class weights in K = {k}: max pairwise cosine {mx:.4f}", height=450,
                      width=600)
    return fig


def bounds_explorer_state(
    num_classes: int = 8, feat_dim: int = 3, p_w: float = 0.9, s: float = 64.0, steps: int = 400, seed: int = 0
) -> CallbackResult:
    """The explorer callback of notebook 02: Eq. 6 and Eq. 7 for (C, K, P_W), plus a numerically spread weight
    configuration (:func:`labkit.bounds.spread_on_sphere`) and what it actually achieves."""
    s_min = bounds.s_lower_bound(num_classes, p_w)
    mb = bounds.m_upper_bound(num_classes, feat_dim)
    w = _cached_spread(int(num_classes), int(feat_dim), int(steps), int(seed))
    mx = bounds.max_pairwise_cosine(w)
    achieved = 1.0 - mx
    post_best = bounds.posterior_at_centre(num_classes, s)
    post_w = bounds.min_centre_posterior(w, s)
    values = {
        "s_min": s_min,
        "m_bound": mb.value,
        "max_cosine": mx,
        "achieved_margin": achieved,
        "simplex_cosine": -1.0 / (num_classes - 1),
        "posterior_bound_at_s": post_best,
        "posterior_spread_at_s": post_w,
    }
    text = (
        f"C = {num_classes}, K = {feat_dim}, P_W = {p_w}: Eq. 6 needs s ≥ {s_min:.3f}; {mb}. "
        f"Spread weights: max cosine {mx:.4f} (simplex value −1/(C−1) = {-1 / (num_classes - 1):.4f}), "
        f"so margins up to {achieved:.4f} are usable. At s = {s:g} their worst centre posterior is 1 − {1 - post_w:.3g} "
        f"(Eq. 6 caps it at 1 − {1 - post_best:.3g})."
    )
    return CallbackResult(configuration_figure(w), text, values)


def margin_vs_classes(feat_dim: int, class_counts: list[int], steps: int = 600, seed: int = 0) -> CallbackResult:
    """For fixed K, the margin 1 - max cos reached by :func:`labkit.bounds.spread_on_sphere` against C, next to the
    Eq. 7 value C/(C-1) (an equality for C <= K + 1, a strict bound beyond)."""
    import plotly.graph_objects as go

    cs = [int(c) for c in class_counts]
    achieved = [bounds.margin_of_weights(_cached_spread(c, int(feat_dim), int(steps), int(seed))) for c in cs]
    bound = [bounds.m_upper_bound(c, feat_dim).value for c in cs]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=cs, y=bound, mode="lines+markers", name="Eq. 7 value C/(C−1)" if feat_dim > 2 else
                             "Eq. 7 (K = 2): 1 − cos(2π/C)", line=dict(color=OKABE_ITO["green"], dash="dash")))
    fig.add_trace(go.Scatter(x=cs, y=achieved, mode="lines+markers", name="reached by spread_on_sphere",
                             line=dict(color=OKABE_ITO["vermillion"])))
    fig.add_vline(x=feat_dim + 1.5, line=dict(color="grey", dash="dot"), annotation_text="C = K + 1 | C > K + 1")
    fig.update_layout(title=f"Largest usable cosine margin, K = {feat_dim}", xaxis_title="number of classes C",
                      yaxis_title="margin 1 − max W_i·W_j", height=420, width=750)
    values = {f"C={c}": a for c, a in zip(cs, achieved)}
    values.update({f"bound C={c}": b for c, b in zip(cs, bound)})
    text = ", ".join(f"C={c}: {a:.4f} (bound {b:.4f})" for c, a, b in zip(cs, achieved, bound))
    return CallbackResult(fig, text, values)


def scale_margin_curves(num_classes: int = 8, p_w: float = 0.9, feat_dims: tuple[int, ...] = (2, 3),
                        points: int = 120) -> CallbackResult:
    """The smallest scale s against the margin m, for C classes and target centre posterior ``p_w``:

    - Eq. 6 with the margin (:func:`labkit.bounds.s_lower_bound_with_margin`), valid for every arrangement and reached
      by the simplex; it blows up at Eq. 7's C/(C-1);
    - for each K in ``feat_dims`` the exact smallest s of the best arrangement we have
      (:func:`labkit.bounds.recommend_scale_and_margin`'s arrangement: circle, simplex, signed axes or spread), which
      blows up at that arrangement's own margin.

    ``values`` holds, per curve, the margin where it blows up (``"pole ..."``) and s at m = 0 (``"s(m=0) ..."``).
    """
    import plotly.graph_objects as go

    c = int(num_classes)
    eq7 = c / (c - 1)
    fig = go.Figure()
    values: dict[str, float] = {"pole simplex": eq7, "s(m=0) simplex": bounds.s_lower_bound(c, p_w)}
    ms = np.linspace(0.0, eq7, points, endpoint=False)
    fig.add_trace(go.Scatter(x=ms, y=[bounds.s_lower_bound_with_margin(c, p_w, float(m)) for m in ms], mode="lines",
                             name="any arrangement (Eq. 6 with m; simplex)", line=dict(color=OKABE_ITO["green"],
                                                                                      dash="dash")))
    colours = (OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["purple"], OKABE_ITO["orange"])
    for i, k in enumerate(feat_dims):
        rec = bounds.recommend_scale_and_margin(c, int(k), p_w)
        pole = rec.arrangement_margin
        mk = np.linspace(0.0, pole, points, endpoint=False)
        if rec.weights is not None:
            gram = rec.weights @ rec.weights.T
            ys = [bounds.min_scale_for_gram(gram, p_w, float(m)) for m in mk]
        else:
            ys = [rec.s_arrangement if m == rec.m else float("nan") for m in mk]
        fig.add_trace(go.Scatter(x=mk, y=ys, mode="lines", name=f"K = {k}: {rec.arrangement.split(' (')[0]}",
                                 line=dict(color=colours[i % len(colours)])))
        fig.add_vline(x=pole, line=dict(color=colours[i % len(colours)], dash="dot"))
        fig.add_trace(go.Scatter(x=[rec.m], y=[rec.s_arrangement], mode="markers", marker=dict(size=10, symbol="star",
                                 color=colours[i % len(colours)]), name=f"K = {k}: recommended (m, s)"))
        values[f"pole K={k}"] = pole
        values[f"s(m=0) K={k}"] = ys[0]
    fig.add_vline(x=eq7, line=dict(color=OKABE_ITO["green"], dash="dot"))
    fig.update_layout(title=f"Smallest scale s reaching P_W = {p_w:g} at the class centres, C = {c}",
                      xaxis_title="cosine margin m", yaxis=dict(title="smallest s", type="log"), height=420, width=800)
    text = "; ".join(f"{k} = {v:.4g}" for k, v in values.items())
    return CallbackResult(fig, text, values)
