"""``suite-search``: a learning-rate search with Optuna whose every trial is a ``suite-train`` run.

``suite-search method=signsgd search.n_trials=20 train.max_steps=300`` asks Optuna (ask-and-tell,
TPE sampler, seeded) for an lr from the method's log-uniform range (``conf/search.yaml``,
an experiment's ``search:`` node or ``search.lr=[low,high]``), runs ``suite-train`` with it, and
tells the study the run's final training loss (``search.metric=eval_exact_match`` maximises exact
match instead, ``search.metric=final_val_loss`` the validation loss; ``search.params`` adds method
settings searched beside the lr, e.g. ``search.params.weight_decay=[0.0,0.1]``).

The study is an Optuna ``JournalStorage`` file beside the trials' runs,
``results/<experiment>/<study>.journal``; rerunning the same command continues it: trials an
interrupted search left running run again with their lr, then new ones until the budget is met,
drawn afresh (the sampler's seed is ``sampler_seed`` plus the trials already stored).
"""

from suite.search.cli import main

__all__ = ["main"]
