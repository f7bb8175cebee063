"""ALIAS (parameter-free Sign-SGD, arXiv 2506.03725) on every trainable parameter.

No learning rate to tune after warmup: γ is set by the optimizer. As in the official training
loop (github.com/evseevgrv/SignSGD_GoldenGate, ``torchrun_main.py``):

* f(x_0) for the lower-bound rule is the first step's loss, undivided by the accumulation count
  and unscaled, averaged over ranks: the loop hands it to ``on_step_loss`` before ``step()``;
* ``warmup: schedule`` (the official loop): the run's LR scheduler (``train.lr_scheduler`` with
  ``train.warmup_steps``) sets the lr of the first ``warmup_steps`` steps, rising linearly to
  ``lr``; ``warmup: constant`` steps with ``lr`` throughout the warmup (no scheduler);
* gradient clipping is the loop's ``train.max_grad_norm`` (the official ``--grad_clipping``).
"""

from __future__ import annotations

from torch import nn

from suite.errors import ConfigError
from suite.methods import Method, trainable
from suite.optim import ALIAS

WARMUPS = ("schedule", "constant")


def build(
    model: nn.Module,
    *,
    L_inf: float,  # noqa: N803 (the reference's name)
    lower_bound: float | None,
    d_0: float | None,
    clamp_level: float | None,
    update_gap: int,
    weight_decay: float,
    momentum: float,
    lr: float | None,
    warmup_steps: int,
    warmup: str,
    sign_only_memory: bool,
) -> Method:
    """ALIAS on the model's trainable parameters; ``lr`` is the step size during warmup."""
    if warmup not in WARMUPS:
        raise ConfigError(f"method.warmup={warmup!r}; allowed: {', '.join(WARMUPS)}")
    optimizer = ALIAS(
        trainable(model),
        L_inf=L_inf,
        lower_bound=lower_bound,
        d_0=d_0,
        weight_decay=weight_decay,
        clamp_level=clamp_level,
        update_gap=update_gap,
        momentum=momentum,
        lr=lr,
        warmup_steps=warmup_steps,
        sign_only_memory=sign_only_memory,
    )
    return Method(
        model=model,
        optimizer=optimizer,
        uses_lr_schedule=warmup == "schedule",
        on_step_loss=optimizer.set_initial_loss,
    )
