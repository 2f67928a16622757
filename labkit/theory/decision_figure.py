"""Notebook 01, Sec. 5 (and the dashboard, notebook 08): Fig. 2 of the paper redrawn, the decision boundaries of
Softmax, NSL (Eq. 3), A-Softmax and LMCL (Eq. 4) in cosine space with their margin regions shaded and the widths read
out (:mod:`labkit.theory.boundaries` computes the widths).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.palette import OKABE_ITO
from labkit.theory.boundaries import _check_cosine_margin, _check_sphere_margin, margin_width_across_diagonal, psi
from labkit.theory.result import CallbackResult

MARGIN_GREY = "rgba(120,120,120,0.35)"
OVERLAP_FILL = "rgba(230,159,0,0.35)"


def _boundary_curves(m: float, m_sphere: int, norm_ratio: float, n: int = 201) -> dict[str, tuple]:
    """The decision boundaries of Fig. 2 on [0, 1]^2 of cosine space, as (x, y) arrays."""
    c = np.linspace(0.0, 1.0, n)
    theta = np.arccos(c)
    asm = psi(theta, m_sphere)
    ok = asm >= 0  # the part of psi(theta1) = cos(theta2) inside the square
    return {
        "softmax": (c, norm_ratio * c),  # |W1| c1 = |W2| c2  ->  c2 = (|W1|/|W2|) c1
        "nsl": (c, c),
        "asoftmax_c1": (c[ok], asm[ok]),  # class 1 wins above... below this curve: c2 <= psi(theta1)
        "asoftmax_c2": (asm[ok], c[ok]),
        "lmcl_c1": (c, c - m),
        "lmcl_c2": (c - m, c),
    }


def decision_boundaries_figure(
    m: float = 0.35, m_sphere: int = 4, norm_ratio: float = 1.5, s: float = 8.0, probe_deg: float = 45.0
) -> CallbackResult:
    """Fig. 2 redrawn: the binary decision boundaries of Softmax, NSL, A-Softmax and LMCL in cosine space
    (x = cos theta1, y = cos theta2, both in [0, 1]), with the margin regions shaded.

    - Softmax: |W1| cos theta1 = |W2| cos theta2 (``norm_ratio`` = |W1|/|W2|). The region between that line and the
      diagonal is where the trained classifier and the cosine-similarity test rule disagree (margin < 0, orange).
    - NSL (Eq. 3): cos theta1 = cos theta2, no margin.
    - A-Softmax: psi(theta1) = cos theta2 for C1 and mirrored for C2, grey area between them, pinched at (1, 1).
    - LMCL (Eq. 4): cos theta1 - m = cos theta2 and mirrored, a band of constant width sqrt(2) m.

    ``s`` sets the background: the training posterior of class 1 for a sample labelled C1,
    sigmoid(s * (target logit - other logit)) with each loss's own logits (Softmax uses s as |x|).
    ``probe_deg`` is the angle theta (cos theta1 = cos theta2 = cos theta) where the widths are read out.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    m = _check_cosine_margin(m)
    m_sphere = _check_sphere_margin(m_sphere)
    if not np.isfinite(norm_ratio) or norm_ratio <= 0:
        raise ValueError(f"norm_ratio |W1|/|W2| must be a positive number, got {norm_ratio}")
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"the scale s must be positive, got {s}")
    if not 0.0 <= probe_deg <= 90.0:
        raise ValueError(f"probe_deg must be an angle in [0, 90] degrees, got {probe_deg}")
    curves = _boundary_curves(m, m_sphere, norm_ratio)
    titles = (
        f"Softmax (|W1|/|W2| = {norm_ratio:.2f})",
        "NSL (Eq. 3)",
        f"A-Softmax (m = {m_sphere})",
        f"LMCL (Eq. 4, m = {m:.2f})",
    )
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.05)
    grid = np.linspace(0.0, 1.0, 81)
    c1, c2 = np.meshgrid(grid, grid)
    targets = {
        1: norm_ratio * c1,
        2: c1,
        3: psi(np.arccos(c1), m_sphere),
        4: c1 - m,
    }
    others = {1: c2, 2: c2, 3: c2, 4: c2}
    for col in range(1, 5):
        post = 1.0 / (1.0 + np.exp(-s * (targets[col] - others[col])))
        fig.add_trace(
            go.Heatmap(
                x=grid, y=grid, z=post, zmin=0, zmax=1, colorscale="Cividis", showscale=(col == 4),
                colorbar=dict(title="P(C1 | x)<br>for a C1 sample", len=0.9), hoverinfo="skip", opacity=0.55,
            ),
            row=1, col=col,
        )
    dash = dict(color=OKABE_ITO["black"], dash="dash", width=2)
    # Softmax: its boundary and the overlap with the cosine (test-time) rule.
    x, y = curves["softmax"]
    keep = y <= 1.0
    xs, ys = x[keep], y[keep]
    # Overlap: between the softmax line (clipped to the square) and the diagonal, over the whole square.
    clipped = np.minimum(y, 1.0)
    poly_x = np.concatenate([x, x[::-1]])
    poly_y = np.concatenate([np.maximum(x, clipped), np.minimum(x, clipped)[::-1]])
    fig.add_trace(go.Scatter(x=poly_x, y=poly_y, fill="toself", fillcolor=OVERLAP_FILL, line=dict(width=0),
                             name="overlap with cosine rule (margin < 0)", hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dash, name="decision boundary"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=OKABE_ITO["sky"], width=1),
                             name="cos θ1 = cos θ2"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dash, showlegend=False), row=1, col=2)
    # A-Softmax: grey region between the two curves.
    ax1, ay1 = curves["asoftmax_c1"]
    ax2, ay2 = curves["asoftmax_c2"]
    # Neither class accepts the corner (0, 0): the region runs C1 curve -> (1, 1) -> C2 curve -> (0, 0).
    fig.add_trace(go.Scatter(x=np.concatenate([ax1, ax2[::-1], [0.0]]), y=np.concatenate([ay1, ay2[::-1], [0.0]]),
                             fill="toself",
                             fillcolor=MARGIN_GREY, line=dict(width=0), name="decision margin"), row=1, col=3)
    fig.add_trace(go.Scatter(x=ax1, y=ay1, mode="lines", line=dash, showlegend=False), row=1, col=3)
    fig.add_trace(go.Scatter(x=ax2, y=ay2, mode="lines", line=dash, showlegend=False), row=1, col=3)
    # LMCL: band |c1 - c2| <= m clipped to the square.
    band_x = [0.0, 1.0 - m, 1.0, 1.0, m, 0.0] if m < 1 else [0, 0, 1, 1]
    band_y = [m, 1.0, 1.0, 1.0 - m, 0.0, 0.0] if m < 1 else [0, 1, 1, 0]
    fig.add_trace(go.Scatter(x=band_x, y=band_y, fill="toself", fillcolor=MARGIN_GREY, line=dict(width=0),
                             showlegend=False), row=1, col=4)
    for key in ("lmcl_c1", "lmcl_c2"):
        x, y = curves[key]
        keep = (x >= 0) & (y >= 0)
        fig.add_trace(go.Scatter(x=x[keep], y=y[keep], mode="lines", line=dash, showlegend=False), row=1, col=4)
    for col in range(1, 5):
        fig.update_xaxes(title_text="cos θ1", range=[0, 1], row=1, col=col)
        fig.update_yaxes(title_text="cos θ2" if col == 1 else None, range=[0, 1], scaleanchor=f"x{col if col > 1 else ''}",
                         row=1, col=col)
    fig.update_layout(height=360, width=1250, margin=dict(t=60, b=40, l=50, r=20),
                      legend=dict(orientation="h", y=-0.2), title="Binary decision boundaries in cosine space (cf. Fig. 2)")

    t = math.cos(math.radians(probe_deg))
    w_lmcl = margin_width_across_diagonal("lmcl", t, m)
    w_asm = margin_width_across_diagonal("asoftmax", t, m_sphere)
    w_asm_small = margin_width_across_diagonal("asoftmax", math.cos(math.radians(5.0)), m_sphere)
    overlap = 0.5 * abs(1.0 - min(norm_ratio, 1.0 / norm_ratio))  # area between y = r x and y = x in the square
    p_diag = {name: 1.0 / (1.0 + math.exp(-s * (tgt - t))) for name, tgt in
              (("softmax", norm_ratio * t), ("nsl", t), ("asoftmax", float(psi(math.acos(t), m_sphere))), ("lmcl", t - m))}
    values = {
        "lmcl_width": w_lmcl,
        "lmcl_width_closed_form": math.sqrt(2.0) * m,
        "asoftmax_width": w_asm,
        "asoftmax_width_5deg": w_asm_small,
        "softmax_overlap_area": overlap,
        "probe_cos": t,
        **{f"posterior_on_diagonal_{k}": v for k, v in p_diag.items()},
    }
    text = (
        f"At θ1 = θ2 = {probe_deg:.0f}° (cos = {t:.3f}): LMCL margin width {w_lmcl:.4f} (√2·m = {math.sqrt(2) * m:.4f}); "
        f"A-Softmax width {w_asm:.4f} (only {w_asm_small:.4f} at 5°); NSL width 0; "
        f"Softmax overlap area {overlap:.3f} (0 only when |W1| = |W2|). "
        f"With s = {s:g} a C1 sample on the diagonal gets P(C1) = {p_diag['lmcl']:.3f} under LMCL, "
        f"{p_diag['nsl']:.3f} under NSL."
    )
    return CallbackResult(fig, text, values)
