"""The validation loss: every target token weighs the same whatever its batch (checked against
the per-token cross-entropy in float64), and the clock's validation target."""

from __future__ import annotations

import torch

from suite.data import CausalCollator, synthetic_math
from suite.heldout import heldout_loss
from suite.measure.timer import TrainClock
from suite.models import byte_tokenizer, tiny_qwen3


def test_the_heldout_loss_is_the_mean_over_every_target_token():
    tok = byte_tokenizer()
    model = tiny_qwen3(tok, hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64)
    examples = synthetic_math.build(n_train=0, n_test=0, n_val=7).validation
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in examples:  # one example at a time: no padding, every token counted by hand
            batch = CausalCollator(tok, 96)([ex])
            logits = model(input_ids=batch["input_ids"]).logits[0, :-1].double()
            labels = batch["labels"][0, 1:]
            kept = labels != -100
            total += float(torch.nn.functional.cross_entropy(logits[kept], labels[kept], reduction="sum"))
            count += int(kept.sum())
    model.train()
    got = heldout_loss(model, tok, examples, max_length=96, batch_size=3)  # batches of unequal tokens
    assert abs(got - total / count) < 1e-5 and model.training


def test_the_validation_target_is_the_training_time_when_a_measured_loss_first_reached_it():
    clock = TrainClock(torch.device("cpu"), val_target_loss=1.0)
    clock.elapsed = 2.0
    clock.validated(1.5)
    assert clock.time_to_val_target is None and clock.val_loss == 1.5
    clock.elapsed = 3.0
    clock.validated(0.9)
    clock.elapsed = 4.0
    clock.validated(0.5)
    assert clock.time_to_val_target == 3.0 and clock.val_loss == 0.5
    again = TrainClock(torch.device("cpu"), val_target_loss=1.0)
    again.load_state_dict(clock.state_dict())
    assert (again.time_to_val_target, again.val_loss) == (3.0, 0.5)
