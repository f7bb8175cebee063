# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # ALIAS (no lr) vs SignSGD tuned over an lr grid
#
# <!-- generated from registry:notebook/alias_vs_tuned -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}alias_vs_tuned/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     experiments/protocol.sh experiment=alias_vs_tuned
#
# and writes `table.md`, `table.tex` and `figure.png` there. `alias.vs_tuned` builds the table and
# the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are in
# `suite/papers/alias.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import alias, frames

NAME = "alias_vs_tuned"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = alias.vs_tuned(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())
