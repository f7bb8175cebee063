"""ABSignSGD / ABSignSGD-MV: schedule, block freezing, update rule, fp16 NaN skip, checkpoints."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from suite.blocks import find_blocks
from suite.models import byte_tokenizer, tiny_qwen3
from suite.optim import ABSignSGD, ABSignSGDMV
from suite.optim.absignsgd import DepthBiasedSchedule, nonfinite_flags, record_found_inf


def _model(dtype=torch.float32, layers=2):
    return tiny_qwen3(byte_tokenizer(), hidden_size=32, num_layers=layers, intermediate_size=64).to(dtype)


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 259, (2, 12), generator=gen)
    return dict(input_ids=ids, labels=ids)


def _reference_schedule(n: int, c: float, steps: int) -> list[int]:
    """The reference's numpy code: tau_i = N + c(N-i); s = argmin (first index); tau_s += ..."""
    tau = np.array([n + c * (n - i) for i in range(n)], dtype=np.float64)
    out = []
    for _ in range(steps):
        s = int(np.argmin(tau))
        tau[s] += n + c * (n - s)
        out.append(s)
    return out


def test_depth_biased_first_2n_choices_n4():
    sched = DepthBiasedSchedule(4, 10.0)
    picks = [sched.next() for _ in range(8)]
    # by hand: tau = [44, 34, 24, 14] -> 14(3) 24(2) 28(3) 34(1) 42(3) 44(0) 48(2) 56(3)
    assert picks == [3, 2, 3, 1, 3, 0, 2, 3]
    assert picks == _reference_schedule(4, 10.0, 8)


def test_depth_biased_first_2n_choices_n36_and_frequencies():
    sched = DepthBiasedSchedule(36, 10.0)
    picks = [sched.next() for _ in range(72)]
    assert picks == _reference_schedule(36, 10.0, 72)
    assert picks[0] == 35
    long = picks + [sched.next() for _ in range(40000)]
    counts = np.bincount(long, minlength=36)
    # frequency ∝ 1/(N + c(N-i)): top/bottom = (36 + 10·36)/(36 + 10·1) = 396/46 = 8.6
    assert counts[35] / counts[0] == pytest.approx(396 / 46, rel=0.03)


def test_optimizer_follows_depth_biased_schedule_and_cyclic():
    model = _model(layers=4)
    opt = ABSignSGD(model, lr=1e-3, fp16=False, weight_decay=0.0)
    seen = [opt.active_block]
    for _ in range(7):
        opt.step()
        seen.append(opt.active_block)
    assert seen == [3, 2, 3, 1, 3, 0, 2, 3]
    opt = ABSignSGD(model, fp16=False, selection_scheme="cyclic")
    seen = [opt.active_block]
    for _ in range(4):
        opt.step()
        seen.append(opt.active_block)
    assert seen == [3, 2, 1, 0, 3]
    opt = ABSignSGD(model, fp16=False, selection_scheme=lambda k, n: k % n)
    assert opt.active_block == 0


def test_only_active_block_gets_gradients():
    model = _model(layers=2)
    opt = ABSignSGD(model, lr=1e-3, fp16=False)
    blocks = find_blocks(model)
    for _ in range(3):
        active = {id(p) for p in blocks[opt.active_block].parameters()}
        model(**_batch()).loss.backward()
        for p in model.parameters():
            assert (p.grad is not None) == (id(p) in active)
        opt.step()
        opt.zero_grad()
        assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_update_matches_float64_reference(dtype, foreach):
    model = _model(dtype)
    lr, wd = 1e-2, 0.1
    opt = ABSignSGD(model, lr=lr, fp16=False, weight_decay=wd, foreach=foreach)
    block = list(find_blocks(model)[opt.active_block].parameters())
    others = {n: p.detach().clone() for n, p in model.named_parameters()}
    before = [p.detach().clone() for p in block]
    model(**_batch()).loss.backward()
    grads = [p.grad.detach().double().clone() for p in block]
    opt.step()
    for p, x, g in zip(block, before, grads, strict=True):
        x = x.double()
        decayed = (x * (1 - lr * wd)).to(dtype).double()
        ref = (decayed - lr * torch.sign(g)).to(dtype).double()
        # bf16: torch's add_(alpha=) may round twice; allow one ulp (<= 2^-7 relative)
        tol = dict(atol=1e-6, rtol=1e-6) if dtype == torch.float32 else dict(atol=1e-4, rtol=2**-7)
        torch.testing.assert_close(p.detach().double(), ref, **tol)
    block_ids = {id(p) for p in block}
    for n, p in model.named_parameters():
        if id(p) not in block_ids:
            assert torch.equal(p.detach(), others[n]), n


