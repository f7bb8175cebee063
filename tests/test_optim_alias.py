"""ALIAS: the step size on a quadratic computed by hand, the update rule, checkpoints."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from suite.optim import ALIAS

A = torch.tensor([1.0, 2.0], dtype=torch.float64)
NO_CLAMP = math.inf


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
    gammas, x = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=NO_CLAMP, sign_only_memory=sign_only)
    g1 = math.sqrt(0.27 / 4)
    g2 = math.sqrt((0.27 + g1 * (2.7 - 3 * g1)) / 7)
    assert gammas == pytest.approx([0.1, g1, g2], rel=1e-12)
    assert gammas[1] == pytest.approx(0.259807621, rel=1e-8)
    expected = torch.tensor([1 - 0.1 - g1 - g2, -1 + 0.1 + g1 + g2], dtype=torch.float64)
    torch.testing.assert_close(x, expected)


def test_step_size_by_hand_lower_bound_rule():
    # f(x0) = ½(1 + 2) = 1.5, f̃ = 0, L = 150: γ0 = √(1.5/150) = 0.1; S1 = 153; S2 = 156
    gammas, _ = _quadratic_run(3, L_inf=150.0, lower_bound=0.0, clamp_level=NO_CLAMP)
    assert gammas == pytest.approx([0.1, math.sqrt(1.5 / 153), math.sqrt(1.5 / 156)], rel=1e-12)


def test_lower_bound_takes_first_loss_from_closure_and_refuses_without():
    x = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = ALIAS([x], L_inf=150.0, lower_bound=0.0, clamp_level=NO_CLAMP)
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
    gammas, _ = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=NO_CLAMP, lr=0.3, warmup_steps=2)
    assert gammas[:2] == [0.3, 0.3] and gammas[2] == pytest.approx(0.1)
    # gap 2: statistics at steps 0 and 2 only; step 1 reuses γ0
    gammas, _ = _quadratic_run(3, L_inf=1.0, d_0=0.01, clamp_level=NO_CLAMP, update_gap=2)
    # x2 = (0.8, −0.8): S = 1 + ‖(0.8,−1.6) − (1,−2)‖₁/0.2 = 4; d̃ = 0.1·(0.8 + 1.6) = 0.24
    assert gammas == pytest.approx([0.1, 0.1, math.sqrt(0.24 / 4)], rel=1e-12)


def test_sign_only_memory_exact_on_diagonal_quadratic_and_larger_gamma_otherwise():
    # on a diagonal quadratic a sign step changes g_i by −a_i γ sign(g_i): the projection
    # |⟨Δg, sign g⟩| equals ‖Δg‖₁ and the two modes agree exactly, overshoots included
    kw = dict(x0=(1.0, -0.3), L_inf=1.0, d_0=0.5, clamp_level=NO_CLAMP)
    full, _ = _quadratic_run(8, **kw)
    lean, _ = _quadratic_run(8, sign_only_memory=True, **kw)
    assert full == pytest.approx(lean, rel=1e-12)

    # noisy gradients: the projection is a strict lower bound, so S is smaller and γ larger
    def noisy(sign_only):
        x = torch.nn.Parameter(torch.zeros(50, dtype=torch.float64))
        opt = ALIAS([x], L_inf=1.0, d_0=0.1, clamp_level=NO_CLAMP, sign_only_memory=sign_only)
        gen = torch.Generator().manual_seed(0)
        for _ in range(5):
            x.grad = x.detach() + torch.randn(50, generator=gen, dtype=torch.float64)
            opt.step()
        return opt.stats["S"]

    assert 1.0 < noisy(True) < noisy(False)


@pytest.mark.parametrize("heavy_ball", [True, False])
def test_weight_decay_and_momentum_update_rule(heavy_ball):
    """heavy_ball: sign of torch.optim.SGD's buffer; default: the official code's step, which
    signs the raw gradient whatever the momentum (the buffer is never stored)."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    grads = [torch.randn(5, 4, generator=gen, dtype=torch.float64) for _ in range(3)]
    x = torch.nn.Parameter(x0.clone())
    lr, wd, beta = 0.02, 0.1, 0.9
    opt = ALIAS(
        [x],
        d_0=1.0,
        clamp_level=NO_CLAMP,
        lr=lr,
        warmup_steps=3,
        weight_decay=wd,
        momentum=beta,
        dampening=0.1,
        heavy_ball=heavy_ball,
    )
    ref, buf = x0.clone(), None
    for g in grads:
        x.grad = g.clone()
        opt.step()
        buf = g.clone() if buf is None or not heavy_ball else beta * buf + 0.9 * g
        ref = ref * (1 - lr * wd) - lr * torch.sign(buf)
    assert ("momentum_buffer" in opt.state[x]) == heavy_ball
    torch.testing.assert_close(x.detach(), ref)


