"""``train.loss_chunks`` (``suite.chunked_loss``): the loss over chunks of the sequence is the
model's own causal-LM loss, and one step with it leaves every method's weights where the plain
loss leaves them, on the tiny model through the loop's own ``train_step``."""

from __future__ import annotations

import contextlib

import pytest
import torch
from helpers import on_cpu
from test_compat_cells import build, exact_dtype

from suite.chunked_loss import causal_lm_loss
from suite.configs import CONF_DIR
from suite.loop import train_step

FAST_METHODS = ("adamw", "lora", "lomo")
METHODS = [
    on_cpu(m, *(() if m in FAST_METHODS else (pytest.mark.slow,)))
    for m in sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))
]
SEQ, BATCH = 24, 4
FP32 = {"rtol": 1e-5, "atol": 1e-6}  # float32 tolerance: the sums run in another order


def batch() -> dict:
    """Full-length sequences whose labels ignore a prompt and a padded tail (-100)."""
    ids = torch.randint(3, 259, (BATCH, SEQ), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :5] = -100
    labels[1, 17:] = -100
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


@pytest.mark.parametrize("chunks", [2, 5, SEQ - 1])
def test_chunked_loss_is_the_models_loss_and_drops_no_token(chunks):
    # 5 does not divide the 23 predicted positions: a dropped or doubled token changes the sum
    method = build("adamw", dtype=torch.float64)
    b = batch()
    plain = causal_lm_loss(method.model, method.model, b, None)
    chunked = causal_lm_loss(method.model, method.model, b, chunks)
    assert torch.equal(plain, method.model(**b).loss)
    # the logits are upcast to (not beyond) fp32 on both paths, as Hugging Face's loss does
    torch.testing.assert_close(chunked, plain, **FP32)
    grads = [torch.autograd.grad(loss, method.model.parameters()) for loss in (plain, chunked)]
    for g_plain, g_chunked in zip(*grads, strict=True):
        torch.testing.assert_close(g_chunked, g_plain, **FP32)


def test_a_dropped_chunk_is_noticed():
    method = build("adamw", dtype=torch.float64)
    b = batch()
    short = {k: v[:, :-1] for k, v in b.items()}  # the last position's prediction dropped
    plain = causal_lm_loss(method.model, method.model, b, None)
    assert not torch.allclose(causal_lm_loss(method.model, method.model, short, 5), plain, rtol=1e-6)


@pytest.mark.parametrize("name", METHODS)
def test_one_step_with_chunks_equals_one_with_the_plain_loss(name):
    """Weights after one step (a backward that updates in place included), in float64 weights where
    the method allows."""
    after = []
    for chunks in (None, 5):
        method = build(name, dtype=exact_dtype(name))
        loss = train_step(method, [batch()], None, contextlib.nullcontext(), None, None, loss_chunks=chunks)
        after.append((loss, {k: v.detach().clone() for k, v in method.model.state_dict().items()}))
    (loss_plain, plain), (loss_chunked, chunked) = after
    assert loss_chunked == pytest.approx(loss_plain, rel=FP32["rtol"])
    assert plain.keys() == chunked.keys()
    for key in plain:
        torch.testing.assert_close(chunked[key], plain[key], **FP32, msg=key)
