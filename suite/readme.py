"""Keep README.md's generated blocks in step with the files they show.

A block is written as ``<!-- generated from PATH -->`` ... ``<!-- end generated -->``; its body is
the file at PATH (relative to the README). ``python -m suite.readme`` rewrites every block;
``python -m suite.readme --check`` exits 1 if one is stale. The tests run the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- generated from (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def render(readme: Path) -> str:
    """The README with every generated block's body replaced by its file."""

    def fill(match: re.Match) -> str:
        source = readme.parent / match["path"]
        if not source.is_file():
            raise FileNotFoundError(
                f"{readme}: a generated block names {match['path']}, which does not exist"
            )
        return f"{match[1]}{source.read_text().rstrip()}\n{match[4]}"

    return BLOCK.sub(fill, readme.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m suite.readme", description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", default="README.md", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if a block is stale, write nothing")
    args = parser.parse_args(argv)
    text = render(args.readme)
    if args.check:
        if text != args.readme.read_text():
            sys.exit(f"{args.readme}: generated blocks are stale; run python -m suite.readme")
        return
    args.readme.write_text(text)


if __name__ == "__main__":
    main()