def test_lr_comes_from_param_groups_so_schedulers_work():
    model = _model()
    opt = ABSignSGD(model, lr=1.0, fp16=False, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.01)
    block = list(find_blocks(model)[opt.active_block].parameters())
    before = [p.detach().clone() for p in block]
    model(**_batch()).loss.backward()
    opt.step()
    sched.step()
    steps = torch.cat([(p.detach() - x).abs().flatten() for p, x in zip(block, before, strict=True)])
    assert steps.max() == pytest.approx(0.01, rel=1e-4)


def test_nonfinite_flags():
    a, b = torch.randn(4), torch.randn(3)
    assert nonfinite_flags([a, b]) == (False, False)
    b[1] = float("inf")
    assert nonfinite_flags([a, b]) == (False, True)
    a[0] = float("nan")
    assert nonfinite_flags([a, b]) == (True, True)


def _fp16_step(poison: float):
    model = _model()
    opt = ABSignSGD(model, lr=1e-2, fp16=True, weight_decay=0.0)
    assert opt.scaler is not None and opt.scaler.is_enabled()
    block = list(find_blocks(model)[opt.active_block].parameters())
    before = [p.detach().clone() for p in block]
    scale0 = opt.scaler.get_scale()
    opt.scaler.scale(model(**_batch()).loss).backward()
    block[0].grad.view(-1)[0] = poison
    opt.step()
    opt.scaler.update()
    changed = any(not torch.equal(p, x) for p, x in zip(block, before, strict=True))
    return changed, opt.scaler.get_scale() / scale0


def test_fp16_nan_skips_update_and_backs_off():
    changed, ratio = _fp16_step(float("nan"))
    assert not changed and ratio == 0.5


def test_fp16_inf_still_updates_and_backs_off():
    changed, ratio = _fp16_step(float("inf"))
    assert changed and ratio == 0.5


def test_fp16_finite_keeps_scale():
    changed, ratio = _fp16_step(1.0)
    assert changed and ratio == 1.0


def test_record_found_inf_feeds_scaler_update():
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    scaler.scale(torch.ones(()))
    record_found_inf(scaler, True, torch.device("cpu"))
    scaler.update()
    assert scaler.get_scale() == 4.0


@pytest.mark.parametrize("scheme", ["depth_biased", "uniform"])
def test_state_dict_round_trip_is_bit_identical(scheme):
    def run(model, opt, seeds):
        for s in seeds:
            opt.scaler.scale(model(**_batch(s)).loss).backward()
            opt.step()
            opt.scaler.update()
            opt.zero_grad()

    model = _model(layers=3)
    opt = ABSignSGD(model, lr=1e-2, selection_scheme=scheme, fp16=True, seed=3)
    run(model, opt, range(4))
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    run(model, opt, range(4, 9))

    model2 = _model(layers=3)
    model2.load_state_dict(saved_model)
    opt2 = ABSignSGD(model2, lr=1e-2, selection_scheme=scheme, fp16=True, seed=99)
    opt2.load_state_dict(saved_opt)
    run(model2, opt2, range(4, 9))
    assert opt2.active_block == opt.active_block
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt.scaler.get_scale() == opt2.scaler.get_scale()


