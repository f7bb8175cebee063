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
# # SQ-MEFT Table V: ablation of sign descent, EMA and RMS
#
# <!-- generated from registry:notebook/sqmeft_table5 -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}sqmeft_table5/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     experiments/protocol.sh experiment=sqmeft_table5
#
# and writes `table.md`, `table.tex` and `figure.png` there. `sqmeft.table5` builds the table and
# the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are in
# `suite/papers/sqmeft.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import frames, sqmeft

NAME = "sqmeft_table5"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = sqmeft.table5(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())
