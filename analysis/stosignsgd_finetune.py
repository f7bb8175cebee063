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
# # StoSignSGD fine-tuning: AdamW, SignSGD, StoSignSGD exact match
#
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}stosignsgd_finetune/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=stosignsgd_finetune logger=none
#     suite-train -m experiment=stosignsgd_finetune_signum logger=none
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "stosignsgd_finetune"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
table = A.table_stosignsgd_finetune(runs)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_stosignsgd_finetune(A.load_curves(runs), table)
A.write_figure(fig, FOLDER)

# %%
print("best first, ours: ", A.ordering(table, "ours: exact match (%)", descending=True))
print("best first, paper:", A.ordering(table, "paper: GSM8k (%)", descending=True))
