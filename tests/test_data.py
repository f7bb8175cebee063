"""The data package: generated problems, answer extraction, collation and the file loaders."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from suite.data import (
    CausalCollator,
    Example,
    Splits,
    exact_match,
    extract_answer,
    pretrain_texts,
    prompt_batch,
    sources,
    synthetic_math,
)
from suite.data.formats import alpaca, gsm8k, openmathinstruct2
from suite.models import byte_tokenizer
from suite.preflight import CONF_DIR

CONF = Path(__file__).resolve().parents[1] / "conf" / "data"


@pytest.fixture(scope="module")
def splits() -> Splits:
    return synthetic_math.build(n_train=300, n_test=50, seed=0)


@pytest.fixture(scope="module")
def tok():
    return byte_tokenizer()


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


# --- synthetic math ---------------------------------------------------------------------------


def test_synthetic_is_deterministic(splits):
    assert synthetic_math.build(n_train=300, n_test=50, seed=0) == splits
    other = synthetic_math.build(n_train=300, n_test=50, seed=1)
    assert other.train != splits.train


def test_synthetic_sizes_and_disjoint(splits):
    assert (len(splits.train), len(splits.test)) == (300, 50)
    train_q = {ex.prompt for ex in splits.train}
    test_q = {ex.prompt for ex in splits.test}
    assert len(train_q) == 300 and len(test_q) == 50
    assert not train_q & test_q


def test_synthetic_test_split_does_not_depend_on_n_train(splits):
    assert synthetic_math.build(n_train=10, n_test=50, seed=0).test == splits.test


def test_synthetic_validation_is_disjoint_and_leaves_train_and_test_as_they_were(splits):
    with_val = synthetic_math.build(n_train=300, n_test=50, seed=0, n_val=40)
    assert (with_val.train, with_val.test) == (splits.train, splits.test) and not splits.validation
    val_q = {ex.prompt for ex in with_val.validation}
    assert len(val_q) == 40 and not val_q & {ex.prompt for ex in splits.train + splits.test}
    fewer = synthetic_math.build(n_train=10, n_test=50, seed=0, n_val=40)
    assert fewer.validation[:5] == with_val.validation[:5]


def test_synthetic_targets_end_in_answer(splits):
    for ex in splits.train + splits.test:
        assert ex.prompt.startswith("Question: ") and ex.prompt.endswith("\nAnswer: ")
        assert ex.target.endswith(f"\n#### {ex.answer}")
        assert extract_answer(ex.target) == ex.answer
        assert ex.answer.isdigit()  # a non-negative integer
        assert len((ex.prompt + ex.target).encode()) < 170


def test_synthetic_solution_lines_are_correct_arithmetic(splits):
    for ex in splits.train:
        *lines, last = ex.target.split("\n")
        value = None
        for line in lines:
            expr, result = line.split(" = ")
            a, op, b = expr.split(" ")
            got = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b), "/": int(a) // int(b)}[
                op
            ]
            assert got == int(result) >= 0 and (op != "/" or int(a) % int(b) == 0)
            assert value is None or int(a) == value  # each step uses the previous result
            value = got
        assert 1 <= len(lines) <= 2 and str(value) == ex.answer


def test_synthetic_too_few_distinct_problems_is_one_clear_error():
    with pytest.raises(ValueError, match="distinct problems.*raise max_operand"):
        synthetic_math.build(n_train=500, n_test=0, max_operand=2, max_steps_in_problem=1)
    with pytest.raises(ValueError, match="max_operand must be an integer >= 2"):
        synthetic_math.build(max_operand=1)


def test_pretrain_texts_deterministic_and_disjoint_from_finetuning(splits):
    texts = pretrain_texts(400, seed=0)
    assert texts == pretrain_texts(400, seed=0) and texts != pretrain_texts(400, seed=1)
    assert len(texts) == 400 and all(len(t) < 192 for t in texts)
    corpus = "\n".join(texts)
    assert "Question:" not in corpus and "####" not in corpus
    assert 200 < sum(t.endswith(".") and "The answer is" in t for t in texts) < 360
    for ex in splits.train + splits.test:
        question = ex.prompt.removeprefix("Question: ").removesuffix("\nAnswer: ")
        assert question not in corpus


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Natalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
        ("so 1,000 + 200 = 1,200\n#### 1,200", "1200"),
        ("#### -3", "-3"),
        ("#### $18", "18"),
        ("#### 3.0", "3"),
        ("#### 0.50", "0.5"),
        ("#### 42.", "42"),
        ("#### 18 dollars\nQuestion: next", "18"),
        ("#### 5\n#### 7", "7"),  # the last marker wins
        ("The answer is 72.", None),
        ("#### ", None),
        ("#### many", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_exact_match():
    assert exact_match("5 + 3 = 8\n#### 8", "8")
    assert exact_match("#### 1,000", "1000")
    assert exact_match("#### $3.50", "3.5")
    assert not exact_match("#### 9", "8")
    assert not exact_match("8", "8")  # no marker, no match
    assert exact_match("so\n#### \\frac{1}{2}", "\\frac{1}{2}")  # non-numeric: as text
    assert not exact_match("#### anything", "")  # Alpaca: no answer, never a match


# --- collation --------------------------------------------------------------------------------


def test_collator_masks_prompt_and_padding(splits, tok):
    batch = splits.train[:6]
    out = CausalCollator(tok, max_length=512)(batch)
    assert set(out) == {"input_ids", "attention_mask", "labels"}
    widths = [len((ex.prompt + ex.target).encode()) + 1 for ex in batch]
    assert out["input_ids"].shape == (6, max(widths))
    for i, ex in enumerate(batch):
        n = widths[i]
        ids, labels, mask = out["input_ids"][i], out["labels"][i], out["attention_mask"][i]
        assert mask.tolist() == [1] * n + [0] * (len(mask) - n)
        assert (ids[n:] == tok.pad_token_id).all() and ids[n - 1] == tok.eos_token_id
        assert tok.decode(ids[:n]) == ex.prompt + ex.target + tok.eos_token
        kept = labels[labels != -100]
        assert tok.decode(kept) == ex.target + tok.eos_token
        n_prompt = len(ex.prompt.encode())
        assert (labels[:n_prompt] == -100).all() and (labels[n_prompt:n] == ids[n_prompt:n]).all()


def test_collator_truncates_from_the_right(tok):
    ex = Example("Question: 1 + 1?\nAnswer: ", "1 + 1 = 2\n#### 2", "2")
    out = CausalCollator(tok, max_length=30)([ex])
    assert out["input_ids"].shape == (1, 30)
    assert tok.decode(out["input_ids"][0]) == (ex.prompt + ex.target)[:30]
    assert tok.decode(out["labels"][0][out["labels"][0] != -100]) == ex.target[: 30 - 25]


def test_prompt_batch_left_pads_without_eos(tok):
    prompts = ["Question: a\nAnswer: ", "Question: longer one\nAnswer: "]
    out = prompt_batch(tok, prompts)
    short, long_ = (len(p.encode()) for p in prompts)
    assert out["input_ids"].shape == (2, long_)
    assert out["attention_mask"][0].tolist() == [0] * (long_ - short) + [1] * short
    assert (out["input_ids"][0, : long_ - short] == tok.pad_token_id).all()
    assert tok.decode(out["input_ids"][0, long_ - short :]) == prompts[0]
    assert tok.eos_token_id not in out["input_ids"].tolist()[1]


# --- file formats -----------------------------------------------------------------------------


def test_gsm8k_on_the_real_file(gsm8k_file):
    data = gsm8k(path=str(gsm8k_file), n_test=200, seed=0)
    assert (len(data.train), len(data.test)) == (7473 - 200, 200)
    assert not {ex.prompt for ex in data.train} & {ex.prompt for ex in data.test}
    for ex in data.train + data.test:
        float(ex.answer)
        assert "<<" not in ex.target and ">>" not in ex.target
        assert ex.target.endswith(f"\n#### {ex.answer}") and extract_answer(ex.target) == ex.answer
    capped = gsm8k(path=str(gsm8k_file), n_train=100, n_test=200, seed=0)
    assert capped.train == data.train[:100] and capped.test == data.test
    kept = gsm8k(path=str(gsm8k_file), n_train=5, n_test=1, strip_calculator=False)
    assert any("<<" in ex.target for ex in kept.train)


def test_gsm8k_with_a_test_file(tmp_path):
    rec = {"question": "Q?", "answer": "2 * 3 = <<2*3=6>>6\n#### 6"}
    train = write_jsonl(tmp_path / "train.jsonl", [rec] * 5)
    test = write_jsonl(tmp_path / "test.jsonl", [dict(rec, answer="#### 1,234")] * 3)
    data = gsm8k(path=train, test_path=test, n_test=None)
    assert (len(data.train), len(data.test)) == (5, 3)
    assert data.train[0] == Example("Question: Q?\nAnswer: ", "2 * 3 = 6\n#### 6", "6")
    assert data.test[0].answer == "1234" and data.test[0].target == "\n#### 1234"


def test_the_validation_split_is_held_out_of_train_and_a_capped_train_keeps_its_records(tmp_path):
    records = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(20)]
    path = write_jsonl(tmp_path / "train.jsonl", records)
    plain = gsm8k(path=path, n_test=4, n_train=6)
    held = gsm8k(path=path, n_test=4, n_train=6, n_val=5)
    assert held.train == plain.train and held.test == plain.test and len(held.validation) == 5
    prompts = [{ex.prompt for ex in split} for split in (held.train, held.validation, held.test)]
    assert not (prompts[0] & prompts[1] or prompts[1] & prompts[2] or prompts[0] & prompts[2])
    with pytest.raises(ValueError, match="cannot hold out n_val=16 of 16 training records"):
        gsm8k(path=path, n_test=4, n_val=16)


def test_openmathinstruct2(tmp_path):
    records = [
        {
            "problem": f"What is {i} + 1?",
            "generated_solution": f"{i} + 1 = {i + 1}.",
            "expected_answer": str(i + 1),
            "problem_source": "x",
        }
        for i in range(10)
    ]
    records.append(
        {
            "problem": "Half?",
            "generated_solution": "It is a half.",
            "expected_answer": "\\frac{1}{2}",
            "problem_source": "x",
        }
    )
    data = openmathinstruct2(path=write_jsonl(tmp_path / "omi.jsonl", records), n_test=3, seed=0)
    assert (len(data.train), len(data.test)) == (8, 3)
    for ex in data.train + data.test:
        assert ex.prompt.startswith("Question: ")
        assert ex.target.endswith(f"\n#### {ex.answer}") and exact_match(ex.target, ex.answer)
    assert "\\frac{1}{2}" in {ex.answer for ex in data.train + data.test}


def test_alpaca(tmp_path):
    records = [
        {"instruction": "Say hi.", "input": "", "output": "Hi."},
        {"instruction": "Add.", "input": "2 and 3", "output": "5"},
    ] * 3
    data = alpaca(path=write_jsonl(tmp_path / "alpaca.jsonl", records), n_test=2, n_train=3)
    assert (len(data.train), len(data.test)) == (3, 2)
    by_output = {ex.target: ex for ex in data.train + data.test}
    assert by_output["Hi."].prompt.endswith("### Instruction:\nSay hi.\n\n### Response:\n")
    assert "### Input:\n2 and 3\n\n### Response:\n" in by_output["5"].prompt
    assert all(ex.answer == "" for ex in data.train + data.test)


# --- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match=f"data file not found: {missing}"):
        gsm8k(path=str(missing))
    good = write_jsonl(tmp_path / "ok.jsonl", [{"question": "q", "answer": "#### 1"}] * 3)
    with pytest.raises(FileNotFoundError, match="data file not found"):
        gsm8k(path=good, test_path=str(missing))


def test_no_source():
    with pytest.raises(ValueError, match="set data.path to a local jsonl file or data.hub_name"):
        alpaca()


def test_missing_fields(tmp_path):
    path = write_jsonl(tmp_path / "wrong.jsonl", [{"question": "q", "solution": "s"}])
    with pytest.raises(ValueError) as err:
        gsm8k(path=path)
    msg = str(err.value)
    assert "missing field(s) answer" in msg and "found: question, solution" in msg
    assert "required: question, answer" in msg and "\n" not in msg
    with pytest.raises(ValueError, match="required: problem, generated_solution, expected_answer"):
        openmathinstruct2(path=path)


def test_holding_out_too_many(tmp_path):
    path = write_jsonl(tmp_path / "few.jsonl", [{"question": "q", "answer": "#### 1"}] * 3)
    with pytest.raises(ValueError, match="cannot hold out n_test=3 of 3 records"):
        gsm8k(path=path, n_test=3)


# --- configs ----------------------------------------------------------------------------------


RECORDS = {
    "gsm8k": {"question": "q", "answer": "#### 1"},
    "openmathinstruct2": {"problem": "p", "generated_solution": "s", "expected_answer": "1"},
    "alpaca": {"instruction": "i", "input": "", "output": "o"},
}
# data group -> (hub dataset, hub config, its splits on the hub) loaded when no data.path is given
HUB_DEFAULTS = {
    "gsm8k": ("openai/gsm8k", "main", ["train", "test"]),
    "openmathinstruct2": ("nvidia/OpenMathInstruct-2", None, ["train", "train_1M", "train_2M", "train_5M"]),
}


@pytest.mark.parametrize("name", ["synthetic_math", "gsm8k", "openmathinstruct2", "alpaca"])
def test_config_instantiates(name, tmp_path):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg.name == name and cfg.max_length >= 8
    if name in HUB_DEFAULTS:
        assert cfg.path is None and cfg.hub_name == HUB_DEFAULTS[name][0]
    if name in RECORDS:
        cfg.path = write_jsonl(tmp_path / "d.jsonl", [RECORDS[name]] * 4)
        cfg.n_test, cfg.n_val = 1, 1
    else:
        cfg.n_train, cfg.n_test, cfg.n_val = 20, 5, 3
    kwargs = {k: v for k, v in cfg.items() if k not in ("name", "max_length")}
    data = instantiate(OmegaConf.create(kwargs))
    assert isinstance(data, Splits) and data.train and data.test
    assert len(data.validation) == cfg.n_val
    assert isinstance(
        CausalCollator(byte_tokenizer(), cfg.max_length)(data.train[:2])["labels"], torch.Tensor
    )


def test_hub_source_uses_its_test_split(monkeypatch):
    rows = {
        "train": [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(6)],
        "test": [{"question": "t", "answer": "#### 9"}],
    }
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_list(rows[split])

    monkeypatch.setattr(sources.datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(sources.datasets, "get_dataset_split_names", lambda *a: list(rows))
    data = gsm8k(hub_name="openai/gsm8k")
    assert calls == [("openai/gsm8k", "main", "train"), ("openai/gsm8k", "main", "test")]
    assert [ex.prompt for ex in data.train] == [f"Question: q{i}\nAnswer: " for i in range(6)]
    assert [ex.answer for ex in data.test] == ["9"]
    monkeypatch.setattr(sources.datasets, "get_dataset_split_names", lambda *a: ["train"])
    held = gsm8k(hub_name="openai/gsm8k", n_test=2)
    assert (len(held.train), len(held.test)) == (4, 2)
    with pytest.raises(ValueError, match="openai/gsm8k: missing field"):
        alpaca(hub_name="openai/gsm8k")


def composed_data(*overrides: str) -> dict:
    """The ``data`` group of the app's composed config, as the kwargs the loop instantiates."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        data = OmegaConf.to_container(compose("config", overrides=list(overrides)).data)
    return {k: v for k, v in data.items() if k not in ("name", "max_length")}


