"""Pure functions behind the theory notebooks (01: softmax to cosine, 02: bounds on s and m).

Every figure of those notebooks and every slider callback is a function here: parameters in, a plotly
``go.Figure`` plus a readout (text and numbers) out, so tests can call them with slider values and check what
was computed without a browser. ``build_*_explorer`` wire ipywidgets sliders to these callbacks; the figure is
redrawn inside an ``ipywidgets.Output`` on every change.

The exercises of both notebooks are checked by :func:`check_answer` against :data:`EXERCISES` (answers are variables of
each notebook's ``parameters`` cell, ``None`` until answered).

Equation numbers refer to the CosFace paper (Wang et al., CVPR 2018); Eqs. 8-16 are in its supplementary part.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from labkit import bounds

from labkit.palette import OKABE_ITO  # noqa: E402  (the lab's one palette)
CLASS_COLOURS = (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"])
MARGIN_GREY = "rgba(120,120,120,0.35)"
OVERLAP_FILL = "rgba(230,159,0,0.35)"


@dataclass
class CallbackResult:
    """What a slider callback computed: the figure to draw, a one-paragraph readout, and the numbers behind it."""

    figure: Any
    text: str
    values: dict[str, float] = field(default_factory=dict)


# ================================================================================================================
# Notebook 01: decision boundaries in cosine space (Fig. 2) for the binary case
# ================================================================================================================


def _check_cosine_margin(m: float) -> float:
    if not np.isfinite(m) or m < 0:
        raise ValueError(f"the LMCL cosine margin m must be a finite number >= 0 (Eq. 7), got {m}")
    return float(m)


def _check_sphere_margin(m: int) -> int:
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ValueError(f"the A-Softmax margin must be an integer >= 1 (1 is no margin), got {m!r}")
    return int(m)


def psi(theta: np.ndarray | float, m: int) -> np.ndarray:
    """A-Softmax's monotone angle function for plotting: :func:`labkit.losses.sphereface_psi` (the one
    implementation) evaluated in float64 on a NumPy array or a float, theta in [0, pi]."""
    import torch

    from labkit.losses import sphereface_psi

    m = _check_sphere_margin(m)
    return sphereface_psi(torch.as_tensor(np.asarray(theta, dtype=np.float64)), m).numpy()


def _bisect(f: Callable[[float], float], lo: float, hi: float, iters: int = 80) -> float:
    """Root of f on [lo, hi] where f(lo) and f(hi) have opposite signs (or f(hi) == 0)."""
    flo = f(lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def margin_width_across_diagonal(loss: str, t: float, m: float, d_max: float = 3.0) -> float:
    """Width of the grey margin region of Fig. 2, measured perpendicular to the diagonal cos(theta1) = cos(theta2)
    through the point (t, t) of cosine space.

    From (t, t) we walk along (1, -1)/sqrt(2) until we reach class 1's boundary (bisection on the boundary
    function), and double the distance (class 2's boundary is the mirror image). Boundaries:

    - ``"lmcl"``:      cos(theta1) - cos(theta2) = m           (Sec. 3.2; the closed-form width is sqrt(2) m)
    - ``"asoftmax"``:  psi(theta1) = cos(theta2), integer m     (Sec. 3.2, cos(m theta1) = cos(theta2) for
      m theta1 <= pi); here t = cos(theta) and the walk stays inside cos <= 1.
    - ``"nsl"``:       cos(theta1) = cos(theta2), width 0 whatever m.
    """
    if loss == "nsl":
        return 0.0
    r2 = math.sqrt(2.0)
    if loss == "lmcl":
        m = _check_cosine_margin(m)

        def f(d: float) -> float:
            return (t + d / r2) - (t - d / r2) - m

        if m == 0:
            return 0.0
        return 2.0 * _bisect(f, 0.0, d_max)
    if loss == "asoftmax":
        mm = _check_sphere_margin(m)
        if not -1.0 <= t <= 1.0:
            raise ValueError(f"t is a cosine and must lie in [-1, 1], got {t}")
        if mm == 1 or t == 1.0:
            return 0.0

        def g(d: float) -> float:
            c1, c2 = min(t + d / r2, 1.0), t - d / r2
            return float(psi(math.acos(c1), mm)) - c2

        return 2.0 * _bisect(g, 0.0, r2 * (1.0 - t))
    raise ValueError(f"loss must be 'lmcl', 'asoftmax' or 'nsl', got {loss!r}")


def asoftmax_small_angle_width(theta: float, m: int) -> float:
    """Leading-order A-Softmax width near theta = 0 (our own expansion of cos a + cos(m a) = 2 cos theta):
    width ~ sqrt(2) theta^2 (m^2 - 1) / (m^2 + 1), i.e. it vanishes quadratically as theta -> 0."""
    m = _check_sphere_margin(m)
    return math.sqrt(2.0) * theta**2 * (m * m - 1) / (m * m + 1)


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


# ---------------------------------------------------------------- Fig. 3: the unit circle


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


# ---------------------------------------------------------------- Sec. 3.3: why normalise the features


def lmcl_feature_gradient(
    x: Any, weight: Any, label: int, m: float, s: float | None = None
) -> dict[str, float]:
    """Gradient of the LMCL loss of one sample with respect to its feature x, split into radial and tangential parts.

    ``s=None``: features NOT normalised (Sec. 3.3's thought experiment), logits |x| (cos theta_y - m) and
    |x| cos theta_j (unit W). Then dL/d|x| = sum_{j != y} p_j (a_j - a_y) with a_y = cos theta_y - m,
    a_j = cos theta_j: positive, so gradient descent shrinks |x|, whenever a_y is below every a_j.
    ``s`` given: the Eq. 4-5 loss with x normalised and scale s; the gradient is then orthogonal to x (radial part 0).

    Returns the loss, the radial component g.x/|x|, the tangential norm, and the closed-form dL/d|x|
    (unnormalised case only; NaN otherwise).
    """
    import torch
    import torch.nn.functional as F

    from labkit import losses

    m = _check_cosine_margin(m)
    with bounds.single_thread():
        return _lmcl_feature_gradient(x, weight, label, m, s)


def _lmcl_feature_gradient(x: Any, weight: Any, label: int, m: float, s: float | None) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from labkit import losses

    xt = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, -1).clone().requires_grad_(True)
    w = torch.as_tensor(np.asarray(weight, dtype=np.float64))
    if w.dim() != 2 or w.shape[1] != xt.shape[1]:
        raise ValueError(f"weight must be (C, K) with K = len(x) = {xt.shape[1]}, got shape {tuple(w.shape)}")
    if not 0 <= label < w.shape[0]:
        raise ValueError(f"label must be a class index in [0, {w.shape[0] - 1}], got {label}")
    y = torch.tensor([int(label)])
    cos = losses.cosine(xt, w)
    if s is None:
        norm = xt.norm()
        logits = norm * losses.cosface_logits(cos, y, 1.0, m)
    else:
        logits = losses.cosface_logits(cos, y, float(s), m)
    loss = F.cross_entropy(logits, y)
    (g,) = torch.autograd.grad(loss, xt)
    g = g.detach().numpy().ravel()
    xv = xt.detach().numpy().ravel()
    xhat = xv / np.linalg.norm(xv)
    radial = float(g @ xhat)
    tangential = float(np.linalg.norm(g - radial * xhat))
    closed = float("nan")
    cosv = cos.detach().numpy().ravel()
    a = cosv.copy()
    a[label] -= m
    if s is None:
        p = torch.softmax(logits, dim=1).detach().numpy().ravel()
        closed = float(sum(p[j] * (a[j] - a[label]) for j in range(len(a)) if j != label))
    return {
        "loss": float(loss.detach()),
        "radial": radial,
        "tangential": tangential,
        "dL_dnorm_closed_form": closed,
        "target_minus_margin": float(a[label]),
        "best_other": float(np.delete(a, label).max()),
    }


def norm_trajectory(
    x0: Any, weight: Any, label: int, m: float, s: float | None = None, lr: float = 0.5, steps: int = 60
) -> dict[str, np.ndarray]:
    """Plain gradient descent on one feature x under LMCL, with (``s`` given) or without (``s=None``) feature
    normalisation. Returns the per-step |x|, cos theta_y and loss, to show that without normalisation the
    optimiser first escapes by shrinking |x| (Sec. 3.3)."""
    x = np.asarray(x0, dtype=np.float64).copy()
    norms, cos_y, loss = [], [], []
    w = np.asarray(weight, dtype=np.float64)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    for _ in range(int(steps)):
        out = lmcl_feature_gradient(x, w, label, m, s)
        norms.append(float(np.linalg.norm(x)))
        cos_y.append(float(wn[label] @ x / np.linalg.norm(x)))
        loss.append(out["loss"])
        # Recompute the full gradient vector (the dict holds its projections only).
        g = _feature_grad_vector(x, w, label, m, s)
        x = x - lr * g
    return {"norm": np.array(norms), "cos_target": np.array(cos_y), "loss": np.array(loss)}


def _feature_grad_vector(x: np.ndarray, w: np.ndarray, label: int, m: float, s: float | None) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    from labkit import losses

    with bounds.single_thread():
        xt = torch.as_tensor(x).reshape(1, -1).clone().requires_grad_(True)
        y = torch.tensor([int(label)])
        cos = losses.cosine(xt, torch.as_tensor(w))
        logits = xt.norm() * losses.cosface_logits(cos, y, 1.0, m) if s is None else losses.cosface_logits(cos, y, s, m)
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y), xt)
    return g.numpy().ravel()


def tiny_batch(seed: int = 0) -> dict[str, Any]:
    """A batch a reader can follow by hand: 4 features in R^2, 3 classes, fixed weights of unequal norm.

    Returns torch tensors ``features`` (4, 2), ``weight`` (3, 2) and ``labels`` (4,).
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    weight = torch.tensor([[2.0, 0.0], [-0.5, 0.9], [-0.6, -1.2]], dtype=torch.float64)
    angles = torch.tensor([0.3, 1.9, -2.0, 0.9], dtype=torch.float64) + 0.05 * torch.randn(4, generator=gen,
                                                                                          dtype=torch.float64)
    radii = torch.tensor([3.0, 1.0, 2.0, 0.5], dtype=torch.float64)
    features = torch.stack([radii * torch.cos(angles), radii * torch.sin(angles)], dim=1)
    labels = torch.tensor([0, 1, 2, 0])
    return {"features": features, "weight": weight, "labels": labels}


def check(answer: float, expected: float, what: str, tol: float = 1e-3) -> str:
    """Exercise checker: raises AssertionError with a hint if ``answer`` is not ``expected`` to within ``tol``
    (relative or absolute), else returns a short confirmation."""
    if answer is None or not np.isfinite(answer):
        raise AssertionError(f"{what}: replace the placeholder with a number")
    if not math.isclose(float(answer), float(expected), rel_tol=tol, abs_tol=tol):
        raise AssertionError(f"{what}: {answer} is not right yet, look at the formula above and try again")
    return f"correct: {what} = {answer}"


@dataclass(frozen=True)
class Exercise:
    """One exercise of the theory notebooks: the notebook it sits in, what it asks, how to compute the expected
    value with labkit (never typed in by hand), the hint shown for a wrong answer, and the tolerance (relative or
    absolute)."""

    notebook: str
    what: str
    expected: Callable[[], float]
    hint: str
    tol: float = 1e-3


def _target_logit() -> float:
    import torch

    from labkit.losses import cosface_logits

    return float(cosface_logits(torch.tensor([[0.8, 0.1]]), torch.tensor([0]), 64.0, 0.35)[0, 0])


def _radial_sign() -> float:
    g = lmcl_feature_gradient(np.array([0.95, 0.3]), np.eye(2), 0, m=0.35)
    return math.copysign(1.0, g["radial"])


#: The exercises, keyed by the name of the answer variable in the notebook's ``parameters`` cell.
EXERCISES: dict[str, Exercise] = {
    "ANSWER_TARGET_LOGIT": Exercise(
        "01_softmax_to_cosine", "LMCL target logit for cos(theta_y) = 0.8, s = 64, m = 0.35", _target_logit,
        "the margin comes off the cosine before the scale multiplies it (Eq. 4)"),
    "ANSWER_LMCL_WIDTH": Exercise(
        "01_softmax_to_cosine", "width of LMCL's grey strip for m = 0.25",
        lambda: margin_width_across_diagonal("lmcl", 0.5, 0.25),
        "the strip lies between the lines cos(theta1) - cos(theta2) = +m and = -m; measure across the diagonal, "
        "not along an axis"),
    "ANSWER_RADIAL_SIGN": Exercise(
        "01_softmax_to_cosine", "sign of dL/d|x| once the margin is met (x = (0.95, 0.3), m = 0.35)", _radial_sign,
        "in dL/dr = sum_j p_j (a_j - a_y), compare a_y = cos(theta_y) - m with a_j = cos(theta_j) for this x; "
        "answer +1 or -1", tol=0.0),
    "ANSWER_S_MIN_TWO_CLASSES": Exercise(
        "02_bounds_on_s_and_m", "smallest s for C = 2 classes and P_W = 0.99 (Eq. 6)",
        lambda: bounds.s_lower_bound(2, 0.99),
        "put C = 2 in Eq. 6: the factor (C - 1)/C is 1/2 and (C - 1) P_W / (1 - P_W) is P_W / (1 - P_W)"),
    "ANSWER_MARGIN_FIVE_IN_FOUR": Exercise(
        "02_bounds_on_s_and_m", "largest usable margin for C = 5 classes in K = 4 dims (Eq. 7)",
        lambda: bounds.reachable_margin(5, 4).value,
        "C <= K + 1 here, so the regular simplex fits: what are its pair cosines, and what is 1 minus the largest?"),
    "ANSWER_S_WITH_MARGIN": Exercise(
        "02_bounds_on_s_and_m", "smallest s for C = 2, P_W = 0.99 and margin m = 0.5 (Eq. 6 with the margin)",
        lambda: bounds.s_lower_bound_with_margin(2, 0.99, 0.5),
        "divide ln((C - 1) P_W / (1 - P_W)) by C/(C - 1) - m; for two classes C/(C - 1) = 2"),
}

NOT_ANSWERED = "not answered yet"


def check_answer(name: str, answer: Any) -> str:
    """Exercise checker for the theory notebooks. ``name`` is the answer variable (a key of :data:`EXERCISES`),
    ``answer`` its value. Returns a line to print, never raises for a wrong answer:

    - ``None``: "<name>: not answered yet ..." (the default in the ``parameters`` cell);
    - right within the exercise's tolerance: "correct: ...";
    - otherwise (including something that is not a number): "not quite: <hint>".
    """
    if name not in EXERCISES:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(EXERCISES)}")
    ex = EXERCISES[name]
    if answer is None:
        return f"{name}: {NOT_ANSWERED} (set {name} in the parameters cell, or assign it above, and re-run this cell)"
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return f"{name}: not quite: give a number ({ex.what}); hint: {ex.hint}"
    expected = float(ex.expected())
    if math.isfinite(value) and math.isclose(value, expected, rel_tol=ex.tol, abs_tol=ex.tol):
        return f"{name}: correct: {ex.what} = {value:g}"
    return f"{name}: not quite: {value:g} is not the {ex.what}; hint: {ex.hint}"


# ================================================================================================================
# Notebook 02: bounds on s and m
# ================================================================================================================


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


# ================================================================================================================
# Widget wiring
# ================================================================================================================


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
