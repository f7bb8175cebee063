"""Will it fit: ``suite-estimate --budget`` finds the largest micro-batch within a budget, and a
CUDA job larger than the free memory is refused before its weights load (``torch.cuda``'s queries
substituted, the job otherwise real on CPU)."""

from __future__ import annotations

import sys

import pytest
import torch
from helpers import FAST, TINY, compose_job
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import suite.pretrain
from suite import train
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.estimate import cli
from suite.estimate.fit import check_fits, largest_micro_batch, parse_bytes, total_bytes

MIB, GIB = 2**20, 2**30
SMALL = ["model.hidden_size=32", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1"]
SMALL += ["model.intermediate_size=64", "data.max_length=48", "estimate.device=cpu", "model.pretrain_steps=0"]


def compose_estimate(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["+estimate=default", *SMALL, *overrides])


@pytest.mark.parametrize(
    "text, expected", [("24GiB", 24 * GIB), ("80GB", 80 * 10**9), ("1.5 MiB", 3 * 2**19), ("4096", 4096)]
)
def test_sizes_read_with_their_units(text, expected):
    assert parse_bytes(text) == expected


def test_a_size_without_a_known_unit_is_one_line():
    with pytest.raises(ConfigError, match="estimate.budget='24 apples' is not a size; allowed"):
        parse_bytes("24 apples")


def test_the_largest_micro_batch_is_the_last_that_fits():
    cfg = compose_estimate("method=adamw", "train.batch_size=8")
    by_batch = {b: total_bytes(cfg, batch_size=b, grad_accum=1) for b in range(1, 9)}
    assert list(by_batch.values()) == sorted(by_batch.values())  # bytes grow with the batch
    budget = (by_batch[5] + by_batch[6]) // 2
    assert largest_micro_batch(cfg, budget) == (5, by_batch[5])
    assert largest_micro_batch(cfg, by_batch[8]) == (8, by_batch[8])
    assert largest_micro_batch(cfg, by_batch[1] - 1) == (None, by_batch[1])


def test_the_budget_option_lists_the_largest_micro_batch(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["suite-estimate", "--budget", "64MiB", "method=lomo", *SMALL])
    monkeypatch.setattr(cli, "FITS", [])
    cli.main()
    out = capsys.readouterr().out
    assert "largest micro-batch" in out and "| lomo " in out
    assert cli.FITS[0].micro_batch == 16  # the whole global batch fits 64 MiB on this model


def cuda_with_free(monkeypatch, free: int) -> list[str]:
    calls = []

    def mem_get_info(device=None):
        calls.append("mem_get_info")
        return free, 80 * GIB

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    return calls


def job(*overrides: str):
    return compose_job("method=adamw", "train.batch_size=8", "data.max_length=48", *overrides)


def test_a_job_within_the_free_memory_passes(monkeypatch):
    calls = cuda_with_free(monkeypatch, 1 * GIB)
    check_fits(job(), torch.device("cuda"))
    assert calls == ["mem_get_info"]


def test_a_job_over_the_free_memory_is_refused_naming_both_figures_and_what_fits(monkeypatch):
    cfg = job()
    need = total_bytes(cfg)
    at_two = total_bytes(cfg, batch_size=2, grad_accum=1)
    free = (at_two + total_bytes(cfg, batch_size=3, grad_accum=1)) // 2
    cuda_with_free(monkeypatch, free)
    with pytest.raises(ConfigError) as err:
        check_fits(cfg, torch.device("cuda"))
    line = str(err.value)
    assert "\n" not in line
    assert f"needs {need / GIB:.2f} GiB" in line and f"has {free / GIB:.2f} GiB free" in line
    assert "train.batch_size=2 train.grad_accum=4" in line
    assert need > free >= at_two


def test_a_job_that_fits_with_a_chunked_loss_is_told_so(monkeypatch):
    cfg = job()
    chunked = total_bytes(cfg, loss_chunks=8)
    assert chunked < total_bytes(cfg)
    cuda_with_free(monkeypatch, chunked)
    with pytest.raises(ConfigError, match="would fit: .*train.loss_chunks=8"):
        check_fits(cfg, torch.device("cuda"))


def test_off_cuda_and_under_autocast_nothing_is_queried(monkeypatch):
    calls = cuda_with_free(monkeypatch, 0)
    check_fits(job(), torch.device("cpu"))
    check_fits(job("train.autocast=bf16"), torch.device("cuda"))
    assert calls == []


@pytest.mark.slow
def test_the_app_refuses_before_the_weights_load_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """``suite-train`` on a (substituted) GPU with 1 MiB free: one line, exit 2, no model built."""
    cuda_with_free(monkeypatch, MIB)
    monkeypatch.setattr(train, "pick_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")

    def no_weights(**kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(suite.pretrain, "tiny_base", no_weights)
    argv = [*TINY, *FAST, f"results_dir={tmp_path / 'results'}", "method=adamw"]
    monkeypatch.setattr(sys, "argv", ["suite-train", *argv])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    assert exit_.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("suite-train: error: the job needs "), lines
    assert "GiB free; would fit: " in lines[0]
    results = tmp_path / "results"
    assert not results.exists() or not any(results.iterdir())
