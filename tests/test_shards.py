"""FSDP's sharded checkpoint (suite/track/shards.py), read back in one process: what torch's
distributed checkpoint wrote comes back exactly, and a planted file runs nothing. The two-rank
SIGKILL-and-resume run is tests/test_resume.py::test_two_ranks_killed_with_sigkill_resume_bitwise."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict

from suite.errors import ConfigError
from suite.track import shards


class Payload:
    """A pickle that creates ``marker`` when it is loaded: what a planted checkpoint could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2 * (seed + 1))
    for _ in range(seed + 1):
        model(torch.randn(5, 4)).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    return model, optimizer


def _write(run, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, **planted) -> None:
    """What :func:`shards.save` writes, in one process (no ranks to wait for)."""
    model_state, optimizer_state = get_state_dict(model, optimizer)
    for key, value in planted.items():
        optimizer_state["param_groups"][0][key] = value
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=shards.folder_of(run, step))


def test_shards_come_back_exactly(tmp_path):
    saved_model, saved_optimizer = _trained(0)
    _write(tmp_path, 3, saved_model, saved_optimizer)
    model, optimizer = _trained(1)  # other weights, moments, step count and lr
    shards.load(tmp_path, 3, model, optimizer)
    for a, b in zip(saved_model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for p, q in zip(saved_model.parameters(), model.parameters(), strict=True):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(saved_optimizer.state[p][key], optimizer.state[q][key])
    assert optimizer.param_groups[0]["lr"] == saved_optimizer.param_groups[0]["lr"]


def test_a_planted_metadata_pickle_is_refused_and_never_runs(tmp_path):
    model, optimizer = _trained(0)
    _write(tmp_path, 3, model, optimizer)
    marker = tmp_path / "payload-ran"
    (shards.folder_of(tmp_path, 3) / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(
        ConfigError, match=r"resume-shards-step3 is not a whole checkpoint .* nothing in it was run"
    ):
        shards.load(tmp_path, 3, model, optimizer)
    assert not marker.exists()


def test_planted_bytes_in_the_shards_are_refused_and_never_run(tmp_path):
    model, optimizer = _trained(0)
    marker = tmp_path / "payload-ran"
    _write(tmp_path, 3, model, optimizer, lr=Payload(marker))
    assert not marker.exists()
    with pytest.raises(
        ConfigError, match=r"holds more than tensors and numbers \(\w+; nothing in it was run\)"
    ):
        shards.load(tmp_path, 3, model, optimizer)
    assert not marker.exists()


def test_missing_shards_are_refused_naming_the_folder(tmp_path):
    model, optimizer = _trained(0)
    with pytest.raises(ConfigError, match=r"resume-shards-step5 is missing or incomplete"):
        shards.load(tmp_path, 5, model, optimizer)
