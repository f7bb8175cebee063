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
# # StoSignSGD Figure 1: SignSGD vs StoSignSGD on a convex non-smooth function
#
# Reads `$SUITE_RESULTS/${SUITE_PREFIX}stosignsgd_fig1/` (defaults `results/` and no prefix;
# `SUITE_PREFIX=paper_` reads the paper-scale runs), made by
#
#     python -m suite.toy -m experiment=stosignsgd_fig1
#
# and writes `table.md`, `table.tex` and `figure.png` there. `stosignsgd.fig1` builds the table
# and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources
# are in `suite/papers/stosignsgd.py`.

# %%
from suite import papers
from suite.papers import frames, stosignsgd

NAME = "stosignsgd_fig1"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = stosignsgd.fig1(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())
