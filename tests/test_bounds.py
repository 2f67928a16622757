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


# ---------------------------------------------------------------- Eq. 6 with the margin (choosing s and m)

from labkit.bounds import (  # noqa: E402
    min_scale_for_weights,
    min_scale_on_circle,
    reachable_margin,
    recommend_scale_and_margin,
    s_lower_bound_with_margin,
)


def brute_force_min_scale(weights, p_w, m, s_max, step=1e-3):
    """Grid search, independent of labkit.bounds: LMCL logits from labkit.losses for features lying on their class
    weights, softmax in torch, the first grid scale at which every class-centre posterior is >= p_w (and stays so)."""
    import torch

    from labkit.losses import cosface_logits, cosine

    w = torch.as_tensor(np.asarray(weights), dtype=torch.float64)
    y = torch.arange(w.shape[0])
    unit = cosface_logits(cosine(w, w), y, 1.0, m)  # cos - m on the target: the logits at s = 1 (linear in s)
    grid = torch.arange(1, int(s_max / step) + 1, dtype=torch.float64) * step
    post = torch.softmax(grid[:, None, None] * unit[None], dim=2).diagonal(dim1=1, dim2=2).min(dim=1).values
    ok = (post >= p_w).numpy()
    assert ok.any(), "s_max too small for the grid search"
    first = int(np.argmax(ok))
    assert ok[first:].all(), "the centre posterior should only grow with s below the arrangement's margin"
    return float(grid[first])


def test_margin_bound_reduces_to_eq6_at_m0():
    for c in (2, 3, 8, 100, 10_572):
        for p in (0.3, 0.9, 0.999):
            assert s_lower_bound_with_margin(c, p, 0.0) == pytest.approx(s_lower_bound(c, p), rel=1e-12)
    assert round(s_lower_bound_with_margin(8, 0.9, 0.35), 2) == 5.23  # ln 63 / (8/7 - 0.35)


@pytest.mark.parametrize("c", [2, 3, 8, 10_572])
def test_margin_bound_diverges_at_eq7(c):
    bound = c / (c - 1)  # Eq. 7 for C <= K + 1
    ms = [0.0, 0.25 * bound, 0.5 * bound, 0.9 * bound, 0.99 * bound, bound - 1e-6]
    vals = [s_lower_bound_with_margin(c, 0.9, m) for m in ms]
    assert all(a < b for a, b in zip(vals, vals[1:]))
    # Close to the bound the scale is the log-odds over the distance to the bound: it grows like 1/(bound - m).
    assert vals[-1] == pytest.approx(math.log((c - 1) * 9) / 1e-6, rel=1e-6)
    assert s_lower_bound_with_margin(c, 0.9, bound) == math.inf
    assert s_lower_bound_with_margin(c, 0.9, bound + 0.1) == math.inf
    assert s_lower_bound_with_margin(c, 0.5 / c, bound + 0.1) == 0.0  # p_w <= 1/C: met at s = 0


@pytest.mark.parametrize("c", [2, 3, 8, 50])
@pytest.mark.parametrize("m", [0.0, 0.2, 0.6])
def test_margin_bound_is_met_with_equality_by_the_simplex(c, m):
    w = regular_simplex(c)
    s = s_lower_bound_with_margin(c, 0.9, m)
    assert min_scale_for_weights(w, 0.9, m) == pytest.approx(s, rel=1e-10)
    assert min_centre_posterior(w, s, m) == pytest.approx(0.9, rel=1e-10)
    assert bounds.posterior_at_centre_with_margin(c, s, m) == pytest.approx(0.9, rel=1e-10)


def test_no_configuration_beats_the_margin_bound():
    rng = np.random.default_rng(7)
    for _ in range(300):
        c, k = int(rng.integers(2, 12)), int(rng.integers(2, 6))
        s, m = float(rng.uniform(0.5, 40)), float(rng.uniform(0.0, 1.2))
        w = rng.standard_normal((c, k))
        assert min_centre_posterior(w, s, m) <= bounds.posterior_at_centre_with_margin(c, s, m) + 1e-12


