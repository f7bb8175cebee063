"""The learning rate each optimizer step uses, recorded where the update happens: a method that
updates inside backward follows the schedule step for step with one that steps after it."""

from __future__ import annotations

import warnings

import pytest
from helpers import run_job
from lomo_optim import Lomo
from torch.optim.optimizer import register_optimizer_step_pre_hook

from suite import loop

LR = 1e-3
# Linear warm-up over 3 of 5 steps (transformers' get_linear_schedule_with_warmup): optimizer
# step t = 1..5 uses LR · min((t-1)/3, (5-(t-1))/(5-3)), so step 1 uses 0.
EXPECTED = [0.0, LR / 3, 2 * LR / 3, LR, LR / 2]


def _run_recording_lrs(tmp_path, monkeypatch, method: str, *overrides: str):
    """Every lr an update used, grouped by the loop's step (an optimizer's ``step``: AdamW's, each
    per-parameter GaLoreAdamW's; the lr LOMO's ``fused_backward`` is given), and the run's warnings."""
    now: list[int] = []
    used: dict[int, list[float]] = {}
    real_one_step, real_fused = loop.one_step, Lomo.fused_backward

    def one_step(job, progress, t, micro_batches):
        now.append(t)
        try:
            return real_one_step(job, progress, t, micro_batches)
        finally:
            now.pop()

    def record(lr: float) -> None:
        if now:  # not the base's pretraining
            used.setdefault(now[-1], []).append(lr)

    def fused_backward(self, loss, lr):
        record(lr)
        return real_fused(self, loss, lr)

    monkeypatch.setattr(loop, "one_step", one_step)
    monkeypatch.setattr(Lomo, "fused_backward", fused_backward)
    hook = register_optimizer_step_pre_hook(lambda opt, args, kwargs: record(opt.param_groups[0]["lr"]))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_job(
                tmp_path,
                f"method={method}",
                f"method.lr={LR}",
                "train.max_steps=5",
                "train.warmup_steps=3",
                "train.lr_scheduler=linear",
                "eval.n_examples=0",
                *overrides,
            )
    finally:
        hook.remove()
    return [used[t] for t in sorted(used)], [str(w.message) for w in caught]


@pytest.mark.parametrize(
    "method, overrides", [("adamw", []), ("galore_layerwise", ["method.rank=4"]), ("lomo", [])]
)
def test_each_step_uses_the_schedules_lr_whether_it_updates_after_or_inside_backward(
    tmp_path, monkeypatch, method, overrides
):
    used, messages = _run_recording_lrs(tmp_path, monkeypatch, method, *overrides)
    assert len(used) == len(EXPECTED)
    for t, (lrs, expected) in enumerate(zip(used, EXPECTED, strict=True), start=1):
        assert lrs == [pytest.approx(expected, abs=1e-15)] * len(lrs), f"step {t}: {lrs}"
    # The order warning torch gives when optimizer.step() is never called is silenced (spurious).
    assert not [m for m in messages if "lr_scheduler.step()" in m]
