"""The compatibility matrix: every method (``conf/method/*.yaml``) × every training feature, each
cell *works* (a named test runs it and checks a property), *refused* (the one line the suite's own
check prints) or *not applicable*.

Nothing here is written by hand per method. Each cell is a job on ``device=cpu`` (the machine the
tests run on) unless its column asks for CUDA. A refusal is what
:func:`suite.checks.check_method_loop`, :func:`suite.checks.check_device` and
:func:`suite.distributed.check` raise for the method's YAML with the feature switched on; "not
applicable" follows from the method's traits (an in-backward column for a method that has no
in-backward update). A *works* cell is declared by the test that proves it, with a marker::

    @pytest.mark.compat("grad_accum", checks="2 micro-batches of 4 give the weights of one batch of 8")

on a test parametrized by ``method`` (or with ``methods=[...]``); ``refused=True`` declares a test
that checks the refusal's line. ``python -m suite.compat`` collects the tests (``pytest
--collect-only``, from a checkout) and writes ``results/compatibility.md``; ``--check`` exits 1 when
a cell has no test behind it, a test contradicts a check, or the file is stale (the tests run it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from suite import traits
from suite.checks import check_device, check_method_loop
from suite.configs import CONF_DIR
from suite.errors import ConfigError

OUTPUT = Path("results") / "compatibility.md"
WORKS, REFUSED, NOT_APPLICABLE, MISSING = "works", "refused", "n/a", "missing"


@dataclass(frozen=True)
class Feature:
    """One column: the overrides that switch it on (``world``: the torchrun ranks it runs on;
    ``on_meta``: it runs on the meta device, so the job's device is not checked)."""

    key: str
    title: str
    overrides: tuple[str, ...] = ()
    world: int = 1
    note: str = ""
    on_meta: bool = False


FEATURES = (
    Feature("grad_accum", "gradient accumulation", ("train.grad_accum=2",)),
    Feature("checkpointing", "gradient checkpointing", ("train.gradient_checkpointing=true",)),
    Feature("bf16_weights", "bf16 weights", ("model.dtype=bfloat16",)),
    Feature("bf16_autocast", "fp32 weights + bf16 autocast", ("model.dtype=float32", "train.autocast=bf16")),
    Feature(
        "fp16",
        "fp16 autocast + loss scaling",
        ("device=cuda", "train.autocast=fp16"),
        note="checked on CPU through the loop's step with torch's CPU GradScaler; suite-train runs "
        "fp16 on CUDA only (train.autocast=fp16 without a GPU is refused for every method)",
    ),
    Feature("torchrun", "torchrun", world=2),
    Feature("resume", "resume", ("train.checkpoint_every=2",)),
    Feature(
        "in_backward",
        "update inside backward",
        note="with the method's in-backward switch on where it has one (e.g. method.fused_backward=true); "
        "the other columns keep the YAML's default",
    ),
    Feature("guard", "lost-update guard"),
    Feature(
        "estimator",
        "suite-estimate",
        note="on the meta device, for any method: a CUDA-only one counts what it keeps on the GPU "
        "and its host bytes",
        on_meta=True,
    ),
)
BY_KEY = {f.key: f for f in FEATURES}
NO_IN_BACKWARD = "it steps after backward and has no in-backward variant"


def methods() -> list[str]:
    """Every suite method, by its YAML's name."""
    return sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))


@cache
def _base() -> DictConfig:
    """``config.yaml``'s own keys (its defaults list is not composed: the checks read ``method``
    and ``train`` only)."""
    return OmegaConf.load(CONF_DIR / "config.yaml")


def method_config(method: str, *features: str) -> DictConfig:
    """The method's YAML in the default job, with ``features`` switched on."""
    cfg = _base().copy()
    cfg.device = "cpu"  # the tests' machine; a column that needs CUDA overrides it
    cfg.method = OmegaConf.load(CONF_DIR / "method" / f"{method}.yaml")
    for override in (o for f in features for o in overrides(cfg.method, f)):
        key, _, value = override.partition("=")
        OmegaConf.update(cfg, key, OmegaConf.create(f"v: {value}").v, force_add=True)
    return cfg


