"""README.md is a front door: short, and every table it shows generated from the committed results."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite import readme
from suite.report import summary_table

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


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
