"""Checks of labkit.theory: the callbacks behind notebooks 01 and 02, called as the sliders would call them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labkit import bounds, theory


# ---------------------------------------------------------------- Fig. 2 widths


@pytest.mark.parametrize("m", [0.05, 0.2, 0.35, 0.7])
@pytest.mark.parametrize("deg", [5.0, 30.0, 60.0, 85.0])
def test_lmcl_width_is_sqrt2_m_everywhere(m, deg):
    w = theory.margin_width_across_diagonal("lmcl", math.cos(math.radians(deg)), m)
    assert w == pytest.approx(math.sqrt(2) * m, rel=1e-9)


def test_lmcl_width_matches_brute_force_distance_between_lines():
    # Brute force: sample points on both boundary lines, take the smallest Euclidean distance between them.
    m = 0.3
    c = np.linspace(-1, 2, 3001)
    p1 = np.stack([c, c - m], 1)
    p2 = np.stack([c - m, c], 1)
    d = np.min(np.linalg.norm(p1[::7, None, :] - p2[None, ::7, :], axis=2))
    assert d == pytest.approx(theory.margin_width_across_diagonal("lmcl", 0.5, m), abs=2e-3)


@pytest.mark.parametrize("m_sphere", [2, 3, 4])
def test_asoftmax_width_vanishes_as_theta_goes_to_zero(m_sphere):
    degs = [60.0, 30.0, 10.0, 3.0, 1.0, 0.3]
    widths = [theory.margin_width_across_diagonal("asoftmax", math.cos(math.radians(d)), m_sphere) for d in degs]
    assert all(a > b for a, b in zip(widths, widths[1:])), widths
    assert widths[-1] < 1e-4
    assert theory.margin_width_across_diagonal("asoftmax", 1.0, m_sphere) == 0.0
    # Quadratic vanishing with the constant of our small-angle expansion.
    th = math.radians(0.3)
    assert widths[-1] == pytest.approx(theory.asoftmax_small_angle_width(th, m_sphere), rel=1e-3)


def test_asoftmax_boundary_point_really_is_on_the_boundary():
    # Independent check of the bisection: the point reached satisfies psi(theta1) = cos(theta2).
    t, m = math.cos(math.radians(40)), 4
    half = theory.margin_width_across_diagonal("asoftmax", t, m) / 2
    c1, c2 = t + half / math.sqrt(2), t - half / math.sqrt(2)
    assert float(theory.psi(math.acos(c1), m)) == pytest.approx(c2, abs=1e-9)


def test_psi_wraps_the_losses_function_for_numpy():
    th = np.linspace(0.0, math.pi, 7)
    out = theory.psi(th, 3)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == th.shape
    assert float(theory.psi(0.0, 3)) == 1.0 and float(theory.psi(math.pi, 3)) == pytest.approx(-5.0)  # -(2m-1)
    assert np.allclose(theory.psi(th, 1), np.cos(th))
    with pytest.raises(ValueError):
        theory.psi(th, 0)


def test_decision_callback_readout_follows_sliders():
    a = theory.decision_boundaries_figure(m=0.2, m_sphere=4, norm_ratio=1.0, s=8.0)
    b = theory.decision_boundaries_figure(m=0.5, m_sphere=4, norm_ratio=2.0, s=8.0)
    assert a.values["lmcl_width"] == pytest.approx(math.sqrt(2) * 0.2)
    assert b.values["lmcl_width"] == pytest.approx(math.sqrt(2) * 0.5)
    assert a.values["softmax_overlap_area"] == 0.0
    assert b.values["softmax_overlap_area"] == pytest.approx(0.25)
    assert "0.7071" in b.text
    # Four panels, grey LMCL band drawn with the slider's m: its corner is at (0, m).
    band = [t for t in b.figure.data if getattr(t, "fill", None) == "toself" and t.xaxis == "x4"][0]
    assert band.y[0] == pytest.approx(0.5)
    # Softmax boundary slope = |W1|/|W2|.
    sm = [t for t in b.figure.data if t.name == "decision boundary"][0]
    assert np.allclose(np.asarray(sm.y), 2.0 * np.asarray(sm.x))
    # s sharpens the posterior: a larger s pushes the C1 posterior on the diagonal further below 1/2 under LMCL.
    c = theory.decision_boundaries_figure(m=0.5, m_sphere=4, norm_ratio=2.0, s=30.0)
    assert c.values["posterior_on_diagonal_lmcl"] < b.values["posterior_on_diagonal_lmcl"] < 0.5
    assert c.values["posterior_on_diagonal_nsl"] == pytest.approx(0.5)


@pytest.mark.parametrize("kw", [dict(m=-0.1), dict(m_sphere=0), dict(m_sphere=2.5), dict(norm_ratio=0.0), dict(s=0.0),
                                dict(probe_deg=120.0)])
def test_decision_callback_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        theory.decision_boundaries_figure(**kw)


# ---------------------------------------------------------------- Fig. 3


@pytest.mark.parametrize("phi_deg,m", [(90, 0.35), (60, 0.2), (150, 1.2), (30, 0.1)])
def test_circle_boundary_matches_brute_force(phi_deg, m):
    phi = math.radians(phi_deg)
    a, b = theory.lmcl_circle_boundaries(phi, m)
    assert b == -a
    alpha = np.linspace(-math.pi / 2, math.pi / 2, 200001)
    ok = np.cos(alpha - phi / 2) - np.cos(alpha + phi / 2) >= m  # class 1 with margin
    assert alpha[ok].min() == pytest.approx(a, abs=1e-4)
    res = theory.circle_geometry_figure(phi_deg, m)
    assert res.values["angular_gap"] == pytest.approx(2 * a)
    assert res.values["max_margin_pair"] == pytest.approx(1 - math.cos(phi))


def test_circle_margin_limit_is_pairwise_eq7():
    phi = 2 * math.pi / 8  # neighbours among 8 evenly spread classes
    a, _ = theory.lmcl_circle_boundaries(phi, bounds.m_upper_bound(8, 2).value)
    assert a == pytest.approx(phi / 2)  # the boundary reaches W1 exactly at the Eq. 7 bound
    with pytest.raises(ValueError, match="exceeds"):
        theory.lmcl_circle_boundaries(phi, bounds.m_upper_bound(8, 2).value + 0.01)


# ---------------------------------------------------------------- Sec. 3.3 normalisation


def test_unnormalised_lmcl_gradient_shrinks_the_norm():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(50):
        w = rng.standard_normal((2, 4))
        x = rng.standard_normal(4) * rng.uniform(0.5, 5)
        g = theory.lmcl_feature_gradient(x, w, 0, m=0.35)
        # Autograd's radial component equals the closed form sum_j p_j (a_j - a_y).
        assert g["radial"] == pytest.approx(g["dL_dnorm_closed_form"], rel=1e-9, abs=1e-12)
        if g["target_minus_margin"] < g["best_other"]:
            assert g["radial"] > 0  # descent direction -g reduces |x|
            hits += 1
        else:
            assert g["radial"] < 0  # binary case: sign flips once the margin is met
    assert hits > 10


def test_normalised_lmcl_gradient_is_purely_angular():
    rng = np.random.default_rng(1)
    for _ in range(20):
        w = rng.standard_normal((5, 3))
        x = rng.standard_normal(3) * 4
        g = theory.lmcl_feature_gradient(x, w, 2, m=0.35, s=30.0)
        assert abs(g["radial"]) < 1e-9 * max(1.0, g["tangential"])
        assert g["tangential"] > 0


def test_norm_trajectory_unnormalised_first_shrinks():
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    x0 = 3.0 * np.array([0.6, 0.8])  # cos to W1 0.6 - 0.35 < cos to W2 0.8
    tr = theory.norm_trajectory(x0, w, 0, 0.35, s=None, lr=0.5, steps=5)
    assert tr["norm"][1] < tr["norm"][0]
    assert tr["cos_target"][-1] > tr["cos_target"][0]


# ---------------------------------------------------------------- notebook 02 callbacks


def test_s_bound_figure_values():
    res = theory.s_bound_figure(p_ws=(0.9, 0.99))
    assert res.values["s_min(C=8, P_W=0.9)"] == pytest.approx(3.625, abs=1e-3)
    assert res.values["s_min(C=10572, P_W=0.9)"] == pytest.approx(11.46, abs=1e-2)
    assert res.values["s_min(C=10572, P_W=0.99)"] > res.values["s_min(C=10572, P_W=0.9)"]
    assert len([t for t in res.figure.data if t.mode == "lines"]) == 2
    with pytest.raises(ValueError):
        theory.s_bound_figure(p_ws=())


def test_bounds_explorer_state_regimes():
    a = theory.bounds_explorer_state(4, 3, 0.9, steps=300)
    assert a.values["max_cosine"] == pytest.approx(-1 / 3, abs=1e-3)
    assert a.values["m_bound"] == pytest.approx(4 / 3)
    b = theory.bounds_explorer_state(8, 2, 0.9, steps=300)
    assert b.values["achieved_margin"] == pytest.approx(1 - math.cos(math.pi / 4), abs=1e-3)
    c = theory.bounds_explorer_state(12, 3, 0.99, steps=300)
    assert c.values["max_cosine"] > c.values["simplex_cosine"] + 0.5
    assert c.values["achieved_margin"] < c.values["m_bound"]
    assert c.values["s_min"] == pytest.approx(bounds.s_lower_bound(12, 0.99))
    assert c.values["posterior_spread_at_s"] <= c.values["posterior_bound_at_s"]
    # The K > 3 view is a histogram of pairwise cosines.
    d = theory.bounds_explorer_state(10, 5, 0.9, steps=200)
    assert d.figure.data[0].type == "histogram"
    assert len(d.figure.data[0].x) == 10 * 9


def test_margin_vs_classes_shrinks():
    res = theory.margin_vs_classes(3, [3, 4, 6, 8, 12], steps=400)
    vals = [res.values[f"C={c}"] for c in (3, 4, 6, 8, 12)]
    assert vals[1] == pytest.approx(4 / 3, abs=1e-3)
    assert all(a > b for a, b in zip(vals, vals[1:]))


# ---------------------------------------------------------------- widget wiring


def test_bounds_explorer_wiring():
    box, sliders, readout, out = theory.build_bounds_explorer(num_classes=6, feat_dim=3, p_w=0.9, steps=200)
    first = readout.value
    assert "C = 6" in first
    sliders["p_w"].value = 0.99
    assert readout.value != first
    assert f"{bounds.s_lower_bound(6, 0.99):.3f}" in readout.value
    sliders["num_classes"].value = 4
    assert "C = 4" in readout.value


def test_decision_explorer_wiring():
    box, sliders, readout, out = theory.build_decision_explorer(m=0.35)
    first = readout.value
    sliders["m"].value = 0.5
    assert readout.value != first
    assert f"{math.sqrt(2) * 0.5:.4f}" in readout.value


def test_circle_explorer_reports_an_impossible_margin():
    box, sliders, readout, out = theory.build_circle_explorer(phi_deg=60.0, m=0.2)
    assert "Not drawable" not in readout.value
    sliders["m"].value = 0.8  # > 1 - cos 60 deg = 0.5
    assert "Not drawable" in readout.value and "exceeds" in readout.value


def test_exercise_checker():
    assert theory.check(28.8, 64 * (0.8 - 0.35), "target logit").startswith("correct")
    with pytest.raises(AssertionError, match="not right"):
        theory.check(30.0, 28.8, "target logit")
    with pytest.raises(AssertionError, match="placeholder"):
        theory.check(float("nan"), 28.8, "target logit")


def test_tiny_batch_shapes():
    b = theory.tiny_batch()
    assert tuple(b["features"].shape) == (4, 2) and tuple(b["weight"].shape) == (3, 2)
    assert b["labels"].tolist() == [0, 1, 2, 0]


def test_shaded_regions_cover_the_right_points():
    from matplotlib.path import Path

    res = theory.decision_boundaries_figure(m=0.35, m_sphere=2, norm_ratio=1.5, s=8.0)
    fills = {t.xaxis: t for t in res.figure.data if getattr(t, "fill", None) == "toself"}

    def inside(trace, pt):
        return Path(np.column_stack([np.asarray(trace.x, float), np.asarray(trace.y, float)])).contains_point(pt)

    # Softmax overlap: between y = x and y = min(1.5 x, 1), also where the line has left the square.
    assert inside(fills["x"], (0.5, 0.6)) and inside(fills["x"], (0.9, 0.95))
    assert not inside(fills["x"], (0.5, 0.4)) and not inside(fills["x"], (0.2, 0.5))
    # A-Softmax (m = 2): class 1 needs cos(2 theta1) >= cos(theta2); (0.1, 0.1) meets neither class's condition.
    assert inside(fills["x3"], (0.1, 0.1))
    c1, c2 = 0.95, 0.2  # cos(2 acos 0.95) = 0.805 >= 0.2: class 1 accepts it, so it is outside the margin
    assert not inside(fills["x3"], (c1, c2))
    # LMCL band |c1 - c2| <= m.
    assert inside(fills["x4"], (0.5, 0.7)) and not inside(fills["x4"], (0.5, 0.9))


# ---------------------------------------------------------------- exercises: parameters-cell answers and the checker

import json  # noqa: E402
from pathlib import Path  # noqa: E402

ANSWERS = Path(__file__).with_name("notebook_answers.json")


def test_answers_file_covers_every_exercise():
    answers = json.loads(ANSWERS.read_text())
    listed = {name for per_nb in answers.values() for name in per_nb}
    assert listed == set(theory.EXERCISES)
    for nb, per_nb in answers.items():
        for name in per_nb:
            assert theory.EXERCISES[name].notebook == nb


@pytest.mark.parametrize("name", sorted(theory.EXERCISES))
def test_checker_accepts_the_answers_file_and_rejects_wrong_values(name):
    answers = {k: v for per_nb in json.loads(ANSWERS.read_text()).values() for k, v in per_nb.items()}
    assert theory.check_answer(name, answers[name]).startswith(f"{name}: correct")
    assert theory.NOT_ANSWERED in theory.check_answer(name, None)
    wrong = theory.check_answer(name, answers[name] + 1.0 if answers[name] != -1 else 1)
    assert "not quite" in wrong and "hint" in wrong and theory.EXERCISES[name].hint in wrong
    assert "not quite" in theory.check_answer(name, "twenty")


def test_every_answer_is_a_parameter_of_its_notebook_defaulting_to_none():
    from labkit.notebooks import NOTEBOOK_DIR, default_parameters

    answers = json.loads(ANSWERS.read_text())
    for nb, per_nb in answers.items():
        params = default_parameters(NOTEBOOK_DIR / f"{nb}.ipynb")
        for name in per_nb:
            assert name in params and params[name] is None, (nb, name)


def test_checker_rejects_an_unknown_exercise():
    with pytest.raises(KeyError, match="ANSWER_TARGET_LOGIT"):
        theory.check_answer("ANSWER_NOPE", 1.0)


def test_scale_margin_curves_blow_up_at_the_margins():
    res = theory.scale_margin_curves(8, 0.9, feat_dims=(2,), points=40)
    assert res.values["pole simplex"] == pytest.approx(8 / 7)
    assert res.values["pole K=2"] == pytest.approx(1 - math.cos(math.pi / 4))
    assert res.values["s(m=0) K=2"] == pytest.approx(bounds.min_scale_on_circle(8, 0.9, 0.0))
    assert res.values["s(m=0) simplex"] == pytest.approx(bounds.s_lower_bound(8, 0.9))
