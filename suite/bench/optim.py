"""Optimizer step cost against the memory-bandwidth floor, and whole training steps.

Table 1: each optimizer's ``step()`` on the tiny model (default hidden 128, 4 layers) as a ratio
to a plain ``torch._foreach_add_(params, grads)`` over the same tensors, both measured in this
run (median of ``--iters`` steps; gradients are re-filled outside the timed region, since the
sign optimizers use ``.grad`` as scratch). ABSignSGD updates one block per step: its floor is
the same ``_foreach_add_`` over that block. A second ratio is to the rule's own floor: the same
add into the parameters and into every full-size state tensor the rule keeps, plus the noise
draw (one ``uniform_`` per parameter) of the stochastic-sign rules: the traffic and the random
numbers that no exact implementation of the rule avoids.

Table 2: a whole training step (forward, backward, update) on a fixed batch, mean wall-clock,
for AdamW and the full-model sign methods (in-backward variants included), and the forward
alone; ABSignSGD is in Table 3.

Table 3: ABSignSGD's expected training step (each block's step timed, weighted by the
schedule's long-run share of it) against AdamW's as the model gets deeper (``--depths``).

Usage: ``suite-bench optim [--iters 30] [--hidden 128] [--layers 4] [--depths 4,16,36]``.
A benchmark, not a test: it reports ratios measured in one run and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from suite.models import byte_tokenizer, find_blocks, tiny_qwen3
from suite.optim import (
    ALIAS,
    SQMEFT,
    ABSignSGD,
    SignSGD,
    StoSignAdaMax,
    StoSignSGD,
)
from suite.optim.absignsgd import DepthBiasedSchedule


def _round_robin(
    cases: dict[str, tuple[Callable[[], None], Callable[[], None]]],
    iters: int,
    stat: Callable[[list[float]], float] = statistics.median,
):
    """``stat`` (median) of the seconds of each ``fn`` (after its untimed ``before``), the cases
    interleaved in every round, so that load from other processes hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(iters + 3):
        for name, (fn, before) in cases.items():
            before()
            start = time.perf_counter()
            fn()
            if i >= 3:
                times[name].append(time.perf_counter() - start)
    return {name: stat(ts) for name, ts in times.items()}


def _nothing() -> None:
    pass


class StepCases:
    """The timed cases of Table 1 over one model's parameters: their gradients, saved once and
    re-filled before each timed step (the sign optimizers use ``.grad`` as scratch), and floors."""

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.gen = torch.Generator().manual_seed(0)
        self.saved = {p: torch.randn(p.shape, generator=self.gen) for p in params}
        self.noise = [torch.empty_like(p) for p in params]

    def fill(self, ps: list[torch.Tensor]) -> Callable[[], None]:
        """An untimed ``before``: fresh copies of the saved gradients of ``ps``."""

        def before() -> None:
            for p in ps:
                p.grad = self.saved[p].clone()

        return before

    def floor(
        self, ps: list[torch.Tensor], opt: torch.optim.Optimizer | None = None
    ) -> Callable[[], None] | None:
        """The floor over ``ps``, or with ``opt`` its own floor (None where that is the same)."""
        targets, grads = [], []
        for p in ps:
            state = opt.state[p].values() if opt is not None else []
            full = [t for t in state if type(t) is torch.Tensor and t.shape == p.shape and t.dtype == p.dtype]
            targets += [p.detach(), *full]
            grads += [self.saved[p]] * (1 + len(full))
        draws = isinstance(opt, (StoSignSGD, StoSignAdaMax))
        if opt is not None and len(targets) == len(ps) and not draws:
            return None

        def run() -> None:
            torch._foreach_add_(targets, grads, alpha=1e-12)
            if draws:
                for n in self.noise:
                    n.uniform_(-1.0, 1.0, generator=self.gen)

        return run


