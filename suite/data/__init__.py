"""Datasets and collation: every dataset is a ``Splits`` of ``Example``s (prompt, target, answer).

Builders (named by ``_target_`` in ``conf/data/<name>.yaml``): ``synthetic_math.build`` and
``formats.gsm8k`` / ``formats.openmathinstruct2`` / ``formats.alpaca``.
"""

from suite.data.answers import exact_match, extract_answer
from suite.data.collate import CausalCollator, prompt_batch
from suite.data.example import Example, Splits
from suite.data.synthetic_math import pretrain_texts

__all__ = [
    "CausalCollator",
    "Example",
    "Splits",
    "exact_match",
    "extract_answer",
    "pretrain_texts",
    "prompt_batch",
]
