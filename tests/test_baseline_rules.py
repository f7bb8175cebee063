"""The update rules of the packaged baselines (Muon, Adafactor, 8-bit AdamW from torchao and from
bitsandbytes, 8-bit GaLore, Q-GaLore, Lion, Schedule-Free AdamW, Adam-mini), each built from its YAML and
stepped on fixed gradients, against the published rule written out here in float64."""

from __future__ import annotations

import math

import pytest
import torch
from test_baselines import method_from_yaml, tiny
from torch import nn

from suite.blocks import find_blocks


def fixed_grads(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    grads = {n: torch.randn(p.shape, generator=gen) for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.grad = grads[n].clone()
    return grads


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().double().clone() for n, p in model.named_parameters()}


# ---------------------------------------------------------------- Muon


def newton_schulz(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """The quintic Newton–Schulz iteration of KellerJordan/Muon ``zeropower_via_newtonschulz5``,
    in float64: X ← aX + (bA + cA²)X with A = XXᵀ, from X = G/‖G‖_F (wide orientation)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / g.norm()
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def test_muon_steps_hidden_matrices_by_orthogonalised_momentum_and_the_rest_by_adamw():
    model = tiny()
    method = method_from_yaml("muon", model, weight_decay=0.0, adamw_weight_decay=0.0)
    hidden = {id(p) for p in find_blocks(model).parameters() if p.ndim == 2}
    before = weights(model)
    grads = fixed_grads(model, 0)
    method.optimizer.step()
    lr, mu, adam_lr = 0.02, 0.95, 3e-4
    seen = set()
    for name, p in model.named_parameters():
        g = grads[name].double()
        if id(p) in hidden:
            step = before[name] - p.detach().double()
            rows, cols = p.shape
            # step 1: B = g, Nesterov g + μB; the step is lr·√max(1, rows/cols)·NS₅(g + μB)
            update = step / (lr * math.sqrt(max(1.0, rows / cols)))
            ref = newton_schulz(g + mu * g)
            assert update.shape == p.shape
            assert (update - ref).norm() / ref.norm() < 0.03, name  # torch iterates in bf16
            # orthogonalised: the singular values sit near 1 (the quintic's band, not exactly 1)
            s = torch.linalg.svdvals(update)
            assert 0.5 < s.min() and s.max() < 1.3, (name, s)
            seen.add(rows >= cols)
        else:  # AdamW's first step: lr·m̂/(√v̂ + ε) = lr·g/(|g| + ε)
            ref = before[name] - adam_lr * g / (g.abs() + 1e-10)
            torch.testing.assert_close(p.detach().double(), ref, rtol=1e-6, atol=1e-9)
    assert seen == {True, False}  # both orientations of the iteration
    assert len(method.optimizer.param_groups) == 2


# ---------------------------------------------------------------- Adafactor


def test_adafactor_follows_the_factored_relative_step_rule():
    """Shazeer & Stern (arXiv 1804.04235) Alg. 4/5 as torch states it: β̂₂ₜ = 1 − t^−0.8, ρ_t =
    min(lr, 1/√t), α_t = max(ε₂, RMS(θ))·ρ_t, V̂ = R Cᵀ / mean(R) for matrices, U = G/√V̂ clipped
    by max(1, RMS(U)/d)."""
    model = tiny()
    method = method_from_yaml("adafactor", model)
    lr, eps2, d = 1e-2, 1e-3, 1.0
    eps1 = torch.finfo(torch.float32).eps
    x = weights(model)
    row = {n: 0.0 for n in x}
    col = {n: 0.0 for n in x}
    for t in (1, 2, 3):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        for n, g in grads.items():
            g = g.double()
            beta = t**-0.8
            rho = min(lr, 1 / math.sqrt(t))
            alpha = max(eps2, x[n].norm().item() / math.sqrt(x[n].numel())) * rho
            if g.ndim == 2:
                row[n] = row[n] + beta * ((g * g).mean(dim=1, keepdim=True) - row[n])
                col[n] = col[n] + beta * ((g * g).mean(dim=0, keepdim=True) - col[n])
                v = row[n] @ col[n] / row[n].mean().clamp(min=eps1)
            else:
                row[n] = row[n] + beta * (g * g - row[n])
                v = row[n]
            u = g / v.clamp(min=eps1 * eps1).sqrt()
            clip = max(1.0, u.norm().item() / (math.sqrt(u.numel()) * d))
            x[n] = x[n] - alpha / clip * u
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- 8-bit AdamW


def adam_step(x, m, v, g, t, lr, eps, b1=0.9, b2=0.999):
    """One float64 AdamW step (no decay) on ``x``; returns x, m, v."""
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    return x - lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps), m, v


def quantized(name: str, state: dict) -> bool:
    """Whether a tensor's moments are 8-bit: torchao's tensor subclass of uint8 codes, or
    bitsandbytes' uint8 ``state1`` (with one absmax per block of 256)."""
    if name == "adamw8bit":
        from torchao.optim.subclass_8bit import OptimState8bit

        return isinstance(state["exp_avg"], OptimState8bit) and state["exp_avg"].codes.dtype == torch.uint8
    return state["state1"].dtype == torch.uint8 and state["absmax1"].numel() == state["state1"].numel() // 256


@pytest.mark.parametrize(("name", "worst"), [("adamw8bit", 0.3), ("adamw8bit_bnb", 0.5)])
def test_8bit_adamw_is_adamw_with_block_quantized_moments(name, worst):
    """torchao's and bitsandbytes' kernels: step 1 updates from the unquantized moments (AdamW
    exactly); from step 2 the stored 8-bit moments are read back, so the step stays within the
    quantizer's error of AdamW's (a few coordinates in 10^4 reach ``worst`` lr)."""
    model = tiny()
    method = method_from_yaml(name, model)
    lr, eps = 1e-3, 1e-8
    x = weights(model)
    m = {n: 0.0 for n in x}
    v = {n: 0.0 for n in x}
    for t in (1, 2, 3):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        for n, g in grads.items():
            x[n], m[n], v[n] = adam_step(x[n], m[n], v[n], g.double(), t, lr, eps)
        if t == 1:
            for n, p in model.named_parameters():
                torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-6, atol=1e-8)
    eight_bit = 0
    for n, p in model.named_parameters():
        error = (p.detach().double() - x[n]).abs() / lr  # in steps of lr, after three steps
        if quantized(name, method.optimizer.state[p]):
            eight_bit += 1
            assert error.max() < worst and error.mean() < 0.02, n
        else:  # fp32 moments: AdamW to fp32 rounding
            assert error.max() < 1e-3, n
    assert eight_bit == 2  # the embedding and the head (>= 4096 values); the rest stay fp32


# ---------------------------------------------------------------- 8-bit GaLore and Q-GaLore


def galore_step(x, m, v, g, p, t, lr, eps, scale=0.25):
    """One float64 GaLore step with projector ``p``: R = G·Pᵀ (m ≥ n) or Pᵀ·G, N = Adam(R),
    W ← W − lr·scale·(N·P or P·N); returns x and the projected moments."""
    tall = g.shape[0] >= g.shape[1]
    r = g @ p.T if tall else p.T @ g
    step, m, v = adam_step(torch.zeros_like(r), m, v, r, t, lr, eps)
    return x + scale * (step @ p if tall else p @ step), m, v


def test_galore8bit_is_galore_with_8bit_adam_on_the_projection():
    """Zhao et al. (arXiv 2403.03507) Alg. 2 with the moments in bitsandbytes' 8-bit state: on
    each projected weight W (m×n, P from the package's SVD of the first gradient), R = G·Pᵀ (m ≥ n)
    or Pᵀ·G, N = Adam(R), W ← W − lr·scale·(N·P or P·N). The tiny model's projections hold < 4096
    values, so their moments stay fp32 and match the float64 rule at every step; the embedding and
    head (8-bit moments) stay within the quantizer's error of AdamW's."""
    model = tiny()
    method = method_from_yaml("galore8bit", model, rank=4)
    lr, eps = 1e-3, 1e-6
    x = weights(model)
    m = {n: 0.0 for n in x}
    v = {n: 0.0 for n in x}
    by_name = dict(model.named_parameters())
    for t in (1, 2, 3):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        for n, g in grads.items():
            g = g.double()
            projector = method.optimizer.state[by_name[n]].get("projector")
            if projector is None:
                x[n], m[n], v[n] = adam_step(x[n], m[n], v[n], g, t, lr, eps)
                continue
            x[n], m[n], v[n] = galore_step(x[n], m[n], v[n], g, projector.ortho_matrix.double(), t, lr, eps)
    projected = 0
    for n, p in model.named_parameters():
        state = method.optimizer.state[p]
        if "projector" in state:
            projected += 1
            assert state["state1"].dtype == torch.float32
            torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-5, atol=1e-8)
        elif state["state1"].dtype == torch.uint8:
            error = (p.detach().double() - x[n]).abs() / lr
            assert error.max() < 0.5 and error.mean() < 0.02, n  # a few in 10^4 near 0.3
        else:
            torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-6, atol=1e-8)
    assert projected == 14  # q, k, v, o, gate, up, down in each of the 2 blocks


