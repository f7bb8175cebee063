"""Benchmarks, run as ``suite-bench optim ...`` / ``suite-bench meter ...`` (or ``python -m suite.bench``).

* :mod:`suite.bench.optim`: optimizer steps against the memory-bandwidth floor, whole training
  steps, and ABSignSGD's expected step against AdamW's as the model gets deeper.
* :mod:`suite.bench.meter`: what the memory meter's hooks cost a training step.

Benchmarks, not tests: they print Markdown tables of times measured in one run and assert nothing.
"""