def test_circle_scales_explain_the_toy():
    # 8 classes on the circle, P_W = 0.9: the scales quoted for the toy experiment.
    assert min_scale_on_circle(8, 0.9, 0.0) == pytest.approx(9.8715, abs=1e-3)
    assert min_scale_on_circle(8, 0.9, 0.1) == pytest.approx(14.984, abs=1e-3)
    assert min_scale_on_circle(8, 0.9, 0.2) == pytest.approx(31.115, abs=1e-3)
    # far above Eq. 6 (3.63), which only the simplex attains
    assert min_scale_on_circle(8, 0.9, 0.0) > 2.5 * s_lower_bound(8, 0.9)
    for m, s_max in ((0.0, 12), (0.1, 17), (0.2, 34)):
        brute = brute_force_min_scale(bounds.circle_weights(8), 0.9, m, s_max)
        assert brute == pytest.approx(min_scale_on_circle(8, 0.9, m), abs=1.5e-3)


def test_circle_scale_diverges_at_the_k2_bound():
    bound = m_upper_bound(8, 2).value
    vals = [min_scale_on_circle(8, 0.9, bound - d) for d in (0.1, 0.01, 1e-3, 1e-5)]
    assert all(a < b for a, b in zip(vals, vals[1:])) and vals[-1] > 1e4
    assert min_scale_on_circle(8, 0.9, bound) == math.inf
    assert min_scale_on_circle(8, 0.9, 0.35) == math.inf
    assert min_scale_on_circle(8, 0.1, 0.35) == 0.0  # p_w <= 1/C
    with pytest.raises(ValueError, match="no single smallest scale"):
        min_scale_on_circle(8, 0.3, 0.35)  # between 1/C and 1/2 past the bound


@pytest.mark.parametrize("seed", range(4))
def test_exact_scale_matches_brute_force_on_random_weights(seed):
    rng = np.random.default_rng(seed)
    c, k = int(rng.integers(3, 9)), int(rng.integers(2, 5))
    w = rng.standard_normal((c, k))
    m = 0.5 * margin_of_weights(w)
    p = float(rng.uniform(0.5, 0.95))
    exact = min_scale_for_weights(w, p, m)
    assert exact >= s_lower_bound_with_margin(c, p, m)
    assert brute_force_min_scale(w, p, m, 1.2 * exact + 1.0, step=exact / 4000) == pytest.approx(exact, rel=5e-4)


# ---------------------------------------------------------------- the reachable margin


def test_reachable_margin_exact_regimes():
    r = reachable_margin(8, 2)
    assert r.exact and r.value == pytest.approx(1 - math.cos(math.pi / 4)) and r.lower == r.upper == r.value
    r = reachable_margin(5, 4)
    assert r.exact and r.value == pytest.approx(5 / 4)
    for c, k in ((5, 3), (6, 3), (7, 5), (1000, 512)):  # K + 2 <= C <= 2K: Rankin, signed axes reach 1
        r = reachable_margin(c, k)
        assert r.exact and r.value == 1.0 and "Rankin" in r.method
        if c <= 50:
            assert margin_of_weights(bounds.orthoplex_weights(c, k)) == pytest.approx(1.0)


def test_reachable_margin_c8_k3_is_far_below_eq7():
    r = reachable_margin(8, 3)
    assert not r.exact
    # Tammes problem, 8 points: the square antiprism, smallest angle 74.8585 deg.
    assert r.value == pytest.approx(1 - math.cos(math.radians(74.8585)), abs=1e-3)
    assert r.value < r.upper < m_upper_bound(8, 3).value - 0.3  # 0.739 <= 0.790 (Fejes Toth) < 1.143 (Eq. 7)
    assert str(r).startswith("reachable margin 0.738")


def test_reachable_margin_casia_falls_back_to_the_ceiling():
    r = reachable_margin(10_572, 512)
    assert not r.exact and r.method.startswith("ceiling")
    assert r.value == r.upper == pytest.approx(1 - (10_572 - 1024) / (512 * 10_570))
    assert r.lower == 0.5  # D_512 roots: an explicit arrangement with margin 1/2
    assert r.value < m_upper_bound(10_572, 512).value