def step_optimizers(params: list[torch.Tensor]) -> dict[str, torch.optim.Optimizer]:
    """Table 1's optimizers over ``params`` (lr 1e-9: the weights barely move), by row name."""
    alias = ALIAS(params, lower_bound=0.0, L_inf=1e12, clamp_level=1e-9)
    alias_lean = ALIAS(params, lower_bound=0.0, L_inf=1e12, clamp_level=1e-9, sign_only_memory=True)
    for opt in (alias, alias_lean):
        opt.set_initial_loss(1.0)
    return {
        "AdamW (torch, foreach)": torch.optim.AdamW(params, lr=1e-9, foreach=True),
        "SignSGD per-tensor (CPU default)": SignSGD(params, lr=1e-9, foreach=False),
        "SignSGD foreach": SignSGD(params, lr=1e-9, foreach=True),
        "Signum β=0.9 per-tensor": SignSGD(params, lr=1e-9, momentum=0.9, foreach=False),
        "Signum β=0.9 foreach": SignSGD(params, lr=1e-9, momentum=0.9, foreach=True),
        "StoSignSGD per-tensor (CPU default)": StoSignSGD(params, lr=1e-9, foreach=False),
        "StoSignSGD foreach": StoSignSGD(params, lr=1e-9, foreach=True),
        "StoSignAdaMax (Alg. 9)": StoSignAdaMax(params, lr=1e-9),
        "ALIAS full memory": alias,
        "ALIAS sign-only memory": alias_lean,
        "SQ-MEFT 4-bit (as step(), not in backward)": SQMEFT(params, lr=1e-9, fused_backward=False),
        "SQ-MEFT 4-bit, compiled quantiser": SQMEFT(params, lr=1e-9, fused_backward=False, compile=True),
    }


def step_table(model: torch.nn.Module, iters: int) -> list[tuple[str, float, float, float]]:
    """(name, step seconds, × the foreach_add floor, × the rule's own floor) per optimizer.

    The own floor is what no implementation of the rule can avoid: one ``_foreach_add_`` of the
    gradient into the parameters and into every full-size state tensor the rule keeps (each must
    be read and written once), plus the noise draw of the stochastic-sign rules. 4-bit and int8
    states are left out of it (their bytes are a fraction of a pass)."""
    params = list(model.parameters())
    bench = StepCases(params)
    optimizers = step_optimizers(params)
    for opt in optimizers.values():  # create the state, so the own floors can see it
        for _ in range(2):
            bench.fill(params)()
            opt.step()
    cases = {"floor (all)": (bench.floor(params), _nothing)}
    own = {}
    for name, opt in optimizers.items():
        cases[name] = (opt.step, bench.fill(params))
        own_floor = bench.floor(params, opt)
        own[name] = "floor (all)" if own_floor is None else f"own floor: {name}"
        if own_floor is not None:
            cases[own[name]] = (own_floor, _nothing)
    top = len(find_blocks(model)) - 1
    ab = ABSignSGD(model, lr=1e-9, fp16=False, weight_decay=0.0, selection_scheme=lambda k, n: top)
    block = ab.blocks[top]
    cases["floor (one block)"] = (bench.floor(block), _nothing)
    cases["ABSignSGD (one block)"] = (ab.step, bench.fill(block))
    med = _round_robin(cases, iters)
    base = med["floor (all)"]
    rows = [("floor: torch._foreach_add_ (all params)", base, 1.0, 1.0)]
    for name in optimizers:
        rows.append((name, med[name], med[name] / base, med[name] / med[own[name]]))
    ab_floor, ab_step = med["floor (one block)"], med["ABSignSGD (one block)"]
    rows.append(("floor: torch._foreach_add_ (one block)", ab_floor, 1.0, 1.0))
    rows.append(("ABSignSGD (one block)", ab_step, ab_step / ab_floor, ab_step / ab_floor))
    for p in model.parameters():
        p.requires_grad_(True)
        p.grad = None
    return rows


def _batch() -> torch.Tensor:
    return torch.randint(3, 259, (4, 128), generator=torch.Generator().manual_seed(0))


def _timed_training_steps(
    makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]],
    iters: int,
    hidden: int,
    layers: int,
) -> dict[str, float]:
    """Mean seconds of forward + backward + update for each optimizer, each on its own model: the
    mean, since a block method's step time depends on the block (the median of a depth-biased
    schedule would mostly see the top block)."""
    tok, ids = byte_tokenizer(), _batch()
    cases = {}
    for name, make in makers.items():
        model = tiny_qwen3(tok, hidden_size=hidden, num_layers=layers)
        opt = make(model)
        in_backward = getattr(opt, "fused_backward", False)

        def one_step(model=model, opt=opt, in_backward=in_backward) -> None:
            model(input_ids=ids, labels=ids).loss.backward()
            if not in_backward:
                opt.step()
                opt.zero_grad(set_to_none=True)

        cases[name] = (one_step, _nothing)
    model = tiny_qwen3(tok, hidden_size=hidden, num_layers=layers)

    def forward_alone() -> None:
        with torch.no_grad():
            model(input_ids=ids, labels=ids)

    cases[FORWARD] = (forward_alone, _nothing)
    return _round_robin(cases, iters, statistics.mean)