def test_fused_backward_matches_step_and_frees_grads():
    model, twin = _model(layers=3), _model(layers=3)
    fused = ABSignSGD(model, lr=1e-2, fp16=False, fused_backward=True)
    plain = ABSignSGD(twin, lr=1e-2, fp16=False)
    for s in range(4):
        model(**_batch(s)).loss.backward()
        assert all(p.grad is None for p in model.parameters())
        twin(**_batch(s)).loss.backward()
        plain.step()
        plain.zero_grad()
        assert fused.active_block == plain.active_block
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_train_embeddings_and_head_flags():
    model = _model()
    lr, wd = 1e-2, 0.01
    opt = ABSignSGD(model, lr=lr, fp16=False, weight_decay=wd, train_embeddings=True, train_head=True)
    outside = [model.model.embed_tokens.weight, model.lm_head.weight, model.model.norm.weight]
    before = [p.detach().double().clone() for p in outside]
    model(**_batch()).loss.backward()
    assert all(p.grad is not None for p in outside)
    grads = [p.grad.detach().double().clone() for p in outside]
    opt.step()
    for p, x, g in zip(outside, before, grads, strict=True):
        ref = x - lr * wd * x - lr * torch.sign(g)
        torch.testing.assert_close(p.detach().double(), ref, atol=1e-6, rtol=1e-6)
    assert not torch.equal(outside[0].detach().double(), before[0])  # the embeddings moved


def _reference_step_(params: list[torch.Tensor], lr: float, wd: float) -> None:
    """The reference's ``_apply_sign_update`` (github.com/yijiezcn/ABSignSGD, absignsgd.py), verbatim."""
    for p in params:
        if p.grad is None:
            continue
        if wd != 0:
            p.data.add_(-lr * wd * p.data)
        p.data.add_(-lr * torch.sign(p.grad))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weight_decay_is_the_reference_arithmetic_bit_for_bit_for_40_steps(dtype):
    """Ours and the reference's update formula side by side, same blocks and batches, wd 0.01,
    lr 1e-3 (not a bf16 number); in fp32 the old ``p.mul_(1 − lr·wd)`` does drift from it."""
    lr, wd = 1e-3, 0.01
    ours, ref, old = _model(dtype, layers=3), _model(dtype, layers=3), _model(dtype, layers=3)
    opt = ABSignSGD(ours, lr=lr, fp16=False, weight_decay=wd)
    for s in range(40):
        block = [n for n, p in ours.named_parameters() if p.requires_grad]
        for twin in (ref, old):
            for n, p in twin.named_parameters():
                p.requires_grad_(n in block)
            twin(**_batch(s % 4)).loss.backward()
        ours(**_batch(s % 4)).loss.backward()
        opt.step()
        opt.zero_grad()
        _reference_step_([p for p in ref.parameters() if p.grad is not None], lr, wd)
        with torch.no_grad():
            for p in old.parameters():
                if p.grad is not None:
                    p.mul_(1 - lr * wd).add_(torch.sign(p.grad), alpha=-lr)
        ref.zero_grad(set_to_none=True)
        old.zero_grad(set_to_none=True)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    drifted = any(not torch.equal(a, b) for a, b in zip(old.parameters(), ref.parameters(), strict=True))
    # in bf16, lr·wd·|p| = 1e-5·|p| is below half an ulp of p: both formulas leave p to the sign step
    assert drifted == (dtype == torch.float32)


def _fp16_plain_step(poison: float | None):
    model = _model()
    lr = 1e-2
    opt = ABSignSGD(model, lr=lr, fp16=True, weight_decay=0.0, sign=False)
    block = list(find_blocks(model)[opt.active_block].parameters())
    before = [p.detach().double().clone() for p in block]
    scale = opt.scaler.get_scale()
    opt.scaler.scale(model(**_batch()).loss).backward()
    if poison is not None:
        block[0].grad.view(-1)[0] = poison
    grads = [p.grad.detach().double() / scale for p in block]
    opt.step()
    opt.scaler.update()
    return block, before, grads, lr, opt.scaler.get_scale() / scale


