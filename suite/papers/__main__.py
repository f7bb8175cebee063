"""``python -m suite.papers [ROOT]``: write ``ROOT/verdicts.md`` (every paper claim's verdict) and
``ROOT/verdicts_summary.md`` (the sentences README.md and ``results/README.md`` show) from the
runs in ``ROOT`` (default: the results store, ``$SUITE_RESULTS`` or ``results``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.papers import claims
from suite.papers.frames import results_root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m suite.papers", description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=None, help="the results store")
    args = parser.parse_args(argv)
    for path in claims.write_summaries(args.root or results_root()):
        print(path)


if __name__ == "__main__":
    main()
