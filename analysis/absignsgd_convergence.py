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
#     suite-train -m experiment=absignsgd_convergence
#     suite-train -m experiment=absignsgd_convergence_galore
#     suite-train -m experiment=absignsgd_convergence_badam
#     suite-train -m experiment=absignsgd_convergence_apollo
#     suite-train -m experiment=absignsgd_convergence_gsm8k data.path=$GSM8K_PATH
#     suite-train -m experiment=absignsgd_convergence_galore data=gsm8k \
#         data.path=$GSM8K_PATH data.n_train=2000 data.n_test=50 data.max_length=256
#     suite-train -m experiment=absignsgd_convergence_badam data=gsm8k data.path=$GSM8K_PATH \
#         data.n_train=2000 data.n_test=50 data.max_length=256
#     suite-train -m experiment=absignsgd_convergence_apollo data=gsm8k \
#         data.path=$GSM8K_PATH data.n_train=2000 data.n_test=50 data.max_length=256
#
# (`$GSM8K_PATH`: a local data file, see `experiments/README.md`) and writes `table.md`,
# `table.tex` and `figure.png` there. `absignsgd.convergence` builds the table and the figure
# (tested in `tests/test_analysis.py`); the paper's numbers and their sources are in
# `suite/papers/absignsgd.py`.
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
    print(data, "time-to-target order:", frames.ordering(sub, "ours: time to target (s)"))
