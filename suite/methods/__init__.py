"""Methods: one module each, ``build(model, **hparams) -> Method``.

A method is any callable named by ``_target_`` in ``conf/method/<name>.yaml``. Hydra calls it with
the model and the YAML's hyperparameters; it returns a :class:`Method`, which tells the training
loop everything it must know. What the suite must know before building it (updates inside
backward, how it runs under torchrun, its packages, its label) the YAML's ``traits:`` block
declares (``suite/traits.py``); the loop checks the built Method against it. A method in the
user's own package works the same way.

The YAML is the one source of a method's defaults: the suite's builders take their
hyperparameters as keyword-only arguments with no defaults, so a key missing from the YAML
stops ``instantiate`` with the name of the missing argument, and a key the builder does not
know stops it with that key's name (``tests/test_method_defaults.py`` checks every YAML).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn


def _plain_backward(loss: torch.Tensor) -> None:
    loss.backward()


@dataclass
class Method:
    """What ``build`` hands the training loop.

    Attributes:
        model: the model to train (possibly wrapped, e.g. by peft).
        optimizer: a ``torch.optim.Optimizer``; LR schedulers act on its ``param_groups`` and the
            memory meter counts every tensor it holds that is not a model parameter.
        backward: how to back-propagate a loss (LOMO's ``fused_backward`` differs from
            ``loss.backward()``).
        updates_in_backward: the optimizer updates parameters inside backward and frees each
            gradient at once; the loop then never calls ``step``/``zero_grad`` and refuses
            gradient accumulation unless ``micro_batch`` is set (the YAML's
            ``traits.updates_in_backward`` and ``traits.accumulates_in_backward`` must agree).
        host_state: the tensors it keeps in host memory while the model trains on a GPU (CPU
            offload): the memory meter counts them as ``mem_host_state_bytes``, not as state.
        micro_batch: for an in-backward update that accumulates, called with (index, count)
            before each micro-batch's backward: the update folds the first ``count - 1`` into its
            state and steps in the last one's backward.
        grad_scaler: a ``torch.amp.GradScaler`` the optimizer owns (ABSignSGD's fp16 path); the
            loop then scales the loss with it, calls ``optimizer.step()`` itself and
            ``grad_scaler.update()`` after, as the reference code's loop does.
        uses_lr_schedule: False for methods that set their own step size (ALIAS).
        extra_state: anything else the method keeps that the memory meter must count (bytes are
            counted from every tensor reachable from it).
        on_step_loss: called with the step's loss as a float: the mean over all its micro-batches,
            neither divided by the accumulation count nor loss-scaled (averaged over ranks when
            distributed), after backward and before ``optimizer.step()`` (ALIAS takes f(x_0) here).
        updated_tensors: the tensors a step writes, when they are not the model's trainable
            parameters (fp32 master copies): the lost-update guard compares these.
        state_dict, load_state_dict: what a resumable checkpoint saves and restores for the
            method, when ``optimizer.state_dict()`` does not hold all of it (BAdam's active block
            and masters, AdaLomo's factored moments); None: the optimizer's own.
        step_stats: scalars of the last step to log beside the loss (ALIAS's γ, γ before the
            clamp, S, d); the loop merges them into each logged row, and their values after
            the last step into the summary.
        train_mode, eval_mode: called before training and around every validation and evaluation,
            for optimizers whose model weights differ between the two (Schedule-Free's y and x);
            the run's evaluation, its saved model and its final weights are in eval mode, its
            resumable checkpoints in train mode. None: the weights are the same in both.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    backward: Callable[[torch.Tensor], None] = _plain_backward
    updates_in_backward: bool = False
    grad_scaler: torch.amp.GradScaler | None = None
    uses_lr_schedule: bool = True
    extra_state: list = field(default_factory=list)
    on_step_loss: Callable[[float], None] | None = None
    updated_tensors: Callable[[], list[torch.Tensor]] | None = None
    state_dict: Callable[[], dict] | None = None
    load_state_dict: Callable[[dict], None] | None = None
    step_stats: Callable[[], dict[str, float]] | None = None
    train_mode: Callable[[], None] | None = None
    eval_mode: Callable[[], None] | None = None
    micro_batch: Callable[[int, int], None] | None = None
    host_state: Callable[[], list[torch.Tensor]] | None = None

    def training_state(self) -> dict:
        return self.state_dict() if self.state_dict is not None else self.optimizer.state_dict()

    def load_training_state(self, state: dict) -> None:
        (self.load_state_dict or self.optimizer.load_state_dict)(state)

    def to_train(self) -> None:
        """The weights gradients are taken at (``train_mode``)."""
        if self.train_mode is not None:
            self.train_mode()

    def to_eval(self) -> None:
        """The weights to evaluate and save (``eval_mode``)."""
        if self.eval_mode is not None:
            self.eval_mode()

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode inside the block, train mode again after it."""
        self.to_eval()
        try:
            yield
        finally:
            self.to_train()


def trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model`` that require gradients, in module order."""
    return [p for p in model.parameters() if p.requires_grad]
