"""The *works* cells of the compatibility matrix (suite/compat.py) that one process checks in a
second or two per method: each test runs every method whose cell applies and is not refused, as
the method's YAML builds it, on the tiny model, through the loop's own ``train_step``.

A new method gets these cells by its YAML alone; where one needs another tolerance or a reason the
property cannot hold, it is declared here, per method.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from helpers import NARROW, compose_job
from hydra.utils import instantiate
from transformers import set_seed

from suite import compat
from suite.loop import AUTOCAST, build_method, train_step, without
from suite.measure.updates import LostUpdateGuard, updated_tensors

pytestmark = pytest.mark.slow  # about a second per method and cell

SEQ, BATCH = 24, 8
# float64 sums of the same terms in another order: within a few ULPs, so the sign methods see the
# same signs (a coordinate's gradient would have to be within ~1e-16 of 0 to flip).
EXACT = {"rtol": 1e-10, "atol": 1e-12}
# Methods whose update is computed in fp32 whatever the weights' dtype: compared in fp32 (their
# equalities below hold bitwise there, the same operations running in the same order).
FP32_ONLY = {"sqmeft": "torch refuses the fp32 norm of its RMS scaling on float64 weights"}
# Cells proved by a test of their own instead of the generic one here, and why.
OWN_TEST = {
    ("stosignsgd", "in_backward"): "its noise is drawn in backward's order, so the fused steps equal "
    "the plain ones in distribution only (tests/test_optim_stosignsgd.py checks the rule itself)",
}


def runs(feature: str) -> list[str]:
    return [m for m in compat.cells_where(feature, refused=False) if (m, feature) not in OWN_TEST]


def exact_dtype(method: str) -> torch.dtype:
    return torch.float32 if method in FP32_ONLY else torch.float64


def build(method: str, *overrides: str, dtype: torch.dtype | None = None, checkpointing: bool = False):
    """The method's YAML on the tiny model (unpretrained), built as the loop builds it, with
    ``overrides`` in the job (its checks see them); ``dtype`` casts the model after building."""
    cfg = compose_job(f"method={method}", "model.pretrain_steps=0", *NARROW.get(method, []), *overrides)
    model, _ = instantiate(without(cfg.model, "name", "architecture"))
    if dtype is not None:
        model.to(dtype)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    set_seed(cfg.seed)
    method = build_method(cfg, model)
    method.model.train()
    return method


def batches(n: int, size: int) -> list[dict]:
    """``n`` micro-batches of ``size`` full-length sequences (no padding: the mean loss of the
    micro-batches' mean losses is the mean loss of their union)."""
    ids = torch.randint(3, 259, (n * size, SEQ), generator=torch.Generator().manual_seed(0))
    return [
        {"input_ids": part, "attention_mask": torch.ones_like(part), "labels": part}
        for part in ids.split(size)
    ]


def steps(method, micro_batches, k=2, autocast=None, scaler=None) -> list[float]:
    ctx = torch.autocast("cpu", dtype=autocast) if autocast else contextlib.nullcontext()
    return [train_step(method, micro_batches, None, ctx, scaler, None) for _ in range(k)]


def weights(method) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in method.model.state_dict().items()}


