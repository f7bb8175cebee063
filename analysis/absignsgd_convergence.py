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
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}absignsgd_convergence/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     suite-train -m experiment=absignsgd_convergence logger=none
#     suite-train -m experiment=absignsgd_convergence_gsm8k logger=none \
#         data.path=../shared/data/gsm8k/train.jsonl
#
# and writes `table.md`, `table.tex` and `figure.png` there. The paper's numbers and their source
# are in `suite.analysis.PAPER`; the functions used here are tested in `tests/test_analysis.py`.

# %%
from suite import analysis as A

NAME = "absignsgd_convergence"
FOLDER = A.artefact_folder(NAME)

# %%
runs = A.load_runs(FOLDER)
curves = A.load_curves(runs)
table = A.table_absignsgd_convergence(runs, curves)
print(A.write_table(table, FOLDER, A.ARTEFACTS[NAME].caption).read_text())

# %%
fig = A.figure_absignsgd_convergence(curves)
A.write_figure(fig, FOLDER)

# %%
for data, sub in table.groupby("data", sort=False):
    print(data, "time-to-target order:", A.ordering(sub, "ours: time to target (s)"))
