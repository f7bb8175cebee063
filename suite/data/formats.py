"""Data builders for real datasets: GSM8K, OpenMathInstruct-2 and Alpaca, from a local jsonl
(``path``) or a hub dataset (``hub_name``, paper scale, needs the network). Loading and the
train/validation/test split are ``suite.data.sources.load_splits``; each builder only turns
records into ``Example``s. See ``load_splits`` for how the test and validation splits are chosen.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from suite.data.answers import extract_answer, normalise_number
from suite.data.example import Example, Splits, question_prompt, with_final_answer
from suite.data.sources import load_splits

_CALCULATOR = re.compile(r"<<[^<>]*>>")

ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


def _splits(fields: tuple[str, ...], to_example: Callable[[dict], Example], **source) -> Splits:
    train, validation, test = load_splits(fields, **source)
    return Splits(
        train=[to_example(r) for r in train],
        test=[to_example(r) for r in test],
        validation=[to_example(r) for r in validation],
    )


def gsm8k(
    path: str | None = None,
    hub_name: str | None = None,
    test_path: str | None = None,
    n_train: int | None = None,
    n_test: int | None = 200,
    seed: int = 0,
    strip_calculator: bool = True,
    hub_config: str | None = "main",
    n_val: int = 0,
) -> Splits:
    """GSM8K (``question``, ``answer`` ending in ``#### N``).

    ``strip_calculator`` removes the ``<<48/2=24>>`` calculator annotations (the model is not
    given a calculator); the final line is rewritten as ``#### <normalised N>`` ("1,000" -> "1000").
    """

    def to_example(record: dict) -> Example:
        solution = record["answer"]
        if strip_calculator:
            solution = _CALCULATOR.sub("", solution)
        answer = extract_answer(solution)
        if answer is None:
            raise ValueError(f"GSM8K answer without a '#### <number>' line: {record['answer']!r}")
        reasoning = solution.rsplit("####", 1)[0]
        return Example(question_prompt(record["question"]), with_final_answer(reasoning, answer), answer)

    return _splits(
        ("question", "answer"),
        to_example,
        path=path,
        hub_name=hub_name,
        hub_config=hub_config,
        test_path=test_path,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        n_val=n_val,
    )


def openmathinstruct2(
    path: str | None = None,
    hub_name: str | None = None,
    test_path: str | None = None,
    n_train: int | None = None,
    n_test: int | None = 200,
    seed: int = 0,
    hub_config: str | None = None,
    n_val: int = 0,
) -> Splits:
    """OpenMathInstruct-2 (``problem``, ``generated_solution``, ``expected_answer``).

    target = generated_solution + "\\n#### " + expected_answer. A numeric expected answer is
    normalised ("1,000" -> "1000"); any other (e.g. "\\frac{1}{2}") is kept as text and matched as
    text by ``exact_match``.
    """

    def to_example(record: dict) -> Example:
        raw = str(record["expected_answer"]).strip()
        answer = normalise_number(raw) or raw
        return Example(
            question_prompt(record["problem"]),
            with_final_answer(record["generated_solution"], answer),
            answer,
        )

    return _splits(
        ("problem", "generated_solution", "expected_answer"),
        to_example,
        path=path,
        hub_name=hub_name,
        hub_config=hub_config,
        test_path=test_path,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        n_val=n_val,
    )


def alpaca(
    path: str | None = None,
    hub_name: str | None = None,
    test_path: str | None = None,
    n_train: int | None = None,
    n_test: int | None = 200,
    seed: int = 0,
    hub_config: str | None = None,
    n_val: int = 0,
) -> Splits:
    """Alpaca (``instruction``, ``input``, ``output``), with the Stanford Alpaca prompt.

    target = output, and answer = "": instructions have no single final answer, so exact match
    is meaningless here (``exact_match`` is always False); compare methods by loss instead.
    """

    def to_example(record: dict) -> Example:
        template = ALPACA_PROMPT if record["input"] else ALPACA_PROMPT_NO_INPUT
        prompt = template.format(instruction=record["instruction"], input=record["input"])
        return Example(prompt, record["output"], "")

    return _splits(
        ("instruction", "input", "output"),
        to_example,
        path=path,
        hub_name=hub_name,
        hub_config=hub_config,
        test_path=test_path,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        n_val=n_val,
    )
