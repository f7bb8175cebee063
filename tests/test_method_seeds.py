"""Every method with its own random generator takes its seed from the run's ``seed`` (as the
loop builds it: ``set_seed(seed)``, then the method), and an explicit ``method.seed`` wins."""

from __future__ import annotations

import pytest
import torch
from helpers import compose_job
from transformers import set_seed

from suite.loop import build_method
from suite.models import byte_tokenizer, tiny_qwen3


def _seed_of(name: str, optimizer) -> int:
    """The seed the method's generator was made with."""
    if name == "absignsgd":
        return optimizer.generator.initial_seed()
    if name == "apollo":  # parameter k's projection seed is k + seed * n
        states = [optimizer.state[p] for g in optimizer.param_groups for p in g["params"]]
        first = next(s["seed"] for s in states if "seed" in s)
        return (first - 1) // len(states)
    return optimizer.seed


def _built(name: str, *overrides: str):
    cfg = compose_job(f"method={name}", *overrides)
    set_seed(cfg.seed)
    model = tiny_qwen3(byte_tokenizer(), hidden_size=32, num_layers=2, intermediate_size=64)
    return build_method(cfg, model).optimizer


SEEDED = ["stosignsgd", "absignsgd", "sqmeft", "apollo"]


@pytest.mark.parametrize("name", SEEDED)
def test_generator_follows_the_run_seed(name):
    assert _seed_of(name, _built(name, "seed=3")) == 3
    assert _seed_of(name, _built(name, "seed=4")) == 4


@pytest.mark.parametrize("name", SEEDED)
def test_explicit_method_seed_wins(name):
    assert _seed_of(name, _built(name, "seed=3", "method.seed=11")) == 11


def test_apollo_seed_zero_is_the_package_draw():
    optimizer = _built("apollo", "seed=0")
    seeds = [optimizer.state[p].get("seed") for g in optimizer.param_groups for p in g["params"]]
    assert [s for s in seeds if s is not None] == [i + 1 for i, s in enumerate(seeds) if s is not None]


@pytest.mark.parametrize(("noise_per_rank", "distinct"), [("true", 2), ("false", 1)])
def test_stosignsgd_ranks_draw_their_own_noise_unless_told_not_to(noise_per_rank, distinct, monkeypatch):
    """Under torchrun rank 0 draws what one process draws, another rank its own stream (a torch
    generator keeps a seed's low 32 bits only, so the rank's seed must differ there)."""
    draws = set()
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        optimizer = _built("stosignsgd", "seed=3", f"method.noise_per_rank={noise_per_rank}")
        assert rank > 0 or optimizer.seed == 3
        generator = optimizer.generator_for(torch.device("cpu"))
        draws.add(tuple(torch.rand(4, generator=generator).tolist()))
    assert len(draws) == distinct