def test_fp16_plain_gradient_is_unscaled():
    block, before, grads, lr, ratio = _fp16_plain_step(None)
    assert ratio == 1.0
    for p, x, g in zip(block, before, grads, strict=True):
        torch.testing.assert_close(p.detach().double(), x - lr * g, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("poison", [float("inf"), float("nan")])
def test_fp16_plain_gradient_skips_nonfinite_steps(poison):
    block, before, _, _, ratio = _fp16_plain_step(poison)
    assert ratio == 0.5
    assert all(torch.equal(p.detach().double(), x) for p, x in zip(block, before, strict=True))


def test_majority_vote_single_process_equals_absignsgd():
    model, twin = _model(), _model()
    mv = ABSignSGDMV(model, lr=1e-2, weight_decay=0.0)
    ref = ABSignSGD(twin, lr=1e-2, fp16=False, weight_decay=0.0)
    for s in range(3):
        model(**_batch(s)).loss.backward()
        twin(**_batch(s)).loss.backward()
        mv.step()
        ref.step()
        mv.zero_grad()
        ref.zero_grad()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="selection_scheme"):
        ABSignSGD(_model(), selection_scheme="random")
    with pytest.raises(ValueError, match="fp16"):
        ABSignSGDMV(_model(), fp16=True)


def _mv_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    model = _model()
    opt = ABSignSGDMV(model, lr=0.01, weight_decay=0.0)
    block = list(find_blocks(model)[opt.active_block].parameters())
    before = [p.detach().clone() for p in block]
    model(**_batch(seed=rank)).loss.backward()
    grads = [p.grad.detach().clone() for p in block]
    opt.step()
    moves = [(x - p.detach()) / 0.01 for p, x in zip(block, before, strict=True)]
    torch.save({"grads": grads, "moves": moves}, f"{out_file}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow
def test_majority_vote_two_gloo_ranks(tmp_path):
    """Two ranks with different batches: each moves by sign(sign(g0) + sign(g1)) (ties: 0)."""
    import torch.multiprocessing as mp

    out = str(tmp_path / "mv")
    mp.spawn(_mv_worker, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True)
    r0, r1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for g0, g1, m0, m1 in zip(r0["grads"], r1["grads"], r0["moves"], r1["moves"], strict=True):
        expected = torch.sign(torch.sign(g0) + torch.sign(g1))
        torch.testing.assert_close(m0, expected, atol=1e-4, rtol=0)
        assert torch.equal(m0, m1)
    assert any(
        (torch.sign(g0) != torch.sign(g1)).any() for g0, g1 in zip(r0["grads"], r1["grads"], strict=True)
    )


def test_plain_gradient_ablation_matches_float64_reference():
    model = _model()
    lr, wd = 1e-2, 0.1
    opt = ABSignSGD(model, lr=lr, fp16=False, weight_decay=wd, sign=False)
    block = list(find_blocks(model)[opt.active_block].parameters())
    before = [p.detach().double().clone() for p in block]
    model(**_batch()).loss.backward()
    grads = [p.grad.detach().double().clone() for p in block]
    assert any(not torch.equal(g.sign(), g) for g in grads)  # a sign step would differ
    opt.step()
    for p, x, g in zip(block, before, grads, strict=True):
        torch.testing.assert_close(p.detach().double(), x * (1 - lr * wd) - lr * g, atol=1e-6, rtol=1e-6)


UPDATE_TESTS = [
    (test_update_matches_float64_reference, dict(dtype=torch.float32, foreach=False)),
    (test_update_matches_float64_reference, dict(dtype=torch.bfloat16, foreach=True)),
    (test_lr_comes_from_param_groups_so_schedulers_work, {}),
    (test_fp16_inf_still_updates_and_backs_off, {}),
    (test_fp16_finite_keeps_scale, {}),
    (test_train_embeddings_and_head_flags, {}),
    (test_weight_decay_is_the_reference_arithmetic_bit_for_bit_for_40_steps, dict(dtype=torch.float32)),
    (test_fp16_plain_gradient_is_unscaled, {}),
    (test_plain_gradient_ablation_matches_float64_reference, {}),
]


@pytest.mark.parametrize("case", range(len(UPDATE_TESTS)))
def test_a_no_op_update_fails_the_update_tests(case, monkeypatch):
    """Each update test can fail: with the update replaced by nothing (selection still runs)."""
    test, kwargs = UPDATE_TESTS[case]
    monkeypatch.setattr(ABSignSGD, "_update", lambda self, params, foreach: None)
    with pytest.raises(AssertionError):
        test(**kwargs)
