"""Optimizer step cost against the memory-bandwidth floor, and whole training steps.

Table 1: each optimizer's ``step()`` over the parameters of a tiny Qwen3 (``--step-hidden``,
default 1024: 18.1M parameters) as a ratio to a plain ``torch._foreach_add_(params, grads)`` over
the same tensors, both measured in this run (median of ``--iters`` steps; gradients are re-filled
outside the timed region, since the sign optimizers use ``.grad`` as scratch). ABSignSGD updates
one block per step: its floor is the same ``_foreach_add_`` over that block. A second ratio is to
the rule's own floor: the same add into the parameters and into every full-size state tensor the
rule keeps, plus the noise draw (one ``uniform_`` per parameter) of the stochastic-sign rules: the
traffic and the random numbers that no exact implementation of the rule avoids.

Table 2: a whole training step (forward, backward, update) on a fixed batch on the default model
(``--hidden 128 --layers 4``), mean time, for AdamW and the full-model sign methods, the forward
alone, and the lost-update probe (``suite.measure.updates``) that the loop runs outside the clock.

Table 3: ABSignSGD's expected training step (each block's step timed, weighted by the
schedule's long-run share of it) against AdamW's as the model gets deeper (``--depths``).

Table 4: the goals of the suite's speed issue, each with its measured value from the tables above.

Runs on CPU (wall-clock) or CUDA (``--device cuda``: CUDA events after warm-up, see
:mod:`suite.bench.clock`); every case is interleaved round by round with the others. ``--out DIR``
writes ``optim.json`` (every number, with the machine) and ``optim.md`` / ``goals.md`` (the tables).

Usage: ``suite-bench optim [--iters 30] [--step-hidden 1024] [--hidden 128] [--layers 4]
[--depths 4,16,36] [--device cpu|cuda] [--threads N] [--out DIR] [--only TEXT]``; ``--only ALIAS``
times only Table 1's rows whose name contains the text, beside the floors, and prints that table.
A benchmark, not a test: it reports ratios measured in one run and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch

from suite.bench.clock import Clock
from suite.bench.report import PROBE, Table, goals_table, write_outputs
from suite.blocks import find_blocks
from suite.measure.updates import UpdateProbe, trainable_parameters
from suite.models import byte_tokenizer, tiny_qwen3
from suite.optim import (
    ALIAS,
    SQMEFT,
    ABSignSGD,
    SignSGD,
    StoSignAdaMax,
    StoSignSGD,
)
from suite.optim.absignsgd import DepthBiasedSchedule

FORWARD = "forward alone, no grad (a floor for any method that runs the whole forward)"


def _nothing() -> None:
    pass


class StepCases:
    """The timed cases of Table 1 over one model's parameters: their gradients, saved once and
    re-filled before each timed step (the sign optimizers use ``.grad`` as scratch), and floors."""

    def __init__(self, params: list[torch.Tensor]) -> None:
        device = params[0].device
        cpu = torch.Generator().manual_seed(0)
        self.gen = torch.Generator(device=device).manual_seed(0)
        self.saved = {p: torch.randn(p.shape, generator=cpu).to(device) for p in params}
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
        """The floor over ``ps``, or with ``opt`` its own floor (None where that is the same). It
        adds each ``p.grad``, re-filled by the same untimed ``fill`` as the steps, so that floor
        and step start from the same cache state (a block's tensors fit in a CPU's L3)."""
        targets, sources = [], []
        for p in ps:
            state = opt.state[p].values() if opt is not None else []
            full = [t for t in state if type(t) is torch.Tensor and t.shape == p.shape and t.dtype == p.dtype]
            targets += [p.detach(), *full]
            sources += [p] * (1 + len(full))
        draws = isinstance(opt, (StoSignSGD, StoSignAdaMax))
        if opt is not None and len(targets) == len(ps) and not draws:
            return None

        def run() -> None:
            torch._foreach_add_(targets, [p.grad for p in sources], alpha=1e-12)
            if draws:
                for n in self.noise:
                    n.uniform_(-1.0, 1.0, generator=self.gen)

        return run


def step_optimizers(params: list[torch.Tensor]) -> dict[str, torch.optim.Optimizer]:
    """Table 1's optimizers over ``params`` (lr 1e-9: the weights barely move), by row name."""
    alias = ALIAS(params, lower_bound=0.0, L_inf=1e12, clamp_level=1e-9)
    alias_wide = ALIAS(params, lower_bound=0.0, L_inf=1e12, clamp_level=1e-9, float64_statistics=True)
    alias_lean = ALIAS(params, lower_bound=0.0, L_inf=1e12, clamp_level=1e-9, sign_only_memory=True)
    for opt in (alias, alias_wide, alias_lean):
        opt.set_initial_loss(1.0)
    return {
        "AdamW (torch, foreach)": torch.optim.AdamW(params, lr=1e-9, foreach=True),
        "SignSGD per-tensor (CPU default)": SignSGD(params, lr=1e-9, foreach=False),
        "SignSGD foreach (CUDA default)": SignSGD(params, lr=1e-9, foreach=True),
        "Signum β=0.9 per-tensor": SignSGD(params, lr=1e-9, momentum=0.9, foreach=False),
        "Signum β=0.9 foreach": SignSGD(params, lr=1e-9, momentum=0.9, foreach=True),
        "StoSignSGD per-tensor (CPU default)": StoSignSGD(params, lr=1e-9, foreach=False),
        "StoSignSGD foreach": StoSignSGD(params, lr=1e-9, foreach=True),
        "StoSignAdaMax (Alg. 9)": StoSignAdaMax(params, lr=1e-9),
        "ALIAS full memory": alias,
        "ALIAS full memory, float64 statistics": alias_wide,
        "ALIAS sign-only memory": alias_lean,
        "SQ-MEFT 4-bit (as step(), not in backward)": SQMEFT(params, lr=1e-9, fused_backward=False),
        "SQ-MEFT 4-bit, compiled quantiser": SQMEFT(params, lr=1e-9, fused_backward=False, compile=True),
    }


