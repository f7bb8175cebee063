"""The artefacts: each paper module registers one build function per table-and-figure it
reproduces, with the experiment files whose runs it reads, and :func:`build` / :func:`write` turn
it into files beside the runs.

The registration is the one list of an artefact's experiments: ``experiments/run_all.sh``, the
tables of ``README.md`` and ``experiments/README.md`` and each notebook's header are generated
from it (:mod:`suite.papers.docs`, ``python -m suite.readme``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.claims import write_verdicts
from suite.papers.frames import artefact_folder, mark_seed_counts, write_figure, write_table

Build = Callable[[Path], tuple[pd.DataFrame, plt.Figure]]


@dataclass(frozen=True)
class Sweep:
    """One command whose runs feed an artefact: the experiment file ``experiments/<experiment>.yaml``
    run by ``program`` with ``overrides``. ``needs`` names an environment variable that must name a
    local data file the overrides read (as ``$NAME``); without the file the sweep is skipped."""

    experiment: str
    program: str = "suite-train -m"
    overrides: tuple[str, ...] = ()
    needs: str | None = None

    @property
    def command(self) -> str:
        """The command line, as a reader types it (the caller adds ``logger=none`` and the like)."""
        return " ".join([self.program, f"experiment={self.experiment}", *self.overrides])


@dataclass(frozen=True)
class Artefact:
    """What a notebook builds: its name (= its results folder and notebook), its caption (with
    the paper's source), ``build(folder) -> (table, figure)`` and the sweeps that write its runs,
    at tiny scale; ``experiments/paper_<experiment>.yaml`` is a sweep's paper-scale twin."""

    name: str
    caption: str
    build: Build
    sweeps: tuple[Sweep, ...]

    @property
    def title(self) -> str:
        """The caption up to its first colon: the paper, then the artefact (``ABSignSGD Table 2``)."""
        return self.caption.split(":", 1)[0]

    @property
    def experiments(self) -> list[str]:
        """The experiment files its sweeps run, each once, in order."""
        return list(dict.fromkeys(s.experiment for s in self.sweeps))


ARTEFACTS: dict[str, Artefact] = {}


def artefact(
    name: str, what: str, source: str, *, experiments: Sequence[str | Sweep]
) -> Callable[[Build], Build]:
    """Register the decorated ``build(folder)`` as artefact ``name``, captioned ``what`` (starting
    ``<paper> <artefact>: ``, its title) and the paper's ``source``, its runs written by
    ``experiments``: experiment names (each run with ``suite-train -m experiment=<name>``) or
    :class:`Sweep` for any other command."""
    sweeps = tuple(s if isinstance(s, Sweep) else Sweep(s) for s in experiments)

    def register(build_fn: Build) -> Build:
        if name in ARTEFACTS:
            raise ValueError(f"artefact {name!r} is registered twice; artefact names must be unique")
        if " " not in what.split(":", 1)[0] or ":" not in what:
            raise ValueError(f"artefact {name!r}: its caption must start with '<paper> <artefact>: '")
        if not sweeps:
            raise ValueError(f"artefact {name!r} names no experiments; give the files whose runs it reads")
        ARTEFACTS[name] = Artefact(name, f"{what} Paper: {source}.", build_fn, sweeps)
        return build_fn

    return register


def get(name: str) -> Artefact:
    """The registered artefact ``name``."""
    if name not in ARTEFACTS:
        raise KeyError(f"unknown artefact {name!r}; known: {', '.join(sorted(ARTEFACTS))}")
    return ARTEFACTS[name]


def write(name: str, folder: str | Path, table: pd.DataFrame, figure: plt.Figure) -> Path:
    """Write artefact ``name``'s ``table.md``, ``table.tex`` (with its caption) and ``figure.png``
    to ``folder``, rows over fewer seeds than the others marked, and ``verdicts.md`` when the
    artefact's paper declares claims (:mod:`~suite.papers.claims`); returns the path of ``table.md``."""
    path = write_table(mark_seed_counts(table), folder, get(name).caption)
    write_figure(figure, folder)
    write_verdicts(name, folder)
    return path


def build(name: str, root: str | Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Build artefact ``name`` from its runs and write its table and figure beside them, in
    ``<root>/<name>/``, or without ``root`` in :func:`~suite.papers.frames.artefact_folder`
    (``$SUITE_RESULTS``, ``$SUITE_PREFIX``)."""
    folder = artefact_folder(name) if root is None else Path(root) / name
    table, figure = get(name).build(folder)
    write(name, folder, table, figure)
    return table, folder
