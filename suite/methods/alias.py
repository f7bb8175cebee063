"""ALIAS (parameter-free Sign-SGD, arXiv 2506.03725): on every trainable parameter (``alias``), or
with AdamW on some of them as the authors' scripts run it (``alias_adam``).

No learning rate to tune after warmup: γ is set by the optimizer. As in the official training
loop (github.com/evseevgrv/SignSGD_GoldenGate, ``torchrun_main.py``):

* f(x_0) for the lower-bound rule is the first step's loss, undivided by the accumulation count
  and unscaled, averaged over ranks: the loop hands it to ``on_step_loss`` before ``step()``;
* ``warmup: schedule`` (the official loop): the run's LR scheduler (``train.lr_scheduler`` with
  ``train.warmup_steps``) sets the lr of the first ``warmup_steps`` steps, rising linearly to
  ``lr``; ``warmup: constant`` steps with ``lr`` throughout the warmup (no scheduler);
* gradient clipping is the loop's ``train.max_grad_norm`` (the official ``--grad_clipping``).

``alias_adam`` is ``--optimizer aid_with_adam`` (``AIDWithAdam`` in ``parameter_free_signsgd.py``):
the sign step on the parameters ``prepare_proj_params`` (``proj_utils/proj_optimizer_templates.py``)
marks — the weights of the attention and MLP linear layers, plus the norms with
``--proj_norms``, the input embedding with ``--proj_embeds`` and the output layer with
``--proj_logits`` — and AdamW (``lr``, betas, eps, the same weight decay) on the rest. Its
scheduler always runs: AdamW follows it throughout, ALIAS during its warmup.
"""

from __future__ import annotations

from torch import nn

from suite.errors import ConfigError
from suite.methods import Method, trainable
from suite.optim import ALIAS, ALIASWithAdamW

WARMUPS = ("schedule", "constant")

# prepare_proj_params' default target_modules_list: a linear layer whose name holds one of these
LINEAR_TARGETS = (
    "attn",
    "mlp",
    "q_proj",
    "v_proj",
    "up_proj",
    "down_proj",
    "gate_proj",
    "k_proj",
    "o_proj",
    "query",
    "value",
    "key",
    "intermediate.dense",
    "output.dense",
)


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
    heavy_ball: bool,
    float64_statistics: bool,
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
        heavy_ball=heavy_ball,
        float64_statistics=float64_statistics,
        sign_only_memory=sign_only_memory,
    )
    return Method(
        model=model,
        optimizer=optimizer,
        uses_lr_schedule=warmup == "schedule",
        on_step_loss=optimizer.set_initial_loss,
        step_stats=optimizer.step_stats,
    )


def official_split(
    model: nn.Module, *, sign_norms: bool, sign_embeddings: bool, sign_output: bool
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(sign-step parameters, AdamW parameters) as ``prepare_proj_params`` splits them."""
    chosen = [
        module.weight
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and any(key in name for key in LINEAR_TARGETS)
    ]
    for name, p in model.named_parameters():
        if (
            ("norm" in name and sign_norms)
            or ("embed_tokens" in name and sign_embeddings)
            or ("lm_head" in name and sign_output)
        ):
            chosen.append(p)
    ids = {id(p) for p in chosen}
    params = trainable(model)
    return [p for p in params if id(p) in ids], [p for p in params if id(p) not in ids]


def build_with_adam(
    model: nn.Module,
    *,
    L_inf: float,  # noqa: N803 (the reference's name)
    lower_bound: float | None,
    d_0: float | None,
    clamp_level: float | None,
    update_gap: int,
    weight_decay: float,
    momentum: float,
    heavy_ball: bool,
    float64_statistics: bool,
    lr: float,
    warmup_steps: int,
    adam_betas: list[float],
    adam_eps: float,
    sign_norms: bool,
    sign_embeddings: bool,
    sign_output: bool,
) -> Method:
    """ALIAS on the official split's sign parameters, AdamW on the rest (``AIDWithAdam``)."""
    sign, adamw = official_split(
        model, sign_norms=sign_norms, sign_embeddings=sign_embeddings, sign_output=sign_output
    )
    if not sign:
        raise ConfigError("method alias_adam: no trainable attention/MLP linear weight to sign")
    optimizer = ALIASWithAdamW(
        sign,
        adamw,
        lr=lr,
        weight_decay=weight_decay,
        betas=(adam_betas[0], adam_betas[1]),
        eps=adam_eps,
        L_inf=L_inf,
        lower_bound=lower_bound,
        d_0=d_0,
        clamp_level=clamp_level,
        update_gap=update_gap,
        momentum=momentum,
        warmup_steps=warmup_steps,
        heavy_ball=heavy_ball,
        float64_statistics=float64_statistics,
    )
    return Method(
        model=model,
        optimizer=optimizer,
        on_step_loss=optimizer.set_initial_loss,
        step_stats=optimizer.step_stats,
    )
