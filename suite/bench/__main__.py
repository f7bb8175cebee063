"""``python -m suite.bench optim|meter [options]``: the same as ``suite-bench``."""

from suite.bench.cli import main

main()
