"""Keep the repository's generated blocks in step with what they show.

A block is written as ``<!-- generated from SOURCE -->`` ... ``<!-- end generated -->`` (in a
script, both marker lines behind ``# ``). SOURCE is a file, relative to the one holding the block
(a prose line over ``WRAP`` characters is wrapped, tables are kept), or ``registry:<view>``, a
view of the artefact registry (:mod:`suite.papers.docs`): ``experiments/run_all.sh``, the
artefact tables of ``README.md`` and ``experiments/README.md``, the notebooks' headers.
``python -m suite.readme`` rewrites every block of ``FILES`` (from the repository root);
``python -m suite.readme --check`` exits 1 naming the stale files. The tests run the check.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from suite.papers import docs

BLOCK = re.compile(
    r"^(?P<open>(?P<lead>(?:# )?)<!-- generated from (?P<source>\S+) -->\n)(?P<body>.*?)"
    r"^(?P<close>(?P=lead)<!-- end generated -->)",
    re.S | re.M,
)
FILES = (
    "README.md",
    "experiments/README.md",
    "experiments/run_all.sh",
    "analysis/*.py",
    "results/README.md",
    "results/*/README.md",
)
WRAP = 100


def wrapped(text: str) -> str:
    """``text`` with every prose line over :data:`WRAP` characters wrapped (table rows kept)."""
    lines = []
    for line in text.splitlines():
        long = len(line) > WRAP and not line.lstrip().startswith("|")
        lines += textwrap.wrap(line, WRAP, break_on_hyphens=False) if long else [line]
    return "\n".join(lines)


def source_text(source: str, page: Path) -> str:
    """The body a block of ``page`` names: a registry view, or a file beside ``page``."""
    if source.startswith("registry:"):
        return docs.render(source.removeprefix("registry:"))
    path = page.parent / source
    if not path.is_file():
        raise FileNotFoundError(f"{page}: a generated block names {source}, which does not exist")
    return wrapped(path.read_text().rstrip())


def render(page: Path) -> str:
    """``page`` with every generated block's body replaced by its source."""

    def fill(match: re.Match) -> str:
        return f"{match['open']}{source_text(match['source'], page)}\n{match['close']}"

    return BLOCK.sub(fill, page.read_text())


def pages(root: Path) -> list[Path]:
    """The files under ``root`` that may hold generated blocks (:data:`FILES`)."""
    return sorted(p for pattern in FILES for p in root.glob(pattern) if p.is_file())


def stale(root: Path) -> list[Path]:
    """The pages under ``root`` whose generated blocks differ from their sources."""
    return [p for p in pages(root) if render(p) != p.read_text()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m suite.readme", description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, help="default: FILES under the current directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if a block is stale, write nothing")
    args = parser.parse_args(argv)
    targets = args.pages or pages(Path.cwd())
    if not targets:
        sys.exit(f"python -m suite.readme: no README.md under {Path.cwd()}; run it from the repository root")
    if args.check:
        old = [str(p) for p in targets if render(p) != p.read_text()]
        if old:
            sys.exit(f"generated blocks are stale in {', '.join(old)}; run python -m suite.readme")
        return
    for page in targets:
        text = render(page)
        if text != page.read_text():
            page.write_text(text)


if __name__ == "__main__":
    main()
