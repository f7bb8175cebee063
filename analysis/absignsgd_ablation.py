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
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_ablation/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=absignsgd_ablation logger=none
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "absignsgd_ablation"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
runs = runs.assign(scheme=runs["cfg.method.selection_scheme"])
table = A.table_absignsgd_ablation(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_absignsgd_ablation(A.load_curves(runs, ["scheme", "seed"]))
A.write_figure(fig, FOLDER)
