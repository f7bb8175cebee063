"""The tiny base's cache heals: a truncated or corrupted cached model is found, named and rebuilt."""

from __future__ import annotations

import logging

import pytest
import torch

from suite.pretrain import WEIGHTS, cache_problem, tiny_base

SMALL = dict(
    hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=32, pretrain_steps=3
)


def the_cache(tmp_path):
    (path,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("tiny-base-")]
    return path


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda w: w.write_bytes(w.read_bytes()[: len(w.read_bytes()) // 2]), "bytes"),
        (lambda w: w.write_bytes(w.read_bytes()[:-1] + bytes([w.read_bytes()[-1] ^ 1])), "SHA-256"),
        (lambda w: w.unlink(), "is missing"),
    ],
    ids=["truncated", "flipped-byte", "missing"],
)
def test_a_damaged_cache_is_named_and_rebuilt(tmp_path, caplog, damage, reason):
    model, _ = tiny_base(**SMALL, cache_dir=str(tmp_path))
    first = [p.detach().clone() for p in model.parameters()]  # the loaded weights map the file
    del model
    path = the_cache(tmp_path)
    assert cache_problem(path) is None
    damage(path / WEIGHTS)
    assert reason in cache_problem(path)
    with caplog.at_level(logging.WARNING, logger="suite.pretrain"):
        again, _ = tiny_base(**SMALL, cache_dir=str(tmp_path))
    assert any(str(path) in r.message and "rebuilding" in r.message for r in caplog.records)
    assert cache_problem(path) is None
    for a, b in zip(first, again.parameters(), strict=True):
        assert torch.equal(a, b)  # the same recipe gives the same weights
