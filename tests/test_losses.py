"""Tests for labkit.losses: numerics against calculus (gradcheck), closed forms, an independent naive formula and
pytorch-metric-learning's CosFaceLoss; edge cases (cos = +-1, zero vectors, autocast); bounds and registry."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from labkit import losses as L
from labkit.cosine_linear import _ScaledCosine
from labkit.bounds import m_upper_bound, s_lower_bound

NAMES = ["softmax", "nsl", "sphereface", "cosface", "cosface-unnorm", "arcface"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(b=6, k=5, c=7, dtype=torch.float64, seed=0):
    g = _gen(seed)
    x = torch.randn(b, k, generator=g, dtype=dtype)
    w = torch.randn(c, k, generator=g, dtype=dtype)
    y = torch.randint(0, c, (b,), generator=g)
    return x, w, y


def _call(head, w, x, y):
    return torch.func.functional_call(head, {"weight": w}, (x, y))


# ---------------------------------------------------------------------------------------------- independent refs


def naive_cosface(x, w, y, s, m):
    """The textbook formula with a dense one-hot matrix and autograd through F.normalize."""
    cos = F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
    return s * (cos - m * F.one_hot(y, w.shape[0]).to(cos.dtype))


def naive_arcface(x, w, y, s, m):
    cos = F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
    theta = torch.arccos(cos.clamp(-1, 1))
    onehot = F.one_hot(y, w.shape[0]).bool()
    return s * torch.where(onehot, torch.cos(theta + m), cos)


# ---------------------------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_every_head(name):
    x, w, y = _data()
    head = L.make_head(name, 5, 7).double().eval()  # eval: SphereFace's lambda must not move between calls
    x.requires_grad_()
    w.requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w: _call(head, w, x, y), (x, w))
    # inference path (labels=None) too
    assert torch.autograd.gradcheck(lambda x, w: _call(head, w, x, None), (x, w))


@pytest.mark.parametrize("m", [0.0, 0.35])
def test_gradcheck_fused_function_and_functional_api(m):
    x, w, y = _data(seed=1)
    x.requires_grad_()
    w.requires_grad_()
    # the custom autograd.Function directly, with the margin
    assert torch.autograd.gradcheck(lambda x, w: _ScaledCosine.apply(x, w, y, 3.0, m, L.EPS), (x, w))
    assert torch.autograd.gradcheck(lambda x, w: L.cosine(x, w), (x, w))
    cos = torch.rand(6, 7, generator=_gen(2), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: L.cosface_logits(c, y, 3.0, m), (cos,))


def test_gradcheck_psi():
    theta = (torch.rand(50, generator=_gen(3), dtype=torch.float64) * math.pi).requires_grad_()
    for m in (1, 2, 3, 4):
        assert torch.autograd.gradcheck(lambda t: L.sphereface_psi(t, m), (theta,))


def test_custom_backward_matches_autograd_with_zero_rows_float32():
    x, w, y = _data(b=32, k=16, c=40, dtype=torch.float32, seed=4)
    x[3] = 0.0
    w[5] = 0.0
    g = torch.randn(32, 40, generator=_gen(5))
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    xb, wb = x.clone().requires_grad_(), w.clone().requires_grad_()
    out_a = _ScaledCosine.apply(xa, wa, y, 64.0, 0.35, L.EPS)
    out_b = naive_cosface(xb, wb, y, 64.0, 0.35)
    torch.testing.assert_close(out_a, out_b, rtol=1e-5, atol=1e-4)
    (out_a * g).sum().backward()
    (out_b * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(wa.grad, wb.grad, rtol=1e-4, atol=1e-3)
    assert torch.all(out_a[3] == 0.0) or torch.all(out_a[3][torch.arange(40) != y[3]] == 0.0)


# ---------------------------------------------------------------------------------------------- closed forms, refs


def test_cosine_matches_definition_and_zero_vectors():
    x, w, _ = _data(seed=6)
    expected = torch.stack([torch.stack([xi.dot(wj) / (xi.norm() * wj.norm()) for wj in w]) for xi in x])
    torch.testing.assert_close(L.cosine(x, w), expected)
    x[0] = 0.0
    w[2] = 0.0
    x.requires_grad_()
    w.requires_grad_()
    cos = L.cosine(x, w)
    assert torch.all(cos[0] == 0) and torch.all(cos[:, 2] == 0)
    cos.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(w.grad).all()


def test_cosface_equals_naive_formula_values_and_grads():
    x, w, y = _data(b=9, k=6, c=11, seed=7)
    head = L.CosFaceHead(6, 11, s=30.0, m=0.35).double()
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    xb, wb = x.clone().requires_grad_(), w.clone().requires_grad_()
    la = F.cross_entropy(_call(head, wa, xa, y), y)
    lb = F.cross_entropy(naive_cosface(xb, wb, y, 30.0, 0.35), y)
    torch.testing.assert_close(la, lb)
    la.backward()
    lb.backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(wa.grad, wb.grad)


def test_cosface_logits_touch_only_targets():
    cos = torch.rand(5, 8, generator=_gen(8), dtype=torch.float64) * 2 - 1
    y = torch.tensor([0, 7, 3, 3, 5])
    out = L.cosface_logits(cos, y, 10.0, 0.4)
    diff = 10.0 * cos - out
    expected = torch.zeros_like(diff)
    expected[torch.arange(5), y] = 4.0
    torch.testing.assert_close(diff, expected)
    # m = 0 is NSL (Eq. 3): exactly s * cos
    torch.testing.assert_close(L.cosface_logits(cos, y, 10.0, 0.0), 10.0 * cos)


class _ShapeRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.ops.append((str(func.overloadpacket.__name__), tuple(out.shape)))
        return out


def test_no_one_hot_is_built():
    b, c = 6, 50
    x, w, y = _data(b=b, k=4, c=c, dtype=torch.float32, seed=9)
    head = L.CosFaceHead(4, c, m=0.2)  # below the reachable margin of 50 classes in 4-D (0.306)
    cos = torch.rand(b, c)
    with _ShapeRecorder() as rec:
        head(x, y)
        L.cosface_logits(cos, y, 64.0, 0.35)
    full = [name for name, shape in rec.ops if shape == (b, c)]
    assert not any("one_hot" in n or "zeros" in n or "scatter" in n or "eq" == n for n in full), full
    # head: one matmul + one in-place update; functional: one multiply + one in-place update
    assert sorted(full) == sorted(["mm", "index_put_", "mul", "index_put_"]), full


def test_cosface_m0_equals_nsl():
    x, w, y = _data(seed=10)
    nsl = L.NormFaceHead(5, 7, s=20.0).double()
    cf = L.CosFaceHead(5, 7, s=20.0, m=0.0).double()
    cf_m = L.CosFaceHead(5, 7, s=20.0, m=0.2).double()
    torch.testing.assert_close(_call(cf, w, x, y), _call(nsl, w, x, y))
    # and the margin changes exactly the target logits, by s * m
    delta = _call(nsl, w, x, y) - _call(cf_m, w, x, y)
    expected = torch.zeros_like(delta)
    expected[torch.arange(6), y] = 20.0 * 0.2
    torch.testing.assert_close(delta, expected)
    # inference logits: no margin
    torch.testing.assert_close(_call(cf_m, w, x, None), _call(nsl, w, x, None))
    torch.testing.assert_close(cf_m.logits(x), cf_m(x))


def test_cosface_matches_pytorch_metric_learning():
    from pytorch_metric_learning.losses import CosFaceLoss

    b, k, c, s, m = 16, 12, 20, 64.0, 0.35
    x, w, y = _data(b=b, k=k, c=c, dtype=torch.float32, seed=11)
    head = L.CosFaceHead(k, c, s=s, m=m)
    ref = CosFaceLoss(num_classes=c, embedding_size=k, margin=m, scale=s)
    with torch.no_grad():
        head.weight.copy_(w)
        ref.W.copy_(w.T)  # pml keeps (embedding_size, num_classes)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    logits = head(xa, y)
    # pml's logits with margin, built from its own pieces (mask, cosine, target modification, scaling)
    with torch.no_grad():
        mask = ref.get_target_mask(x, y)
        cos = ref.get_cosine(x)
        ct = cos[mask == 1]
        ref_logits = ref.scale_logits(cos + mask * (ref.modify_cosine_of_target_classes(ct) - ct).unsqueeze(1), x)
        torch.testing.assert_close(logits.detach(), ref_logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(head.logits(x), ref.get_logits(x), rtol=1e-5, atol=1e-5)
    loss = F.cross_entropy(logits, y)  # mean over the batch, as pml's default MeanReducer
    ref_loss = ref(xb, y)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-5)
    loss.backward()
    ref_loss.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.weight.grad, ref.W.grad.T, rtol=1e-4, atol=1e-5)


def test_softmax_head_is_bias_free_linear():
    x, w, y = _data(seed=12)
    head = L.SoftmaxHead(5, 7).double()
    torch.testing.assert_close(_call(head, w, x, y), x @ w.T)
    assert not any("bias" in n for n, _ in head.named_parameters())


def test_arcface_matches_naive_and_is_continuous_at_switch():
    x, w, y = _data(b=20, k=3, c=4, seed=13)
    x[:8] = -w[y[:8]] + 0.05 * x[:8]  # nearly opposite their class: theta + m > pi
    head = L.ArcFaceHead(3, 4, s=10.0, m=0.3).double()
    ours = _call(head, w, x, y)
    ref = naive_arcface(x, w, y, 10.0, 0.3)
    cos = F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
    ok = cos[torch.arange(20), y] > -math.cos(0.3)  # theta + m <= pi: the plain ArcFace formula applies
    assert ok.any() and (~ok).any(), "test data should exercise both branches"
    torch.testing.assert_close(ours[ok], ref[ok])
    # the fallback is the cosine margin 1 - cos m, continuous at cos = -cos m where both give -s
    bad = ~ok
    exp_bad = 10.0 * cos.clone()
    exp_bad[torch.arange(20), y] -= 10.0 * (1 - math.cos(0.3))
    torch.testing.assert_close(ours[bad], exp_bad[bad])
    # continuity across the switch, for 1-D features in a 2-D plane
    h2 = L.ArcFaceHead(2, 2, s=2.0, m=0.3).double()
    w2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    th = math.pi - 0.3
    angles = torch.tensor([th - 1e-7, th + 1e-7], dtype=torch.float64)
    xs = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    t = _call(h2, w2, xs, torch.tensor([0, 0]))[:, 0]
    assert abs(float(t[0] - t[1])) < 1e-5 and abs(float(t[0]) + 2.0) < 1e-5


def test_sphereface_matches_formula_with_arccos_psi():
    x, w, y = _data(b=12, k=4, c=5, seed=14)
    head = L.SphereFaceHead(4, 5, m=3).double().eval()
    lam = head.lamb
    ours = _call(head, w, x, y)
    wn = F.normalize(w, dim=1)
    raw = x @ wn.T
    norm = x.norm(dim=1)
    c = raw[torch.arange(12), y] / norm
    psi = L.sphereface_psi(torch.arccos(c), 3)
    expected = raw.clone()
    expected[torch.arange(12), y] = norm * (lam * c + psi) / (1 + lam)
    torch.testing.assert_close(ours, expected)


# ---------------------------------------------------------------------------------------------- psi


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_continuous_and_decreasing(m):
    h = 1e-4
    theta = torch.arange(0.0, math.pi + h / 2, h, dtype=torch.float64)
    theta[-1] = math.pi
    psi = L.sphereface_psi(theta, m)
    d = psi[1:] - psi[:-1]
    assert torch.all(d < 0), f"psi not strictly decreasing for m={m}"
    assert float(d.abs().max()) <= m * h * (1 + 1e-9), "jump: psi not continuous"
    assert float(psi[0]) == pytest.approx(1.0)
    assert float(psi[-1]) == pytest.approx(1.0 - 2 * m)
    # on the first piece it is cos(m theta)
    first = theta <= math.pi / m
    torch.testing.assert_close(psi[first], torch.cos(m * theta[first]))
    # the Chebyshev path used by the head agrees with the angle path
    torch.testing.assert_close(L.margins.psi_from_cos(torch.cos(theta), m), psi, atol=1e-9, rtol=0)


def test_psi_m1_is_cos_and_bad_inputs():
    theta = torch.linspace(0, math.pi, 1001, dtype=torch.float64)
    torch.testing.assert_close(L.sphereface_psi(theta, 1), torch.cos(theta))
    with pytest.raises(ValueError, match=r"\[0, pi\]"):
        L.sphereface_psi(torch.tensor([4.0]), 2)
    for bad in (0, 2.5, -1):
        with pytest.raises(ValueError, match="integer >= 1"):
            L.sphereface_psi(theta, bad)


# ---------------------------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_no_nan_at_cos_plus_minus_one(name, sign):
    head = L.make_head(name, 4, 6)
    with torch.no_grad():  # axis-aligned rows, so the normalised vectors and their cosines are exact
        head.weight[0] = torch.tensor([2.0, 0.0, 0.0, 0.0])
        head.weight[1] = torch.tensor([0.0, 0.5, 0.0, 0.0])
    for mode in (head.train, head.eval):
        mode()
        head.zero_grad()
        x = (sign * 3.0 * head.weight.detach()[[0, 1, 2]]).clone()
        x[2] = 0.0  # and a zero feature
        x.requires_grad_()
        y = torch.tensor([0, 4, 2])  # target equal/opposite to the feature, target elsewhere, zero feature
        cos = head.cosine(x)
        assert float(cos[0, 0].detach()) == sign and float(cos[1, 1].detach()) == sign  # exactly +-1
        logits = head(x, y)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        assert torch.isfinite(logits).all()
        assert torch.isfinite(x.grad).all() and torch.isfinite(head.weight.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_gives_float32_logits(name):
    head = L.make_head(name, 8, 10).eval()
    x, _, y = _data(b=4, k=8, c=10, dtype=torch.float32, seed=15)
    ref = head(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(x, y)
        out_bf = head(x.bfloat16(), y)
        cos = head.cosine(x)
    assert out.dtype == torch.float32 and out_bf.dtype == torch.float32 and cos.dtype == torch.float32
    torch.testing.assert_close(out, ref)  # not rounded through bfloat16
    xb = x.bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        F.cross_entropy(head(xb, y), y).backward()
    assert xb.grad.dtype == torch.bfloat16 and torch.isfinite(xb.grad.float()).all()


def test_bad_inputs_have_clear_errors():
    head = L.CosFaceHead(5, 7)
    x = torch.randn(3, 5)
    with pytest.raises(ValueError, match=r"\[0, 6\]"):
        head(x, torch.tensor([0, 7, 1]))
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        head(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        head(x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        head(x, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=">= 0"):
        L.cosface_logits(torch.rand(3, 7), torch.tensor([0, 1, 2]), 64.0, -0.1)


# ---------------------------------------------------------------------------------------------- SphereFace lambda


def test_sphereface_lambda_anneals_to_min():
    head = L.SphereFaceHead(4, 5, m=4, base=1000.0, gamma=1.0, power=1, lambda_min=5.0)
    x, _, y = _data(b=3, k=4, c=5, dtype=torch.float32, seed=16)
    seen = []
    for it in range(300):
        assert head.lamb == pytest.approx(max(5.0, 1000.0 / (1 + it)))
        seen.append(head.lamb)
        head(x, y)
    assert int(head.iteration) == 300
    assert seen[0] == 1000.0 and seen[-1] == 5.0 and seen[198] > 5.0
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    # the defaults (gamma = 0.12): lambda reaches 5 between iterations 1658 and 1659
    d = L.SphereFaceHead(4, 5)
    d.iteration.fill_(1658)
    assert d.lamb == pytest.approx(1000.0 / (1 + 0.12 * 1658)) and d.lamb > 5.0
    d.iteration.fill_(1659)
    assert d.lamb == 5.0
    head.eval()
    head(x, y)
    head.train()
    head(x)  # inference without labels: no step either
    assert int(head.iteration) == 300
    assert "iteration" in head.state_dict()


@pytest.mark.parametrize("name", ["sphereface", "cosface", "softmax"])
def test_heads_train_from_scratch_on_blobs(name):
    # tiny tensors: one thread avoids thread hand-off costs on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train_blobs(name)
    finally:
        torch.set_num_threads(threads)


def _train_blobs(name):
    torch.manual_seed(0)
    c, k = 4, 2
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, 0.0], [0.0, -4.0]])
    y = torch.randint(0, c, (512,))
    x = centres[y] + torch.randn(512, 2)
    embed = torch.nn.Linear(2, k)
    kw = {"cosface": {"s": 8.0, "m": 0.2}}.get(name, {})
    head = L.make_head(name, k, c, **kw)
    opt = torch.optim.SGD([*embed.parameters(), *head.parameters()], lr=0.1, momentum=0.9)
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(head(embed(x), y), y)
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        acc = (head.cosine(embed(x)).argmax(1) == y).float().mean()
    assert acc > 0.95, f"{name} reached only {acc:.3f}"


# ---------------------------------------------------------------------------------------------- registry, bounds


def test_make_head_registry():
    assert set(L.HEADS) == set(NAMES)
    for name, cls in L.HEADS.items():
        head = L.make_head(name, 16, 10)
        assert type(head) is cls and head.weight.shape == (10, 16)
    assert L.make_head("cosface", 16, 10, s=30.0, m=0.2).m == 0.2
    assert L.make_head("sphereface", 16, 10, m=2).m == 2
    x, _, y = _data(b=3, k=16, c=10, dtype=torch.float32, seed=17)
    for name in NAMES:  # inference logits carry no margin: labels=None, .logits() and s*cos agree
        head = L.make_head(name, 16, 10).eval()
        torch.testing.assert_close(head.logits(x), head(x, None))
        if name in ("nsl", "cosface", "arcface"):
            torch.testing.assert_close(head.logits(x), head.s * head.cosine(x))
            assert not torch.allclose(head(x, y), head.logits(x)) or name == "nsl"
    with pytest.raises(ValueError, match="softmax, nsl, sphereface, cosface, cosface-unnorm, arcface"):
        L.make_head("lsoftmax", 16, 10)


def test_margin_bound_warning_and_strict():
    assert issubclass(L.MarginBoundWarning, UserWarning) and issubclass(L.ScaleBoundWarning, UserWarning)
    bound = m_upper_bound(8, 2).value  # 1 - cos(2 pi / 8) = 0.2929
    with pytest.warns(L.MarginBoundWarning) as rec:
        head = L.CosFaceHead(2, 8, s=16.0, m=0.35)
    msg = str(rec[0].message)
    assert f"{bound:.4f}" in msg and "C=8" in msg and "K=2" in msg and "degrade" in msg
    assert rec[0].filename == __file__  # the warning points at the caller, not at labkit
    assert head.m == 0.35  # a warning, the head is still built
    with pytest.warns(L.MarginBoundWarning):
        L.CosFaceHead(2, 8, s=16.0, m=bound)  # at the bound
    with pytest.raises(ValueError, match="largest margin 0.2929"):
        L.CosFaceHead(2, 8, s=16.0, m=0.35, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.CosFaceHead(2, 8, s=16.0, m=0.29, strict=True)  # just inside: silent
        L.CosFaceHead(512, 10572, s=64.0, m=0.35)  # the paper's setting: silent
    with pytest.raises(ValueError, match=">= 0"):
        L.CosFaceHead(2, 8, s=16.0, m=-0.1)
    # simplex regime: C <= K + 1, bound C / (C - 1)
    with pytest.warns(L.MarginBoundWarning, match="1.3333"):
        L.CosFaceHead(3, 4, s=16.0, m=1.4)
    # ArcFace: the same bound in angle form, arccos(1 - bound) = 2 pi / 8 for K = 2
    with pytest.warns(L.MarginBoundWarning, match=f"{2 * math.pi / 8:.4f}"):
        L.ArcFaceHead(2, 8, s=16.0, m=0.8)
    with pytest.raises(ValueError):
        L.ArcFaceHead(2, 8, s=16.0, m=-0.1)


def test_scale_bound_warning_and_strict():
    bound = s_lower_bound(100, 0.9)
    for cls in (L.NormFaceHead, L.CosFaceHead, L.ArcFaceHead):
        with pytest.warns(L.ScaleBoundWarning, match=f"{bound:.4f}") as rec:
            cls(16, 100, s=2.0)
        assert "C=100" in str(rec[0].message) and "p_w=0.9" in str(rec[0].message)
        with pytest.raises(ValueError, match="Eq. 6"):
            cls(16, 100, s=2.0, strict=True)
    # a stricter p_w raises the bound
    high = s_lower_bound(100, 0.999)
    with pytest.warns(L.ScaleBoundWarning, match=f"{high:.4f}"):
        L.CosFaceHead(16, 100, s=bound + 1, p_w=0.999)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.CosFaceHead(16, 100, s=bound + 0.01, strict=True)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="s must be"):
            L.CosFaceHead(16, 100, s=bad)


def test_sphereface_margin_must_be_integer():
    for bad in (0, 1.5, -2, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            L.SphereFaceHead(4, 5, m=bad)
    assert L.SphereFaceHead(4, 5, m=2.0).m == 2


def test_unnormalized_cosface_head_gradcheck_and_closed_form():
    x, w, y = _data()
    head = L.UnnormalizedCosFaceHead(5, 7, m=0.35).double()
    x.requires_grad_()
    w.requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w: _call(head, w, x, y), (x, w))
    assert torch.autograd.gradcheck(lambda x, w: _call(head, w, x, None), (x, w))
    # closed form: |x| cos(theta_j), and |x| (cos(theta_y) - m) at the target; no scale s
    x, w = x.detach(), w.detach()
    cos = F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
    norm = x.norm(dim=1, keepdim=True)
    assert torch.allclose(_call(head, w, x, y), norm * (cos - 0.35 * F.one_hot(y, 7)), atol=1e-12)
    assert torch.allclose(_call(head, w, x, None), norm * cos, atol=1e-12)
    head.margin_enabled = False
    assert torch.allclose(_call(head, w, x, y), norm * cos, atol=1e-12)
    with pytest.raises(ValueError, match="m must be a finite number >= 0"):
        L.UnnormalizedCosFaceHead(5, 7, m=-0.1)


def test_unnormalized_lmcl_is_a_registry_entry_and_margin_switch_is_generic():
    """Table 1's "no feature normalisation" row is built by make_head like every head, and every head's margin can
    be switched off the same way (the engine's margin warm-up) without knowing which head it is."""
    x, w, y = _data(b=4, k=6, c=5)
    head = L.make_head("cosface-unnorm", 6, 5, m=0.3).double()
    assert not head.normalize_features and head.s is None
    for name in NAMES:
        h = L.make_head(name, 6, 5).double().eval()
        h.margin_enabled = False
        torch.testing.assert_close(_call(h, w, x, y), _call(h, w, x, None))


def test_head_kwargs_picks_what_each_head_takes():
    assert L.head_kwargs("softmax", s=30, m=0.2) == {}
    assert L.head_kwargs("nsl", s=30, m=0.2) == {"s": 30}
    assert L.head_kwargs("sphereface", s=30, m=4.0) == {"m": 4}
    assert L.head_kwargs("cosface-unnorm", s=30, m=0.2) == {"m": 0.2}
    with pytest.raises(ValueError, match="integer >= 1"):
        L.head_kwargs("sphereface", m=0.35)
    head, msgs = L.make_head_quietly("cosface", 2, 8, s=16, m=0.45)
    assert head.m == 0.45 and any("MarginBoundWarning" in m for m in msgs)


def test_margin_warning_uses_the_reachable_margin_when_c_exceeds_k_plus_1():
    """8 classes in 3-D: Eq. 7 only says m < 8/7, but no arrangement beats the best spread (~0.74); the head warns
    against that, and strict mode raises only past the rigorous ceiling (a searched spread is not a proof)."""
    from labkit.bounds import reachable_margin

    r = reachable_margin(8, 3, search=False)
    assert 0.73 < r.value < 0.75 < r.upper < 8 / 7
    with pytest.warns(L.MarginBoundWarning, match="largest margin 0.73"):
        L.CosFaceHead(3, 8, s=16.0, m=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.CosFaceHead(3, 8, s=16.0, m=0.7)  # below the best spread: silent
    with pytest.warns(L.MarginBoundWarning):
        L.CosFaceHead(3, 8, s=16.0, m=0.76, strict=True)  # between spread and ceiling: a warning, not an error
    with pytest.raises(ValueError, match="largest margin"):
        L.CosFaceHead(3, 8, s=16.0, m=0.8, strict=True)