@pytest.mark.parametrize("sign_only", [False, True])
def test_state_dict_round_trip_is_bit_identical(sign_only):
    def run(x, opt, seeds):
        for s in seeds:
            gen = torch.Generator().manual_seed(s)
            x.grad = x.detach() * 2 + torch.randn(x.shape, generator=gen)
            opt.step()

    kw = dict(
        L_inf=10.0, d_0=0.01, clamp_level=0.5, sign_only_memory=sign_only, momentum=0.5, heavy_ball=True
    )
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
    with pytest.raises(ValueError, match="finite clamp_level"):
        ALIAS(p, lower_bound=0.0, L_inf=0.0, clamp_level=NO_CLAMP)


def test_zero_L_inf_runs_at_the_clamp_until_the_first_statistics_update():  # noqa: N802
    # alias_run.sh: --l_inf 0. S = 0 until the first update (gap 2): γ = √(f/0) = ∞, clamped to
    # 0.05 at steps 0 and 1; x2 = (0.9, −0.9), S = 0 + ‖(0.9, −1.8) − (1, −2)‖₁/0.1 = 3,
    # γ2 = √((1.5 − 1.497)/3) = √0.001
    gammas, _ = _quadratic_run(3, L_inf=0.0, lower_bound=1.497, clamp_level=0.05, update_gap=2)
    assert gammas[:2] == [0.05, 0.05] and gammas[2] == pytest.approx(math.sqrt(0.001), rel=1e-9)
    x = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = ALIAS([x], L_inf=0.0, lower_bound=0.0, clamp_level=0.05)
    x.grad = (A * x).detach()
    opt.set_initial_loss(1.5)
    opt.step()
    assert opt.step_stats()["alias/gamma_unclamped"] == math.inf
    assert opt.step_stats()["alias/gamma"] == 0.05 and opt.step_stats()["alias/S"] == 0.0


def test_step_stats_report_the_clamp():
    # one warmup step at lr 0.01; the first ALIAS step keeps S = 150 (no statistics yet), then
    # S = 153, 156, 159 (each step adds 0.03/0.01): γ before the clamp √(1.5/S) = 0.1, 0.0990,
    # 0.0981, 0.0971; the clamp 0.0985 binds at the first two of four
    x = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = ALIAS([x], L_inf=150.0, lower_bound=0.0, clamp_level=0.0985, lr=0.01, warmup_steps=1)
    seen = []
    for _ in range(5):
        x.grad = (A * x).detach()
        opt.set_initial_loss(1.5)
        opt.step()
        seen.append(opt.step_stats())
    assert seen[0] == {"alias/S": 150.0}  # warmup: no γ yet
    assert seen[1]["alias/gamma"] == 0.0985 and seen[1]["alias/gamma_unclamped"] == pytest.approx(0.1)
    assert seen[1]["alias/d"] == 1.5 and seen[1]["alias/clamped_fraction"] == 1.0
    last = seen[-1]
    assert last["alias/S"] == pytest.approx(159.0, rel=1e-12)
    assert last["alias/gamma"] == last["alias/gamma_unclamped"] == pytest.approx(math.sqrt(1.5 / 159))
    assert last["alias/clamped_fraction"] == 0.5


def test_unset_clamp_is_the_official_default():
    p = [torch.nn.Parameter(torch.ones(2))]
    assert ALIAS(p, lower_bound=0.0, clamp_level=None).clamp_level == 1e-3


# ---------------------------------------------------------------- the official algorithm