@pytest.mark.parametrize("name", list(HUB_DEFAULTS))
def test_the_hub_is_the_default_source_and_a_local_path_wins(name, tmp_path, monkeypatch):
    """``data=<name>`` loads the hub dataset; ``data.path`` replaces it. The hub cannot be reached
    here, so ``datasets.load_dataset`` answers hub names with stand-in records and passes local
    files to the real loader."""
    hub, config, splits = HUB_DEFAULTS[name]
    real_load = datasets.load_dataset
    calls = []

    def load_dataset(source, config_name=None, *, split=None, **kwargs):
        calls.append((source, config_name, split))
        if source == "json":
            return real_load(source, config_name, split=split, **kwargs)
        return datasets.Dataset.from_list([RECORDS[name]] * 6)

    monkeypatch.setattr(sources.datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(sources.datasets, "get_dataset_split_names", lambda *a: splits)

    kwargs = composed_data(f"data={name}", "data.n_test=2", "data.n_val=0")
    assert (kwargs["path"], kwargs["hub_name"], kwargs["hub_config"]) == (None, hub, config)
    from_hub = instantiate(OmegaConf.create(kwargs))
    assert calls == [(hub, config, split) for split in ("train", "test") if split in splits]
    assert (len(from_hub.train), len(from_hub.test)) == ((6, 2) if "test" in splits else (4, 2))

    calls.clear()
    local = {**RECORDS[name], next(iter(RECORDS[name])): "local question"}
    path = write_jsonl(tmp_path / "local.jsonl", [local] * 5)
    from_file = instantiate(
        OmegaConf.create(composed_data(f"data={name}", f"data.path={path}", "data.n_test=1", "data.n_val=1"))
    )
    assert [c[0] for c in calls] == ["json"]
    assert all(ex.prompt == "Question: local question\nAnswer: " for ex in from_file.train + from_file.test)