@pytest.mark.compat(
    "grad_accum",
    checks="two steps of 2 micro-batches of 4 leave the weights of two steps on one batch of 8 "
    "(float64, equal-length sequences, within 1e-10 relative)",
)
@pytest.mark.parametrize("method", runs("grad_accum"))
def test_accumulated_micro_batches_equal_one_batch(method):
    whole = build(method, dtype=exact_dtype(method))
    steps(whole, batches(1, BATCH))
    accumulated = build(method, "train.grad_accum=2", dtype=exact_dtype(method))
    steps(accumulated, batches(2, BATCH // 2))
    torch.testing.assert_close(weights(accumulated), weights(whole), **EXACT)


@pytest.mark.compat(
    "checkpointing",
    checks="two steps with non-reentrant gradient checkpointing leave the weights of two steps "
    "without it (float64, within 1e-10 relative; SQ-MEFT in fp32)",
)
@pytest.mark.parametrize("method", runs("checkpointing"))
def test_checkpointing_gives_the_same_steps(method):
    plain = build(method, dtype=exact_dtype(method))
    steps(plain, batches(1, BATCH))
    checkpointed = build(
        method, "train.gradient_checkpointing=true", dtype=exact_dtype(method), checkpointing=True
    )
    steps(checkpointed, batches(1, BATCH))
    torch.testing.assert_close(weights(checkpointed), weights(plain), **EXACT)


@pytest.mark.compat(
    "in_backward",
    checks="with its in-backward switch on, two steps leave the weights of the step after backward "
    "(float64, within 1e-10 relative)",
)
@pytest.mark.parametrize("method", [m for m in runs("in_backward") if compat.overrides_of(m, "in_backward")])
def test_the_in_backward_switch_gives_the_same_steps(method):
    after = build(method, dtype=exact_dtype(method))
    steps(after, batches(1, BATCH))
    fused = build(method, *compat.overrides_of(method, "in_backward"), dtype=exact_dtype(method))
    assert fused.updates_in_backward
    steps(fused, batches(1, BATCH))
    torch.testing.assert_close(weights(fused), weights(after), **EXACT)


PRECISION = {  # feature: (overrides, weight dtype, autocast dtype, loss scaling)
    "bf16_weights": (("model.dtype=bfloat16",), torch.bfloat16, None, False),
    "bf16_autocast": (("model.dtype=float32", "train.autocast=bf16"), torch.float32, "bf16", False),
    "fp16": (("train.autocast=fp16",), torch.float32, "fp16", True),
}


PRECISION_CHECKS = (
    "four steps on one batch lower its loss, each loss finite, the model's weights in the asked dtype "
    "(fp16: the loop's GradScaler unscales before the step and skips none)"
)


@pytest.mark.parametrize(
    ("method", "feature"),
    [
        pytest.param(m, f, marks=pytest.mark.compat(f, methods=[m], checks=PRECISION_CHECKS), id=f"{m}-{f}")
        for f in PRECISION
        for m in runs(f)
    ],
)
def test_training_in_reduced_precision_lowers_the_loss(method, feature):
    overrides, dtype, autocast, scaled = PRECISION[feature]
    trained = build(method, *overrides)
    dtypes = [p.dtype for p in trained.model.parameters()]  # LoRA's adapters stay fp32
    scaler = torch.amp.GradScaler("cpu") if scaled else None
    losses = steps(trained, batches(1, BATCH), k=4, autocast=AUTOCAST.get(autocast), scaler=scaler)
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert losses[-1] < losses[0], losses
    assert trained.model.get_input_embeddings().weight.dtype == dtype
    assert [p.dtype for p in trained.model.parameters()] == dtypes, "a step changed a dtype"
    if scaler is not None:
        assert scaler.get_scale() == 2.0**16, "a step was skipped for inf/nan gradients"


@pytest.mark.compat(
    "guard",
    checks="after a step the guard's fraction, read over the tensors the method writes, counts "
    "exactly the coordinates of the model that the step changed (every coordinate sampled)",
)
@pytest.mark.parametrize("method", runs("guard"))
def test_the_guard_counts_what_the_step_changed(method):
    trained = build(method)
    steps(trained, batches(1, BATCH), k=1)  # LoRA's first step moves B only
    guard = LostUpdateGuard(trained)
    guard.probe.per_tensor = max(p.numel() for p in trained.model.parameters())
    before = weights(trained)
    guard.before(measure=True)
    steps(trained, batches(1, BATCH), k=1)
    fraction = guard.after(step=2)
    changed = sum(int((before[k] != v).sum()) for k, v in weights(trained).items())
    written = sum(t.numel() for t in updated_tensors(trained))
    assert changed > 0
    assert round(fraction * written) == changed


@pytest.mark.compat(
    "in_backward",
    methods=["signsgd"],
    checks="Signum (momentum 0.9) accumulates 2 micro-batches inside backward into its momentum: three "
    "steps equal those after backward on one batch of 8 (float64), no gradient kept past its hook",
)
def test_signum_inside_backward_accumulates_into_its_momentum_as_one_batch():
    """Signum fused into backward folds each micro-batch's gradient into its momentum and frees it:
    three steps of 2 × 4 equal three steps on one batch of 8 after backward (m_1 = g_1 included),
    no gradient kept past its hook."""
    whole = build("signsgd", "method.momentum=0.9", "method.weight_decay=0.1", dtype=torch.float64)
    steps(whole, batches(1, BATCH), k=3)
    fused = build(
        "signsgd",
        "method.momentum=0.9",
        "method.weight_decay=0.1",
        "method.fused_backward=true",
        "train.grad_accum=2",
        dtype=torch.float64,
    )
    alive = []  # after each of the method's hooks (ours run after them): gradients still stored
    params = list(fused.model.parameters())
    for p in params:
        p.register_post_accumulate_grad_hook(lambda _: alive.append(sum(q.grad is not None for q in params)))
    steps(fused, batches(2, BATCH // 2), k=3)
    assert len(alive) == 3 * 2 * len(params) and max(alive) == 0
    torch.testing.assert_close(weights(fused), weights(whole), **EXACT)
