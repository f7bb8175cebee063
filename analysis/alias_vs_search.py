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
# # ALIAS (no lr) vs SignSGD tuned by an Optuna lr search, the search's compute counted
#
# <!-- generated from registry:notebook/alias_vs_search -->
# Reads `$SUITE_RESULTS/alias_vs_search/` (default `results/`; no paper-scale twin), made by
#
#     suite-train -m experiment=alias_vs_tuned variant=script \
#         experiment_name=alias_vs_search
#     suite-search experiment=alias_vs_search
#
# and writes `table.md`, `table.tex` and `figure.png` there. `alias.vs_search` builds the table
# and the figure (tested in `tests/test_analysis.py`); the paper's numbers and their sources are
# in `suite/papers/alias.py`.
# <!-- end generated -->

# %%
from suite import papers
from suite.papers import alias, frames

NAME = "alias_vs_search"
FOLDER = frames.artefact_folder(NAME)

# %%
table, fig = alias.vs_search(FOLDER)
print(papers.write(NAME, FOLDER, table, fig).read_text())

# %%
tuned = table.iloc[-1]
print(f"{tuned['method']}: the search cost {tuned['ours: compute / ALIAS']}x ALIAS's one run (paper: ~1.5x)")
