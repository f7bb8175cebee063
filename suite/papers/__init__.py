"""The papers' tables and figures, rebuilt from the results store (``results/<artefact>/``).

One module per paper (:mod:`~suite.papers.absignsgd`, :mod:`~suite.papers.stosignsgd`,
:mod:`~suite.papers.alias`, :mod:`~suite.papers.sqmeft`) holds the paper's published numbers with
their citation, its table and figure builders, and one public function per artefact,
``build(folder) -> (table, figure)``, registered in :data:`ARTEFACTS` under the artefact's name
(= its results folder and its notebook) with the experiment files whose runs it reads
(``@artefact(..., experiments=[...])``; :mod:`~suite.papers.docs` turns that list into
``experiments/run_all.sh``, the artefact tables and the notebooks' headers), and declares the
paper's claims as hypotheses (:mod:`~suite.papers.claims`), judged in ``verdicts.md`` beside each
table. :mod:`~suite.papers.frames` loads runs and writes the files; :func:`build` does both for one
artefact; ``python -m suite.papers`` gathers every verdict in ``results/verdicts.md``. The
notebooks in ``analysis/`` call these functions; they read results and never train.
"""

from suite.papers import absignsgd, alias, sqmeft, stosignsgd  # each registers its artefacts
from suite.papers.registry import ARTEFACTS, Artefact, Sweep, build, get, write

__all__ = [
    "ARTEFACTS",
    "Artefact",
    "Sweep",
    "absignsgd",
    "alias",
    "build",
    "get",
    "sqmeft",
    "stosignsgd",
    "write",
]
