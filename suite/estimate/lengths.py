"""Tokens per step of a run that pads each batch to its longest sequence, from the data's lengths.

A run that shuffles its training set, cuts every sequence at ``L`` tokens and pads each batch of
``B`` to its longest (``suite.data.CausalCollator``; LLaMA-Factory's ``cutoff_len`` with its
padding collator) holds ``B × max(l_1, ..., l_B)`` tokens in a step, the ``l_i`` drawn without
replacement from the data's lengths clipped at ``L``. With those sorted, ``l_(1) <= ... <= l_(n)``,
a batch's maximum is at most ``l_(i)`` with probability ``C(i, B) / C(n, B)``, so

    E[padded length] = Σ_i l_(i) · (C(i, B) − C(i − 1, B)) / C(n, B).

That is the sequence length of a typical step (what its time and its activations follow). A
run's memory peak is at its longest batch instead: ``min(L, max_i l_i)`` for a run that sees every
sample, which :func:`summary` reports beside it.

``python -m suite.estimate.lengths [--chars-per-token C] OVERRIDES...`` composes suite-train's
config (``experiment=paper_absignsgd_table2 data.path=... model.path=...``), reads the training
split as a run would (the hub dataset, or ``data.path``), counts every example's tokens as the
collator does (prompt, target, eos) with the model's tokenizer (or ``C`` characters a token), and
prints the summary at ``train.batch_size`` and ``data.max_length``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

import numpy as np

from suite.data import Example

QUANTILES = (0.5, 0.9, 0.99)


def clipped(lengths: Sequence[int], cutoff: int) -> np.ndarray:
    """The lengths cut at ``cutoff``, sorted."""
    if len(lengths) == 0 or cutoff < 1:
        raise ValueError(f"need at least one length and a cut-off >= 1, got {len(lengths)} and {cutoff}")
    return np.sort(np.minimum(np.asarray(lengths, dtype=np.int64), cutoff))


def max_cdf(n: int, batch: int) -> np.ndarray:
    """``P(max of a batch <= l_(i))`` for i = 1..n: ``C(i, B) / C(n, B) = Π_k (i − k) / (n − k)``."""
    if not 1 <= batch <= n:
        raise ValueError(f"batch {batch} must be between 1 and the number of samples {n}")
    i = np.arange(1, n + 1, dtype=np.float64)
    k = np.arange(batch, dtype=np.float64)
    return np.clip((i[:, None] - k) / (n - k), 0.0, None).prod(axis=1)


def expected_padded_length(lengths: Sequence[int], batch: int, cutoff: int) -> float:
    """E[longest clipped length in a batch of ``batch`` drawn without replacement] (module docstring)."""
    sorted_lengths = clipped(lengths, cutoff)
    cdf = max_cdf(len(sorted_lengths), batch)
    return float(sorted_lengths @ np.diff(cdf, prepend=0.0))


def padded_length_quantile(lengths: Sequence[int], batch: int, cutoff: int, q: float) -> int:
    """The padded length that a fraction ``q`` of the steps stay at or under."""
    sorted_lengths = clipped(lengths, cutoff)
    cdf = max_cdf(len(sorted_lengths), batch)
    return int(sorted_lengths[min(np.searchsorted(cdf, q), len(cdf) - 1)])


def summary(lengths: Sequence[int], batch: int, cutoff: int) -> dict[str, float]:
    """Expected padded length and tokens per step, the padded length's quantiles, and the peak."""
    expected = expected_padded_length(lengths, batch, cutoff)
    out = {
        "n": len(lengths),
        "batch": batch,
        "cutoff": cutoff,
        "mean_length": float(clipped(lengths, cutoff).mean()),
        "cut_fraction": float(np.mean(np.asarray(lengths) > cutoff)),
        "expected_padded_length": expected,
        "expected_tokens_per_step": batch * expected,
        "peak_padded_length": int(clipped(lengths, cutoff)[-1]),
    }
    for q in QUANTILES:
        out[f"padded_length_q{round(100 * q)}"] = padded_length_quantile(lengths, batch, cutoff, q)
    return out


def sequence_lengths(examples: Sequence[Example], count: Callable[[str], int]) -> list[int]:
    """Tokens of each example as the collator builds it: prompt, target, one eos."""
    return [count(ex.prompt) + count(ex.target) + 1 for ex in examples]


def counter(model_path: str | None, chars_per_token: float | None) -> Callable[[str], int]:
    """Token count of a text: ``chars_per_token`` characters a token, else the model's tokenizer."""
    if chars_per_token is not None:
        if chars_per_token <= 0:
            raise ValueError(f"--chars-per-token must be > 0, got {chars_per_token}")
        return lambda text: max(1, round(len(text) / chars_per_token))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def main(argv: list[str]) -> dict[str, float]:
    """The command line (module docstring): prints and returns :func:`summary` of the run's data."""
    parser = argparse.ArgumentParser(
        prog="python -m suite.estimate.lengths", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--chars-per-token", type=float, default=None)
    args, overrides = parser.parse_known_args(argv)
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from suite.configs import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    splits = instantiate({k: v for k, v in data.items() if k not in ("name", "max_length")})
    count = counter(cfg.model.get("path"), args.chars_per_token)
    out = summary(sequence_lengths(splits.train, count), cfg.train.batch_size, cfg.data.max_length)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
