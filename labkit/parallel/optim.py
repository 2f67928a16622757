"""SGD and Adam for a :class:`ShardedMarginHead`'s weight slice that touch only the rows a step used.

With class sampling a step's loss depends on the kept rows only, so only they get a gradient. ``torch.optim``
would still move every row (weight decay and momentum act on zero gradients too) and would hold a dense C_local x D
gradient. Here the gradient lives on the kept rows (the head's ``active`` tensor) and the update reads and writes
those rows of the weight and of the optimizer state; the other rows stay bit-identical. Without sampling every row
is kept and the updates are ``torch.optim.SGD`` / ``Adam``'s (L2 weight decay added to the gradient):

    SGD:  g = grad + wd w;  buf = momentum buf + g;  w -= lr buf
    Adam: g = grad + wd w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
          w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

Adam counts t per row (a row skipped by sampling does not advance its bias correction). The state is one tensor
per row-shaped quantity, so checkpoints can gather it to the full C rows and cut it again for any rank count.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from labkit.parallel.head import ShardedMarginHead

__all__ = ["ShardOptimizer"]


class ShardOptimizer:
    """Row-wise SGD (momentum) or Adam on ``head.weight`` (see the module docstring); ``lr`` is set per step."""

    def __init__(self, head: ShardedMarginHead, kind: str = "sgd", lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 5e-4, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if kind not in ("sgd", "adam"):
            raise ValueError(f"kind must be 'sgd' or 'adam', got {kind!r}")
        self.head, self.kind, self.lr = head, kind, float(lr)
        self.momentum, self.weight_decay, self.betas, self.eps = float(momentum), float(weight_decay), betas, eps
        w = head.weight
        if kind == "sgd":
            self.state: dict[str, Tensor] = {"momentum_buffer": torch.zeros_like(w)}
        else:
            self.state = {"exp_avg": torch.zeros_like(w), "exp_avg_sq": torch.zeros_like(w),
                          "step": torch.zeros(w.shape[0], 1, dtype=torch.float64, device=w.device)}

    def zero_grad(self) -> None:
        self.head.weight.grad = None
        self.head.active = None

    @torch.no_grad()
    def step(self) -> None:
        """Update the rows the last forward used, from their gradient."""
        if self.head.active is None:
            return
        rows, used = self.head.active
        grad = used.grad
        if grad is None:
            return
        weight = self.head.weight
        full = rows is None
        w = weight.data if full else weight.data[rows]
        state = self.state if full else {k: v[rows] for k, v in self.state.items()}
        g = grad.to(w.dtype).add(w, alpha=self.weight_decay) if self.weight_decay else grad.to(w.dtype)
        if self.kind == "sgd":
            buf = state["momentum_buffer"]
            buf.mul_(self.momentum).add_(g)
            w.add_(buf, alpha=-self.lr)
        else:
            b1, b2 = self.betas
            state["step"] += 1
            t = state["step"]
            state["exp_avg"].lerp_(g, 1 - b1)
            state["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
            step_size = (self.lr / (1 - b1 ** t)).to(w.dtype)
            denom = (state["exp_avg_sq"].sqrt() / (1 - b2 ** t).sqrt().to(w.dtype)).add_(self.eps)
            w.addcdiv_(state["exp_avg"] * step_size, denom, value=-1.0)
        if not full:
            weight.data[rows] = w
            for k, v in state.items():
                self.state[k][rows] = v

    def state_dict(self) -> dict[str, Any]:
        """This rank's row-shaped state (C_local rows each) and the settings."""
        return {"kind": self.kind, "state": dict(self.state)}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if sd["kind"] != self.kind:
            raise ValueError(f"the checkpoint's head optimizer is {sd['kind']!r}, this run's {self.kind!r}")
        for k, v in sd["state"].items():
            if tuple(v.shape) != tuple(self.state[k].shape):
                raise ValueError(f"head optimizer state {k} has shape {tuple(v.shape)}, expected "
                                 f"{tuple(self.state[k].shape)}")
            self.state[k].copy_(v)
