"""The lost-update guard: the probe's fraction, and the run's warning for bf16 weights."""

from __future__ import annotations

import logging

import pytest
import torch
from helpers import run_job, train_losses

from suite.measure.updates import UpdateProbe, trainable_parameters


def test_probe_counts_exactly_the_changed_coordinates():
    model = torch.nn.Sequential(torch.nn.Linear(40, 50), torch.nn.Linear(50, 3))
    probe = UpdateProbe(lambda: trainable_parameters(model), per_tensor=10**6)
    probe.before()
    with torch.no_grad():
        model[0].weight.view(-1)[:500].add_(1.0)  # 500 of 2000 weights
        model[1].bias.add_(1.0)  # 3 of 3
    n = sum(p.numel() for p in model.parameters())
    assert probe.after() == pytest.approx(503 / n, abs=1e-12)


def test_probe_sample_estimates_the_fraction_and_skips_frozen():
    model = torch.nn.Linear(1000, 1000, bias=False)
    frozen = torch.nn.Linear(10, 10)
    frozen.requires_grad_(False)
    probe = UpdateProbe(lambda: trainable_parameters(torch.nn.ModuleList([model, frozen])), per_tensor=4096)
    probe.before()
    with torch.no_grad():
        model.weight.view(-1)[::4].add_(1.0)
        frozen.weight.add_(1.0)
    assert probe.after() == pytest.approx(0.25, abs=0.03)


def test_bf16_updates_below_half_ulp_are_lost():
    w = torch.randn(4096, generator=torch.Generator().manual_seed(0)).mul_(0.02).bfloat16()
    param = torch.nn.Parameter(w)
    probe = UpdateProbe(lambda: [param], per_tensor=4096)
    probe.before()
    with torch.no_grad():
        param.add_(-1e-6 * torch.ones_like(param))
    assert probe.after() < 0.1


@pytest.mark.parametrize(
    "overrides, fires",
    [
        (["model.dtype=bfloat16"], True),
        (["model.dtype=float32"], False),  # the remedy: fp32 (master) weights
        (["model.dtype=float32", "train.autocast=bf16"], False),
    ],
)
def test_guard_fires_for_signsgd_on_bf16_weights_at_lr_1e6(tmp_path, caplog, overrides, fires):
    with caplog.at_level(logging.WARNING, logger="suite.train"):
        s = run_job(tmp_path, "method=signsgd", "method.lr=1e-6", "train.max_steps=3", *overrides)
    warned = any("of the trainable coordinates changed" in r.message for r in caplog.records)
    assert warned == fires
    assert (s["update_applied_fraction_min"] < 0.5) == fires
    assert s["update_applied_fraction_mean"] >= s["update_applied_fraction_min"]
    assert len(train_losses(tmp_path / "default" / "signsgd-seed0")) == 3


class _Regression(torch.nn.Module):
    """A model with the ``model(**batch).loss`` interface of a causal LM."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1, dtype=torch.float64)

    def forward(self, x, y):
        return type("Out", (), {"loss": ((self.lin(x) - y) ** 2).mean()})()


def _step(max_grad_norm, accum=2, seed=0):
    import contextlib

    from suite.loop import train_step
    from suite.measure.memory import MemoryMeter
    from suite.methods import Method

    torch.manual_seed(seed)
    model = _Regression()
    seen = []
    method = Method(model, torch.optim.SGD(model.parameters(), lr=0.1), on_step_loss=seen.append)
    g = torch.Generator().manual_seed(1)
    batches = [
        {
            "x": torch.randn(8, 4, generator=g, dtype=torch.float64),
            "y": torch.randn(8, 1, generator=g, dtype=torch.float64),
        }
        for _ in range(accum)
    ]
    w0 = [p.detach().clone() for p in model.parameters()]
    loss = train_step(method, batches, MemoryMeter(model), contextlib.nullcontext(), None, max_grad_norm)
    return model, w0, batches, loss, seen


def test_step_loss_hook_gets_the_undivided_mean_loss_of_all_micro_batches():
    model, w0, batches, loss, seen = _step(None, accum=3)
    lin = torch.nn.Linear(4, 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(w0[0])
        lin.bias.copy_(w0[1])
        expected = sum(float(((lin(b["x"]) - b["y"]) ** 2).mean()) for b in batches) / 3
    assert seen == [pytest.approx(expected, rel=1e-12)] and loss == seen[0]


def test_max_grad_norm_clips_the_global_norm_before_the_step():
    clipped, w0, batches, _, _ = _step(0.01)
    free, *_ = _step(None)
    # float64 reference: the accumulated gradient, scaled to norm 0.01, one SGD step of lr 0.1
    w, b = (t.clone().requires_grad_(True) for t in w0)
    loss = sum(((b_["x"] @ w.T + b - b_["y"]) ** 2).mean() / 2 for b_ in batches)
    gw, gb = torch.autograd.grad(loss, (w, b))
    norm = torch.sqrt(gw.square().sum() + gb.square().sum())
    assert norm > 0.01  # so clipping acts
    scale = 0.01 / (norm + 1e-6)
    torch.testing.assert_close(clipped.lin.weight, w0[0] - 0.1 * scale * gw, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(clipped.lin.bias, w0[1] - 0.1 * scale * gb, rtol=1e-12, atol=1e-14)
    assert not torch.allclose(free.lin.weight, clipped.lin.weight)


@pytest.mark.parametrize("method", ["lomo", "sqmeft"])
def test_max_grad_norm_is_refused_for_methods_that_update_in_backward(tmp_path, method):
    from suite.errors import ConfigError

    with pytest.raises(ConfigError, match="train.max_grad_norm=null"):
        run_job(tmp_path, f"method={method}", "train.max_grad_norm=1.0")


@pytest.mark.parametrize("masters, fires", [(True, False), (False, True)])
def test_the_guard_reads_the_fp32_masters_of_a_master_weights_method(tmp_path, caplog, masters, fires):
    # bf16 weights, AdamW at lr 1e-6 (steps of ~1e-6): the bf16 copies barely move, the masters do
    with caplog.at_level(logging.WARNING, logger="suite.train"):
        s = run_job(
            tmp_path,
            "method=adamw",
            "method.lr=1e-6",
            f"method.master_weights={masters}",
            "model.dtype=bfloat16",
            "train.max_steps=3",
        )
    assert (s["update_applied_fraction_min"] < 0.5) == fires
    assert any("of the trainable coordinates changed" in r.message for r in caplog.records) == fires


def test_a_warm_up_step_at_lr_0_is_not_measured(tmp_path):
    s = run_job(tmp_path, "method=signsgd", "method.lr=1e-3", "train.max_steps=4", "train.warmup_steps=2")
    assert s["update_applied_fraction_min"] > 0.5  # step 1 (lr 0) would have been 0
