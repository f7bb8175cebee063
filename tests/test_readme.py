"""README.md is a front door: short, and every table it shows generated from the committed results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from suite import readme
from suite.report import summary_table

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS_README = REPO / "results" / "README.md"


def test_readme_is_short_and_its_generated_blocks_are_current():
    text = README.read_text()
    assert len(text.splitlines()) <= 270
    assert readme.BLOCK.search(text), "README shows no generated table"
    assert readme.render(README) == text, "run python -m suite.readme"


def test_a_stale_block_is_found_and_rewritten(tmp_path):
    (tmp_path / "t.md").write_text("| a |\n| - |\n| 1 |\n")
    page = tmp_path / "README.md"
    page.write_text("x\n<!-- generated from t.md -->\nold\n<!-- end generated -->\n")
    with pytest.raises(SystemExit):
        readme.main([str(page), "--check"])
    readme.main([str(page)])
    assert "| 1 |" in page.read_text() and "old" not in page.read_text()
    readme.main([str(page), "--check"])


def test_the_baselines_table_is_what_suite_report_makes_of_the_committed_runs():
    table = summary_table(str(REPO / "results" / "baselines"))
    made = table.to_markdown(index=False, floatfmt=".3f") + "\n"
    assert (REPO / "results" / "baselines" / "table.md").read_text() == made


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
