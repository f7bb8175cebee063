"""StoSignSGD and the sign-conversion framework against float64 references."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from omegaconf import OmegaConf

import suite.optim.stosignsgd as stosignsgd_module
from suite.configs import CONF_DIR
from suite.optim import SignSGD, StoSignAdaMax, StoSignSGD
from suite.optim.stosignsgd import stochastic_sign_

SHAPES = [(7, 5), (13,), (3, 4, 2)]


def _params(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen).to(dtype)) for s in SHAPES]


def _grads(step, dtype):
    gen = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(s, generator=gen).to(dtype) for s in SHAPES]


def _run(params, opt, steps, dtype=torch.float32):
    for t in steps:
        for p, g in zip(params, _grads(t, dtype), strict=True):
            p.grad = g
        opt.step()


def _reference(x0, seq, lr, b1, b2, wd, seed, dtype):
    """Alg. 3 in float64, drawing the same uniforms (same generator, dtype, shapes, order).

    x, m and G are rounded to ``dtype`` after each update, as the optimizer stores them."""

    def rnd(t):
        return t.to(dtype).double()

    gen = torch.Generator().manual_seed(seed)
    xs = [x.double().clone() for x in x0]
    ms = bigs = None
    for grads in seq:
        gs = [g.double() for g in grads]
        if ms is None:
            ms, bigs = gs, [g.abs() for g in gs]
        else:
            ms = [rnd(b1 * m + (1 - b1) * g) for m, g in zip(ms, gs, strict=True)]
            bigs = [rnd(torch.maximum(b2 * G, m.abs())) for G, m in zip(bigs, ms, strict=True)]
        new = []
        for x, m, big in zip(xs, ms, bigs, strict=True):
            n = torch.empty(x.shape, dtype=dtype).uniform_(-1, 1, generator=gen).double()
            new.append(rnd(rnd(x * (1 - lr * wd)) - lr * torch.sign(m + big * n)))
        xs = new
    return xs


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("betas,wd", [((0.9, 1.0), 0.0), ((0.8, 0.95), 0.1)])
def test_matches_float64_reference_fp32(foreach, betas, wd):
    params = _params(torch.float32)
    x0 = [p.detach().clone() for p in params]
    opt = StoSignSGD(params, lr=0.01, betas=betas, weight_decay=wd, seed=5, foreach=foreach)
    seq = [_grads(t, torch.float32) for t in range(6)]
    _run(params, opt, range(6))
    ref = _reference(x0, seq, 0.01, *betas, wd, 5, torch.float32)
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(p.detach().double(), r, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("foreach", [False, True])
def test_bf16_close_to_float64_reference(foreach):
    params = _params(torch.bfloat16)
    x0 = [p.detach().clone() for p in params]
    opt = StoSignSGD(params, lr=0.01, betas=(0.9, 1.0), seed=5, foreach=foreach)
    seq = [_grads(t, torch.bfloat16) for t in range(6)]
    _run(params, opt, range(6), torch.bfloat16)
    ref = _reference(x0, seq, 0.01, 0.9, 1.0, 0.0, 5, torch.bfloat16)
    # lerp rounds differently from the float64 formula in the last bit: rare sign flips where
    # |m + G n| is tiny, and one-ulp differences of x. Most coordinates agree exactly.
    errs = torch.cat([(p.detach().double() - r).abs().flatten() for p, r in zip(params, ref, strict=True)])
    size = torch.cat([r.abs().flatten() for r in ref])
    # at most one flipped step (2·lr) plus one bf16 ulp of x (<= 2^-7 |x|): below the 6 steps a
    # no-op would be off by, since |x| <= 3 makes an ulp at most 0.023 < 0.06
    assert (errs <= 2 * 0.01 + 2**-7 * size).all()
    assert (errs == 0).float().mean() > 0.9


def test_foreach_and_single_tensor_paths_agree():
    a, b = _params(torch.float32), _params(torch.float32)
    _run(a, StoSignSGD(a, lr=0.01, seed=1, foreach=True), range(5))
    _run(b, StoSignSGD(b, lr=0.01, seed=1, foreach=False), range(5))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=0)


def test_stochastic_sign_is_unbiased():
    """E[G·sign(m + G n)] = m for |m| <= G: mean over 20000 draws within 4 standard errors."""
    gen = torch.Generator().manual_seed(0)
    draws = 20000
    big = torch.rand(64, generator=gen, dtype=torch.float64) + 0.5
    m = (2 * torch.rand(64, generator=gen, dtype=torch.float64) - 1) * big
    out = torch.empty(draws, 64, dtype=torch.float64)
    stochastic_sign_(out, m.expand(draws, 64), big.expand(draws, 64), gen)
    est = (big * out).mean(0)
    tol = 4 * big / draws**0.5  # std of G·sign(.) is at most G
    assert ((est - m).abs() <= tol).all()
    assert (est - m).abs().max() > 0  # it is random, not the deterministic m/G
    # where G = 0 (hence m = 0) the sign is 0
    zero = torch.zeros(5, dtype=torch.float64)
    assert torch.equal(stochastic_sign_(torch.empty(5, dtype=torch.float64), zero, zero, gen), zero)


def _figure1(opt_cls, steps=1500, **kw):
    """f(x1, x2) = |x1 + x2| + 2|x1 − x2| from (1.0, 0.3), exact subgradients, η = 0.01."""
    x = torch.nn.Parameter(torch.tensor([1.0, 0.3], dtype=torch.float64))
    opt = opt_cls([x], lr=0.01, **kw)
    values = []
    for _ in range(steps):
        with torch.no_grad():
            s, d = torch.sign(x[0] + x[1]), torch.sign(x[0] - x[1])
            x.grad = torch.stack([s + 2 * d, s - 2 * d])
            values.append(float((x[0] + x[1]).abs() + 2 * (x[0] - x[1]).abs()))
        opt.step()
    return sum(values[-100:]) / 100


def test_figure1_signsgd_stalls_stosignsgd_converges():
    """StoSignSGD Fig. 1. SignSGD's steps ±(1, −1) keep x1 + x2 = 1.3 fixed: it zig-zags across
    x1 = x2 and f stays ≈ 1.34 forever. StoSignSGD (β1 = 0, G = running max |g| = 3) moves by
    g/3 in expectation and reaches f ≈ 0.04 (mean of the last 100 of 1500 steps, seed 0)."""
    stall = _figure1(SignSGD)
    conv = _figure1(StoSignSGD, betas=(0.0, 1.0), seed=0)
    assert stall > 1.3
    assert conv < 0.15
    assert _figure1(StoSignSGD, betas=(0.9, 1.0), seed=0) < 0.15


@pytest.mark.parametrize("foreach", [False, True])
def test_state_dict_round_trip_is_bit_identical(foreach):
    params = _params(torch.float32)
    opt = StoSignSGD(params, lr=0.01, betas=(0.9, 0.99), weight_decay=0.01, seed=2, foreach=foreach)
    _run(params, opt, range(3))
    saved_x = [p.detach().clone() for p in params]
    saved = copy.deepcopy(opt.state_dict())
    _run(params, opt, range(3, 7))
    params2 = [torch.nn.Parameter(x) for x in saved_x]
    opt2 = StoSignSGD(params2, lr=0.5, betas=(0.9, 0.99), weight_decay=0.01, seed=77, foreach=foreach)
    opt2.load_state_dict(saved)
    _run(params2, opt2, range(3, 7))
    for a, b in zip(params, params2, strict=True):
        assert torch.equal(a, b)


@pytest.mark.compat(
    "in_backward",
    methods=["stosignsgd"],
    checks="fused into backward: m = g and every coordinate moves by ±lr",
)
def test_fused_backward_updates_in_backward_and_frees_grads():
    """Hooks run in backprop order, so the noise is drawn in another order than step()'s: check
    the rule itself: m_1 = g_1 and every coordinate moved by exactly ±η."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    twin = copy.deepcopy(model)
    x = torch.randn(8, 6)
    fused = StoSignSGD(model.parameters(), lr=0.01, seed=4, fused_backward=True)
    twin(x).square().mean().backward()
    model(x).square().mean().backward()
    assert all(p.grad is None for p in model.parameters())
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(fused.state[p]["exp_avg"], q.grad)
        torch.testing.assert_close((p - q).abs(), torch.full_like(p, 0.01))


