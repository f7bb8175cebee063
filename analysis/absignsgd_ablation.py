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
# # ABSignSGD ablation: depth-biased vs uniform selection, sign vs plain step
#
# <!-- generated from registry:notebook/absignsgd_ablation -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_ablation/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     experiments/protocol.sh experiment=absignsgd_ablation
#
# and writes `table.md`, `table.tex` and `figure.png` there. `absignsgd.ablation` builds the table
# and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are
# in `suite/papers/absignsgd.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import absignsgd, frames

NAME = "absignsgd_ablation"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = absignsgd.ablation(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())