def test_qgalore_projects_through_its_int4_projector():
    """Zhang et al. (arXiv 2407.08296) Sec. 3.2: each projector is kept as 4-bit codes c with a
    scale s and zero point z per group of 128 values, P̃ = s·(c − z), within s/2 of the SVD factor;
    the step is 8-bit GaLore's with P̃: R = G·P̃ᵀ (or P̃ᵀ·G), W ← W − lr·scale·(Adam(R)·P̃ or P̃·Adam(R))
    (fp32 moments on the tiny model's projections, so float64 to rounding at every step)."""
    model = tiny()
    method = method_from_yaml("qgalore", model, rank=8)
    lr, eps = 1e-3, 1e-6
    x = weights(model)
    m = {n: 0.0 for n in x}
    v = {n: 0.0 for n in x}
    by_name = dict(model.named_parameters())
    projected = 0
    for t in (1, 2, 3):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        for n, g in grads.items():
            projector = method.optimizer.state[by_name[n]].get("projector")
            if projector is None:
                x[n], m[n], v[n] = adam_step(x[n], m[n], v[n], g.double(), t, lr, eps)
                continue
            codes, s, z = projector.ortho_matrix, projector.ortho_matrix_scales, projector.ortho_matrix_zeros
            assert codes.dtype == torch.uint8 and int(codes.max()) <= 15 and codes.shape[1] == 128
            p = (s.double() * (codes.double() - z.double())).reshape(projector.ortho_matrix_shape)
            g = g.double()
            tall = g.shape[0] >= g.shape[1]
            if t == 1:  # the first SVD's factor, which the codes quantize
                u, _, vh = torch.linalg.svd(g.float(), full_matrices=False)
                exact = vh[:8] if tall else u[:, :8]
                groups = (exact.double().reshape(-1, 128) - p.reshape(-1, 128)).abs()
                assert (groups <= s.double() / 2 + 1e-6).all(), n
                projected += 1
            x[n], m[n], v[n] = galore_step(x[n], m[n], v[n], g, p, t, lr, eps)
    assert projected == 14
    for n, p in model.named_parameters():
        if "projector" in method.optimizer.state[p] or p.numel() < 4096:
            torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("threshold, gap, svds", [(-1.0, 2, 3), (1.01, 1, 4)])
