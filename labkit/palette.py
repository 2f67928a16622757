"""The lab's one colour palette: Okabe & Ito (2008), eight colours told apart with protanopia, deuteranopia and
tritanopia. Every figure (notebooks 01-03, 07 and the dashboard) takes its colours from here."""

from __future__ import annotations

#: name -> hex colour
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

#: the eight colours in one fixed order (one per toy identity; series in line and bar plots)
PALETTE: tuple[str, ...] = tuple(OKABE_ITO.values())

#: the order used for series of plots (lines, bars): strong colours first, yellow (weak on white) last
SERIES: tuple[str, ...] = tuple(OKABE_ITO[k] for k in ("blue", "vermillion", "green", "purple", "orange", "sky",
                                                        "black", "yellow"))
