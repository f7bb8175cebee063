"""The unit of every dataset: a prompt, the target the model must produce, and its final answer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """One fine-tuning example; the loss covers ``target`` only."""

    prompt: str  # the question as the model sees it, e.g. "Question: ...\nAnswer: "
    target: str  # the reasoning, then "\n#### <answer>"
    answer: str  # the final answer, normalised ("42", "-3", "0.5"); "" where none exists


@dataclass(frozen=True)
class Splits:
    """Train, test, and a validation split disjoint from both: the held-out loss a run times its
    target against and a tuning study chooses by, so the test split is never used to choose."""

    train: list[Example]
    test: list[Example]
    validation: list[Example] = field(default_factory=list)


def question_prompt(question: str) -> str:
    """The prompt of every math dataset (synthetic, GSM8K, OpenMathInstruct-2)."""
    return f"Question: {question}\nAnswer: "


def with_final_answer(solution: str, answer: str) -> str:
    """A GSM8K-style target: the worked solution, then ``#### <answer>`` on its own line."""
    return f"{solution.rstrip()}\n#### {answer}"
