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
# <!-- generated from registry:notebook/stosignsgd_finetune -->
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}stosignsgd_finetune/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     experiments/protocol.sh experiment=stosignsgd_finetune
#
# and writes `table.md`, `table.tex` and `figure.png` there. `stosignsgd.finetune` builds the
# table and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources
# are in `suite/papers/stosignsgd.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import frames, stosignsgd

NAME = "stosignsgd_finetune"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = stosignsgd.finetune(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())

# %%
# ours: by the mean validation loss over the evaluation seeds (the cell is "mean [low, high]")
means = table.assign(val_loss=table["val loss"].str.split().str[0].astype(float))
print("best first, ours: ", frames.ordering(means, "val_loss"))
print("best first, paper:", frames.ordering(table, "paper: GSM8k (%)", descending=True))
