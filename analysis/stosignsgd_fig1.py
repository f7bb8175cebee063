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
# # StoSignSGD Figure 1: SignSGD vs StoSignSGD on a convex non-smooth function
#
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}stosignsgd_fig1/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     python -m suite.toy -m experiment=stosignsgd_fig1
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "stosignsgd_fig1"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
table = A.table_stosignsgd_fig1(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_stosignsgd_fig1(A.load_curves(runs, ["arm", "seed"]))
A.write_figure(fig, FOLDER)
