"""Schedule-Free AdamW (schedulefree ``AdamWScheduleFree``; Defazio et al., "The Road Less
Scheduled", arXiv 2405.15682, Alg. 1) on every trainable parameter.

The optimizer keeps the base sequence z and Adam's second moment (8 B/param for fp32 weights; the
step count k lives in the param group). The model's weights hold y = (1 − β₁)z + β₁x while training
(gradients are taken there) and the average x when evaluated: ``optimizer.eval()`` and
``optimizer.train()`` move them between the two, and the Method's ``eval_mode``/``train_mode``
hooks call them, so validation, evaluation and the saved model see x. The optimizer starts in train
mode, as the model does. It replaces the LR schedule (no decay; its own linear ``warmup_steps``),
so the loop's schedule is off.
"""

from __future__ import annotations

from schedulefree import AdamWScheduleFree
from torch import nn

from suite.methods import Method, trainable


def build(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    warmup_steps: int,
    average_power: float,
    weight_lr_power: float,
    foreach: bool,
) -> Method:
    """``AdamWScheduleFree`` on the trainable parameters; defaults in ``conf/method/schedulefree.yaml``."""
    optimizer = AdamWScheduleFree(
        trainable(model),
        lr=lr,
        betas=tuple(betas),
        eps=eps,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        r=average_power,
        weight_lr_power=weight_lr_power,
        foreach=foreach,
    )
    optimizer.train()
    return Method(
        model=model,
        optimizer=optimizer,
        uses_lr_schedule=False,
        train_mode=optimizer.train,
        eval_mode=optimizer.eval,
    )
