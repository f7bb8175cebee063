"""Generated arithmetic word problems with GSM8K-style worked solutions, and the tiny model's
pretraining corpus of the same domain.

A problem is a short story (apples, money, pens, cookies) of one to ``max_steps_in_problem``
arithmetic steps: a starting amount (or a product, "3 boxes with 4 pens each"), then amounts
gained or lost, and possibly a fair share at the end. Every step is one solution line
("3 * 4 = 12"); the target ends in ``#### <answer>``; answers are non-negative integers. Texts
stay short (a prompt and target of about 60 to 160 bytes) because the default model reads bytes.

Each question text belongs either to the fine-tuning space or to the pretraining space, decided
by a hash of the text, so no pretraining text ever contains a fine-tuning question whatever the
seeds. Within ``build``, questions are distinct: train and test never share one.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from suite.data.example import Example, Splits, question_prompt, with_final_answer

NAMES = (
    ("Ann", "she"),
    ("Ben", "he"),
    ("Mia", "she"),
    ("Sam", "he"),
    ("Lily", "she"),
    ("Tom", "he"),
    ("Zoe", "she"),
    ("Max", "he"),
)
MAX_FACTOR = 10  # factors of a product stay in the times table, however large max_operand is
PRETRAIN_SHARE = 64  # of 256 hash buckets: the share of question texts kept for pretraining


@dataclass(frozen=True)
class _Story:
    start: str  # "{name} had {a} apples."
    group: str  # "{name} had {a} bags of {b} apples." (the first step is a * b)
    ups: tuple[str, ...]  # "bought {n} more"
    downs: tuple[str, ...]  # "ate {n}"
    share: str  # "shared them among {n} friends" (the last step is an exact division)
    ask: str  # "How many apples does {pro} have now?"
    ask_share: str  # "How many apples did each friend get?"


STORIES = (
    _Story(
        "{name} had {a} apples.",
        "{name} had {a} bags of {b} apples.",
        ("bought {n} more", "picked {n} more"),
        ("ate {n}", "gave away {n}"),
        "shared them among {n} friends",
        "How many apples does {pro} have now?",
        "How many apples did each friend get?",
    ),
    _Story(
        "{name} had ${a}.",
        "{name} worked {a} hours at ${b} an hour.",
        ("earned ${n} more", "found ${n}"),
        ("spent ${n}", "lost ${n}"),
        "split the money among {n} kids",
        "How many dollars does {pro} have now?",
        "How many dollars did each kid get?",
    ),
    _Story(
        "{name} had {a} pens.",
        "{name} had {a} boxes of {b} pens.",
        ("got {n} more",),
        ("lost {n}", "sold {n}"),
        "put them into {n} equal cups",
        "How many pens does {pro} have now?",
        "How many pens are in each cup?",
    ),
    _Story(
        "{name} baked {a} cookies.",
        "{name} baked {a} trays of {b} cookies.",
        ("baked {n} more",),
        ("ate {n}", "sold {n}"),
        "packed them into {n} equal bags",
        "How many cookies does {pro} have now?",
        "How many cookies are in each bag?",
    ),
)


def _problem(rng: random.Random, max_steps: int, max_operand: int) -> tuple[str, list[str], int]:
    """One problem: (question, solution lines, answer)."""
    name, pro = rng.choice(NAMES)
    story = rng.choice(STORIES)
    steps = rng.randint(1, max_steps)
    lines: list[str] = []
    if rng.random() < 0.3:
        top = min(MAX_FACTOR, max_operand)
        a, b = rng.randint(2, top), rng.randint(2, top)
        value = a * b
        start = story.group.format(name=name, a=a, b=b)
        lines.append(f"{a} * {b} = {value}")
        steps -= 1
    else:
        value = rng.randint(1, max_operand)
        start = story.start.format(name=name, a=value)
    actions: list[str] = []
    shared = False
    for step in range(steps):
        divisors = [d for d in range(2, max_operand + 1) if value and value % d == 0]
        if step == steps - 1 and divisors and rng.random() < 0.3:
            n = rng.choice(divisors)
            actions.append(story.share.format(n=n))
            lines.append(f"{value} / {n} = {value // n}")
            value //= n
            shared = True
        elif value > 0 and rng.random() < 0.5:
            n = rng.randint(1, min(value, max_operand))
            actions.append(rng.choice(story.downs).format(n=n))
            lines.append(f"{value} - {n} = {value - n}")
            value -= n
        else:
            n = rng.randint(1, max_operand)
            actions.append(rng.choice(story.ups).format(n=n))
            lines.append(f"{value} + {n} = {value + n}")
            value += n
    sentences = [start]
    if actions:
        sentences.append(f"{pro.capitalize()} {', then '.join(actions)}.")
    sentences.append((story.ask_share if shared else story.ask).format(pro=pro))
    return " ".join(sentences), lines, value


def _for_pretraining(question: str) -> bool:
    return hashlib.sha256(question.encode()).digest()[0] < PRETRAIN_SHARE


def _check(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"synthetic_math: {name} must be an integer >= {low}, got {value!r}")


def _distinct(
    rng: random.Random, count: int, seen: set[str], max_steps_in_problem: int, max_operand: int
) -> list[Example]:
    """``count`` problems from ``rng`` whose questions are not in ``seen`` (which grows)."""
    examples: list[Example] = []
    for _ in range(20 * count + 1000):
        if len(examples) == count:
            break
        question, lines, answer = _problem(rng, max_steps_in_problem, max_operand)
        if question in seen or _for_pretraining(question):
            continue
        seen.add(question)
        target = with_final_answer("\n".join(lines), str(answer))
        examples.append(Example(question_prompt(question), target, str(answer)))
    return examples


def build(
    n_train: int = 2000,
    n_test: int = 200,
    seed: int = 0,
    max_steps_in_problem: int = 2,
    max_operand: int = 20,
    n_val: int = 0,
) -> Splits:
    """``n_train`` + ``n_test`` + ``n_val`` distinct generated problems; the same arguments, the
    same splits.

    The test split is drawn first, so it does not change with ``n_train``; the validation split
    comes from its own seed stream, so adding one leaves train and test as they were.
    """
    _check("n_train", n_train, 0)
    _check("n_test", n_test, 0)
    _check("n_val", n_val, 0)
    _check("max_steps_in_problem", max_steps_in_problem, 1)
    _check("max_operand", max_operand, 2)
    seen: set[str] = set()
    shape = (max_steps_in_problem, max_operand)
    examples = _distinct(random.Random(f"synthetic_math:{seed}"), n_train + n_test, seen, *shape)
    validation = _distinct(random.Random(f"synthetic_math:{seed}:validation"), n_val, seen, *shape)
    wanted, found = n_train + n_test + n_val, len(examples) + len(validation)
    if found < wanted:
        raise ValueError(
            f"synthetic_math: found only {found} distinct problems of the {wanted} asked "
            f"with max_operand={max_operand}, max_steps_in_problem={max_steps_in_problem}; "
            "lower n_train/n_test/n_val or raise max_operand"
        )
    return Splits(train=examples[n_test:], test=examples[:n_test], validation=validation)


def _facts(rng: random.Random, count: int, top: int = 20) -> str:
    facts = []
    for _ in range(count):
        op = rng.choice("+-*/")
        a, b = rng.randint(0, top), rng.randint(1, top)
        if op == "+":
            facts.append(f"{a} + {b} = {a + b}")
        elif op == "-":
            a, b = max(a, b), min(a, b)
            facts.append(f"{a} - {b} = {a - b}")
        elif op == "*":
            a, b = a % (MAX_FACTOR + 1), b % (MAX_FACTOR + 1)
            facts.append(f"{a} * {b} = {a * b}")
        else:
            b = max(1, b % (MAX_FACTOR + 1))
            facts.append(f"{a * b} / {b} = {a}")
    return "\n".join(facts)


def pretrain_texts(n: int, seed: int) -> list[str]:
    """``n`` pretraining texts: word problems with worked solutions (70%) and arithmetic facts.

    The problems come from the pretraining half of the hash partition and from their own seed
    stream, so none is a question of any fine-tuning split. They are written as plain text
    ("<question>\\n<solution>\\nThe answer is N.") without the fine-tuning prompt or the ``####``
    marker: the base model knows the domain, and fine-tuning still has a format to learn.
    """
    _check("n", n, 0)
    rng = random.Random(f"pretrain:{seed}")
    texts = []
    while len(texts) < n:
        if rng.random() < 0.3:
            texts.append(_facts(rng, rng.randint(3, 8)))
            continue
        question, lines, answer = _problem(rng, 2, 20)
        while not _for_pretraining(question):
            question, lines, answer = _problem(rng, 2, 20)
        texts.append("\n".join([question, *lines, f"The answer is {answer}."]))
    return texts
