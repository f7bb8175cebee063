"""Final answers: read the number after the last ``####`` and compare it to the reference."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"([-+]?)(\d+)(?:\.(\d*))?|([-+]?)\.(\d+)")


def _after_marker(text: str) -> str | None:
    """The first line after the last ``####``, stripped; None when there is no marker."""
    if "####" not in text:
        return None
    return text.rsplit("####", 1)[1].strip().split("\n", 1)[0].strip()


def _normalise(match: re.Match) -> str:
    sign, whole, frac, sign2, frac2 = match.groups()
    if whole is None:
        sign, whole, frac = sign2, "0", frac2
    whole = whole.lstrip("0") or "0"
    frac = (frac or "").rstrip("0")
    number = f"{whole}.{frac}" if frac else whole
    return number if sign != "-" or number == "0" else f"-{number}"


def _clean(text: str) -> str:
    return text.replace(",", "").replace("$", "").strip()


def normalise_number(text: str) -> str | None:
    """``text`` as a canonical number ("1,000" -> "1000", "$3.50" -> "3.5"), or None."""
    match = _NUMBER.fullmatch(_clean(text))
    return _normalise(match) if match else None


def extract_answer(text: str) -> str | None:
    """The number that starts the text after the last ``####``, normalised; None if absent.

    Commas and "$" are dropped, a trailing "." and trailing zeros of a decimal go ("3.0" -> "3").
    """
    tail = _after_marker(text)
    if tail is None:
        return None
    match = _NUMBER.match(_clean(tail))
    return _normalise(match) if match else None


def exact_match(prediction_text: str, answer: str) -> bool:
    """Whether the prediction's final answer equals ``answer``.

    Numeric answers compare as normalised numbers; a non-numeric answer (OpenMathInstruct-2 has
    some, e.g. "\\frac{1}{2}") compares as the stripped text after ``####``. An empty answer
    (Alpaca) never matches: exact match has no meaning there.
    """
    if not answer.strip():
        return False
    number = normalise_number(answer)
    if number is not None:
        return extract_answer(prediction_text) == number
    return _after_marker(prediction_text) == answer.strip()
