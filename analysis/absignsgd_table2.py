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
# <!-- generated from registry:notebook/absignsgd_table2 -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_table2/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=absignsgd_table2
#     suite-train -m experiment=absignsgd_table2_galore
#     suite-train -m experiment=absignsgd_table2_badam
#     suite-train -m experiment=absignsgd_table2_apollo
#
# and writes `table.md`, `table.tex` and `figure.png` there. `absignsgd.table2` builds the table
# and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are
# in `suite/papers/absignsgd.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import absignsgd, frames

NAME = "absignsgd_table2"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = absignsgd.table2(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())

# %%
for col in ["memory", "runtime"]:
    print(f"{col} order, ours: ", frames.ordering(table, f"ours: {col} / ABSignSGD"))
    print(f"{col} order, paper:", frames.ordering(table, f"paper: {col} / ABSignSGD"))
