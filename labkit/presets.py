"""The lab's training recipes as data: one :class:`labkit.engine.FitConfig` preset per scale.

- ``paper``: the CosFace run on CASIA-WebFace (Sec. 4.1; notebook 05, ``python -m labkit train``). From the paper:
  30K iterations, learning rate 0.1 divided by 10 at 16K, 24K and 28K, weight decay 5e-4, a batch of 64 on each
  of 8 GPUs (512 in all), horizontal flips. Not stated in the paper, taken from SphereFace's public recipe that
  CosFace builds on: SGD with momentum 0.9.
- ``toy``: the 8-identity, 2-D-feature toy of Fig. 4 (notebook 03); a lab recipe, chosen and measured in
  :mod:`labkit.experiments.toy`.
- ``lab``: the lab-scale Fig. 5 / Tables 1-2 runs on LFW people (notebook 07); a lab recipe for a CPU.

``preset(name, **overrides)`` returns a FitConfig; a field named in ``overrides`` replaces the preset's.
"""

from __future__ import annotations

from typing import Any

from labkit.engine import FitConfig

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"steps": 30_000, "batch": 512, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
              "schedule": "step", "flip": True, "log_every": 50, "eval_every": 1000, "ckpt_every": 1000},
    "toy": {"batch": 64, "optimizer": "adam", "lr": 3e-3, "weight_decay": 5e-4, "schedule": "warmup_cosine",
            "sampling": "balanced", "per_class": 64, "flip": True, "channels_last": "off", "device": "cpu"},
    "lab": {"batch": 128, "optimizer": "adam", "lr": 3e-3, "weight_decay": 5e-4, "schedule": "warmup_cosine",
            "flip": True, "channels_last": "off", "device": "cpu"},
}


def preset(name: str, **overrides: Any) -> FitConfig:
    """The FitConfig of preset ``name`` with ``overrides`` applied (unknown names or fields raise ValueError)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid names are {', '.join(PRESETS)}")
    fields = set(FitConfig.__dataclass_fields__)
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ValueError(f"unknown FitConfig field(s) {', '.join(bad)}; valid fields are {', '.join(sorted(fields))}")
    return FitConfig(**{**PRESETS[name], **overrides})
