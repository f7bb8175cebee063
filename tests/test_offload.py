"""CPU-offloaded AdamW (``method=adamw_offload``, torchao ``CPUOffloadOptimizer``): refused in one
line off CUDA; the meter counts what a method keeps in host memory apart from the device
categories; on CUDA (skipped elsewhere) its steps are AdamW's, its host bytes are exact and a killed
run resumes bitwise."""

from __future__ import annotations

import sys

import pytest
import torch
from helpers import TINY, compose_job, needs_cuda, run_job
from torch import nn

from suite import train
from suite.measure.memory import MemoryMeter
from suite.pretrain import tiny_base

REASON = needs_cuda("adamw_offload")
CUDA = torch.cuda.is_available()


@pytest.mark.skipif(CUDA, reason="a GPU is visible: device=auto runs the method")
@pytest.mark.parametrize(
    ("device", "where"), [(None, "no CUDA device is visible (device=auto)"), ("cpu", "device=cpu")]
)
def test_suite_train_refuses_it_off_cuda_in_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys, device, where
):
    """``suite-train method=adamw_offload`` (the default ``device=auto``) on a machine without a GPU."""
    results = tmp_path / "results"
    argv = [*TINY, "logger=none", f"results_dir={results}", "method=adamw_offload"]
    monkeypatch.setattr(sys, "argv", ["suite-train", *argv, *([f"device={device}"] if device else [])])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        f"suite-train: error: method adamw_offload needs CUDA ({REASON}) and {where}; "
        "run it with device=cuda or auto on a GPU\n"
    )
    assert not results.exists()


def test_the_meter_counts_host_state_apart_from_the_device_categories():
    """A real AdamW over host copies of the weights, as an offloading method keeps them: its copies,
    their gradients and its moments are ``peak_host_state``, none of them optimizer state; a
    checkpoint carries the peak, and one written before it existed loads as 0."""
    model = nn.Linear(8, 6)
    copies = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(copies, lr=1e-2)
    device_buffer = torch.zeros(5)  # something the method keeps on the device: still state

    def host() -> list[torch.Tensor]:
        moments = [t for s in optimizer.state.values() for t in s.values()]
        return [*copies, *(c.grad for c in copies if c.grad is not None), *moments]

    meter = MemoryMeter(model)
    meter.track(optimizer, [device_buffer], host)
    model(torch.randn(3, 8)).square().sum().backward()
    for c, p in zip(copies, model.parameters(), strict=True):
        c.grad = p.grad.clone()
    optimizer.step()
    meter.after_step()
    n = sum(p.numel() for p in model.parameters())
    assert meter.peak_host_state == 4 * 4 * n + 4 * len(copies)  # copy, grad, m, v; a 4-byte step each
    assert meter.breakdown().state == 4 * 5
    saved = meter.state_dict()
    assert saved["peak_host_state"] == meter.peak_host_state
    older = MemoryMeter(model)
    older.load_state_dict({k: v for k, v in saved.items() if k != "peak_host_state"})
    assert older.peak_host_state == 0 and older.peak_state == meter.peak_state
    meter.close()
    older.close()


HOST_MODULE = '''
"""AdamW stepping on copies of the weights, as an offloading optimizer keeps them on the host."""
import torch

from suite.methods import Method, trainable


class HostAdamW(torch.optim.AdamW):
    def __init__(self, weights, lr):
        self.weights = weights
        super().__init__([w.detach().clone() for w in weights], lr=lr)

    @torch.no_grad()
    def step(self, closure=None):
        copies = self.param_groups[0]["params"]
        for w, c in zip(self.weights, copies):
            c.grad = w.grad.clone()
        super().step()
        for w, c in zip(self.weights, copies):
            w.copy_(c)

    def zero_grad(self, set_to_none=True):
        for w in self.weights:
            w.grad = None


def build(model, lr):
    optimizer = HostAdamW(trainable(model), lr)

    def host():
        copies = optimizer.param_groups[0]["params"]
        moments = [t for s in optimizer.state.values() for t in s.values()]
        return [*copies, *(c.grad for c in copies if c.grad is not None), *moments]

    return Method(model=model, optimizer=optimizer, host_state=host)
'''


