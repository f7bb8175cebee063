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
# <!-- generated from registry:notebook/absignsgd_memory -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_memory/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=absignsgd_memory
#
# and writes `table.md`, `table.tex` and `figure.png` there. `absignsgd.memory` builds the table
# and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are
# in `suite/papers/absignsgd.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import absignsgd, frames

NAME = "absignsgd_memory"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = absignsgd.memory(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())