def overrides(method: DictConfig, feature: str) -> tuple[str, ...]:
    """The command-line overrides that turn ``feature`` on for ``method`` (its in-backward switch,
    for the in-backward column)."""
    switch = traits.of(method).updates_in_backward
    if feature == "in_backward" and isinstance(switch, str):
        return (f"method.{switch}=true",)
    return BY_KEY[feature].overrides


def overrides_of(method: str, feature: str) -> tuple[str, ...]:
    """:func:`overrides` for the method named ``method``."""
    return overrides(OmegaConf.load(CONF_DIR / "method" / f"{method}.yaml"), feature)


@cache
def not_applicable(method: str, feature: str) -> str | None:
    """Why the column does not apply to the method, from its traits (None: it applies)."""
    if (
        feature == "in_backward"
        and traits.of(method_config(method, feature).method).updates_in_backward is False
    ):
        return NO_IN_BACKWARD
    return None


@cache
def refusal(method: str, feature: str) -> str | None:
    """The line the suite's checks print for ``method`` with ``feature`` on (None: not refused)."""
    from suite import distributed  # torch: only for the torchrun column

    cfg = method_config(method, feature)
    try:
        check_method_loop(cfg)
        if not BY_KEY[feature].on_meta:
            check_device(cfg)
        world = BY_KEY[feature].world
        distributed.check(cfg, distributed.World(rank=0, size=world, local_rank=0))
    except ConfigError as err:
        return str(err)
    return None


@dataclass(frozen=True)
class Declaration:
    """A test's claim about one cell: it runs ``method`` with ``feature`` and checks ``checks``
    (``refused``: it checks the refusal's line instead)."""

    test: str
    method: str
    feature: str
    checks: str
    refused: bool = False


@dataclass(frozen=True)
class Cell:
    status: str
    reason: str = ""  # a refusal's line, or why the column does not apply
    tests: tuple[Declaration, ...] = ()


def accumulation_in_backward(method: str) -> str:
    """How the method's in-backward update takes ``train.grad_accum=2``: the conditions under
    which it accumulates (its traits) and the check's line where it refuses."""
    cfg = method_config(method, "in_backward", "grad_accum")
    conditions = traits.of(cfg.method).accumulates_in_backward
    try:
        check_method_loop(cfg)
    except ConfigError as err:
        when = (
            f"accumulates with {', '.join(map(str, conditions))}; at the YAML's values " if conditions else ""
        )
        return f"{when}refused: `{err}`"
    return "accumulates into its own state, no gradient buffer"


def cells_where(feature: str, refused: bool) -> list[str]:
    """The methods whose ``feature`` cell applies and is (``refused``) or is not refused: what a
    test of that column runs."""
    return [
        m
        for m in methods()
        if not_applicable(m, feature) is None and (refusal(m, feature) is not None) == refused
    ]


def matrix(declarations: list[Declaration]) -> dict[tuple[str, str], Cell]:
    """Every (method, feature) cell from the checks, the traits and the tests' declarations."""
    by_cell: dict[tuple[str, str], list[Declaration]] = {}
    for d in declarations:
        by_cell.setdefault((d.method, d.feature), []).append(d)
    cells = {}
    for method in methods():
        for feature in FEATURES:
            key = (method, feature.key)
            why_not = not_applicable(*key)
            if why_not is not None:
                cells[key] = Cell(NOT_APPLICABLE, why_not)
                continue
            reason = refusal(*key)
            tests = tuple(d for d in by_cell.get(key, []) if d.refused == (reason is not None))
            status = (REFUSED if reason is not None else WORKS) if tests else MISSING
            cells[key] = Cell(status, reason or "", tests)
    return cells


def problems(declarations: list[Declaration], cells: dict[tuple[str, str], Cell]) -> list[str]:
    """A cell without a test, or a test that declares a cell the checks contradict."""
    found = [
        f"{m} × {f}: no test declares it ({'refused: ' + c.reason if c.reason else 'works'})"
        for (m, f), c in cells.items()
        if c.status == MISSING
    ]
    for d in declarations:
        cell = cells.get((d.method, d.feature))
        if d.feature not in BY_KEY:
            found.append(f"{d.test}: unknown feature {d.feature}; allowed: {', '.join(BY_KEY)}")
        elif cell is None:
            found.append(f"{d.test}: declares method {d.method}, which has no conf/method YAML")
        elif cell.status == NOT_APPLICABLE or d not in cell.tests:
            said = "refused" if d.refused else "works"
            found.append(f"{d.test}: declares {d.method} × {d.feature} {said}, but the cell is {cell.status}")
    return found


