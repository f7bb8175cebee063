"""Expected padded length per batch (suite.estimate.lengths) against an exact enumeration and a
shuffled-loader simulation, on synthetic lengths; the command line on a synthetic jsonl."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from suite.estimate import lengths as L


@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_expected_padded_length_is_the_mean_over_every_batch(batch):
    """Every batch of ``batch`` distinct samples is equally likely: the formula is their mean."""
    data = [5, 12, 7, 30, 9, 12, 41]
    cutoff = 32
    every = [max(min(x, cutoff) for x in b) for b in itertools.combinations(data, batch)]
    assert L.expected_padded_length(data, batch, cutoff) == pytest.approx(np.mean(every), rel=1e-12)


def test_a_shuffled_loader_pads_to_the_expected_length_on_average():
    """What a run sees: an epoch-shuffled loader, each batch padded to its longest (clipped) sample."""
    gen = np.random.default_rng(0)
    data = np.minimum(gen.lognormal(5.6, 0.5, 4096).astype(int) + 20, 3000)
    loader = DataLoader(
        data.tolist(), batch_size=16, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0)
    )
    padded = [min(int(b.max()), 1024) for _ in range(6) for b in loader]
    assert np.mean(padded) == pytest.approx(L.expected_padded_length(data, 16, 1024), rel=0.01)
    assert L.padded_length_quantile(data, 16, 1024, 0.5) == pytest.approx(np.median(padded), rel=0.03)
    s = L.summary(data, 16, 1024)
    assert s["expected_tokens_per_step"] == 16 * s["expected_padded_length"]
    assert s["peak_padded_length"] == 1024 and 0 < s["cut_fraction"] < 0.05


def test_batch_one_is_the_mean_and_bad_input_is_refused():
    assert L.expected_padded_length([3, 4, 10], 1, 8) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="between 1 and the number of samples"):
        L.expected_padded_length([3, 4], 3, 8)
    with pytest.raises(ValueError, match="chars-per-token must be > 0"):
        L.counter(None, 0.0)


def test_command_line_reads_the_runs_training_split(tmp_path, capsys):
    """The OpenMathInstruct-2 format, counted at 4 characters a token: prompt + target + eos."""
    rows = [
        {
            "problem": "x" * (40 * (i % 7 + 1)),
            "generated_solution": "y" * 400 + " \\boxed{1}",
            "expected_answer": "1",
        }
        for i in range(64)
    ]
    data = tmp_path / "omi2.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = L.main(
        [
            "--chars-per-token=4",
            "data=openmathinstruct2",
            f"data.path={data}",
            "data.n_test=8",
            "data.n_val=0",
            "train.batch_size=4",
            "data.max_length=160",
        ]
    )
    assert out["n"] == 56 and out["batch"] == 4 and out["cutoff"] == 160
    assert 100 < out["mean_length"] <= out["expected_padded_length"] <= out["peak_padded_length"] <= 160
    assert json.loads(capsys.readouterr().out) == out
