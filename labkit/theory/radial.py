"""Notebook 01, Sec. 7 and Exercise 3 (Sec. 3.3 of the paper, why the features are normalised): the gradient of the LMCL
loss of one sample with respect to its feature, split into a radial and a tangential part, and gradient descent on
that feature with and without normalisation (Eq. 5), to show the unnormalised loss first shrinks |x|.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit import bounds
from labkit.theory.boundaries import _check_cosine_margin


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
