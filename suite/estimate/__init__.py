"""Memory estimates without weights: ``suite-estimate`` builds the model on the meta device and
runs the training loop's own step under the training loop's own meter.

* ``architecture``: the meta model from a model config (a published ``config.json`` in the
  model YAML, or the suite's own tiny model);
* ``meta``: what lets a method's update run on meta tensors (scalar reads, generators, the
  target device's attention kernel);
* ``run``: one estimate, :func:`estimate`, as a :class:`~suite.measure.memory.MemoryBreakdown`
  record;
* ``table``: rows as markdown, CSV and JSON; ``cli``: the Hydra app;
* ``published``: the papers' memory figures beside the estimator's (``results/estimates/``).
"""