def test_stosign_adamax_matches_float64_reference():
    params = _params(torch.float32)
    x0 = [p.detach().clone() for p in params]
    lr, (b1, b2), eps, wd = 0.01, (0.9, 0.99), 1e-8, 0.05
    opt = StoSignAdaMax(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, seed=3)
    seq = [_grads(t, torch.float32) for t in range(5)]
    _run(params, opt, range(5))
    gen = torch.Generator().manual_seed(3)
    xs = [x.double() for x in x0]
    ms = [torch.zeros_like(x) for x in xs]
    us = [torch.zeros_like(x) for x in xs]
    for t, grads in enumerate(seq, start=1):
        for i, g in enumerate(grads):
            g = g.double()
            ms[i] = b1 * ms[i] + (1 - b1) * g
            us[i] = torch.maximum(b2 * us[i], g.abs())
            n = torch.empty(g.shape).uniform_(-1, 1, generator=gen).double()
            step = torch.sign(ms[i] / (1 - b1**t) + (us[i] + eps) * n)
            xs[i] = xs[i] - lr * step - lr * wd * xs[i]
    for p, r in zip(params, xs, strict=True):
        torch.testing.assert_close(p.detach().double(), r, atol=1e-5, rtol=1e-5)


def test_stosign_adamax_state_dict_round_trip():
    params = _params(torch.float32)
    opt = StoSignAdaMax(params, lr=0.01, seed=2)
    _run(params, opt, range(3))
    saved_x, saved = [p.detach().clone() for p in params], copy.deepcopy(opt.state_dict())
    _run(params, opt, range(3, 6))
    params2 = [torch.nn.Parameter(x) for x in saved_x]
    opt2 = StoSignAdaMax(params2, lr=0.01, seed=9)
    opt2.load_state_dict(saved)
    _run(params2, opt2, range(3, 6))
    for a, b in zip(params, params2, strict=True):
        assert torch.equal(a, b)