def _official_run(x0s, grad_fn, loss_fn, *, steps, lr, warmup, L_inf, clamp, gap, wd, clip):  # noqa: N803
    """A float64 re-derivation of the official ALIAS training loop (evseevgrv/SignSGD_GoldenGate,
    ``torchrun_main.py`` + ``AIDsignSGD`` in ``parameter_free_signsgd.py``), lower-bound rule with
    bound 0: f(x_0) is the first step's loss; the scheduler (linear warmup over ``warmup`` steps,
    constant after) sets lr each step; the gradients are clipped to global L2 norm ``clip``
    (``clip_grad_norm_``) before the step; from step ``warmup`` on, γ = min(√(f₀/S), clamp) with
    S += ‖Δg‖₁/‖Δx‖_∞ every ``gap`` steps after the first; prev_grad/prev_param are stored before
    the update on every gap step; x ← x(1 − lr·wd) − lr·sign(g)."""
    xs = [x.clone() for x in x0s]
    f0, S, gamma, prev_g, prev_x, used = None, L_inf, None, None, None, []
    for t in range(steps):
        grads = grad_fn(xs)
        if f0 is None:
            f0 = loss_fn(xs)
        norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
        coef = min(clip / (norm + 1e-6), 1.0)
        grads = [g * coef for g in grads]
        step_lr = lr * t / warmup
        if t >= warmup:
            if t % gap == 0:
                if t > warmup:
                    num = sum(float((g - pg).abs().sum()) for g, pg in zip(grads, prev_g, strict=True))
                    den = max(float((x - px).abs().max()) for x, px in zip(xs, prev_x, strict=True))
                    S += num / den
                gamma = min(math.sqrt(f0 / S), clamp)
            step_lr = gamma
        if t % gap == 0:
            prev_g, prev_x = [g.clone() for g in grads], [x.clone() for x in xs]
        xs = [x * (1 - step_lr * wd) - step_lr * torch.sign(g) for x, g in zip(xs, grads, strict=True)]
        used.append(step_lr)
    return xs, used, S