def _step_cases(
    model: torch.nn.Module, bench: StepCases, optimizers: dict, with_block: bool = True
) -> tuple[dict, dict]:
    """(cases to time, row -> the case that is its own floor), ABSignSGD's top block included
    when ``with_block``."""
    params = list(model.parameters())
    for opt in optimizers.values():  # create the state, so the own floors can see it
        for _ in range(2):
            bench.fill(params)()
            opt.step()
    cases = {"floor (all)": (bench.floor(params), bench.fill(params))}
    own = {}
    for name, opt in optimizers.items():
        cases[name] = (opt.step, bench.fill(params))
        own_floor = bench.floor(params, opt)
        own[name] = "floor (all)" if own_floor is None else f"own floor: {name}"
        if own_floor is not None:
            cases[own[name]] = (own_floor, bench.fill(params))
    if not with_block:
        return cases, own
    top = len(find_blocks(model)) - 1
    ab = ABSignSGD(model, lr=1e-9, fp16=False, weight_decay=0.0, selection_scheme=lambda k, n: top)
    block = ab.blocks[top]
    cases["floor (one block)"] = (bench.floor(block), bench.fill(block))
    cases["ABSignSGD (one block)"] = (ab.step, bench.fill(block))
    own["ABSignSGD (one block)"] = "floor (one block)"
    return cases, own