FORWARD = "forward alone, no grad (a floor for any method that runs the whole forward)"


def _adamw(m: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(m.parameters(), lr=1e-5, foreach=True)


def train_step_table(iters: int, hidden: int, layers: int) -> dict[str, float]:
    """Method -> mean seconds per forward+backward+update on a fixed random batch."""
    makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]] = {
        "AdamW (torch, foreach)": _adamw,
        "SignSGD": lambda m: SignSGD(m.parameters(), lr=1e-5),
        "SignSGD in backward": lambda m: SignSGD(m.parameters(), lr=1e-5, fused_backward=True),
        "StoSignSGD": lambda m: StoSignSGD(m.parameters(), lr=1e-5),
        "SQ-MEFT (in backward)": lambda m: SQMEFT(m.parameters(), lr=1e-5),
        "SQ-MEFT (in backward), compiled quantiser": lambda m: SQMEFT(m.parameters(), lr=1e-5, compile=True),
    }
    return _timed_training_steps(makers, iters, hidden, layers)


def schedule_weights(num_blocks: int, scheme: str, picks_per_block: int = 1000) -> list[float]:
    """Long-run share of steps on each block: the real depth-biased schedule run for many picks,
    or 1/N for uniform selection."""
    if scheme == "uniform":
        return [1.0 / num_blocks] * num_blocks
    schedule = DepthBiasedSchedule(num_blocks, depth_bias=10.0)
    counts = [0] * num_blocks
    for _ in range(picks_per_block * num_blocks):
        counts[schedule.next()] += 1
    return [c / sum(counts) for c in counts]


def depth_table(iters: int, hidden: int, depths: list[int]) -> list[tuple[int, float, float, float, float]]:
    """(layers, AdamW seconds, and as × AdamW: forward alone, ABSignSGD depth-biased, uniform).

    A block method's step costs more the lower its block (backward runs down to it), and a few
    steps of a schedule are not a fair sample of it (depth-biased starts at the top). So each
    block's step is timed with that block held active, and the schedules' long-run shares of
    steps weight them: the expected step time of each scheme."""
    rows = []
    for layers in depths:
        makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]] = {"adamw": _adamw}
        for i in range(layers):
            makers[f"block {i}"] = lambda m, i=i: ABSignSGD(
                m, lr=1e-5, fp16=False, selection_scheme=lambda k, n: i
            )
        med = _timed_training_steps(makers, iters, hidden, layers)
        per_block = [med[f"block {i}"] for i in range(layers)]
        base = med["adamw"]
        expected = {
            scheme: sum(w * t for w, t in zip(schedule_weights(layers, scheme), per_block, strict=True))
            for scheme in ("depth_biased", "uniform")
        }
        rows.append(
            (layers, base, med[FORWARD] / base, expected["depth_biased"] / base, expected["uniform"] / base)
        )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``suite-bench optim``."""
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument(
        "--depths", default="4,16,36", help="layer counts of the ABSignSGD-vs-AdamW depth table ('' skips it)"
    )


def run(args: argparse.Namespace) -> None:
    """Print the three tables (step vs floors, training step, depth) for ``args``."""
    model = tiny_qwen3(byte_tokenizer(), hidden_size=args.hidden, num_layers=args.layers)
    n = sum(p.numel() for p in model.parameters())
    print(
        f"tiny Qwen3: hidden {args.hidden}, {args.layers} layers, {n / 1e6:.2f}M params, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}\n"
    )
    print("| optimizer step | median ms | × foreach_add_ floor | × its own floor |")
    print("| --- | ---: | ---: | ---: |")
    for name, t, ratio, own in step_table(model, args.iters):
        print(f"| {name} | {t * 1e3:.3f} | {ratio:.2f} | {own:.2f} |")
    print("\n| training step (batch 4×128) | mean ms | × AdamW |")
    print("| --- | ---: | ---: |")
    med = train_step_table(max(args.iters // 3, 5), args.hidden, args.layers)
    base = med["AdamW (torch, foreach)"]
    for name, t in med.items():
        print(f"| {name} | {t * 1e3:.1f} | {t / base:.2f} |")
    if args.depths:
        print("\n| layers | AdamW step ms | × AdamW: forward alone | ABSignSGD depth-biased | uniform |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        depths = [int(d) for d in args.depths.split(",")]
        for layers, base, fwd, depth, uniform in depth_table(max(args.iters // 3, 5), args.hidden, depths):
            print(f"| {layers} | {base * 1e3:.1f} | {fwd:.2f} | {depth:.2f} | {uniform:.2f} |")
