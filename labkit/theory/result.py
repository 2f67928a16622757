"""The one return type of every figure and slider callback behind notebooks 01 and 02.

A callback takes slider values and returns a :class:`CallbackResult`: the plotly figure, the readout paragraph and
the numbers the readout was written from, so tests check what was computed without a browser and the explorers of
:mod:`labkit.theory.explorers` draw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallbackResult:
    """What a slider callback computed: the figure to draw, a one-paragraph readout, and the numbers behind it."""

    figure: Any
    text: str
    values: dict[str, float] = field(default_factory=dict)