def test_qgalore_lengthens_a_layers_gap_once_its_projectors_agree(threshold, gap, svds):
    """Sec. 3.3: each SVD adds the cosine similarity of the new projector's first vector with the
    last one to a queue; once ``queue_size`` are there and their mean reaches ``cos_threshold``,
    the layer's gap is multiplied by ``gamma_proj``. Gap 1, a queue of 2, four steps: SVDs at steps
    0, 1, 2, then (gap 2) none at 3; a threshold never reached keeps the gap and SVDs every step."""
    model = tiny()
    overrides = {"rank": 8, "update_proj_gap": 1, "queue_size": 2, "cos_threshold": threshold}
    method = method_from_yaml("qgalore", model, **overrides)
    for t in range(4):
        fixed_grads(model, t)
        method.optimizer.step()
    projectors = [s["projector"] for s in method.optimizer.state.values() if "projector" in s]
    assert len(projectors) == 14
    assert all(p.update_proj_gap == gap and p.svd_count == svds for p in projectors)


# ---------------------------------------------------------------- Lion


def test_lion_follows_program_1():
    """Chen et al. (arXiv 2302.06675) Program 1: θ ← θ(1 − lr·λ) − lr·sign(β₁m + (1 − β₁)g),
    m ← β₂m + (1 − β₂)g."""
    model = tiny()
    lr, b1, b2, wd = 1e-4, 0.9, 0.99, 0.1
    method = method_from_yaml("lion", model, weight_decay=wd)
    x = weights(model)
    m = {n: torch.zeros_like(w) for n, w in x.items()}
    for t in (1, 2, 3):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        for n, g in grads.items():
            g = g.double()
            x[n] = x[n] * (1 - lr * wd) - lr * torch.sign(b1 * m[n] + (1 - b1) * g)
            m[n] = b2 * m[n] + (1 - b2) * g
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- Schedule-Free AdamW


