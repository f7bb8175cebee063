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
# # SQ-MEFT Table IV: memory breakdown of AdamW, SGD, SGDM, LOMO, SQ-MEFT
#
# <!-- generated from registry:notebook/sqmeft_table4 -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}sqmeft_table4/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=sqmeft_table4
#     suite-train -m experiment=sqmeft_table4_sqmeft
#     suite-train -m experiment=sqmeft_table4_masters
#     suite-train -m experiment=sqmeft_table4_sgdm
#
# and writes `table.md`, `table.tex` and `figure.png` there. `sqmeft.table4` builds the table and
# the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are in
# `suite/papers/sqmeft.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import frames, sqmeft

NAME = "sqmeft_table4"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = sqmeft.table4(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())

# %%
print("total order, ours: ", frames.ordering(table, "ours: total / AdamW"))
print("total order, paper:", frames.ordering(table, "paper: total / AdamW"))
