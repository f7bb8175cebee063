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
# <!-- generated from registry:notebook/stosignsgd_fig1 -->
# Reads `$SUITE_RESULTS/stosignsgd_fig1/` (default `results/`; no paper-scale twin), made by
#
#     python -m suite.toy -m experiment=stosignsgd_fig1
#
# and writes `table.md`, `table.tex` and `figure.png` there. `stosignsgd.fig1` builds the table
# and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are
# in `suite/papers/stosignsgd.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import frames, stosignsgd

NAME = "stosignsgd_fig1"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = stosignsgd.fig1(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())