def test_matches_the_official_loop_in_float64_warmup_clipping_gamma():
    # f(x) = Σ_k ¼ Σ a_k x_k⁴ + ½ Σ x_k²  on two tensors: gradients large enough to be clipped
    gen = torch.Generator().manual_seed(0)
    a = [
        torch.rand(3, 4, generator=gen, dtype=torch.float64) + 0.5,
        torch.rand(5, generator=gen, dtype=torch.float64),
    ]
    x0s = [
        3 * torch.randn(3, 4, generator=gen, dtype=torch.float64),
        torch.randn(5, generator=gen, dtype=torch.float64),
    ]

    def grad_fn(xs):
        return [ak * x**3 + x for ak, x in zip(a, xs, strict=True)]

    def loss_fn(xs):
        return sum(float((0.25 * ak * x**4 + 0.5 * x * x).sum()) for ak, x in zip(a, xs, strict=True))

    kw = dict(steps=12, lr=0.05, warmup=4, L_inf=1e4, clamp=0.16672, gap=2, wd=0.001, clip=1.0)
    ref_xs, ref_lrs, ref_S = _official_run(x0s, grad_fn, loss_fn, **kw)
    assert ref_lrs[0] == 0.0 and 0 < ref_lrs[3] < kw["lr"]  # the warmup follows the schedule
    assert ref_lrs[4] == kw["clamp"] > ref_lrs[6] > ref_lrs[8]  # clamped first, then S lowers γ

    params = [torch.nn.Parameter(x.clone()) for x in x0s]
    opt = ALIAS(
        params,
        L_inf=kw["L_inf"],
        lower_bound=0.0,
        clamp_level=kw["clamp"],
        update_gap=kw["gap"],
        weight_decay=kw["wd"],
        lr=kw["lr"],
        warmup_steps=kw["warmup"],
    )
    # the suite's loop: the run's scheduler steps every step (transformers' cosine has the same
    # linear warmup; ALIAS ignores lr after it), clipping before step(), f(x_0) handed over first
    from transformers import get_constant_schedule_with_warmup

    scheduler = get_constant_schedule_with_warmup(opt, num_warmup_steps=kw["warmup"])
    lrs = []
    for _ in range(kw["steps"]):
        with torch.no_grad():
            for p, g in zip(params, grad_fn([p.detach() for p in params]), strict=True):
                p.grad = g
        opt.set_initial_loss(loss_fn([p.detach() for p in params]))
        torch.nn.utils.clip_grad_norm_(params, kw["clip"])
        lrs.append(float(opt.param_groups[0]["lr"]) if opt.stats["step"] < kw["warmup"] else None)
        opt.step()
        lrs[-1] = lrs[-1] if lrs[-1] is not None else opt.stats["gamma"]
        scheduler.step()
    assert lrs == pytest.approx(ref_lrs, rel=1e-12, abs=0)
    assert opt.stats["S"] == pytest.approx(ref_S, rel=1e-12)
    for p, x in zip(params, ref_xs, strict=True):
        torch.testing.assert_close(p.detach(), x, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- statistics, bit for bit


def _frozen_update_statistics(self, params):
    """The statistics code as it was before the fast path (commit a56d738), kept as the reference."""
    st = self.stats
    sums, steps = [], []
    for p in params:
        state = self.state[p]
        g = p.grad
        if self.sign_only_memory:
            sums.append(torch.mul(g, state["prev_sign"]).sum(dtype=torch.float64))
            continue
        prev = state["prev_grad"]
        scratch = torch.sign(prev).mul_(g)
        sums.append(scratch.sum(dtype=torch.float64))
        sums.append(torch.sub(g, prev, out=scratch).abs_().sum(dtype=torch.float64))
        steps.append(torch.sub(p, state["prev_param"], out=scratch).abs_().amax())
    values = torch.stack(sums).tolist()
    if self.sign_only_memory:
        inner = sum(values)
        diff_l1 = abs(inner - st["prev_l1"])
        step_inf = st["gamma_prev"]
    else:
        inner, diff_l1 = sum(values[0::2]), sum(values[1::2])
        step_inf = max(torch.stack(steps).tolist())
    if step_inf > 0:
        st["S"] += diff_l1 / step_inf
    st["d_tilde"] += st["gamma_prev"] * inner
    st["d"] = max(st["d"], st["d_tilde"])


def _frozen_sign_update(self, group, gamma):
    """The per-tensor sign update as it was before the foreach path."""
    beta, damp, wd = group["momentum"], group["dampening"], group["weight_decay"]
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        if beta > 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.detach().clone()
            else:
                buf.mul_(beta).add_(g, alpha=1.0 - damp)
            if group["nesterov"]:
                g.add_(buf, alpha=beta)
            else:
                g.copy_(buf)
        if wd != 0:
            p.mul_(1.0 - gamma * wd)
        p.add_(g.sign_(), alpha=-gamma)


class FrozenALIAS(ALIAS):
    _update_statistics = _frozen_update_statistics
    _sign_update = _frozen_sign_update

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs, float64_statistics=True, heavy_ball=True)