NO_OP_CASES = [
    (test_matches_float64_reference_fp32, dict(foreach=False, betas=(0.9, 1.0), wd=0.0)),
    (test_matches_float64_reference_fp32, dict(foreach=True, betas=(0.8, 0.95), wd=0.1)),
    (test_bf16_close_to_float64_reference, dict(foreach=False)),
    (test_bf16_close_to_float64_reference, dict(foreach=True)),
    (test_figure1_signsgd_stalls_stosignsgd_converges, {}),
]


@pytest.mark.parametrize("case", range(len(NO_OP_CASES)))
def test_a_no_op_update_fails_the_update_tests(case, monkeypatch):
    """Each update test can fail: with StoSignSGD's functional core replaced by nothing."""
    monkeypatch.setattr(stosignsgd_module, "stosignsgd", lambda *args, **kwargs: None)
    test, kwargs = NO_OP_CASES[case]
    with pytest.raises(AssertionError):
        test(**kwargs)


def test_a_no_op_update_fails_the_adamax_reference_test(monkeypatch):
    monkeypatch.setattr(StoSignAdaMax, "step", lambda self, closure=None: None)
    with pytest.raises(AssertionError):
        test_stosign_adamax_matches_float64_reference()


def test_beta2_is_one_value_everywhere():
    """The class default and the method YAML (which the experiments use) are one (β1, β2): the
    paper's betas, shared by every optimizer it compares."""
    default = inspect.signature(StoSignSGD).parameters["betas"].default
    yaml = OmegaConf.load(CONF_DIR / "method" / "stosignsgd.yaml")
    assert list(default) == list(yaml.betas) == [0.9, 0.999]


@pytest.mark.parametrize("foreach", [False, True])
def test_the_vote_gets_the_noisy_signs_one_process_would_apply(foreach):
    """Under torchrun the ranks' vote replaces sign(m + G n) before it is applied: the vote here
    sees the signs the float64 reference draws and returns their negation."""
    params = _params(torch.float32)
    x0 = [p.detach().clone() for p in params]
    seen: list[torch.Tensor] = []

    def vote(signs: list[torch.Tensor]) -> None:
        seen.extend(s.clone() for s in signs)
        for s in signs:
            s.neg_()

    opt = StoSignSGD(params, lr=0.01, betas=(0.9, 1.0), weight_decay=0.1, seed=3, foreach=foreach)
    opt.vote = vote
    _run(params, opt, range(1))
    gen = torch.Generator().manual_seed(3)
    for p, x, g, s in zip(params, x0, _grads(0, torch.float32), seen, strict=True):
        n = torch.empty(x.shape).uniform_(-1, 1, generator=gen).double()
        sign = torch.sign(g.double() + g.double().abs() * n)
        assert torch.equal(s.double(), sign)
        torch.testing.assert_close(p.detach().double(), x.double() * (1 - 0.01 * 0.1) + 0.01 * sign)