def step_table(model: torch.nn.Module, iters: int, clock: Clock, only: str | None = None) -> Table:
    """Per optimizer: step ms, × the foreach_add floor, × the rule's own floor (``only``: the rows
    whose name contains it, with the floors).

    The own floor is what no implementation of the rule can avoid: one ``_foreach_add_`` of the
    gradient into the parameters and into every full-size state tensor the rule keeps (each must
    be read and written once), plus the noise draw of the stochastic-sign rules. 4-bit and int8
    states are left out of it (their bytes are a fraction of a pass)."""
    optimizers = step_optimizers(list(model.parameters()))
    if only is not None:
        optimizers = {name: opt for name, opt in optimizers.items() if only in name}
    with_block = only is None or only in "ABSignSGD (one block)"
    cases, own = _step_cases(model, StepCases(list(model.parameters())), optimizers, with_block)
    med = clock.round_robin(cases, iters)
    table = Table(["optimizer step", "median ms", "× foreach_add_ floor", "× its own floor"])
    base = med["floor (all)"]
    table.add("floor: torch._foreach_add_ (all params)", 1e3 * base, 1.0, 1.0)
    for name in optimizers:
        table.add(name, 1e3 * med[name], med[name] / base, med[name] / med[own[name]])
    if with_block:
        ab_floor, ab_step = med["floor (one block)"], med["ABSignSGD (one block)"]
        table.add("floor: torch._foreach_add_ (one block)", 1e3 * ab_floor, 1.0, 1.0)
        table.add("ABSignSGD (one block)", 1e3 * ab_step, ab_step / ab_floor, ab_step / ab_floor)
    for p in model.parameters():
        p.requires_grad_(True)
        p.grad = None
    return table


def _batch(device: torch.device) -> torch.Tensor:
    return torch.randint(3, 259, (4, 128), generator=torch.Generator().manual_seed(0)).to(device)


def _training_cases(
    makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]],
    hidden: int,
    layers: int,
    device: torch.device,
) -> dict:
    """One case per optimizer, each on its own model (forward + backward + update), and the
    forward alone."""
    tok, ids = byte_tokenizer(), _batch(device)
    cases = {}
    for name, make in makers.items():
        model = tiny_qwen3(tok, hidden_size=hidden, num_layers=layers).to(device)
        opt = make(model)
        in_backward = getattr(opt, "fused_backward", False)

        def one_step(model=model, opt=opt, in_backward=in_backward) -> None:
            model(input_ids=ids, labels=ids).loss.backward()
            if not in_backward:
                opt.step()
                opt.zero_grad(set_to_none=True)

        cases[name] = (one_step, _nothing)
    model = tiny_qwen3(tok, hidden_size=hidden, num_layers=layers).to(device)

    def forward_alone() -> None:
        with torch.no_grad():
            model(input_ids=ids, labels=ids)

    cases[FORWARD] = (forward_alone, _nothing)
    return cases


def _adamw(m: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(m.parameters(), lr=1e-5, foreach=True)


def _probe_case(hidden: int, layers: int, device: torch.device) -> tuple[Callable[[], None], ...]:
    """The lost-update probe's two calls around a step, on the default model (nothing between)."""
    model = tiny_qwen3(byte_tokenizer(), hidden_size=hidden, num_layers=layers).to(device)
    probe = UpdateProbe(lambda: trainable_parameters(model))

    def both() -> None:
        probe.before()
        probe.after()

    return both, _nothing


def train_step_table(iters: int, hidden: int, layers: int, clock: Clock) -> Table:
    """Method -> mean ms per forward+backward+update on a fixed random batch, and × AdamW's (the
    mean, since a block method's step time depends on its block)."""
    makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]] = {
        "AdamW (torch, foreach)": _adamw,
        "SignSGD": lambda m: SignSGD(m.parameters(), lr=1e-5),
        "SignSGD in backward": lambda m: SignSGD(m.parameters(), lr=1e-5, fused_backward=True),
        "StoSignSGD": lambda m: StoSignSGD(m.parameters(), lr=1e-5),
        "SQ-MEFT (in backward)": lambda m: SQMEFT(m.parameters(), lr=1e-5),
        "SQ-MEFT (in backward), compiled quantiser": lambda m: SQMEFT(m.parameters(), lr=1e-5, compile=True),
    }
    cases = _training_cases(makers, hidden, layers, clock.device)
    cases[PROBE] = _probe_case(hidden, layers, clock.device)
    mean = clock.round_robin(cases, iters, statistics.mean)
    base = mean["AdamW (torch, foreach)"]
    table = Table(["training step (batch 4×128)", "mean ms", "× AdamW"])
    for name, t in mean.items():
        table.add(name, 1e3 * t, t / base)
    return table


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


