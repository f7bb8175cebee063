"""The registry as text: what ``python -m suite.readme`` writes into a block
``<!-- generated from registry:<view> -->`` (:func:`render`).

* ``registry:run_all``: the sweeps of ``experiments/run_all.sh``, artefact by artefact;
* ``registry:experiments``: ``experiments/README.md``'s table, artefact → command → notebook;
* ``registry:artefacts``: ``README.md``'s table, artefact → committed table and notebook;
* ``registry:notebook/<name>``: the header of ``analysis/<name>.py`` (which runs it reads, what
  it writes, which function builds it), as the comment lines of a jupytext percent script.
"""

from __future__ import annotations

import inspect
import shlex
import textwrap

from suite.configs import CONF_DIR
from suite.papers.registry import ARTEFACTS, Artefact, Sweep, get


def _shell(sweep: Sweep) -> str:
    """The sweep as a line of ``run_all.sh``: ``$VAR`` overrides in double quotes, so they expand."""
    words = [f'"{w}"' if "$" in w else shlex.quote(w) for w in sweep.command.split()]
    line = f"sweep {' '.join(words)}"
    return f"needs {sweep.needs} && {line}" if sweep.needs else line


def run_all() -> str:
    """Every artefact's sweeps, as calls of ``run_all.sh``'s ``sweep`` (and ``needs``) functions."""
    lines = []
    for art in ARTEFACTS.values():
        lines += [f"# {art.name}", *(_shell(s) for s in art.sweeps)]
    return "\n".join(lines)


def experiments() -> str:
    """One row per sweep, the artefact and its notebook named on its first."""
    lines = ["| artefact | command (tiny scale) | notebook |", "| --- | --- | --- |"]
    for art in ARTEFACTS.values():
        for k, sweep in enumerate(art.sweeps):
            name = f"{art.title} (`{art.name}`)" if k == 0 else ""
            notebook = f"[`analysis/{art.name}.py`](../analysis/{art.name}.py)" if k == 0 else ""
            lines.append(f"| {name} | `{sweep.command}` | {notebook} |")
    return "\n".join(lines)


def artefacts(width: int = 160) -> str:
    """One row per paper (the first word of its artefacts' titles), its artefacts' committed tables
    as links; a row past ``width`` characters continues on the next."""
    papers: dict[str, list[str]] = {}
    for art in ARTEFACTS.values():
        paper, what = art.title.split(" ", 1)
        papers.setdefault(paper, []).append(f"[{what}](results/{art.name}/table.md)")
    lines = [
        "| paper | artefacts (their committed tables; notebooks: `analysis/<artefact>.py`) |",
        "| --- | --- |",
    ]
    for paper, links in papers.items():
        row = [links[0]]
        for link in links[1:]:
            if len(" · ".join([*row, link])) > width:
                lines.append(f"| {paper} | {' · '.join(row)} |")
                paper, row = "", []
            row.append(link)
        lines.append(f"| {paper} | {' · '.join(row)} |")
    return "\n".join(lines)


def has_paper_twin(art: Artefact) -> bool:
    """Whether ``experiments/paper_<name>.yaml`` writes the artefact's runs at paper scale."""
    return (CONF_DIR / "experiment" / f"paper_{art.name}.yaml").is_file()


def _lines(command: str, width: int = 88) -> list[str]:
    """A command as shell lines of at most ``width`` characters, continued with a backslash."""
    lines, words = [], command.split()
    for word in words:
        if lines and len(lines[-1]) + len(word) < width - 2:
            lines[-1] += f" {word}"
        else:
            lines.append(word if not lines else f"    {word}")
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def notebook(name: str) -> str:
    """The header of ``analysis/<name>.py``: the folder it reads, the commands that write it, the
    files it writes and the function that builds them."""
    art = get(name)
    module = inspect.getmodule(art.build).__name__.rsplit(".", 1)[-1]
    if has_paper_twin(art):
        reads = (
            f"Reads `$SUITE_RESULTS/${{SUITE_PREFIX}}{name}/` (defaults `results/` and no prefix; "
            "`SUITE_PREFIX=paper_` reads the paper-scale runs), made by"
        )
    else:
        reads = f"Reads `$SUITE_RESULTS/{name}/` (default `results/`; no paper-scale twin), made by"
    needs = sorted({s.needs for s in art.sweeps if s.needs})
    after = (
        f"({', '.join(f'`${n}`' for n in needs)}: a local data file, see `experiments/README.md`) "
        if needs
        else ""
    )
    writes = (
        f"{after}and writes `table.md`, `table.tex` and `figure.png` there. `{module}.{art.build.__name__}` "
        "builds the table and the figure (tested in `tests/test_analysis.py`); the paper's numbers and "
        f"their sources are in `suite/papers/{module}.py`."
    )
    commands = [f"    {line}" for s in art.sweeps for line in _lines(s.command)]
    lines = [*textwrap.wrap(reads, 96), "", *commands, "", *textwrap.wrap(writes, 96)]
    return "\n".join(f"# {line}".rstrip() for line in lines)


def render(view: str) -> str:
    """The text of ``view``: ``run_all``, ``experiments``, ``artefacts`` or ``notebook/<name>``."""
    if view.startswith("notebook/"):
        return notebook(view.removeprefix("notebook/"))
    views = {"run_all": run_all, "experiments": experiments, "artefacts": artefacts}
    if view not in views:
        raise KeyError(f"unknown registry view {view!r}; known: {', '.join(views)}, notebook/<artefact>")
    return views[view]()
