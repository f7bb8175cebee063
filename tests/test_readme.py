"""README.md is a front door: short, no line too long, and every table it shows generated from the
committed results or the artefact registry; so are run_all.sh, experiments/README.md's table and
the notebooks' headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from suite import readme, traits
from suite.compare import report
from suite.compare.settings import RECORD, from_record
from suite.configs import CONF_DIR
from suite.papers import docs
from suite.papers.frames import table_cells

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS_README = REPO / "results" / "README.md"


def test_readme_is_short_and_its_lines_are_readable():
    lines = README.read_text().splitlines()
    assert len(lines) <= 220
    assert not [n for n, line in enumerate(lines, 1) if len(line) > 200], "lines over 200 characters"


def test_the_methods_table_lists_every_method_with_its_packages():
    """Each ``conf/method/*.yaml`` is named in a row of README's methods table, and that row names
    the packages its traits declare (by import name or distribution name)."""
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    for path in sorted((CONF_DIR / "method").glob("*.yaml")):
        row = next((r for r in rows if f"`{path.stem}`" in r.split("|")[1]), None)
        assert row is not None, f"README's methods table has no row for {path.stem}"
        for package in traits.of(OmegaConf.load(path)).packages:
            assert package in row or package.replace("-", "_") in row, (path.stem, package)


def test_every_generated_block_is_current():
    assert readme.stale(REPO) == [], "run python -m suite.readme"


@pytest.mark.parametrize(
    "page, view",
    [
        ("README.md", "artefacts"),
        ("experiments/README.md", "experiments"),
        ("experiments/run_all.sh", "run_all"),
    ],
)
def test_the_registry_views_are_where_they_belong(page, view):
    assert REPO / page in readme.pages(REPO)
    assert f"<!-- generated from registry:{view} -->" in (REPO / page).read_text()


def test_a_stale_block_is_found_and_rewritten(tmp_path):
    (tmp_path / "t.md").write_text("| a |\n| - |\n| 1 |\n")
    page = tmp_path / "README.md"
    page.write_text("x\n<!-- generated from t.md -->\nold\n<!-- end generated -->\n")
    with pytest.raises(SystemExit):
        readme.main([str(page), "--check"])
    readme.main([str(page)])
    assert "| 1 |" in page.read_text() and "old" not in page.read_text()
    readme.main([str(page), "--check"])


def test_a_script_block_is_marked_behind_comments_and_filled_from_the_registry(tmp_path):
    page = tmp_path / "run.sh"
    page.write_text(
        "set -e\n# <!-- generated from registry:run_all -->\nstale\n# <!-- end generated -->\necho\n"
    )
    assert readme.stale(tmp_path) == []  # not one of FILES under tmp_path
    text = readme.render(page)
    assert text.startswith("set -e\n# <!-- generated from registry:run_all -->\n# absignsgd_table2\n")
    assert "stale" not in text and text.endswith(f"{docs.run_all()}\n# <!-- end generated -->\necho\n")


def test_a_long_prose_line_is_wrapped_and_a_table_row_kept(tmp_path):
    row = "| " + " | ".join(["cell"] * 60) + " |"
    (tmp_path / "s.md").write_text(" ".join(["word"] * 100) + "\n" + row + "\n")
    page = tmp_path / "README.md"
    page.write_text("<!-- generated from s.md -->\n<!-- end generated -->\n")
    lines = readme.render(page).splitlines()[1:-1]
    assert lines[-1] == row and all(len(line) <= readme.WRAP for line in lines[:-1])
    assert " ".join(lines[:-1]).split() == ["word"] * 100


def test_run_outside_the_repository_it_says_where_to_run_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="run it from the repository root"):
        readme.main([])


def test_an_unknown_registry_view_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown registry view 'tables'; known: run_all"):
        docs.render("tables")


def test_the_baselines_table_is_what_the_comparison_report_makes_of_the_committed_runs():
    folder = REPO / "results" / "baselines" / "compare" / "protocol"
    s, _ = from_record(OmegaConf.to_container(OmegaConf.load(folder / RECORD)))
    cells = table_cells(report.table(s, report.trials_frame(s, folder), report.runs_frame(s, folder)))
    made = f"{report.caption(s)}\n\n{cells.to_markdown(index=False, disable_numparse=True)}\n"
    assert (folder / "table.md").read_text() == made, "run python -m suite.compare.report " + str(folder)


def test_the_results_readme_shows_the_current_verdicts():
    assert readme.render(RESULTS_README) == RESULTS_README.read_text(), (
        "run python -m suite.readme results/README.md"
    )


# "**agrees** (`claim.id`, `other.id`, ...)": a verdict named with the claims it is about
VERDICT_MENTION = re.compile(r"\b(agrees|disagrees|inconclusive)\b\W{0,4}\(((?:`[\w.]+`(?:, )?)+)", re.I)
AGREEMENT = re.compile(r"\b(?:dis)?agree\w*", re.I)


def committed_verdicts() -> dict[str, str]:
    """Claim id -> verdict, read from results/verdicts.md (a test in test_analysis.py keeps that
    file equal to what the claims give on the committed runs)."""
    lines = [
        line for line in (REPO / "results" / "verdicts.md").read_text().splitlines() if line.startswith("|")
    ]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    header, rows = cells[0], cells[2:]
    claim, verdict = header.index("claim"), header.index("verdict")
    return {re.search(r"\[([\w.]+)\]$", row[claim])[1]: row[verdict] for row in rows}


@pytest.mark.parametrize("page", [README, RESULTS_README], ids=["README", "results-README"])
def test_agreement_is_stated_only_as_the_verdicts_give_it(page):
    """Outside the generated blocks (which are the verdicts), a page says a claim agrees or
    disagrees only as "**verdict** (`claim id`)" with the committed verdict, and uses the words
    nowhere else."""
    verdicts = committed_verdicts()
    assert len(verdicts) >= 10 and set(verdicts.values()) <= {"agrees", "disagrees", "inconclusive"}
    text = readme.BLOCK.sub("", page.read_text())
    for mention in VERDICT_MENTION.finditer(text):
        for claim_id in re.findall(r"`([\w.]+)`", mention[2]):
            assert verdicts.get(claim_id) == mention[1].lower(), (page.name, claim_id, mention[0])
    prose = re.sub(r"`[^`]*`", "", VERDICT_MENTION.sub("", text))
    stray = [prose[max(m.start() - 60, 0) : m.end() + 20] for m in AGREEMENT.finditer(prose)]
    assert not stray, f"{page.name} states agreement the verdicts do not give: {stray}"


def test_a_verdict_the_runs_do_not_give_is_caught(tmp_path):
    verdicts = committed_verdicts()
    claim_id = next(c for c, v in verdicts.items() if v == "inconclusive")
    text = f"* **Runtime — agrees** (`{claim_id}`): ours is fastest."
    mention = VERDICT_MENTION.search(text)
    assert mention and verdicts[claim_id] != mention[1].lower()
    assert AGREEMENT.search(re.sub(r"`[^`]*`", "", "ABSignSGD's steps agree with the paper."))
