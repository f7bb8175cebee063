"""The suite's own memory breakdown on the seed methods, checked against counts made here."""

from __future__ import annotations

import pytest
from helpers import TINY, loss_fell, run_job

from suite.blocks import find_blocks
from suite.pretrain import tiny_base


@pytest.fixture(scope="module")
def shapes():
    kw = {k.split(".")[1]: int(v) for k, v in (o.split("=") for o in TINY if o.startswith("model."))}
    model, _ = tiny_base(**kw)
    params = list(model.parameters())
    return {
        "n": sum(p.numel() for p in params),
        "largest_tensor": max(4 * p.numel() for p in params),
        "largest_block": max(4 * sum(p.numel() for p in b.parameters()) for b in find_blocks(model)),
    }


@pytest.mark.parametrize("fused", [False, True])
def test_absignsgd_no_state_and_one_block_of_gradients(tmp_path, shapes, fused):
    s = run_job(tmp_path, "method=absignsgd", f"method.fused_backward={fused}")
    assert s["status"] == "ok"
    assert s["mem_state_bytes"] == 0
    assert 0 < s["mem_grads_bytes"] <= (shapes["largest_tensor"] if fused else shapes["largest_block"])


@pytest.mark.parametrize("method", ["signsgd", "stosignsgd"])
def test_fused_sign_methods_hold_one_gradient_at_a_time(tmp_path, shapes, method):
    s = run_job(tmp_path, f"method={method}", "method.fused_backward=true")
    assert s["status"] == "ok"
    assert 0 < s["mem_grads_bytes"] <= shapes["largest_tensor"]


def test_sqmeft_state_under_0_6_bytes_per_parameter_and_one_gradient(tmp_path, shapes):
    # min_quant_numel=0: every tensor's momentum in 4 bits (the tiny test model's tensors are
    # below torchao's default 4096-element threshold).
    s = run_job(tmp_path, "method=sqmeft", "method.min_quant_numel=0")
    assert s["status"] == "ok"
    assert 0 < s["mem_state_bytes"] <= 0.6 * shapes["n"]
    assert 0 < s["mem_grads_bytes"] <= shapes["largest_tensor"]


def test_fused_backward_refuses_gradient_accumulation(tmp_path):
    from suite.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot accumulate gradients: with momentum 0 it keeps no state"):
        run_job(tmp_path, "method=signsgd", "method.fused_backward=true", "train.grad_accum=2")


# Eight training examples and batch size 8: every step sees the same batch, so the loss must fall.
SAME_BATCH = ["train.max_steps=10", "data.n_train=8", "eval.n_examples=0"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", ["absignsgd", "absignsgd_mv", "stosignsgd", "alias", "sqmeft"])
def test_seed_methods_train_through_the_app(tmp_path, method, dtype):
    extra = ["method.stochastic_rounding=true"] if method == "sqmeft" and dtype == "bfloat16" else []
    s = run_job(tmp_path, f"method={method}", f"model.dtype={dtype}", *SAME_BATCH, *extra)
    assert s["status"] == "ok"
    assert s["mem_params_bytes"] == (4 if dtype == "float32" else 2) * s["n_params"]
    assert loss_fell(tmp_path / "default" / f"{method}-seed0")
