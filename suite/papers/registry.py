"""The artefacts: each paper module registers one build function per table-and-figure it
reproduces, and :func:`build` / :func:`write` turn it into files beside the runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.claims import write_verdicts
from suite.papers.frames import artefact_folder, mark_seed_counts, write_figure, write_table

Build = Callable[[Path], tuple[pd.DataFrame, plt.Figure]]


@dataclass(frozen=True)
class Artefact:
    """What a notebook builds: its name (= the experiment and results folder), its caption (with
    the paper's source) and ``build(folder) -> (table, figure)``."""

    name: str
    caption: str
    build: Build


ARTEFACTS: dict[str, Artefact] = {}


def artefact(name: str, what: str, source: str) -> Callable[[Build], Build]:
    """Register the decorated ``build(folder)`` as artefact ``name``, captioned ``what`` and the
    paper's ``source``."""

    def register(build_fn: Build) -> Build:
        if name in ARTEFACTS:
            raise ValueError(f"artefact {name!r} is registered twice; artefact names must be unique")
        ARTEFACTS[name] = Artefact(name, f"{what} Paper: {source}.", build_fn)
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
