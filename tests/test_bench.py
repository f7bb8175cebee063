"""``suite-bench optim`` and ``suite-bench meter`` run in-process at tiny sizes and print every row.

Smoke tests: they check the tables' rows and that every time is a positive number, not the times.
"""

from __future__ import annotations

import math

import pytest
import torch

from suite.bench import meter, optim
from suite.bench.cli import main
from suite.models import byte_tokenizer, tiny_qwen3


def tables(out: str) -> list[list[list[str]]]:
    """The Markdown tables of ``out``: per table, its body rows as lists of cells."""
    found, rows = [], None
    for line in out.splitlines():
        if line.startswith("|") and rows is None:
            rows = []  # the header; its separator row follows
        elif line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif not line.startswith("|") and rows is not None:
            found.append(rows)
            rows = None
    return found + ([rows] if rows is not None else [])


def assert_positive_numbers(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row[1:]:
            value = float(cell)
            assert math.isfinite(value) and value > 0, row


@pytest.mark.slow
def test_optim_prints_every_optimizer_training_step_and_depth(capsys):
    main(["optim", "--iters", "1", "--hidden", "16", "--layers", "2", "--depths", "2,3"])
    steps, training, depth = tables(capsys.readouterr().out)
    params = list(tiny_qwen3(byte_tokenizer(), hidden_size=16, num_layers=2).parameters())
    assert [r[0] for r in steps] == [
        "floor: torch._foreach_add_ (all params)",
        *optim.step_optimizers(params),
        "floor: torch._foreach_add_ (one block)",
        "ABSignSGD (one block)",
    ]
    assert len(steps) == 15 and all(len(r) == 4 for r in steps)
    assert [r[0] for r in training][:2] == ["AdamW (torch, foreach)", "SignSGD"]
    assert [r[0] for r in training][-1] == optim.FORWARD and len(training) == 7
    assert training[0][2] == "1.00"
    assert [r[0] for r in depth] == ["2", "3"]
    for rows in (steps, training, depth):
        assert_positive_numbers(rows)


def test_optim_without_depths_prints_two_tables(capsys):
    main(["optim", "--iters", "1", "--hidden", "16", "--layers", "2", "--depths", ""])
    assert len(tables(capsys.readouterr().out)) == 2


def test_meter_prints_a_row_per_method(capsys):
    main(["meter", "--iters", "1", "--batch", "2", "--seq", "16"])
    (rows,) = tables(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["adamw", "signsgd (in backward)"] == list(meter.CASES)
    assert_positive_numbers(rows)


def test_meter_builds_from_the_yaml_with_changes():
    model = tiny_qwen3(byte_tokenizer(), hidden_size=16, num_layers=2)
    method = meter.build_from_yaml("signsgd", model, lr=1e-9, fused_backward=True)
    assert method.updates_in_backward and method.optimizer.param_groups[0]["lr"] == 1e-9
    assert isinstance(method.optimizer, torch.optim.Optimizer)


def test_meter_refuses_a_key_the_yaml_lacks():
    model = tiny_qwen3(byte_tokenizer(), hidden_size=16, num_layers=2)
    with pytest.raises(ValueError, match="adamw.yaml has no key momentum"):
        meter.build_from_yaml("adamw", model, momentum=0.9)


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["nosuch"])
    assert stop.value.code == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err