def _test_name(nodeid: str) -> str:
    return nodeid.split("[")[0]


def render(cells: dict[tuple[str, str], Cell]) -> str:
    """``results/compatibility.md``: the table, the refusals' lines, what each column's tests check."""
    refusals: list[str] = []
    lines = [
        "# Compatibility: every method × every feature",
        "",
        "Generated by `python -m suite.compat` from the tests' `@pytest.mark.compat` declarations and "
        "the suite's own checks; do not edit. **works**: a test runs the method with the feature on "
        "and checks the property listed below the table; **refused** (R*n*): `suite-train` stops "
        "before any work with the line given below (a test checks it is what the command line prints); "
        "**n/a**: the feature does not apply. Each cell is the method's YAML defaults with the one "
        "feature switched on, on `device=cpu` unless the column says otherwise.",
        "",
        "| method | " + " | ".join(f.title for f in FEATURES) + " |",
        "|---" * (len(FEATURES) + 1) + "|",
    ]
    for method in methods():
        row = []
        for feature in FEATURES:
            cell = cells[(method, feature.key)]
            if cell.status == REFUSED:
                if cell.reason not in refusals:
                    refusals.append(cell.reason)
                row.append(f"refused (R{refusals.index(cell.reason) + 1})")
            else:
                row.append(cell.status)
        lines.append(f"| {traits.label(method)} (`{method}`) | " + " | ".join(row) + " |")
    lines += ["", "## Refusals", ""]
    lines += [f"- **R{i}**: `{reason}`" for i, reason in enumerate(refusals, 1)]
    refusal_tests = sorted(
        {_test_name(d.test) for c in cells.values() if c.status == REFUSED for d in c.tests}
    )
    lines += (
        ["", "Each checked by " + ", ".join(f"`{t}`" for t in refusal_tests) + "."] if refusal_tests else []
    )
    in_backward = [m for m in methods() if cells[(m, "in_backward")].status != NOT_APPLICABLE]
    lines += ["", "## Gradient accumulation with the update inside backward", ""]
    lines += [f"- {traits.label(m)} (`{m}`): {accumulation_in_backward(m)}" for m in in_backward]
    lines += ["", "## What the tests check", ""]
    for feature in FEATURES:
        checked: dict[tuple[str, str], list[str]] = {}
        for (method, key), cell in cells.items():
            for d in cell.tests if key == feature.key and cell.status == WORKS else ():
                checked.setdefault((_test_name(d.test), d.checks), []).append(method)
        lines.append(f"**{feature.title}**" + (f" ({feature.note})" if feature.note else "") + ":")
        for (test, checks), names in sorted(checked.items()):
            lines.append(f"- `{test}`: {checks} ({', '.join(sorted(set(names)))})")
        not_applying = sorted(
            {c.reason for (m, k), c in cells.items() if k == feature.key and c.status == NOT_APPLICABLE}
        )
        lines += [f"- n/a: {why}" for why in not_applying]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def collect(tests: Path) -> list[Declaration]:
    """Every ``compat`` declaration of the tests under ``tests`` (``pytest --collect-only``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "compat.json"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", f"--compat-out={out}", str(tests)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not out.is_file():
            raise SystemExit(f"collecting {tests} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return [Declaration(**d) for d in json.loads(out.read_text())]


def main(argv: list[str] | None = None) -> None:
    """Write (or, with ``--check``, compare) ``results/compatibility.md`` from a checkout's root."""
    parser = argparse.ArgumentParser(prog="python -m suite.compat", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file is stale or a cell lacks a test"
    )
    parser.add_argument("--tests", type=Path, default=Path("tests"), help="the test folder (default: tests)")
    args = parser.parse_args(argv)
    declarations = collect(args.tests)
    cells = matrix(declarations)
    found = problems(declarations, cells)
    if found:
        raise SystemExit("\n".join(found))
    text = render(cells)
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text() != text:
            raise SystemExit(f"{OUTPUT} is stale: run python -m suite.compat")
        return
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
