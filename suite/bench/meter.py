"""What the memory meter costs: a whole training step with and without it.

The protocol (README) asks that counting bytes costs under 2% of a step. This benchmark times
AdamW and fused SignSGD training steps on the default tiny model (hidden 128, 4 layers) on a
fixed batch, timed as the training loop times them, with the meter's hooks (gradient hooks,
saved-tensor hooks; the state sampling runs after the clock stops, as in the loop) and without,
interleaved round by round so that load from other processes hits both alike, and prints the
median ratio. The methods are built from their ``conf/method`` YAML, with a tiny lr so that the
weights barely move. A benchmark, not a test: it asserts nothing.

Usage: ``suite-bench meter [--iters 40] [--batch 16] [--seq 128]``
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from suite.configs import CONF_DIR
from suite.loop import train_step
from suite.measure.memory import MemoryMeter
from suite.methods import Method
from suite.models import byte_tokenizer, tiny_qwen3
from suite.traits import NOT_PASSED

# Table row -> (conf/method YAML, the keys changed from it).
CASES = {
    "adamw": ("adamw", {"lr": 1e-9}),
    "signsgd (in backward)": ("signsgd", {"lr": 1e-9, "fused_backward": True}),
}


def build_from_yaml(name: str, model: torch.nn.Module, **changes) -> Method:
    """``conf/method/<name>.yaml``'s method on ``model``, with ``changes`` to its keys."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "method" / f"{name}.yaml"), resolve=True)
    for key in NOT_PASSED:
        cfg.pop(key, None)
    unknown = sorted(set(changes) - set(cfg))
    if unknown:
        raise ValueError(f"{name}.yaml has no key {', '.join(unknown)}; its keys: {', '.join(cfg)}")
    return instantiate({**cfg, **changes}, model=model, _convert_="all")


def one_step(method: Method, batch: dict, meter: MemoryMeter | None) -> None:
    """The loop's own step (:func:`suite.loop.train_step`): forward, backward, update."""
    train_step(method, [batch], meter, contextlib.nullcontext(), None, None)


def case(
    build: Callable[[torch.nn.Module], Method], metered: bool, batch: dict
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(timed step, untimed after-step): the loop samples optimizer state after the clock stops."""
    model = tiny_qwen3(byte_tokenizer())
    meter = MemoryMeter(model) if metered else None
    method = build(model)
    if meter:
        meter.track(method.optimizer, method.extra_state, method.host_state)
    return (lambda: one_step(method, batch, meter)), (meter.after_step if meter else lambda: None)


def median_steps(build: Callable[[torch.nn.Module], Method], batch: dict, iters: int) -> tuple[float, float]:
    """Median seconds of a step (without the meter, with it), the two interleaved round by round."""
    runs = {metered: case(build, metered, batch) for metered in (False, True)}
    times = {False: [], True: []}
    for i in range(iters + 3):
        for metered, (step, after) in runs.items():
            start = time.perf_counter()
            step()
            elapsed = time.perf_counter() - start
            after()
            if i >= 3:
                times[metered].append(elapsed)
    return statistics.median(times[False]), statistics.median(times[True])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``suite-bench meter``."""
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)


def run(args: argparse.Namespace) -> None:
    """Print the table: per method, the step without and with the meter and their ratio."""
    ids = torch.randint(3, 259, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "labels": ids}
    print("| method | step without meter (ms) | with meter (ms) | ratio |\n|---|---:|---:|---:|")
    for row, (name, changes) in CASES.items():
        plain, metered = median_steps(
            lambda m, n=name, c=changes: build_from_yaml(n, m, **c), batch, args.iters
        )
        print(f"| {row} | {1e3 * plain:.1f} | {1e3 * metered:.1f} | {metered / plain:.3f} |")
