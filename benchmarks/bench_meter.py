"""What the memory meter costs: a whole training step with and without it.

The protocol (README) asks that counting bytes costs under 2% of a step. This script times
AdamW and fused SignSGD training steps on the default tiny model (hidden 128, 4 layers) on a
fixed batch, timed as the training loop times them, with the meter's hooks (gradient hooks,
saved-tensor hooks; the state sampling runs after the clock stops, as in the loop) and without,
interleaved round by round so that load from other processes hits both alike, and prints the
median ratio. A benchmark, not a test: it asserts nothing.

Usage: ``python benchmarks/bench_meter.py [--iters 40] [--batch 16] [--seq 128]``
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from suite.measure.memory import MemoryMeter
from suite.methods import adamw, signsgd
from suite.models import byte_tokenizer, tiny_qwen3


def one_step(method, batch, meter: MemoryMeter | None) -> None:
    """What ``suite.train`` times: forward, backward, update (with the meter's hooks if any)."""
    ctx = meter.measure_activations() if meter else contextlib.nullcontext()
    with ctx:
        loss = method.model(**batch).loss
    method.backward(loss)
    if not method.updates_in_backward:
        method.optimizer.step()
        method.optimizer.zero_grad(set_to_none=True)


def case(build, metered: bool, batch):
    """(timed step, untimed after-step): the loop samples optimizer state after the clock stops."""
    model = tiny_qwen3(byte_tokenizer())
    meter = MemoryMeter(model) if metered else None
    method = build(model)
    if meter:
        meter.track(method.optimizer, method.extra_state)
    return (lambda: one_step(method, batch, meter)), (meter.after_step if meter else lambda: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    args = parser.parse_args()
    ids = torch.randint(3, 259, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "labels": ids}
    builds = {
        "adamw": lambda m: adamw.build(m, lr=1e-9),
        "signsgd (in backward)": lambda m: signsgd.build(m, lr=1e-9, fused_backward=True),
    }
    print("| method | step without meter (ms) | with meter (ms) | ratio |\n|---|---:|---:|---:|")
    for name, build in builds.items():
        runs = {metered: case(build, metered, batch) for metered in (False, True)}
        times = {False: [], True: []}
        for i in range(args.iters + 3):
            for metered, fn in runs.items():
                step, after = fn
                start = time.perf_counter()
                step()
                elapsed = time.perf_counter() - start
                after()
                if i >= 3:
                    times[metered].append(elapsed)
        plain, metered = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {name} | {1e3 * plain:.1f} | {1e3 * metered:.1f} | {metered / plain:.3f} |")


if __name__ == "__main__":
    main()
