"""The compatibility matrix (suite/compat.py): every method × feature cell has a test behind it,
``results/compatibility.md`` is what the declarations and the checks give, and each refused cell's
line is what the command line prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import COLLECTED, COMPAT, FAST, NARROW, TINY, run_job

from suite import compat, preflight
from suite.errors import ConfigError

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def declarations(config) -> list[compat.Declaration]:
    """This session's declarations when it collected every test file (``pytest`` or ``pytest -m
    'not slow'``); otherwise a collection of the whole folder (a few seconds more)."""
    if set(TESTS.glob("test_*.py")) <= config.stash.get(COLLECTED, set()):
        return [compat.Declaration(**d) for d in config.stash[COMPAT]]
    return compat.collect(TESTS)


def test_every_cell_has_a_test_and_the_committed_matrix_is_current(request):
    found = declarations(request.config)
    cells = compat.matrix(found)
    assert {m for m, _ in cells} == set(compat.methods())
    assert compat.problems(found, cells) == []
    committed = (REPO / compat.OUTPUT).read_text()
    assert committed == compat.render(cells), "run python -m suite.compat"


def test_a_cell_without_a_test_or_with_a_contradicting_one_is_reported():
    works = compat.Declaration("t.py::a", "adamw", "grad_accum", "x")
    wrong = compat.Declaration("t.py::b", "lomo", "grad_accum", "x")  # lomo's accumulation is refused
    cells = compat.matrix([works, wrong])
    found = compat.problems([works, wrong], cells)
    assert cells[("adamw", "grad_accum")].status == compat.WORKS
    assert cells[("adamw", "in_backward")].status == compat.NOT_APPLICABLE
    assert any(
        f.startswith("lomo × grad_accum: no test declares it (refused: method lomo updates") for f in found
    )
    assert "t.py::b: declares lomo × grad_accum works, but the cell is missing" in found
    assert "adamw × resume: no test declares it (works)" in found


REFUSED = [(m, f.key) for f in compat.FEATURES for m in compat.cells_where(f.key, refused=True)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "feature"),
    [
        pytest.param(
            m,
            f,
            marks=pytest.mark.compat(f, methods=[m], refused=True, checks="the command line's refusal"),
            id=f"{m}-{f}",
        )
        for m, f in REFUSED
    ],
)
def test_a_refused_cell_is_the_line_the_command_line_prints(method, feature, tmp_path, capsys, monkeypatch):
    """``suite-train`` prints the matrix's line and stops before any folder is made; torchrun's
    refusal comes from the app's first check on each rank."""
    reason = compat.refusal(method, feature)
    args = [*TINY, *FAST, f"method={method}", *NARROW.get(method, []), f"results_dir={tmp_path}"]
    if compat.BY_KEY[feature].world > 1:
        monkeypatch.setenv("WORLD_SIZE", str(compat.BY_KEY[feature].world))
        monkeypatch.setenv("RANK", "0")
        with pytest.raises(ConfigError) as err:
            run_job(tmp_path, f"method={method}", *NARROW.get(method, []))
        assert str(err.value) == reason
    else:
        with pytest.raises(SystemExit) as exit_:
            preflight.check_command_line([*args, *compat.BY_KEY[feature].overrides])
        assert exit_.value.code == 2
        assert capsys.readouterr().err == f"suite-train: error: {reason}\n"
    assert not any(tmp_path.iterdir())
