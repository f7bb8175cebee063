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
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}alias_vs_tuned/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=alias_vs_tuned logger=none
#     suite-train -m experiment=alias_vs_tuned_grid logger=none
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "alias_vs_tuned"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
table = A.table_alias_vs_tuned(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_alias_vs_tuned(A.load_curves(runs), runs)
A.write_figure(fig, FOLDER)
