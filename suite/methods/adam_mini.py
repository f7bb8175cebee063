"""Adam-mini (adam-mini ``Adam_mini``; Zhang et al., "Adam-mini: Use Fewer Learning Rates To Gain
More", arXiv 2406.16793, Alg. 1) on every trainable parameter.

Adam's first moment is kept whole; the second moment is one scalar per block of the Hessian's
structure (Sec. 2.3): per attention head for the query and key projections, per output neuron
(row) for the value, output and MLP projections, the embeddings and the output head, one per
tensor for norms. State ≈ 4 B/param + a column per matrix (fp32). The package finds the blocks by
parameter name (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``, ``mlp``, ``embed``, ``lm_head``,
``norm``) and keeps ``step`` as a Python int (no bytes); norms get no weight decay.

Two settings the package reads differently from a Qwen3 model, set here:

* a head of ``q_proj``/``k_proj`` is ``head_dim`` rows of ``hidden_size`` values; the package takes
  ``dim·dim/n_heads`` values, which is the same only where ``head_dim = hidden_size/n_heads``
  (not Qwen3-32B's 128 vs 5120/64), so its ``head_numel`` is set to ``head_dim·hidden_size``;
* its world size for the norms' second moment is the number of visible CUDA devices, which
  all-gathers without a process group on a multi-GPU machine; here it is the run's
  ``torch.distributed`` world size (1 without torchrun).
"""

from __future__ import annotations

import torch.distributed as dist
from adam_mini import Adam_mini
from torch import nn

from suite.methods import Method


def build(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
) -> Method:
    """``Adam_mini`` on ``model``'s named trainable parameters; defaults in ``conf/method/adam_mini.yaml``."""
    config = model.config
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    optimizer = Adam_mini(
        model.named_parameters(),
        lr=lr,
        betas=tuple(betas),
        eps=eps,
        weight_decay=weight_decay,
        dim=hidden,
        n_heads=heads,
        n_kv_heads=config.num_key_value_heads,
        verbose=False,
    )
    optimizer.head_numel = head_dim * hidden
    optimizer.world_size = dist.get_world_size() if dist.is_initialized() else 1
    return Method(model=model, optimizer=optimizer)
