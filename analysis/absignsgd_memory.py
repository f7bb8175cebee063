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
# # ABSignSGD memory: measured bytes per parameter vs 2M + M/(8N) and 18M
#
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_memory/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=absignsgd_memory logger=none
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "absignsgd_memory"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
table = A.table_absignsgd_memory(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_absignsgd_memory(table)
A.write_figure(fig, FOLDER)
