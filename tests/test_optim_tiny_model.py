"""Every optimizer, built through its method YAML, lowers the LM loss of the tiny model on a
fixed random batch, with fp32 and with bf16 weights."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from suite.methods import Method
from suite.models import byte_tokenizer, tiny_qwen3

CONF = Path(__file__).resolve().parents[1] / "conf" / "method"
STEPS = 12


def _build(name: str, model: torch.nn.Module, **overrides) -> Method:
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg.pop("name") == name
    cfg.pop("traits")
    cfg = OmegaConf.merge(cfg, overrides)
    return hydra.utils.instantiate(cfg, model=model)


def _train(name: str, dtype: torch.dtype, **overrides) -> list[float]:
    model = tiny_qwen3(byte_tokenizer(), hidden_size=32, num_layers=2, intermediate_size=64)
    model = model.to(dtype)
    method = _build(name, model, **overrides)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 259, (4, 32), generator=gen)
    losses = []
    for _ in range(STEPS):
        loss = method.model(input_ids=ids, labels=ids).loss
        losses.append(loss.item())
        method.backward(loss)
        if method.on_step_loss is not None:  # as the loop does: after backward, before step()
            method.on_step_loss(float(loss))
        if not method.updates_in_backward:
            method.optimizer.step()
            method.optimizer.zero_grad(set_to_none=True)
    return losses


CASES = [
    ("absignsgd", {}),
    ("absignsgd", {"fused_backward": True}),
    ("absignsgd_mv", {}),
    ("stosignsgd", {}),
    ("stosignsgd", {"fused_backward": True}),
    ("alias", {}),
    ("alias", {"sign_only_memory": True, "momentum": 0.9}),
    ("sqmeft", {"min_quant_numel": 1024}),
    ("sqmeft", {"min_quant_numel": 1024, "stochastic_rounding": True}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name,overrides", CASES, ids=[f"{n}{'-'.join(o)}" for n, o in CASES])
def test_loss_goes_down(name, overrides, dtype):
    losses = _train(name, dtype, **overrides)
    assert losses[-1] < losses[0] - 0.05, losses
