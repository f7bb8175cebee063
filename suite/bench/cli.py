"""``suite-bench``: one subcommand per benchmark, each with its own options."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from suite.bench import meter, optim

BENCHMARKS = {"optim": optim, "meter": meter}


def parser() -> argparse.ArgumentParser:
    """The ``suite-bench`` parser: ``optim`` and ``meter``, each described by its module."""
    top = argparse.ArgumentParser(
        prog="suite-bench",
        description="The suite's benchmarks: optimizer steps, and what the memory meter costs.",
    )
    sub = top.add_subparsers(dest="benchmark", required=True, metavar="{" + ",".join(BENCHMARKS) + "}")
    for name, module in BENCHMARKS.items():
        summary = module.__doc__.splitlines()[0]
        module.add_arguments(sub.add_parser(name, help=summary, description=summary))
    return top


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark named by the first argument (``optim`` or ``meter``) with the rest."""
    args = parser().parse_args(argv)
    BENCHMARKS[args.benchmark].run(args)