FAST_CASES = {
    "lower-bound": dict(lower_bound=0.0, L_inf=10.0),
    "lower-bound gap 3 wd momentum": dict(
        lower_bound=0.0, L_inf=10.0, update_gap=3, weight_decay=0.01, momentum=0.9, lr=1e-3, warmup_steps=2
    ),
    "d-rule": dict(d_0=1e-3, L_inf=10.0),
    "d-rule nesterov": dict(d_0=1e-3, L_inf=10.0, momentum=0.5, nesterov=True),
    "sign-only lower-bound": dict(lower_bound=0.0, L_inf=10.0, sign_only_memory=True),
    "sign-only d-rule": dict(d_0=1e-3, L_inf=10.0, sign_only_memory=True),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", FAST_CASES, ids=str)
def test_fast_statistics_bit_identical_to_frozen_reference(case, dtype):
    kw = dict(clamp_level=0.05, **FAST_CASES[case])
    gen = torch.Generator().manual_seed(1)
    shapes = [(64, 48), (48,), (300, 7), (5, 3, 9)]
    x0 = [torch.randn(s, generator=gen).to(dtype) for s in shapes]
    grads = [[torch.randn(s, generator=gen).to(dtype) for s in shapes] for _ in range(10)]
    runs = []
    for cls in (ALIAS, FrozenALIAS):
        params = [torch.nn.Parameter(x.clone()) for x in x0]
        opt = cls(
            params, **kw, **({} if cls is FrozenALIAS else dict(float64_statistics=True, heavy_ball=True))
        )
        opt.set_initial_loss(2.5)
        gammas = []
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone() + p.detach()
            opt.step()
            gammas.append(opt.param_groups[0]["lr"])
        runs.append((params, opt, gammas))
    (fast, fast_opt, fast_gammas), (ref, ref_opt, ref_gammas) = runs
    assert fast_gammas == ref_gammas
    used = ("S", "gamma", "gamma_prev", "step", "f0", "prev_l1")
    used += ("d", "d_tilde") if "d_0" in kw or kw.get("sign_only_memory") else ()
    assert {k: fast_opt.stats[k] for k in used} == {k: ref_opt.stats[k] for k in used}
    assert fast_opt.stats["S"] > kw["L_inf"]  # the statistics did move
    for p, q in zip(fast, ref, strict=True):
        assert torch.equal(p, q)


# ---------------------------------------------------------------- through the method and the loop


def test_f0_is_the_undivided_loss_of_the_whole_first_step():
    """With two micro-batches the loop divides each loss by 2 before backward; f(x_0) must be the
    step's mean undivided loss (the official loop: the undivided loss, not the divided one)."""
    import contextlib

    import hydra
    from omegaconf import OmegaConf

    from suite.configs import CONF_DIR
    from suite.loop import train_step
    from suite.measure.memory import MemoryMeter
    from suite.models import byte_tokenizer, tiny_qwen3

    torch.manual_seed(0)
    model = tiny_qwen3(byte_tokenizer(), hidden_size=32, num_layers=2, intermediate_size=64)
    meter = MemoryMeter(model)
    cfg = OmegaConf.load(CONF_DIR / "method" / "alias.yaml")
    cfg.pop("name")
    cfg.pop("traits")
    method = hydra.utils.instantiate(cfg, model=model)
    assert method.uses_lr_schedule  # warmup: schedule, as the official loop
    gen = torch.Generator().manual_seed(0)
    ids = [torch.randint(3, 259, (2, 16), generator=gen) for _ in range(2)]
    batches = [{"input_ids": i, "labels": i} for i in ids]
    with torch.no_grad():
        undivided = [float(model(**b).loss) for b in batches]
    train_step(method, batches, meter, contextlib.nullcontext(), None, None)
    assert method.optimizer.stats["f0"] == pytest.approx(sum(undivided) / 2, rel=1e-6)
    assert method.optimizer.stats["f0"] > max(undivided) / 2  # not one divided micro-batch loss
    meter.close()


# ---------------------------------------------------------------- the official update, 30 steps


class OfficialAIDsignSGD:
    """The official update, rewritten from ``AIDsignSGD`` (``_init_group``, ``step``) and
    ``_single_tensor_aid_sign_sgd`` in ``parameter_free_signsgd.py`` of
    github.com/evseevgrv/SignSGD_GoldenGate, for the lower-bound rule with ``warmup_steps=0``:
    tensors in the parameter dtype, ``lambda_denom_sum`` starting at L_inf, the per-tensor
    ``vector_norm``s stacked and normed again, γ = √(f_diff/S) clamped in place, and the momentum
    buffer read from a state that never stores it (``state.get("momentum_buffer")`` is None at
    every step, so each step clones a new buffer from the gradient)."""

    def __init__(self, params, *, L_inf, lower_bound, clamp_level, update_gap, momentum, weight_decay):  # noqa: N803
        self.params, self.momentum, self.weight_decay, self.update_gap = (
            params,
            momentum,
            weight_decay,
            update_gap,
        )
        dtype = params[0].dtype
        self.lambda_denom_sum = torch.tensor(L_inf, dtype=dtype)
        self.clamp_level = torch.tensor(clamp_level, dtype=dtype)
        self.lower_bound = lower_bound
        self.f_diff, self.prev_gamma, self.step_count, self.state = None, [], 0, {}
        self.lr = torch.tensor(1e-3)

    @torch.no_grad()
    def step(self, loss):
        dtype = self.params[0].dtype
        if self.f_diff is None:
            self.f_diff = torch.tensor(loss, dtype=dtype) - torch.tensor(self.lower_bound, dtype=dtype)
        params, grads = self.params, [p.grad for p in self.params]
        prev_grads = [self.state.get(p, {}).get("prev_grad") for p in params]
        prev_params = [self.state.get(p, {}).get("prev_param") for p in params]
        buffers = [self.state.get(p, {}).get("momentum_buffer") for p in params]
        step = self.step_count
        if step % self.update_gap == 0:
            if step > 0:
                num = torch.linalg.vector_norm(
                    torch.stack(
                        [torch.linalg.vector_norm(g - pg, 1) for g, pg in zip(grads, prev_grads, strict=True)]
                    ),
                    1,
                )
                den = torch.linalg.vector_norm(
                    torch.stack(
                        [
                            torch.linalg.vector_norm(p - pp, float("inf"))
                            for p, pp in zip(params, prev_params, strict=True)
                        ]
                    ),
                    float("inf"),
                )
                self.lambda_denom_sum.add_(num / den)
            gamma = (self.f_diff.div(self.lambda_denom_sum)).sqrt()
            gamma.clamp_(max=self.clamp_level)
            self.prev_gamma.append(gamma.clone())
        self.lr.copy_(self.prev_gamma[-1])
        lr = self.lr
        for i, param in enumerate(params):
            grad = grads[i]
            if step % self.update_gap == 0:
                prev_grads[i] = torch.clone(grads[i].detach())
                prev_params[i] = torch.clone(param.detach())
            if self.weight_decay != 0:
                param.mul_(1 - lr * self.weight_decay)
            if self.momentum != 0:
                buf = buffers[i]
                if buf is None:
                    buf = torch.clone(grad).detach()
                else:
                    buf.mul_(self.momentum).add_(grad)
                grad = buf
            param.add_(grad.sign(), alpha=-lr)
        self.step_count += 1
        for p, pg, pp in zip(params, prev_grads, prev_params, strict=True):
            self.state[p] = {"prev_grad": pg, "prev_param": pp}  # the buffer is not stored back


def _small_model():
    from suite.models import byte_tokenizer, tiny_qwen3

    torch.manual_seed(0)
    return tiny_qwen3(byte_tokenizer(), hidden_size=32, num_layers=2, intermediate_size=64)


def _yaml_alias(model, **overrides):
    """ALIAS built by conf/method/alias.yaml with ``overrides``."""
    import hydra
    from omegaconf import OmegaConf

    from suite.configs import CONF_DIR

    cfg = OmegaConf.load(CONF_DIR / "method" / "alias.yaml")
    cfg.pop("name")
    cfg.pop("traits")
    cfg.merge_with(overrides)
    return hydra.utils.instantiate(cfg, model=model).optimizer


def _train(model, step, steps=30):
    """``steps`` steps on fixed batches; ``step(loss)`` updates the model."""
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(3, 259, (2, 16), generator=gen) for _ in range(3)]
    for t in range(steps):
        ids = batches[t % 3]
        model.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        step(float(loss))
    return [p.detach().clone() for p in model.parameters()]


