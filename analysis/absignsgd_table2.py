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
# # ABSignSGD Table 2: peak memory and runtime
#
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_table2/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=absignsgd_table2 logger=none
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "absignsgd_table2"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
table = A.table_absignsgd_table2(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_absignsgd_table2(table)
A.write_figure(fig, FOLDER)

# %%
for col in ["memory", "runtime"]:
    print(f"{col} order, ours: ", A.ordering(table, f"ours: {col} / ABSignSGD"))
    print(f"{col} order, paper:", A.ordering(table, f"paper: {col} / ABSignSGD"))
