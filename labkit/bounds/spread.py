"""Eq. 7 where no closed form exists (C > K + 1): spread C unit class weights in K dimensions numerically
(notebook 02, section 2)."""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from labkit.bounds.paper import *  # noqa: F401,F403
from labkit.bounds.paper import _check_classes  # noqa: F401


# ----------------------------------------------------------------------------------------------------------------
# Eq. 7, regime C > K + 1: no closed form, so spread the class weights numerically.
# ----------------------------------------------------------------------------------------------------------------


def spread_on_sphere(
    num_classes: int,
    feat_dim: int,
    steps: int = 800,
    seed: int = 0,
    restarts: int = 6,
) -> np.ndarray:
    """Numerically spread C unit vectors in R^K so that their largest pairwise cosine is as small as possible.

    This is the weight configuration that the margin bound of Eq. 7 is about: the usable margin is
    1 - max_{i != j} W_i^T W_j, so the best a configuration can offer is 1 minus the smallest reachable maximum
    cosine (for K = 3 this is the Tammes problem). For C <= K + 1 the answer is the regular simplex; for K = 2 it is
    C points evenly spaced on the circle; for C > K + 1, K > 2 there is in general no closed form.

    Method: the hard maximum over pairs is replaced by a smooth one, T * logsumexp(cos_ij / T), minimised with Adam
    while the temperature T is annealed from 0.1 down to 1e-3 (a small T tracks the true maximum closely, a large T
    spreads the early gradient over many pairs). Points are projected back onto the sphere after every step.
    Several random starts run together as one batch; the configuration with the smallest true maximum cosine seen
    at any step is returned.

    Returns a (C, K) float64 array of unit rows. Fast for C <= ~64, K <= ~16 (well under a second on a CPU core).
    """
    import torch

    _check_classes(num_classes)
    if int(feat_dim) != feat_dim or feat_dim < 2:
        raise ValueError(f"feat_dim K must be an integer >= 2, got {feat_dim}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts}")
    c, k, steps, restarts = int(num_classes), int(feat_dim), int(steps), int(restarts)
    with single_thread():
        return _spread(c, k, steps, int(seed), restarts)


@contextmanager
def single_thread():
    """Run torch on one intra-op thread inside the block, restoring the previous setting after.

    The matrices here are tiny (at most 64 x 64): threading them only adds synchronisation, and on a loaded
    machine with few cores it made :func:`spread_on_sphere` some 30 times slower.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _spread(c: int, k: int, steps: int, seed: int, restarts: int) -> np.ndarray:
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(restarts, c, k, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    diag = torch.eye(c, dtype=torch.bool)
    t_hi, t_lo, lr_hi, lr_lo = 0.1, 1e-3, 0.05, 5e-4
    best = x.detach().clone()
    best_max = torch.full((restarts,), float("inf"), dtype=torch.float64)
    for step in range(steps):
        frac = step / max(steps - 1, 1)
        temp = t_hi * (t_lo / t_hi) ** frac
        for group in opt.param_groups:
            group["lr"] = lr_hi * (lr_lo / lr_hi) ** frac
        u = x / x.norm(dim=-1, keepdim=True)
        gram = (u @ u.transpose(1, 2)).masked_fill(diag, -float("inf"))
        flat = gram.reshape(restarts, -1)
        with torch.no_grad():
            cur = flat.max(dim=1).values
            better = cur < best_max
            best[better] = u.detach()[better]
            best_max = torch.minimum(best_max, cur)
        loss = (temp * torch.logsumexp(flat / temp, dim=1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x /= x.norm(dim=-1, keepdim=True)
    with torch.no_grad():  # the final iterate too
        u = x / x.norm(dim=-1, keepdim=True)
        cur = (u @ u.transpose(1, 2)).masked_fill(diag, -float("inf")).reshape(restarts, -1).max(dim=1).values
        better = cur < best_max
        best[better] = u[better]
        best_max = torch.minimum(best_max, cur)
    out = best[int(torch.argmin(best_max))].numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)
