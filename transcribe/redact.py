"""Redaction of what must not be stored in a transcript: card and account numbers, long
digit runs, e-mail addresses, whether written ("4111 1111") or spoken ("four one one
one"), as recognisers write them.

The rules are the ones masking uses elsewhere: six or more digits in a row (spaces, dashes
and dots between them allowed) are a number to hide; so is an e-mail address. Shorter
numbers (an order of 3 items, 24 hours) stay.
"""

from __future__ import annotations

import re

MIN_DIGITS = 6
MARK_NUMBER = "[number redacted]"
MARK_EMAIL = "[e-mail redacted]"

_DIGIT_WORDS = {
    "zero": 1,
    "oh": 1,
    "o": 1,
    "one": 1,
    "two": 1,
    "three": 1,
    "four": 1,
    "five": 1,
    "six": 1,
    "seven": 1,
    "eight": 1,
    "nine": 1,
    "double": 0,
    "triple": 0,
}
_WRITTEN_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_SPOKEN_EMAIL = re.compile(
    r"\b[\w.+-]+(?: (?:dot|underscore|dash) [\w-]+)* at [\w-]+(?: dot [\w-]+)+\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\S+")


def _digits_in(token: str) -> int | None:
    """How many digits a token stands for, or None if it is not part of a number."""
    word = token.lower().strip(",.;:!?")
    if word in _DIGIT_WORDS:
        return _DIGIT_WORDS[word]
    stripped = word.replace("-", "").replace(".", "")
    if stripped.isdigit():
        return len(stripped)
    return None


def redact(text: str) -> tuple[str, int]:
    """The text with numbers and e-mail addresses replaced, and how many were replaced."""
    count = 0

    def email(_m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return MARK_EMAIL

    text = _WRITTEN_EMAIL.sub(email, text)
    text = _SPOKEN_EMAIL.sub(email, text)
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        j, digits = i, 0
        while j < len(tokens):
            n = _digits_in(tokens[j][2])
            if n is None:
                break
            digits += n
            j += 1
        # a lone "double" or "o" is not a number: only runs that contain digits count
        if digits >= MIN_DIGITS:
            out.append(text[last : tokens[i][0]])
            out.append(MARK_NUMBER)
            trail = tokens[j - 1][2]
            if trail[-1:] in ",.;:!?":
                out.append(trail[-1])
            last = tokens[j - 1][1]
            count += 1
            i = j
        else:
            i = max(j, i + 1)
    out.append(text[last:])
    return "".join(out), count