def depth_table(iters: int, hidden: int, depths: list[int], clock: Clock) -> Table:
    """Per depth: AdamW ms, and as × AdamW: forward alone, ABSignSGD depth-biased, uniform.

    A block method's step costs more the lower its block (backward runs down to it), and a few
    steps of a schedule are not a fair sample of it (depth-biased starts at the top). So each
    block's step is timed with that block held active, and the schedules' long-run shares of
    steps weight them: the expected step time of each scheme."""
    table = Table(["layers", "AdamW step ms", "× AdamW: forward alone", "ABSignSGD depth-biased", "uniform"])
    for layers in depths:
        makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]] = {"adamw": _adamw}
        for i in range(layers):
            makers[f"block {i}"] = lambda m, i=i: ABSignSGD(
                m, lr=1e-5, fp16=False, selection_scheme=lambda k, n: i
            )
        cases = _training_cases(makers, hidden, layers, clock.device)
        mean = clock.round_robin(cases, iters, statistics.mean)
        per_block = [mean[f"block {i}"] for i in range(layers)]
        base = mean["adamw"]
        expected = {
            scheme: sum(w * t for w, t in zip(schedule_weights(layers, scheme), per_block, strict=True))
            for scheme in ("depth_biased", "uniform")
        }
        ratios = [mean[FORWARD] / base, expected["depth_biased"] / base, expected["uniform"] / base]
        table.add(str(layers), 1e3 * base, *ratios)
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``suite-bench optim``."""
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--step-hidden", type=int, default=1024, help="Table 1's model (18.1M params)")
    parser.add_argument("--step-layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128, help="Tables 2-3 (default model)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument(
        "--depths", default="4,16,36", help="layer counts of the ABSignSGD-vs-AdamW depth table ('' skips it)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--out", default=None, help="folder for optim.json, optim.md and goals.md")
    parser.add_argument(
        "--only",
        default=None,
        help="Table 1 only, the rows whose name contains this text (e.g. ALIAS); no --out",
    )


def run(args: argparse.Namespace) -> None:
    """Print the tables (step vs floors, training step, depth, goals); with ``--out`` write them."""
    if args.only is not None and args.out:
        raise SystemExit("--only measures part of Table 1; it cannot write the full results (--out)")
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = Clock(torch.device(args.device))
    model = tiny_qwen3(byte_tokenizer(), hidden_size=args.step_hidden, num_layers=args.step_layers)
    model = model.to(clock.device)
    machine = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(clock.device) if clock.events else "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "step_params": sum(p.numel() for p in model.parameters()),
        "iters": args.iters,
    }
    tables = {"step": step_table(model, args.iters, clock, args.only)}
    del model
    if args.only is not None:
        print(
            f"Device {machine['device_name']}, {machine['threads']} CPU threads, torch {machine['torch']}; "
            f"{machine['step_params'] / 1e6:.1f}M parameters (hidden {args.step_hidden}); median of "
            f"{args.iters} interleaved rounds.\n\n{tables['step'].markdown()}"
        )
        return
    rounds = max(args.iters // 3, 5)
    tables["training"] = train_step_table(rounds, args.hidden, args.layers, clock)
    if args.depths:
        tables["depth"] = depth_table(rounds, args.hidden, [int(d) for d in args.depths.split(",")], clock)
    tables["goals"] = goals_table(tables, machine["step_params"], clock.device.type)
    header = (
        f"Device {machine['device_name']}, {machine['threads']} CPU threads, torch {machine['torch']}; "
        f"Table 1 on {machine['step_params'] / 1e6:.1f}M parameters (hidden {args.step_hidden}), "
        f"Tables 2-3 at hidden {args.hidden}; median/mean of {args.iters}/{rounds} interleaved rounds."
    )
    print(header + "\n")
    for table in tables.values():
        print(table.markdown() + "\n")
    if args.out:
        write_outputs(args.out, header, machine, tables)
