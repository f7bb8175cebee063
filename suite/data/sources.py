"""Records from a local jsonl or a Hugging Face hub dataset, split into train, validation and test.

Shared by every file format (``suite.data.formats``). Bad input fails with one line before
anything is loaded: a missing file, no source at all, or a file whose first record lacks a
required field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import datasets


def _check_file(path: str, fields: Sequence[str]) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    try:
        record = json.loads(first)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: the first line is not a JSON object ({err})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: the first line is not a JSON object")
    _check_fields(path, list(record), fields)


def _check_fields(source: str, found: Sequence[str], required: Sequence[str]) -> None:
    if missing := [f for f in required if f not in found]:
        raise ValueError(
            f"{source}: missing field(s) {', '.join(missing)}; found: {', '.join(found) or 'none'};"
            f" required: {', '.join(required)}"
        )


def _local(path: str) -> datasets.Dataset:
    return datasets.load_dataset("json", data_files=path, split="train")


def load_splits(
    fields: Sequence[str],
    path: str | None = None,
    hub_name: str | None = None,
    hub_config: str | None = None,
    test_path: str | None = None,
    n_train: int | None = None,
    n_test: int | None = 200,
    seed: int = 0,
    n_val: int = 0,
) -> tuple[datasets.Dataset, datasets.Dataset, datasets.Dataset]:
    """The (train, validation, test) records with ``fields``, from ``path`` (local jsonl) or
    ``hub_name``.

    The test split is ``test_path`` if given, else the hub dataset's ``test`` split if it has one;
    otherwise it is held out of train: the last ``n_test`` records of train shuffled with
    ``seed``, the rest (in that shuffled order) being train. The validation split is then the
    last ``n_val`` records of train, so it never meets the test split. ``n_train`` then caps the
    train split and ``n_test`` the test split (their first records; None keeps all): a capped
    train split is the same with or without a validation split. ``path`` wins over ``hub_name``
    when both are set.
    """
    if path is None and hub_name is None:
        raise ValueError("no data source: set data.path to a local jsonl file or data.hub_name")
    for name, value in (("n_train", n_train), ("n_test", n_test), ("n_val", n_val)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be null or an integer >= 0, got {value!r}")
    if path is not None:
        _check_file(path, fields)
    if test_path is not None:
        _check_file(test_path, fields)

    if path is not None:
        train = _local(path)
        test = _local(test_path) if test_path is not None else None
    else:
        train = datasets.load_dataset(hub_name, hub_config, split="train")
        _check_fields(hub_name, train.column_names, fields)
        if test_path is not None:
            test = _local(test_path)
        elif "test" in datasets.get_dataset_split_names(hub_name, hub_config):
            test = datasets.load_dataset(hub_name, hub_config, split="test")
        else:
            test = None

    if test is None:
        held = n_test or 0
        if held >= len(train):
            raise ValueError(f"cannot hold out n_test={held} of {len(train)} records; lower n_test")
        train = train.shuffle(seed=seed)
        test = train.select(range(len(train) - held, len(train)))
        train = train.select(range(len(train) - held))
    if n_val and n_val >= len(train):
        raise ValueError(f"cannot hold out n_val={n_val} of {len(train)} training records; lower n_val")
    validation = train.select(list(range(len(train) - n_val, len(train))))
    train = train.select(range(len(train) - n_val))
    if n_train is not None:
        train = train.select(range(min(n_train, len(train))))
    if n_test is not None:
        test = test.select(range(min(n_test, len(test))))
    return train, validation, test
