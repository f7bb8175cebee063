"""``suite-train``'s console entry: check the command line, then start the app (:mod:`suite.train`).

The check needs only Hydra and the configs, so a refused command answers with its one line in
about a second; torch, transformers and the methods' packages load only once it has passed.
"""

from __future__ import annotations

import sys

from suite import preflight


def main() -> None:
    """Console entry point."""
    preflight.check_command_line(sys.argv[1:])
    from suite import train

    train.start()
