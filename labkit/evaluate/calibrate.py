"""A model's verification threshold: the cosine above which ``verify`` calls two faces the same person.

The paper (Sec. 4.1, "Testing") scores a pair by the cosine of the two flip-concatenated features; the LFW protocol
then picks a threshold per fold as the one with the best accuracy on the *other* folds
(:mod:`labkit.evaluate.verification`). A model shipped for everyday use needs one fixed threshold instead. The lab
takes it the same way, on a stated set of pairs the model never saw in training (for instance the 600 pairs of one
LFW View 2 fold): the best-accuracy threshold of :func:`labkit.evaluate.verification.best_threshold` (exhaustive
over the midpoints between sorted scores, ties to the lowest, "same" meaning ``score > threshold``).

:func:`calibrate_threshold` returns that number; :func:`threshold_source` writes the sentence stored beside it in
:class:`labkit.zoo.ModelCard` (``threshold_source``) and printed by ``python -m labkit verify``; :func:`calibrate`
returns both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.evaluate.verification import accuracy_at, best_threshold


def calibrate_threshold(scores: Any, same: Any) -> float:
    """The best-accuracy threshold on these pairs: ``scores`` (cosines), ``same`` (True/1 = one person).

    The threshold maximises the fraction of pairs with ``(score > threshold) == same``; among equally good ones the
    lowest is returned. Raises ``ValueError`` when the pairs lack either label (nothing to separate).
    """
    y = np.asarray(same).astype(bool).reshape(-1)
    if y.all() or not y.any():
        raise ValueError(f"calibrating a threshold needs matched and mismatched pairs; got {int(y.sum())} matched "
                         f"and {int((~y).sum())} mismatched")
    return best_threshold(scores, y)[0]


def threshold_source(pairs: str, n_pairs: int, accuracy: float, note: str = "") -> str:
    """The one-line provenance of a calibrated threshold, e.g. ``"best accuracy (97.50 %) on the 600 pairs of LFW
    View 2 fold 0, which the model never saw"``: ``pairs`` names the set, ``n_pairs`` counts it, ``accuracy`` is
    the fraction reached at the threshold, ``note`` is appended after a comma (say here that the model never saw
    those people)."""
    text = f"best accuracy ({100 * accuracy:.2f} %) on the {n_pairs:,} pairs of {pairs}"
    return f"{text}, {note}" if note else text


def calibrate(scores: Any, same: Any, pairs: str, note: str = "") -> tuple[float, str]:
    """``(threshold, source)``: :func:`calibrate_threshold` on the pairs and :func:`threshold_source` describing
    them (``pairs`` names the set, ``note`` as for :func:`threshold_source`). Fill ``ModelCard.threshold`` and
    ``ModelCard.threshold_source`` with the two."""
    t = calibrate_threshold(scores, same)
    acc = accuracy_at(scores, np.asarray(same).astype(bool), t)
    return t, threshold_source(pairs, int(np.asarray(scores).size), acc, note)
