"""Notebook 01, Sec. 6 (Fig. 3 and Sec. 3.4 of the paper): NSL and LMCL on the unit circle. LMCL's two boundaries
around the bisector of W1 and W2, the angular gap between them, and the pairwise form of Eq. 7's bound
(m <= 1 - cos phi).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.palette import OKABE_ITO
from labkit.theory.boundaries import _check_cosine_margin
from labkit.theory.result import CallbackResult

CLASS_COLOURS = (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"])


def lmcl_circle_boundaries(phi: float, m: float) -> tuple[float, float]:
    """On the unit circle with W1 at angle +phi/2 and W2 at -phi/2 (phi = angle between them, in radians), the NSL
    boundary is the bisector (angle 0) and LMCL's two boundaries (Sec. 3.4, Fig. 3) sit at angles +a and -a with

        cos(a - phi/2) - cos(a + phi/2) = 2 sin(a) sin(phi/2) = m   =>   a = arcsin(m / (2 sin(phi/2))).

    Class 1 needs its features at angles >= a. Raises if m > 1 - cos(phi): then even W1 itself fails the margin
    (the boundary would pass beyond W1), which is the pairwise form of Eq. 7's bound.
    """
    m = _check_cosine_margin(m)
    if not 0 < phi <= math.pi:
        raise ValueError(f"phi is the angle between W1 and W2 in radians, in (0, pi], got {phi}")
    limit = 1.0 - math.cos(phi)
    if m > limit + 1e-12:
        raise ValueError(
            f"m = {m} exceeds 1 - cos(phi) = {limit:.4f}: no feature of class 1, not even W1, satisfies "
            "cos(theta1) - m >= cos(theta2). Lower m or widen the angle between the class weights."
        )
    a = math.asin(min(1.0, m / (2.0 * math.sin(phi / 2.0))))
    return a, -a


def circle_geometry_figure(phi_deg: float = 90.0, m: float = 0.35) -> CallbackResult:
    """Fig. 3 redrawn: NSL (left) splits the circle at the bisector of W1 and W2; LMCL (right) leaves an angular gap
    between its two boundaries (grey). ``phi_deg`` is the angle between W1 and W2."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    phi = math.radians(phi_deg)
    a, _ = lmcl_circle_boundaries(phi, m)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("NSL: boundary = bisector", f"LMCL: m = {m:.2f}"))

    def arc(lo: float, hi: float, colour: str, name: str, col: int, show: bool, width: float = 8) -> None:
        t = np.linspace(lo, hi, 100)
        fig.add_trace(go.Scatter(x=np.cos(t), y=np.sin(t), mode="lines", line=dict(color=colour, width=width),
                                 name=name, showlegend=show, legendgroup=name), row=1, col=col)

    for col, lo in ((1, 0.0), (2, a)):
        # Class 1 owns [lo, pi - lo]: the boundary equation 2 sin(alpha) sin(phi/2) = m has the roots a and pi - a.
        arc(lo, math.pi - lo, CLASS_COLOURS[0], "class 1 features", col, col == 1)
        arc(-math.pi + lo, -lo, CLASS_COLOURS[1], "class 2 features", col, col == 1)
        for ang, name, colour in ((phi / 2, "W1", CLASS_COLOURS[0]), (-phi / 2, "W2", CLASS_COLOURS[1])):
            fig.add_trace(go.Scatter(x=[0, math.cos(ang)], y=[0, math.sin(ang)], mode="lines+markers+text",
                                     text=["", name], textposition="top right", line=dict(color=colour, width=3),
                                     showlegend=False), row=1, col=col)
    if a > 0:
        arc(-a, a, "#787878", "margin (no class)", 2, True)
        arc(math.pi - a, math.pi + a, "#787878", "margin (no class)", 2, False)
    for col, angs in ((1, [0.0, math.pi]), (2, [a, -a, math.pi - a, math.pi + a])):
        for ang in angs:
            fig.add_trace(go.Scatter(x=[0, 1.15 * math.cos(ang)], y=[0, 1.15 * math.sin(ang)], mode="lines",
                                     line=dict(color="black", dash="dash"), showlegend=False), row=1, col=col)
    for col in (1, 2):
        fig.update_xaxes(range=[-1.3, 1.3], title_text="feature dim 1", row=1, col=col)
        fig.update_yaxes(range=[-1.3, 1.3], title_text="feature dim 2", scaleanchor=f"x{col if col > 1 else ''}",
                         row=1, col=col)
    fig.update_layout(height=420, width=850, title="Decision boundaries on the unit circle (cf. Fig. 3)")
    limit = 1.0 - math.cos(phi)
    values = {"boundary_angle": a, "angular_gap": 2 * a, "max_margin_pair": limit}
    text = (
        f"W1 and W2 are {phi_deg:.0f}° apart. LMCL boundaries at ±{math.degrees(a):.2f}° from the bisector: an angular "
        f"gap of {math.degrees(2 * a):.2f}° where NSL has none. The margin can grow until the boundary reaches W1 "
        f"itself, at m = 1 − cos φ = {limit:.4f}."
    )
    return CallbackResult(fig, text, values)
