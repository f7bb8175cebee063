"""LOMO and AdaLomo (lomo-optim): the update happens inside backward, gradient by gradient.

Both register a tensor hook (``p.register_hook``) on every trainable parameter. When parameter
k's gradient arrives, the hook scans all parameters, finds the one whose ``.grad`` is set (k−1),
updates it and sets its ``.grad`` to None; ``fused_backward`` flushes the last one after
``loss.backward()``. So at most one ``.grad`` is stored at a time, plus, transiently inside the
hook, the incoming gradient and an fp32 copy of the gradient (and of the weight, for bf16
weights). The scan makes each backward O(P²) in the number of parameter tensors.

* LOMO: ``p ← p − lr·g`` (SGD; optional value/norm clipping, decoupled weight decay). No state.
* AdaLomo: Adafactor-style factored second moment (a row and a column vector per matrix, fp32)
  and an update scaled by max(1e-3, RMS(p)); that state lives in the optimizer's attributes
  ``exp_avg_sq{,_row,_col}``, not in ``optimizer.state``, so it is handed to the meter in
  ``extra_state``. Its loss is multiplied by ``loss_scale`` (2¹⁰) and the gradients divided back.

``Method.backward`` calls ``optimizer.fused_backward(loss, lr)`` with ``lr`` read from
``param_groups[0]["lr"]``, so the LR scheduler drives it; with ``clip_grad_norm`` it first runs
``optimizer.grad_norm(loss)`` (a second backward over a retained graph, as the package requires).

Weights: fp32 weights are updated in place (``.to(float32)`` returns the tensor itself); bf16
weights are updated through an fp32 copy and rounded back, with no master copy, so updates
smaller than half a bf16 ULP are lost. LOMO's ``DynamicLossScaler`` switches on only when the
*loss* is fp16 (Hugging Face losses are fp32 even under autocast) and calls
``torch.distributed.get_rank()`` on overflow, which fails without a process group; the loop
refuses ``autocast=fp16`` for in-backward methods anyway.

Trap in AdaLomo, handled here: its constructor allocates the state with ``.cuda()``, which fails
on a CPU-only torch and ignores the model's device. :func:`build_adalomo` routes ``Tensor.cuda``
to the model's device for the duration of the constructor only; the package is not modified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from lomo_optim import AdaLomo, Lomo
from torch import nn

from suite.methods import Method


def _fused(optimizer: Lomo | AdaLomo):
    def backward(loss: torch.Tensor) -> None:
        lr = optimizer.param_groups[0]["lr"]
        if optimizer.clip_grad_norm is not None:
            optimizer.grad_norm(loss)
        optimizer.fused_backward(loss, lr)

    return backward


def build(
    model: nn.Module,
    *,
    lr: float,
    clip_grad_norm: float | None,
    clip_grad_value: float | None,
    weight_decay: float,
) -> Method:
    """LOMO on ``model``, updating inside backward; defaults in ``conf/method/lomo.yaml``."""
    optimizer = Lomo(
        model,
        lr=lr,
        clip_grad_norm=clip_grad_norm,
        clip_grad_value=clip_grad_value,
        weight_decay=weight_decay,
    )
    return Method(model=model, optimizer=optimizer, backward=_fused(optimizer), updates_in_backward=True)


@contextlib.contextmanager
def _cuda_means(device: torch.device) -> Iterator[None]:
    """Within the block, ``tensor.cuda()`` moves the tensor to ``device`` instead."""
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self.to(device)
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def build_adalomo(
    model: nn.Module,
    *,
    lr: float,
    loss_scale: float,
    eps: tuple[float, float],
    clip_threshold: float,
    decay_rate: float,
    clip_grad_norm: float | None,
    clip_grad_value: float | None,
    weight_decay: float,
) -> Method:
    """AdaLomo on ``model``, updating inside backward; defaults in ``conf/method/adalomo.yaml``."""
    device = next(model.parameters()).device
    with _cuda_means(device):
        optimizer = AdaLomo(
            model,
            lr=lr,
            loss_scale=loss_scale,
            eps=tuple(eps),
            clip_threshold=clip_threshold,
            decay_rate=decay_rate,
            clip_grad_norm=clip_grad_norm,
            clip_grad_value=clip_grad_value,
            weight_decay=weight_decay,
        )
    moments = ("exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col")

    def state_dict() -> dict:
        return {"step_num": optimizer.step_num, **{k: getattr(optimizer, k) for k in moments}}

    def load_state_dict(state: dict) -> None:
        optimizer.step_num = state["step_num"]
        for k in moments:  # in place: the meter holds these dicts
            getattr(optimizer, k).clear()
            getattr(optimizer, k).update({n: t.to(device) for n, t in state[k].items()})

    return Method(
        model=model,
        optimizer=optimizer,
        backward=_fused(optimizer),
        updates_in_backward=True,
        extra_state=[getattr(optimizer, k) for k in moments],
        state_dict=state_dict,
        load_state_dict=load_state_dict,
    )
