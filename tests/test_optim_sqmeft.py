"""SQ-MEFT: rule vs float64, 4-bit momentum error, real state bytes, in-backward, checkpoints."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torchao.optim.subclass_4bit import OptimState4bit

from suite.models import byte_tokenizer, tiny_qwen3
from suite.optim import SQMEFT
from suite.optim.sqmeft import FourBitCodec, decision_boundaries, round_to_bf16_stochastic_, state_nbytes

SHAPES = [(64, 128), (32,), (256, 64)]  # two quantised tensors, one small fp32 one
# largest gap of the signed 4-bit dynamic-exponent map is 0.225 (e.g. 0.2125 -> 0.4375):
# rounding to nearest errs by at most half of it, times the block's absmax
HALF_GAP = 0.1125


def _params(dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(s, generator=gen).to(dtype)) for s in SHAPES]


def _grads(step, dtype=torch.float32):
    gen = torch.Generator().manual_seed(100 + step)
    return [torch.randn(s, generator=gen).to(dtype) for s in SHAPES]


def _opt(params, **kw):
    kw.setdefault("min_quant_numel", 1024)
    return SQMEFT(params, fused_backward=False, **kw)


def _momentum(opt, p):
    m = opt.state[p]["exp_avg"]
    return m.dequantize().double() if isinstance(m, OptimState4bit) else m.double()


def test_rule_and_4bit_momentum_match_float64_reference():
    params = _params()
    lr, beta = 0.01, 0.9
    opt = _opt(params, lr=lr, beta=beta)
    prev_m = [torch.zeros(s, dtype=torch.float64) for s in SHAPES]
    for t in range(4):
        grads = _grads(t)
        x_before = [p.detach().double().clone() for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt.step()
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            ref_m = beta * prev_m[i] + (1 - beta) * g.double()  # from the stored (dequantised) m
            rms = x_before[i].pow(2).mean().sqrt().clamp(min=1e-3)
            ref_x = x_before[i] - lr * rms * torch.sign(ref_m)
            torch.testing.assert_close(p.detach().double(), ref_x, atol=1e-6, rtol=1e-6)
            got = _momentum(opt, p)
            if isinstance(opt.state[p]["exp_avg"], OptimState4bit):
                blocks = ref_m.reshape(-1, 128)
                bound = HALF_GAP * blocks.abs().amax(1, keepdim=True) + 1e-6
                assert ((got.reshape(-1, 128) - blocks).abs() <= bound).all()
                assert (got != ref_m).any()  # it is really quantised
            else:
                torch.testing.assert_close(got, ref_m, atol=1e-6, rtol=1e-6)
            prev_m[i] = got


def test_state_is_at_most_0_6_bytes_per_param_on_the_tiny_model():
    model = tiny_qwen3(byte_tokenizer())  # default tiny: hidden 128, 4 layers
    opt = SQMEFT(model.parameters(), lr=1e-3)
    ids = torch.randint(3, 259, (1, 8))
    model(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is None for p in model.parameters())
    n = sum(p.numel() for p in model.parameters())
    assert len(opt.state) == len(list(model.parameters()))
    nbytes = sum(state_nbytes(st["exp_avg"]) for st in opt.state.values())
    assert 0.5 * n < nbytes <= 0.6 * n, nbytes / n


@pytest.mark.compat(
    "in_backward",
    methods=["sqmeft"],
    checks="updated inside backward: bitwise the step after backward, no gradient alive after each hook",
)
def test_fused_backward_equals_step_and_frees_each_grad():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 32))
    twin = copy.deepcopy(model)
    fused = SQMEFT(model.parameters(), lr=0.01, min_quant_numel=1024)
    plain = SQMEFT(twin.parameters(), lr=0.01, min_quant_numel=1024, fused_backward=False)
    live = []
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(
            lambda _: live.append(sum(q.grad is not None for q in model.parameters()))
        )
    x = torch.randn(8, 64)
    for _ in range(3):
        model(x).square().mean().backward()
        twin(x).square().mean().backward()
        plain.step()
        plain.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert len(live) == 12 and max(live) == 0  # after each of our hooks no gradient is alive
    assert len(fused.state) == 4
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bf16_trap_and_stochastic_rounding():
    p = torch.full((4096,), 1.0, dtype=torch.bfloat16)
    u = 1e-3  # below half a bf16 ULP at 1.0 (2^-8 = 0.0039)
    assert torch.equal(p - u, p)  # plain rounding loses the update
    gen = torch.Generator().manual_seed(0)
    out = torch.empty_like(p)
    round_to_bf16_stochastic_(out, p.float() - u, gen)
    assert out.double().mean().item() == pytest.approx(1 - u, abs=2e-4)
    param = torch.nn.Parameter(torch.full((64, 64), 1.0, dtype=torch.bfloat16))
    opt = _opt([param], lr=1e-3, stochastic_rounding=True)
    param.grad = torch.ones_like(param)
    opt.step()
    assert (param.detach() != 1.0).any()


@pytest.mark.parametrize("sr", [False, True])
def test_state_dict_round_trip_is_bit_identical(sr):
    dtype = torch.bfloat16 if sr else torch.float32

    def run(params, opt, steps):
        for t in steps:
            for p, g in zip(params, _grads(t, dtype), strict=True):
                p.grad = g
            opt.step()

    params = _params(dtype)
    opt = _opt(params, lr=0.01, stochastic_rounding=sr)
    run(params, opt, range(3))
    saved_x, saved = [p.detach().clone() for p in params], copy.deepcopy(opt.state_dict())
    run(params, opt, range(3, 6))
    params2 = [torch.nn.Parameter(x) for x in saved_x]
    opt2 = _opt(params2, lr=0.01, stochastic_rounding=sr, seed=123)
    opt2.load_state_dict(saved)
    run(params2, opt2, range(3, 6))
    for a, b in zip(params, params2, strict=True):
        assert torch.equal(a, b)
    assert isinstance(opt2.state[params2[0]]["exp_avg"], OptimState4bit)


def test_rms_floor_moves_zero_tensors():
    p = torch.nn.Parameter(torch.zeros(8))
    opt = _opt([p], lr=0.1)
    p.grad = torch.ones(8)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((8,), -0.1 * 1e-3))
    assert math.isclose(opt.param_groups[0]["rms_floor"], 1e-3)


@pytest.mark.parametrize("sign, rms_scaled", [(False, True), (True, False), (False, False)])
def test_ablations_match_float64_reference(sign, rms_scaled):
    params = _params()
    lr, beta = 0.01, 0.9
    opt = _opt(params, lr=lr, beta=beta, quantize=False, sign=sign, rms_scaled=rms_scaled)
    m = [torch.zeros(s, dtype=torch.float64) for s in SHAPES]
    for t in range(3):
        grads = _grads(t)
        x_before = [p.detach().double().clone() for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt.step()
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            m[i] = beta * m[i] + (1 - beta) * g.double()
            u = lr * x_before[i].pow(2).mean().sqrt().clamp(min=1e-3) if rms_scaled else lr
            ref = x_before[i] - u * (torch.sign(m[i]) if sign else m[i])
            torch.testing.assert_close(p.detach().double(), ref, atol=1e-6, rtol=1e-6)


@pytest.mark.slow
def test_compiled_quantiser_gives_the_same_state_and_parameters_bit_for_bit():
    params = _params()
    twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
    eager, compiled = _opt(params, lr=0.01), _opt(twin, lr=0.01, compile=True)
    for step in range(3):
        for ps, opt in ((params, eager), (twin, compiled)):
            for p, g in zip(ps, _grads(step), strict=True):
                p.grad = g
            opt.step()
    for a, b in zip(params, twin, strict=True):
        assert torch.equal(a, b)
        ma, mb = eager.state[a]["exp_avg"], compiled.state[b]["exp_avg"]
        if isinstance(ma, OptimState4bit):
            assert torch.equal(ma.codes, mb.codes) and torch.equal(ma.scale, mb.scale)


def _edge_momenta(block_size: int = 128) -> torch.Tensor:
    """Random blocks, then blocks holding every map value, every decision boundary and the fp32
    neighbours of both (as fractions of a block absmax of 1), zeros, ties, tiny and huge values."""
    qmap = OptimState4bit.zeros((block_size,), True, block_size).qmap
    bounds = decision_boundaries(qmap)
    mids = (qmap[1:] + qmap[:-1]) / 2
    special = [qmap, bounds, mids, (qmap[1:] - qmap[:-1]) * 0.5 + qmap[:-1]]
    for t in (qmap, bounds, mids):
        special += [torch.nextafter(t, torch.tensor(-2.0)), torch.nextafter(t, torch.tensor(2.0))]
    values = torch.cat(special + [torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0])])
    edge = torch.cat([torch.tensor([1.0]), values])  # absmax 1: these are the scaled values
    edge = torch.cat([edge, torch.zeros((-edge.numel()) % block_size)]).reshape(-1, block_size)
    edge[:, 0] = 1.0
    gen = torch.Generator().manual_seed(0)
    blocks = [
        torch.randn(64, block_size, generator=gen),
        edge,
        edge * 3.7e-3,  # same pattern at another scale
        torch.zeros(2, block_size),  # scale clipped at 1e-12
        torch.full((1, block_size), 1e-14),
        torch.randint(-2, 3, (4, block_size), generator=gen).float(),  # ties of |x| in the block
        torch.randn(2, block_size, generator=gen) * 1e30,
    ]
    return torch.cat(blocks).reshape(-1)


@pytest.mark.parametrize(
    "compile", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager", "compiled"]
)
def test_codes_scales_and_dequantised_values_are_torchao_bit_for_bit(compile):
    m = _edge_momenta()
    with_nan = m.clone()
    with_nan[5] = float("nan")  # torchao: a NaN block's codes are all 0, its scale NaN
    codec = FourBitCodec(compile)
    for src in (m, with_nan, torch.randn(128 * 300, generator=torch.Generator().manual_seed(1))):
        ours = OptimState4bit.zeros(src.shape, True, 128)
        theirs = OptimState4bit.zeros(src.shape, True, 128)
        theirs.copy_(src)  # torchao's quantiser
        codec.store(ours, src.clone(), torch.empty(3, src.numel()))
        assert torch.equal(ours.codes, theirs.codes)
        assert torch.equal(ours.scale.nan_to_num(-7.0), theirs.scale.nan_to_num(-7.0))
        out = torch.empty(src.numel())
        dequantised = codec.load(theirs, out, torch.empty(src.numel()))
        ref = theirs.dequantize()
        assert torch.equal(dequantised.nan_to_num(-7.0), ref.nan_to_num(-7.0))


def test_decision_boundaries_split_each_pair_of_map_values():
    qmap = OptimState4bit.zeros((128,), True, 128).qmap
    bounds = decision_boundaries(qmap)
    assert bounds.shape == (15,)
    assert ((qmap[:-1] < bounds) & (bounds <= qmap[1:])).all()
    assert not torch.equal(bounds, (qmap[1:] + qmap[:-1]) / 2)  # not simply the midpoints


NO_OP_CASES = [
    (test_rule_and_4bit_momentum_match_float64_reference, {}),
    (test_rms_floor_moves_zero_tensors, {}),
    (test_ablations_match_float64_reference, dict(sign=False, rms_scaled=True)),
    (test_ablations_match_float64_reference, dict(sign=True, rms_scaled=False)),
    (test_bf16_trap_and_stochastic_rounding, {}),
]


@pytest.mark.parametrize("case", range(len(NO_OP_CASES)))
def test_a_no_op_update_fails_the_update_tests(case, monkeypatch):
    """Each update test can fail: with the per-tensor update replaced by nothing."""
    monkeypatch.setattr(SQMEFT, "_update_one", lambda self, group, p: None)
    test, kwargs = NO_OP_CASES[case]
    with pytest.raises(AssertionError):
        test(**kwargs)
