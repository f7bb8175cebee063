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
#     suite-train -m experiment=absignsgd_convergence_galore logger=none   # also _badam, _apollo
#     suite-train -m experiment=absignsgd_convergence_gsm8k logger=none \
#         data.path=gsm8k/train.jsonl      # its arms: experiments/run_all.sh
#
# (`gsm8k/train.jsonl`: a local copy of the train split of `openai/gsm8k`, config `main`, which
# `experiments/absignsgd_convergence_gsm8k.yaml` says how to write), and writes `table.md`,
# `table.tex` and `figure.png` there. `absignsgd.convergence` builds the table and the figure
# (tested in `tests/test_analysis.py`); the paper's numbers and their sources are in
# `suite/papers/absignsgd.py`.

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
