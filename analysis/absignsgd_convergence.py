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
# # ABSignSGD: training loss vs wall-clock (synthetic math and GSM8K)
#
# <!-- generated from registry:notebook/absignsgd_convergence -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_convergence/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     experiments/protocol.sh experiment=absignsgd_convergence
#
# and writes `table.md`, `table.tex` and `figure.png` there. `absignsgd.convergence` builds the
# table and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources
# are in `suite/papers/absignsgd.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import absignsgd, frames

NAME = "absignsgd_convergence"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = absignsgd.convergence(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())

# %%
for data, sub in table.groupby("data", sort=False):
    print(data, "median-step order:", frames.ordering(sub, "median step (ms)"))
