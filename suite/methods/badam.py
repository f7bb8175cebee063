"""BAdam (badam ``BlockOptimizer`` over ``torch.optim.AdamW``, Ledzy/BAdam ``src/badam/block_optim.py``).

One transformer block is trainable at a time; every ``switch_block_every`` steps the next block
(``switch_mode``: random | descending | ascending | fixed) becomes trainable and the rest are
frozen via ``requires_grad``, so backward stops below the active block. Blocks are the package's
own inference (regex ``.*layers.[^.]*\\.``); embeddings and lm_head + final norm are frozen for
the whole run unless ``include_embedding`` / ``include_lm_head``.

Memory (active block of M/D parameters only): an fp32 master copy (4 B) + fp32 ``exp_avg`` and
``exp_avg_sq`` (8 B) persist between steps, plus a 4-byte ``step`` scalar per tensor; inside
``step()`` an fp32 copy of the gradient (4 B) lives briefly: 16 B × M/D at the peak. The master
copy is made even for fp32 weights. The state lives in ``base_optimizer.state`` and the masters in
``base_optimizer.param_groups``, both replaced at every switch, so ``extra_state`` reads them
afresh through :class:`~suite.methods.lowrank.LiveState`.

Traps of the package, left unpatched:

* ``torch.cuda.empty_cache()`` after **every** step (costs time on GPU; a no-op on CPU);
* the switch happens when ``(global_step + 1) % K == 0``, so the first block gets K − 1 steps;
* the Adam state is dropped at each switch (``base_optimizer.state = defaultdict(...)``);
* it warns when weights are fp32 (it expects bf16/fp16 weights with fp32 masters);
* it prints the active block at every switch whatever ``verbose`` says;
* params named "bias" get no weight decay; norm weights do (its layernorm check never fires).

Compatibility: the package imports ``transformers.pytorch_utils.ALL_LAYERNORM_LAYERS``; that
name still exists in the installed transformers, so nothing is needed here.

Gradient checkpointing: the embeddings are frozen, so the loop's non-reentrant form is required
(BAdam issue #2); ``enable_input_require_grads`` is not used (about doubles backward time).
"""

from __future__ import annotations

import torch
from badam import BlockOptimizer
from torch import nn

from suite.methods import Method
from suite.methods.lowrank import LiveState

SWITCH_MODES = ("random", "descending", "ascending", "fixed")


def build(
    model: nn.Module,
    *,
    lr: float,
    switch_block_every: int,
    switch_mode: str,
    start_block: int | None,
    include_embedding: bool,
    include_lm_head: bool,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    verbose: int,
) -> Method:
    """The badam ``BlockOptimizer`` over AdamW on ``model``; defaults in ``conf/method/badam.yaml``."""
    if switch_mode not in SWITCH_MODES:
        raise ValueError(f"badam switch_mode={switch_mode!r}; allowed: {', '.join(SWITCH_MODES)}")
    if switch_block_every < 1:
        raise ValueError(f"badam switch_block_every={switch_block_every}; it must be >= 1")
    base = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay
    )
    optimizer = BlockOptimizer(
        base_optimizer=base,
        named_parameters_list=list(model.named_parameters()),
        switch_block_every=switch_block_every,
        switch_mode=switch_mode,
        start_block=start_block,
        include_embedding=include_embedding,
        include_lm_head=include_lm_head,
        verbose=verbose,
    )
    live = LiveState(lambda: [optimizer.base_optimizer.state, optimizer.base_optimizer.param_groups])
    return Method(
        model=model,
        optimizer=optimizer,
        extra_state=[live],
        updated_tensors=lambda: list(optimizer.param_idx2hp.values()),  # the active block's fp32 masters
        state_dict=lambda: block_state(optimizer),
        load_state_dict=lambda state: load_block_state(optimizer, state),
    )


def block_state(optimizer: BlockOptimizer) -> dict:
    """What ``BlockOptimizer.state_dict`` (its AdamW's only) leaves out: the step count, the active
    block, the order still to come and the fp32 masters."""
    return {
        "global_step": optimizer.global_step,
        "active": optimizer.active_param_prefixs,
        "next_block": optimizer.current_block_idx,
        "block_order": list(getattr(optimizer, "block_order", [])),
        "masters": {i: hp.detach().clone() for i, hp in optimizer.param_idx2hp.items()},
        "adamw": optimizer.base_optimizer.state_dict(),
    }


def load_block_state(optimizer: BlockOptimizer, state: dict) -> None:
    """Make ``state['active']`` the trainable block again, then restore masters, AdamW and order."""
    optimizer.current_block_idx = optimizer.block_prefix_list.index(
        state["active"][: len(state["active"]) - len(optimizer.active_modules)]
    )
    optimizer.switch_trainable_params(verbose=0)
    for i, hp in state["masters"].items():
        optimizer.param_idx2hp[i].data.copy_(hp)
    optimizer.base_optimizer.load_state_dict(state["adamw"])
    optimizer.global_step, optimizer.current_block_idx = state["global_step"], state["next_block"]
    optimizer.block_order = list(state["block_order"])
