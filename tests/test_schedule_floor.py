"""The cosine floor (``train.min_lr_ratio``) against the official schedule of the ALIAS code."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from suite.loop import make_scheduler
from suite.methods import Method


def official_factor(step: int, warmup: int, total: int, min_lr_ratio: float) -> float:
    """``_get_cyclical_cosine_schedule_with_min_lr_lambda`` (utils/training_utils.py of
    github.com/evseevgrv/SignSGD_GoldenGate, what ``--scheduler cosine`` runs), one cycle."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def test_cosine_with_min_lr_is_the_official_schedule():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-3)
    cfg = OmegaConf.create(
        {"train": {"lr_scheduler": "cosine_with_min_lr", "min_lr_ratio": 0.1, "warmup_steps": 4}}
    )
    scheduler = make_scheduler(cfg, Method(model=torch.nn.Linear(1, 1), optimizer=opt), 20)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert lrs == pytest.approx([1e-3 * official_factor(t, 4, 20, 0.1) for t in range(20)], rel=1e-9)
    assert min(lrs[4:]) > 1e-4  # the floor: 0.1 x lr, never reached before the last step