@pytest.mark.slow
def test_a_run_records_the_host_state_in_its_own_field(tmp_path, monkeypatch):
    """A user method that declares its copies, their gradients and its moments as host state:
    ``summary.json`` has them as ``mem_host_state_bytes`` and none of them in ``mem_state_bytes``."""
    (tmp_path / "hostadamw").mkdir()
    (tmp_path / "hostadamw" / "__init__.py").write_text(HOST_MODULE)
    (tmp_path / "conf" / "method").mkdir(parents=True)
    (tmp_path / "conf" / "method" / "host_adamw.yaml").write_text(
        "name: host_adamw\n_target_: hostadamw.build\ntraits:\n  distributed: averaged\nlr: 0.001\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    s = run_job(tmp_path / "results", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "method=host_adamw")
    assert s["status"] == "ok"
    kw = {k.split(".")[1]: int(v) for k, v in (o.split("=") for o in TINY if o.startswith("model."))}
    tensors = len(list(tiny_base(**(kw | {"pretrain_steps": 0}))[0].parameters()))
    n = s["n_trainable_params"]
    assert s["mem_host_state_bytes"] == 4 * 4 * n + 4 * tensors  # copy, gradient, m, v; a 4-byte step
    assert s["mem_state_bytes"] == 0


# ---------------------------------------------------------------- on CUDA only

cuda_only = pytest.mark.skipif(not CUDA, reason=f"adamw_offload needs CUDA ({REASON})")


def tiny_on_cuda():
    """The job's config, the tiny model (unpretrained) on the GPU and one batch there."""
    from hydra.utils import instantiate

    from suite.loop import without

    cfg = compose_job("method=adamw_offload", "model.pretrain_steps=0", "device=cuda")
    model, _ = instantiate(without(cfg.model, "name", "architecture"))
    model.config.use_cache = False
    ids = torch.randint(3, 259, (4, 24), generator=torch.Generator().manual_seed(0)).cuda()
    return cfg, model.cuda(), {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


@cuda_only
def test_on_cuda_its_steps_are_adamws_and_its_host_bytes_exact():
    """Three steps equal torch's AdamW on the same model (fp32); the meter counts, per offloaded
    tensor, its host copy, gradient and moments (4x its bytes) and a 4-byte step as host state,
    and only the small tensors' AdamW state as state."""
    import copy

    from suite.loop import build_method

    cfg, model, batch = tiny_on_cuda()
    reference = copy.deepcopy(model)
    meter = MemoryMeter(model)
    method = build_method(cfg, model)
    meter.track(method.optimizer, method.extra_state, method.host_state)
    adamw = torch.optim.AdamW(reference.parameters(), lr=cfg.method.lr, weight_decay=cfg.method.weight_decay)
    for _ in range(3):
        for m, opt in ((method.model, method.optimizer), (reference, adamw)):
            m(**batch).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        meter.after_step()
    torch.testing.assert_close(method.model.state_dict(), reference.state_dict())
    large = [p for p in model.parameters() if p.numel() >= cfg.method.minimal_size]
    small = [p for p in model.parameters() if p.numel() < cfg.method.minimal_size]
    assert meter.peak_host_state == sum(4 * 4 * p.numel() + 4 for p in large)
    assert meter.breakdown().state == sum(2 * 4 * p.numel() + 4 for p in small)
    meter.close()


@cuda_only
@pytest.mark.slow
def test_on_cuda_a_killed_run_resumes_bitwise(tmp_path, monkeypatch):
    """The resume test of every method (tests/test_resume.py), on the GPU this method needs: torchao's
    host AdamWs and their host copies of the weights come back from the checkpoint."""
    from test_resume import assert_resumes_bitwise

    assert_resumes_bitwise(tmp_path, monkeypatch, "adamw_offload", "device=cuda")
