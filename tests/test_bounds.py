"""Checks of labkit.bounds: Eq. 6 and Eq. 7 against closed forms, brute force and the supplementary proof steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labkit import bounds
from labkit.bounds import (
    eq6_proof_chain,
    eq16_max_cosine,
    m_upper_bound,
    margin_of_weights,
    max_pairwise_cosine,
    min_centre_posterior,
    posterior_at_centre,
    regular_simplex,
    s_lower_bound,
    spread_on_sphere,
)

# ---------------------------------------------------------------- Eq. 6


def test_s_bound_paper_values():
    # Values quoted from the formula by hand: (7/8) ln(7*9) and (10571/10572) ln(10571*9).
    assert s_lower_bound(8, 0.9) == pytest.approx(7 / 8 * math.log(63), rel=1e-12)
    assert round(s_lower_bound(8, 0.9), 2) == 3.63
    assert round(s_lower_bound(10_572, 0.9), 2) == 11.46


def test_s_bound_grows_with_classes_and_posterior():
    cs = [2, 8, 100, 10_572]
    vals = [s_lower_bound(c, 0.9) for c in cs]
    assert all(a < b for a, b in zip(vals, vals[1:]))
    ps = [0.5, 0.9, 0.99, 0.999]
    vals = [s_lower_bound(8, p) for p in ps]
    assert all(a < b for a, b in zip(vals, vals[1:]))


@pytest.mark.parametrize("c", [2, 3, 8, 10_572])
@pytest.mark.parametrize("p", [0.3, 0.9, 0.999])
def test_posterior_at_centre_inverts_eq6(c, p):
    assert posterior_at_centre(c, s_lower_bound(c, p)) == pytest.approx(p, rel=1e-10)


@pytest.mark.parametrize("c,s", [(2, 0.5), (8, 3.0), (8, 64.0), (10_572, 30.0), (10_572, 64.0)])
def test_centre_error_is_one_minus_posterior(c, s):
    err = bounds.centre_error_at_scale(c, s)
    assert 0 < err < 1
    assert 1 - posterior_at_centre(c, s) == pytest.approx(err, abs=1e-15)
    # at large s it is (C-1) e^{-sC/(C-1)} to first order, far below float resolution of 1 - P
    assert err == pytest.approx((c - 1) * math.exp(-s * c / (c - 1)), rel=1e-6 + (c - 1) * math.exp(-s * c / (c - 1)))


def test_simplex_posterior_matches_eq6_equality_case():
    # The simplex is the equality case of the proof: its centre posterior at scale s is exactly the inverse of Eq. 6.
    for c in (3, 5, 9):
        w = regular_simplex(c)
        for s in (1.0, 5.0, 30.0):
            assert min_centre_posterior(w, s) == pytest.approx(posterior_at_centre(c, s), rel=1e-10)


def test_no_configuration_beats_eq6():
    # Brute force: whatever the weights, the centre posterior reached at s never exceeds the bound's inverse.
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = int(rng.integers(2, 12))
        k = int(rng.integers(2, 6))
        s = float(rng.uniform(0.5, 40))
        w = rng.standard_normal((c, k))
        assert min_centre_posterior(w, s) <= posterior_at_centre(c, s) + 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_proof_chain_holds_on_random_weights(seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((7, 4))
    steps = eq6_proof_chain(w, s=8.0)
    assert [q.label.split(" (")[0] for q in steps][:4] == ["Eq. 8", "Eq. 9", "Eq. 10", "Eq. 11"]
    for q in steps:
        assert q.holds(), str(q)
    # Random weights do not sum to zero, so Eq. 13 and the final bound are strict.
    eq13 = next(q for q in steps if q.label == "Eq. 13")
    assert eq13.slack == pytest.approx(np.linalg.norm((w / np.linalg.norm(w, axis=1, keepdims=True)).sum(0)) ** 2)
    assert steps[-1].slack > 1e-3


def test_proof_chain_tight_for_simplex():
    steps = eq6_proof_chain(regular_simplex(6), s=12.0)
    for q in steps:
        assert q.holds()
        assert abs(q.slack) < 1e-8 * max(1.0, abs(q.rhs)), str(q)


def test_proof_chain_flags_an_unreachable_posterior():
    # Asking for a P_W the configuration cannot deliver: Eq. 8 must fail, and so must Eq. 15 if s is below the bound.
    w = regular_simplex(4)
    s = 2.0
    p_w = 0.99
    steps = eq6_proof_chain(w, s, p_w)
    assert not steps[0].holds()
    assert not steps[-1].holds()
    assert s < s_lower_bound(4, p_w)


def test_jensen_is_strict_unless_cosines_equal():
    rng = np.random.default_rng(3)
    q = bounds.eq12_jensen(rng.standard_normal((5, 3)), 4.0)
    assert q.slack > 0
    q = bounds.eq12_jensen(regular_simplex(5), 4.0)
    assert q.slack == pytest.approx(0.0, abs=1e-14)


# ---------------------------------------------------------------- Eq. 7


def test_m_bound_circle_c8():
    assert m_upper_bound(8, 2).value == pytest.approx(1 - math.cos(math.pi / 4))
    assert round(m_upper_bound(8, 2).value, 4) == 0.2929


@pytest.mark.parametrize("c", [2, 3, 4, 5, 8, 17])
def test_regular_simplex_meets_bound_with_equality(c):
    w = regular_simplex(c)
    assert w.shape == (c, c - 1)
    g = w @ w.T
    off = g[~np.eye(c, dtype=bool)]
    assert np.allclose(off, -1 / (c - 1), atol=1e-12)
    assert np.allclose(w.sum(0), 0, atol=1e-12)
    k = max(c - 1, 2)
    assert margin_of_weights(w) == pytest.approx(m_upper_bound(c, k).value, abs=1e-12)
    for q in eq16_max_cosine(w):
        assert abs(q.slack) < 1e-10


def test_random_configurations_never_beat_eq7():
    rng = np.random.default_rng(1)
    for _ in range(400):
        k = int(rng.integers(2, 6))
        c = int(rng.integers(2, 14))
        w = rng.standard_normal((c, k))
        assert margin_of_weights(w) <= m_upper_bound(c, k).value + 1e-12
        assert max_pairwise_cosine(w) >= -1 / (c - 1) - 1e-12
        assert all(q.holds() for q in eq16_max_cosine(w))


@pytest.mark.parametrize("c", [3, 5, 8, 13])
def test_spread_on_circle_recovers_closed_form(c):
    w = spread_on_sphere(c, 2, seed=0)
    assert w.shape == (c, 2)
    assert np.allclose(np.linalg.norm(w, axis=1), 1.0)
    assert margin_of_weights(w) == pytest.approx(1 - math.cos(2 * math.pi / c), abs=1e-3)


@pytest.mark.parametrize("c,k", [(3, 2), (4, 3), (5, 4), (6, 8)])
def test_spread_reaches_simplex_when_it_fits(c, k):
    w = spread_on_sphere(c, k, seed=1)
    assert max_pairwise_cosine(w) == pytest.approx(-1 / (c - 1), abs=1e-3)
    assert margin_of_weights(w) == pytest.approx(m_upper_bound(c, k).value, abs=1e-3)
    assert np.linalg.norm(w.sum(0)) < 0.05


def test_spread_beyond_simplex_is_strict_and_shrinks():
    k = 3
    margins = {}
    for c in range(6, 13):
        w = spread_on_sphere(c, k, seed=0)
        mx = max_pairwise_cosine(w)
        assert mx > -1 / (c - 1) + 0.1, f"C={c}: a max cosine at the simplex value is impossible in R^3"
        assert margin_of_weights(w) < m_upper_bound(c, k).value
        margins[c] = margin_of_weights(w)
    # Known optima (Tammes problem): octahedron (cos 0) for C=6, icosahedron (cos 1/sqrt 5) for C=12.
    assert margins[6] == pytest.approx(1.0, abs=1e-3)
    assert margins[12] == pytest.approx(1 - 1 / math.sqrt(5), abs=1e-3)
    cs = sorted(margins)
    # Non-increasing in C (C = 11 and 12 share the same optimum, so allow optimiser slack), clearly down overall.
    for a, b in zip(cs, cs[1:]):
        assert margins[b] <= margins[a] + 2e-3
    assert margins[12] < margins[6] - 0.3


def test_spread_is_better_than_random_and_repeatable():
    rng = np.random.default_rng(0)
    w = spread_on_sphere(20, 5, seed=3)
    best_random = max(margin_of_weights(rng.standard_normal((20, 5))) for _ in range(200))
    assert margin_of_weights(w) > best_random
    assert np.array_equal(w, spread_on_sphere(20, 5, seed=3))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda: s_lower_bound(1, 0.9),
        lambda: s_lower_bound(8, 1.0),
        lambda: s_lower_bound(8, 0.0),
        lambda: s_lower_bound(2.5, 0.9),
        lambda: m_upper_bound(8, 1),
        lambda: posterior_at_centre(0, 3.0),
        lambda: spread_on_sphere(1, 3),
        lambda: spread_on_sphere(5, 1),
        lambda: spread_on_sphere(5, 3, steps=0),
        lambda: min_centre_posterior(np.zeros((3, 2)), 1.0),
        lambda: min_centre_posterior(np.ones(3), 1.0),
        lambda: min_centre_posterior(np.eye(3), -1.0),
        lambda: eq6_proof_chain(np.eye(3), 2.0, p_w=1.5),
        lambda: bounds.Inequality("x", "y", 1.0, 2.0, "<"),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_message_says_what_to_fix():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        s_lower_bound(8, 1.2)
    with pytest.raises(ValueError, match=r"\(C, K\)"):
        eq13 = bounds.eq13_pair_sum(np.ones(4))  # noqa: F841