# L_inf large enough that γ (~1e-3) leaves the small model trainable; a clamp that never binds
SETTINGS = dict(L_inf=1e6, lower_bound=0.0, clamp_level=1.0, momentum=0.9)


@pytest.mark.parametrize("built_by", ["class", "yaml"])
def test_matches_the_official_update_for_30_steps_on_a_small_model(built_by):
    model = _small_model()
    start = copy.deepcopy(model.state_dict())
    official = OfficialAIDsignSGD(list(model.parameters()), update_gap=1, weight_decay=0.0, **SETTINGS)
    want = _train(model, official.step)

    def ours(**kw):
        model.load_state_dict(start)
        params = [p for p in model.parameters()]
        opt = ALIAS(params, **SETTINGS, **kw) if built_by == "class" else _yaml_alias(model, **SETTINGS, **kw)

        def step(loss):
            opt.set_initial_loss(loss)
            opt.step()

        return _train(model, step), opt

    got, opt = ours()
    assert opt.step_stats()["alias/clamped_fraction"] == 0.0  # the clamp never bound
    gammas = [float(g) for g in official.prev_gamma]
    assert 1e-4 < min(gammas) < max(gammas) < 1e-2
    for w, g in zip(want, got, strict=True):
        torch.testing.assert_close(g, w, rtol=1.3e-6, atol=1e-6)  # float32 rounding
    heavy, _ = ours(heavy_ball=True)
    assert max(float((h - w).abs().max()) for h, w in zip(heavy, want, strict=True)) > 1e-2


