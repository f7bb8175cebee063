"""ALIAS: the step size on a quadratic computed by hand, the update rule, checkpoints."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from suite.optim import ALIAS

A = torch.tensor([1.0, 2.0], dtype=torch.float64)


def _quadratic_run(steps, x0=(1.0, -1.0), **kw):
    """f(x) = ½ Σ a_i x_i², a = (1, 2), x_0 = (1, −1); returns the γ of each step and x."""
    x = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = ALIAS([x], **kw)
    gammas = []
    for _ in range(steps):
        x.grad = (A * x).detach()
        if kw.get("lower_bound") is not None:
            opt.set_initial_loss(0.5 * float((A * x * x).sum()))
        opt.step()
        gammas.append(opt.param_groups[0]["lr"])
    return gammas, x.detach()


@pytest.mark.parametrize("sign_only", [False, True])
def test_step_size_by_hand_d_rule(sign_only):
    # γ0 = √(d0/L) = √(0.01/1) = 0.1; x1 = (0.9, −0.9); g0 = (1, −2), g1 = (0.9, −1.8)
    # S1 = 1 + ‖g1 − g0‖₁/‖x1 − x0‖_∞ = 1 + 0.3/0.1 = 4
    # d̃1 = γ0⟨g1, sign g0⟩ = 0.1·2.7 = 0.27 > d0;  γ1 = √(0.27/4)
    # x2 = (0.9 − γ1, −0.9 + γ1); g2 = (0.9 − γ1, −1.8 + 2γ1)
    # S2 = 4 + 3γ1/γ1 = 7; d̃2 = 0.27 + γ1(2.7 − 3γ1); γ2 = √(d̃2/7)
    gammas, x = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=None, sign_only_memory=sign_only)
    g1 = math.sqrt(0.27 / 4)
    g2 = math.sqrt((0.27 + g1 * (2.7 - 3 * g1)) / 7)
    assert gammas == pytest.approx([0.1, g1, g2], rel=1e-12)
    assert gammas[1] == pytest.approx(0.259807621, rel=1e-8)
    expected = torch.tensor([1 - 0.1 - g1 - g2, -1 + 0.1 + g1 + g2], dtype=torch.float64)
    torch.testing.assert_close(x, expected)


def test_step_size_by_hand_lower_bound_rule():
    # f(x0) = ½(1 + 2) = 1.5, f̃ = 0, L = 150: γ0 = √(1.5/150) = 0.1; S1 = 153; S2 = 156
    gammas, _ = _quadratic_run(3, L_inf=150.0, lower_bound=0.0, clamp_level=None)
    assert gammas == pytest.approx([0.1, math.sqrt(1.5 / 153), math.sqrt(1.5 / 156)], rel=1e-12)


def test_lower_bound_takes_first_loss_from_closure_and_refuses_without():
    x = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = ALIAS([x], L_inf=150.0, lower_bound=0.0, clamp_level=None)
    x.grad = (A * x).detach()
    opt.step(lambda: 0.5 * float((A * x * x).sum()))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    y = torch.nn.Parameter(torch.ones(2))
    y.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match="set_initial_loss"):
        ALIAS([y], lower_bound=0.0).step()


def test_clamp_warmup_and_update_gap():
    gammas, _ = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=0.05)
    assert gammas == [0.05, 0.05, 0.05]
    gammas, _ = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=None, lr=0.3, warmup_steps=2)
    assert gammas[:2] == [0.3, 0.3] and gammas[2] == pytest.approx(0.1)
    # gap 2: statistics at steps 0 and 2 only; step 1 reuses γ0
    gammas, _ = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=None, update_gap=2)
    # x2 = (0.8, −0.8): S = 1 + ‖(0.8,−1.6) − (1,−2)‖₁/0.2 = 4; d̃ = 0.1·(0.8 + 1.6) = 0.24
    assert gammas == pytest.approx([0.1, 0.1, math.sqrt(0.24 / 4)], rel=1e-12)


def test_sign_only_memory_exact_on_diagonal_quadratic_and_larger_gamma_otherwise():
    # on a diagonal quadratic a sign step changes g_i by −a_i γ sign(g_i): the projection
    # |⟨Δg, sign g⟩| equals ‖Δg‖₁ and the two modes agree exactly, overshoots included
    kw = dict(x0=(1.0, -0.3), L_inf=1.0, d_0=0.5, clamp_level=None)
    full, _ = _quadratic_run(8, **kw)
    lean, _ = _quadratic_run(8, sign_only_memory=True, **kw)
    assert full == pytest.approx(lean, rel=1e-12)

    # noisy gradients: the projection is a strict lower bound, so S is smaller and γ larger
    def noisy(sign_only):
        x = torch.nn.Parameter(torch.zeros(50, dtype=torch.float64))
        opt = ALIAS([x], L_inf=1.0, d_0=0.1, clamp_level=None, sign_only_memory=sign_only)
        gen = torch.Generator().manual_seed(0)
        for _ in range(5):
            x.grad = x.detach() + torch.randn(50, generator=gen, dtype=torch.float64)
            opt.step()
        return opt.stats["S"]

    assert 1.0 < noisy(True) < noisy(False)


def test_weight_decay_and_momentum_update_rule():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    grads = [torch.randn(5, 4, generator=gen, dtype=torch.float64) for _ in range(3)]
    x = torch.nn.Parameter(x0.clone())
    lr, wd, beta = 0.02, 0.1, 0.9
    opt = ALIAS(
        [x],
        d_0=1.0,
        clamp_level=None,
        lr=lr,
        warmup_steps=3,
        weight_decay=wd,
        momentum=beta,
        dampening=0.1,
    )
    ref, buf = x0.clone(), None
    for g in grads:
        x.grad = g.clone()
        opt.step()
        buf = g.clone() if buf is None else beta * buf + 0.9 * g
        ref = ref * (1 - lr * wd) - lr * torch.sign(buf)
    torch.testing.assert_close(x.detach(), ref)


@pytest.mark.parametrize("sign_only", [False, True])
def test_state_dict_round_trip_is_bit_identical(sign_only):
    def run(x, opt, seeds):
        for s in seeds:
            gen = torch.Generator().manual_seed(s)
            x.grad = x.detach() * 2 + torch.randn(x.shape, generator=gen)
            opt.step()

    kw = dict(L_inf=10.0, d_0=0.01, clamp_level=0.5, sign_only_memory=sign_only, momentum=0.5)
    x = torch.nn.Parameter(torch.randn(6, 3))
    opt = ALIAS([x], **kw)
    run(x, opt, range(4))
    saved_x, saved = x.detach().clone(), copy.deepcopy(opt.state_dict())
    run(x, opt, range(4, 9))
    y = torch.nn.Parameter(saved_x)
    opt2 = ALIAS([y], **kw)
    opt2.load_state_dict(saved)
    run(y, opt2, range(4, 9))
    assert torch.equal(x, y)
    assert opt.stats == opt2.stats
    if sign_only:
        assert opt.state[x]["prev_sign"].dtype == torch.int8
        assert "prev_grad" not in opt.state[x]


def test_bad_config_raises():
    p = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match="exactly one"):
        ALIAS(p)
    with pytest.raises(ValueError, match="sign_only_memory"):
        ALIAS(p, d_0=1.0, update_gap=2, sign_only_memory=True)
    with pytest.raises(ValueError, match="warmup"):
        ALIAS(p, d_0=1.0, warmup_steps=3)