def test_reachable_margin_answers_every_case_of_the_grid_consistently():
    """Every (C, K) the benchmark times (benchmarks/reachable_margin.py) gets a bracketed answer, and a cached call
    returns the same object: the behaviour, not the speed, is what a test can check."""
    reachable_margin.cache_clear()
    cases = [(c, k) for k in range(2, 9) for c in range(2, 101)] + [(10_572, 512), (5_000, 128), (1_000, 64)]
    first = {case: reachable_margin(*case) for case in cases}
    for (c, k), r in first.items():
        assert r.lower <= r.value <= r.upper + 1e-12, (c, k, r)
        assert r.upper <= m_upper_bound(c, k).value + 1e-12 or c <= k + 1, (c, k, r)
        assert reachable_margin(c, k) is r  # served from the cache


def test_ceiling_is_rigorous_against_random_and_spread_configurations():
    rng = np.random.default_rng(11)
    for _ in range(300):
        k = int(rng.integers(3, 7))
        c = int(rng.integers(2 * k + 1, 40))
        w = rng.standard_normal((c, k))
        assert margin_of_weights(w) <= bounds.margin_ceiling(c, k)[0] + 1e-12
        # the second-moment bound and Rankin's, each on its own
        assert max_pairwise_cosine(w) >= (c - 2 * k) / (k * (c - 2)) - 1e-12
        assert max_pairwise_cosine(w) >= 0.0
    for k, table in bounds._SPREAD_TABLE.items():
        for i, v in enumerate(table):
            c = 2 * k + 1 + i
            assert v <= bounds.margin_ceiling(c, k)[0] + 1e-9, (c, k)
        assert all(a >= b for a, b in zip(table, table[1:])), f"K={k}: table must not increase with C"


def test_ceiling_is_tight_where_the_optimum_is_known():
    # K = 3, C = 12: Fejes Toth's bound is met by the icosahedron.
    assert bounds.margin_ceiling(12, 3)[0] == pytest.approx(1 - 1 / math.sqrt(5), abs=1e-12)
    assert reachable_margin(12, 3).value == pytest.approx(1 - 1 / math.sqrt(5), abs=1e-4)
    # K = 2: cap packing is exact on the circle
    assert bounds.margin_ceiling(7, 2)[0] == pytest.approx(1 - math.cos(2 * math.pi / 7))


def test_cap_fraction_matches_the_incomplete_beta_function():
    from scipy.special import betainc

    for k in (3, 4, 10, 128, 512):
        for r in (0.05, 0.4, 1.0, 1.5, 2.2):
            ref = 0.5 * betainc((k - 1) / 2, 0.5, math.sin(r) ** 2)
            ref = ref if r <= math.pi / 2 else 1 - ref
            assert bounds.cap_fraction(k, r) == pytest.approx(ref, rel=1e-8)
    assert bounds.cap_fraction(3, 1.0) == pytest.approx((1 - math.cos(1.0)) / 2)
    assert bounds.cap_fraction(2, 1.0) == pytest.approx(1 / math.pi)


def test_explicit_constructions():
    w = bounds.root_system_d_weights(24, 4)  # the 24-cell
    assert w.shape == (24, 4) and max_pairwise_cosine(w) == pytest.approx(0.5)
    assert margin_of_weights(bounds.root_system_d_weights(12, 3)) == pytest.approx(0.5)  # cuboctahedron
    o = bounds.orthoplex_weights(7, 4)
    assert sorted(set(np.round((o @ o.T)[~np.eye(7, dtype=bool)], 12))) == [-1.0, 0.0]
    assert np.allclose(bounds.circle_weights(8) @ bounds.circle_weights(8)[0], np.cos(2 * np.pi * np.arange(8) / 8))
    with pytest.raises(ValueError):
        bounds.orthoplex_weights(9, 4)


@pytest.mark.parametrize("c,k", [(9, 3), (13, 4)])
def test_shipped_table_reproduces(c, k):
    fresh = margin_of_weights(spread_on_sphere(c, k))
    assert bounds._SPREAD_TABLE[k][c - 2 * k - 1] >= math.floor(fresh * 1e6) / 1e6 - 1e-12


# ---------------------------------------------------------------- the recommendation


