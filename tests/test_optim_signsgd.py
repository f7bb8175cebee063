"""SignSGD / Signum (Alg. 5) against a float64 reference written here."""

from __future__ import annotations

import copy
import importlib

import pytest
import torch

from suite.optim import SignSGD

# the module, not the function of the same name that suite.optim exports
signsgd_module = importlib.import_module("suite.optim.signsgd")

SHAPES = [(7, 5), (13,), (3, 4, 2)]


def _params(dtype: torch.dtype, seed: int = 0) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen).to(dtype)) for s in SHAPES]


def _grads(step: int, dtype: torch.dtype) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(s, generator=gen).to(dtype) for s in SHAPES]


def _reference(x0, grads_seq, lr, momentum, wd, dtype=torch.float64):
    """Alg. 5 in float64: m_1 = g_1, m_t = β m + (1-β) g, x ← x − η sign(m) − η λ x.

    ``x`` is rounded to ``dtype`` after the decay and after the sign step, as the optimizer
    stores it in the model dtype (m is kept in float64: its sign is what matters)."""

    def rnd(t):
        return t.to(dtype).double()

    xs = [x.detach().double().clone() for x in x0]
    ms = None
    for grads in grads_seq:
        gs = [g.double() for g in grads]
        if momentum > 0:
            ms = (
                gs if ms is None else [momentum * m + (1 - momentum) * g for m, g in zip(ms, gs, strict=True)]
            )
            d = ms
        else:
            d = gs
        xs = [rnd(rnd(x * (1 - lr * wd)) - lr * torch.sign(di)) for x, di in zip(xs, d, strict=True)]
    return xs


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.0, 0.1), (0.9, 0.0), (0.9, 0.05)])
def test_matches_float64_reference(foreach, dtype, momentum, wd):
    params = _params(dtype)
    x0 = [p.detach().clone() for p in params]
    opt = SignSGD(params, lr=0.01, momentum=momentum, weight_decay=wd, foreach=foreach)
    seq = [_grads(t, dtype) for t in range(5)]
    for grads in seq:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt.step()
    ref = _reference(x0, seq, 0.01, momentum, wd, dtype)
    # one ulp of slack for double rounding (bf16: <= 2^-7 relative)
    tol = dict(atol=1e-6, rtol=1e-6) if dtype == torch.float32 else dict(atol=1e-3, rtol=2**-7)
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(p.detach().double(), r, **tol)
    moved = torch.cat([(p.detach() - x).abs().flatten() for p, x in zip(params, x0, strict=True)])
    assert moved.max() > 0.009  # not a no-op


def test_momentum_zero_keeps_no_state():
    params = _params(torch.float32)
    opt = SignSGD(params, lr=0.1, momentum=0.0)
    for p, g in zip(params, _grads(0, torch.float32), strict=True):
        p.grad = g
    opt.step()
    assert len(opt.state) == 0


def test_first_momentum_is_first_gradient():
    params = _params(torch.float32)
    opt = SignSGD(params, lr=0.1, momentum=0.9)
    grads = _grads(0, torch.float32)
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    opt.step()
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(opt.state[p]["momentum_buffer"], g)


@pytest.mark.parametrize("foreach", [False, True])
def test_state_dict_round_trip_is_bit_identical(foreach):
    def run(params, opt, steps):
        for t in steps:
            for p, g in zip(params, _grads(t, torch.float32), strict=True):
                p.grad = g
            opt.step()

    params = _params(torch.float32)
    opt = SignSGD(params, lr=0.01, momentum=0.8, weight_decay=0.01, foreach=foreach)
    run(params, opt, range(3))
    saved_params = copy.deepcopy([p.detach() for p in params])
    saved = copy.deepcopy(opt.state_dict())
    run(params, opt, range(3, 6))

    params2 = [torch.nn.Parameter(x.clone()) for x in saved_params]
    opt2 = SignSGD(params2, lr=0.5, momentum=0.8, weight_decay=0.01, foreach=foreach)
    opt2.load_state_dict(saved)
    run(params2, opt2, range(3, 6))
    for a, b in zip(params, params2, strict=True):
        assert torch.equal(a, b)


def test_fused_backward_frees_grads_and_matches_step():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    twin = copy.deepcopy(model)
    x = torch.randn(8, 6)
    fused = SignSGD(model.parameters(), lr=0.01, momentum=0.5, fused_backward=True)
    plain = SignSGD(twin.parameters(), lr=0.01, momentum=0.5)
    for _ in range(3):
        model(x).square().mean().backward()
        assert all(p.grad is None for p in model.parameters())
        fused.step()
        twin(x).square().mean().backward()
        plain.step()
        plain.zero_grad()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_bad_hyperparameters_raise():
    with pytest.raises(ValueError, match="momentum"):
        SignSGD(_params(torch.float32), momentum=1.0)


@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 0.05)])
@pytest.mark.parametrize("foreach", [False, True])
def test_a_no_op_update_fails_the_reference_test(foreach, momentum, wd, monkeypatch):
    """The reference test can fail: with the functional core replaced by nothing."""
    monkeypatch.setattr(signsgd_module, "signsgd", lambda *args, **kwargs: None)
    with pytest.raises(AssertionError):
        test_matches_float64_reference(foreach, torch.float32, momentum, wd)


@pytest.mark.parametrize("foreach", [False, True])
def test_the_vote_gets_each_sign_of_m_and_its_result_is_applied(foreach):
    """Under torchrun the ranks' vote replaces sign(m_t) between computing and applying it (Signum
    with majority vote): the vote here sees the float64 reference's sign(m) and returns its
    negation, so the weights move by +η sign(m) after the decay."""
    params = _params(torch.float32)
    x0 = [p.detach().clone() for p in params]
    seen: list[list[torch.Tensor]] = []

    def vote(signs: list[torch.Tensor]) -> None:
        seen.append([s.clone() for s in signs])
        for s in signs:
            s.neg_()

    opt = SignSGD(params, lr=0.01, momentum=0.9, weight_decay=0.1, foreach=foreach)
    opt.vote = vote
    seq = [_grads(t, torch.float32) for t in range(3)]
    xs, ms = [x.double() for x in x0], None
    for t, grads in enumerate(seq):
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt.step()
        gs = [g.double() for g in grads]
        ms = gs if ms is None else [0.9 * m + 0.1 * g for m, g in zip(ms, gs, strict=True)]
        assert all(torch.equal(s.double(), torch.sign(m)) for s, m in zip(seen[t], ms, strict=True))
        xs = [x * (1 - 0.01 * 0.1) + 0.01 * torch.sign(m) for x, m in zip(xs, ms, strict=True)]
    for p, r in zip(params, xs, strict=True):
        torch.testing.assert_close(p.detach().double(), r, atol=1e-6, rtol=1e-6)
