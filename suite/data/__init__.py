"""Datasets and collation: every dataset is a ``Splits`` of ``Example``s (prompt, target, answer).

Builders (named by ``_target_`` in ``conf/data/<name>.yaml``): ``synthetic_math.build`` and
``formats.gsm8k`` / ``formats.openmathinstruct2`` / ``formats.alpaca``.
"""

import importlib

# Imported on first use, so that reading a data file's answers (the command-line check) does not
# load torch and the tokenizers.
_HOMES = {
    "exact_match": "answers",
    "extract_answer": "answers",
    "CausalCollator": "collate",
    "prompt_batch": "collate",
    "Example": "example",
    "Splits": "example",
    "pretrain_texts": "synthetic_math",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'suite.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"suite.data.{_HOMES[name]}"), name)


__all__ = [
    "CausalCollator",
    "Example",
    "Splits",
    "exact_match",
    "extract_answer",
    "pretrain_texts",
    "prompt_batch",
]