def test_recommendation_for_the_toy_circle():
    rec = recommend_scale_and_margin(8, 2, 0.9)
    assert rec.m == pytest.approx(0.0999, abs=1e-4)  # thirds of the 45 deg arc: the paper's middle toy margin
    assert rec.s == pytest.approx(min_scale_on_circle(8, 0.9, rec.m), rel=1e-12) and rec.s_exact
    assert rec.s == pytest.approx(brute_force_min_scale(rec.weights, 0.9, rec.m, 20.0), abs=1.5e-3)
    assert rec.s_eq6 < rec.s_any_arrangement < rec.s
    assert "exact root" in rec.explanation and f"{rec.m:.4f}" in rec.explanation


def test_recommendation_for_k3_uses_the_spread_and_brute_force_agrees():
    rec = recommend_scale_and_margin(8, 3, 0.9)
    assert rec.weights.shape == (8, 3)
    assert rec.arrangement_margin == pytest.approx(0.7388, abs=1e-3) and rec.m < rec.arrangement_margin
    brute = brute_force_min_scale(rec.weights, 0.9, rec.m, 2 * rec.s)
    assert rec.s == pytest.approx(brute, abs=1.5e-3)
    assert rec.s_any_arrangement <= rec.s


def test_recommendation_for_casia_matches_the_papers_margin():
    rec = recommend_scale_and_margin(10_572, 512, 0.9)
    assert not rec.s_exact and rec.weights is None
    assert rec.m == pytest.approx(0.35, abs=0.02)  # the paper's m = 0.35
    assert rec.s_any_arrangement <= rec.s < 1.01 * rec.s_any_arrangement
    # The paper's s = 64 leaves the centre posterior within 1e-14 of 1 at this margin.
    assert 1 - bounds.posterior_at_centre_with_margin(10_572, 64.0, rec.m) < 1e-13


def test_recommendation_limits():
    # gap_share 0: no margin, and s is Eq. 6 for the simplex / the circle's m = 0 value
    assert recommend_scale_and_margin(5, 4, 0.9, gap_share=0.0).s == pytest.approx(s_lower_bound(5, 0.9), rel=1e-12)
    assert recommend_scale_and_margin(8, 2, 0.9, gap_share=0.0).s == pytest.approx(9.8715, abs=1e-3)
    # gap_share -> 1: m -> the arrangement's margin and s -> infinity
    ss = [recommend_scale_and_margin(8, 2, 0.9, gap_share=g).s for g in (0.5, 0.9, 0.99, 0.999)]
    assert all(a < b for a, b in zip(ss, ss[1:])) and ss[-1] > 1e3
    assert recommend_scale_and_margin(8, 2, 0.9, gap_share=1.0).m == pytest.approx(m_upper_bound(8, 2).value)
    # the safety factor multiplies the exact scale
    a, b = recommend_scale_and_margin(6, 3, 0.9), recommend_scale_and_margin(6, 3, 0.9, safety=1.5)
    assert b.s == pytest.approx(1.5 * a.s) and b.m == a.m and "1.5 x" in b.explanation


def test_margin_for_gap_share_geometry():
    # the boundary of class 1 sits gap_share * phi / 2 from the bisector (Fig. 3 geometry, via theory's bisection)
    from labkit import theory

    for phi_deg, g in ((45.0, 1 / 3), (90.0, 1 / 3), (120.0, 0.5)):
        phi = math.radians(phi_deg)
        m = bounds.margin_for_gap_share(math.cos(phi), g)
        a, _ = theory.lmcl_circle_boundaries(phi, m)
        assert a == pytest.approx(g * phi / 2, rel=1e-12)
    assert bounds.margin_for_gap_share(0.0) == pytest.approx(2 * math.sin(math.pi / 12) * math.sin(math.pi / 4))


@pytest.mark.parametrize(
    "call",
    [
        lambda: s_lower_bound_with_margin(8, 0.9, -0.1),
        lambda: s_lower_bound_with_margin(8, 1.0, 0.1),
        lambda: min_scale_on_circle(1, 0.9, 0.1),
        lambda: min_scale_for_weights(np.eye(3), 0.9, float("nan")),
        lambda: bounds.min_scale_for_gram(np.ones((2, 3)), 0.9, 0.1),
        lambda: reachable_margin(8, 1),
        lambda: recommend_scale_and_margin(8, 2, 0.9, safety=0.5),
        lambda: recommend_scale_and_margin(8, 2, 0.9, gap_share=1.5),
        lambda: bounds.cap_fraction(3, 4.0),
    ],
)
def test_choosing_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