# ---------------------------------------------------------------- statistics precision


@pytest.mark.parametrize(("wide", "rel"), [(False, 1e-5), (True, 1e-9)])
def test_statistics_against_a_float64_rederivation(wide, rel):
    """float32 weights; S and γ from the optimizer against S and γ re-derived in float64 from the
    same gradients and iterates. Parameter-dtype statistics (the default) agree to 1e-5 relative
    (float32 sums over ~3·10⁴ terms), float64 statistics to 1e-9 (only g − g_prev is formed in
    float32, as the update forms it)."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(120, 80), (80,), (300, 30)]
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    opt = ALIAS(params, L_inf=10.0, lower_bound=0.0, clamp_level=NO_CLAMP, float64_statistics=wide)
    opt.set_initial_loss(2.5)
    S, prev = 10.0, None
    for _ in range(8):
        grads = [
            torch.randn(s, generator=gen) + 0.3 * p.detach() for s, p in zip(shapes, params, strict=True)
        ]
        xs = [p.detach().double() for p in params]
        g64 = [g.double() for g in grads]
        if prev is not None:
            num = sum(float((g - pg).abs().sum()) for g, pg in zip(g64, prev[0], strict=True))
            den = max(float((x - px).abs().max()) for x, px in zip(xs, prev[1], strict=True))
            S += num / den
        prev = (g64, xs)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt.step()
        assert opt.stats["S"] == pytest.approx(S, rel=rel)
        assert opt.stats["gamma"] == pytest.approx(math.sqrt(2.5 / S), rel=rel)
    assert opt.stats["S"] > 1e3  # the statistics moved


# ---------------------------------------------------------------- ALIAS with AdamW (alias_adam)


def test_alias_adam_splits_as_the_official_script_and_steps_each_part_by_its_rule():
    import hydra
    from omegaconf import OmegaConf

    from suite.configs import CONF_DIR

    model = _small_model()
    start = copy.deepcopy(model.state_dict())
    cfg = OmegaConf.load(CONF_DIR / "method" / "alias_adam.yaml")
    cfg.pop("name")
    cfg.pop("traits")
    cfg.merge_with(dict(weight_decay=0.01, update_gap=2))
    method = hydra.utils.instantiate(cfg, model=model)
    opt = method.optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    adamw_names = [names[id(p)] for g in opt.param_groups[1:] for p in g["params"]]
    assert adamw_names == ["lm_head.weight"]  # --proj_embeds --proj_norms, no --proj_logits
    assert len(opt.param_groups[0]["params"]) == len(names) - 1
    assert method.uses_lr_schedule  # AdamW follows the run's schedule

    def step(loss):
        method.on_step_loss(loss)
        opt.step()

    got = dict(zip(names.values(), _train(model, step, steps=4), strict=True))
    assert set(method.step_stats()) >= {"alias/gamma", "alias/S", "alias/clamped_fraction"}
    # the same two parts run alone: ALIAS on the signed tensors, torch's AdamW on the output layer
    model.load_state_dict(start)
    head = model.lm_head.weight
    alone = ALIAS(
        [p for p in model.parameters() if p is not head],
        L_inf=100.0,
        lower_bound=0.0,
        clamp_level=1e-3,
        update_gap=2,
        weight_decay=0.01,
        momentum=0.9,
        lr=1e-3,
    )
    adamw = torch.optim.AdamW([head], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def both(loss):
        alone.set_initial_loss(loss)
        alone.step()
        adamw.step()

    want = dict(zip(names.values(), _train(model, both, steps=4), strict=True))
    for name in names.values():
        assert torch.equal(got[name], want[name]), name
    saved = copy.deepcopy(opt.state_dict())
    opt.load_state_dict(saved)
    assert opt.alias.stats == alone.stats and "exp_avg" in opt.state[head]