def test_schedulefree_trains_at_y_and_evaluates_at_the_average_x():
    """Defazio et al. (arXiv 2405.15682) Alg. 1 with Adam's preconditioner: gradients at
    y = (1 − β₁)z + β₁x; z ← z − γ(g/(√v̂ + ε) + λy); x ← (1 − c)x + c·z with c = γ²/Σγ²
    (``weight_lr_power`` 2); the warm-up scales γ linearly over its steps."""
    model = tiny()
    lr, b1, b2, eps, wd, warmup = 2.5e-3, 0.9, 0.999, 1e-8, 0.01, 2
    method = method_from_yaml("schedulefree", model, weight_decay=wd, warmup_steps=warmup)
    z = weights(model)
    x = {n: w.clone() for n, w in z.items()}
    v = {n: 0.0 for n in z}
    weight_sum = 0.0
    for t in (1, 2, 3):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        gamma = lr * min(1.0, t / warmup)
        weight_sum += gamma**2
        c = gamma**2 / weight_sum
        for n, g in grads.items():
            g = g.double()
            y = (1 - b1) * z[n] + b1 * x[n]
            v[n] = b2 * v[n] + (1 - b2) * g * g
            z[n] = z[n] - gamma * (g / ((v[n] / (1 - b2**t)).sqrt() + eps) + wd * y)
            x[n] = (1 - c) * x[n] + c * z[n]
    for n, p in model.named_parameters():  # train mode: the weights are y
        y = (1 - b1) * z[n] + b1 * x[n]
        torch.testing.assert_close(p.detach().double(), y, rtol=1e-5, atol=1e-8)
    with method.evaluating():
        for n, p in model.named_parameters():
            torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-5, atol=1e-8)
    method.optimizer.step()  # back in train mode: the package refuses a step in eval mode


def test_schedulefree_run_validates_and_saves_x_and_checkpoints_y(tmp_path, monkeypatch):
    """Through the app: every validation sees eval mode (x), training resumes in train mode (the
    package raises on a step in eval mode), the saved model is x and resume.pt holds y."""
    from helpers import run_job
    from safetensors.torch import load_file

    from suite import loop

    seen = []
    real = loop.heldout_loss

    def spy(model, *args):
        seen.append({n: p.detach().clone() for n, p in model.named_parameters()})
        return real(model, *args)

    monkeypatch.setattr(loop, "heldout_loss", spy)
    s = run_job(
        tmp_path,
        "method=schedulefree",
        "train.max_steps=3",
        "train.val_every=1",
        "data.n_val=4",
        "train.checkpoint_every=3",
        "eval.n_examples=0",
        "save_checkpoint=true",
    )
    assert s["status"] == "ok" and len(seen) == 3
    run = tmp_path / "default" / "schedulefree-seed0"
    saved = load_file(run / "checkpoint" / "model.safetensors")
    # the last validation's weights are the saved model's (to rounding: each switch is a lerp,
    # and the run went back to y and again to x in between)
    for n, w in seen[-1].items():
        torch.testing.assert_close(saved[n], w, rtol=1e-6, atol=1e-8)
    resume = torch.load(run / "resume.pt", weights_only=True)
    state = resume["optimizer"]
    b1 = state["param_groups"][0]["betas"][0]
    assert state["param_groups"][0]["train_mode"] is True
    differ = 0
    for i, (n, y) in enumerate(resume["model"].items()):
        z = state["state"][i]["z"]
        x = seen[-1][n]
        torch.testing.assert_close(y, (1 - b1) * z + b1 * x, rtol=1e-5, atol=1e-7)
        differ += not torch.equal(y, x)
    assert differ > len(resume["model"]) // 2


# ---------------------------------------------------------------- Adam-mini


def test_adam_mini_one_second_moment_per_head_row_or_tensor():
    """Zhang et al. (arXiv 2406.16793) Alg. 1: Adam's m per value; v the mean of g² over each
    block (a head of q/k: head_dim rows; a row of v/o/MLP/embeddings/head; a whole norm)."""
    model = tiny()
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    method = method_from_yaml("adam_mini", model)
    head = model.config.head_dim
    x = weights(model)
    m = {n: 0.0 for n in x}
    v = {n: 0.0 for n in x}
    for t in (1, 2):
        grads = fixed_grads(model, t)
        method.optimizer.step()
        for n, g in grads.items():
            g = g.double()
            if "q_proj" in n or "k_proj" in n:
                blocks = (g * g).reshape(-1, head * g.shape[1]).mean(dim=1)
                sq = blocks.repeat_interleave(head * g.shape[1]).reshape(g.shape)
            elif "norm" in n:
                sq = (g * g).mean().expand_as(g)
            else:
                sq = (g * g).mean(dim=1, keepdim=True).expand_as(g)
            m[n] = b1 * m[n] + (1 - b1) * g
            v[n] = b2 * v[n] + (1 - b2) * sq
            x[n] = x[n] - lr * (m[n] / (1 - b1**t)) / ((v[n] / (1 - b2**t)).sqrt() + eps)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach().double(), x[n], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["muon", "adam_mini"])
def test_the_splits_cover_every_trainable_parameter_once(name):
    model = tiny()
    method = method_from_yaml(name, model)
    grouped = [id(p) for g in method.optimizer.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
