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
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}sqmeft_table4/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=sqmeft_table4 logger=none
#     suite-train -m experiment=sqmeft_table4_sgdm logger=none
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "sqmeft_table4"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
table = A.table_sqmeft_table4(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_sqmeft_table4(table)
A.write_figure(fig, FOLDER)

# %%
print("total order, ours: ", A.ordering(table, "ours: total / AdamW"))
print("total order, paper:", A.ordering(table, "paper: total / AdamW"))
