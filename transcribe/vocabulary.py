"""Vocabulary hints: words an entry's customers say that the stock model does not know.

A product name such as "zentrabox" is not in pocketsphinx's dictionary, so the raw engine
can never write it: it hears "centre backs". An operator lists such words per entry,
either with their phones (ARPABET, as in the CMU dictionary) or bare, when the word is
made of dictionary words ("livedesk" = "live" + "desk"). ``pronunciations`` finds those
parts; the engine adds each word to its dictionary and language model.

Pure, apart from ``cmu_lookup``, which reads the dictionary shipped in pocketsphinx's
wheel once.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

ARPABET = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH"
    " UH UW V W Y Z ZH".split()
)
"""The phones of pocketsphinx's US English acoustic model."""

MAX_HINTS = 200
MAX_VARIANTS = 4
_WORD = re.compile(r"^[a-z][a-z0-9']{0,39}$")


class VocabularyError(ValueError):
    """A hint that cannot be used; ``message`` says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Hint(NamedTuple):
    word: str
    phones: tuple[str, ...] = ()
    """Empty: find the word, or the dictionary words it is made of, in the dictionary."""


def parse_hint(text: str) -> Hint:
    """``"zentrabox"`` or ``"zentrabox = Z EH N T R AH B AA K S"``."""
    word, _, phones = text.partition("=")
    word = word.strip().lower()
    if not _WORD.match(word):
        raise VocabularyError(f"{word!r}: a hint is one word of letters, digits or ', 1 to 40 long")
    listed = tuple(phones.split())
    if "=" in text and not listed:
        raise VocabularyError(f"{word!r}: no phones after '='")
    unknown = [p for p in listed if p not in ARPABET]
    if unknown:
        raise VocabularyError(f"{word!r}: {' '.join(unknown)} not ARPABET phones")
    return Hint(word, listed)


def parse_hints(texts: Sequence[str]) -> list[Hint]:
    if len(texts) > MAX_HINTS:
        raise VocabularyError(f"at most {MAX_HINTS} hints, not {len(texts)}")
    return [parse_hint(t) for t in texts]


Lookup = Callable[[str], list[str]]
"""A word's pronunciations in the dictionary (none: not there)."""


def pronunciations(hint: Hint, lookup: Lookup) -> list[str]:
    """What to add for ``hint``: its pronunciations, or none when the model knows it already.

    A bare word that is not in the dictionary is split into the fewest dictionary words of
    two or more letters; each combination of their pronunciations is one (at most four).
    """
    if hint.phones:
        return [" ".join(hint.phones)]
    if lookup(hint.word):
        return []
    parts = _split(hint.word, lookup)
    if parts is None:
        raise VocabularyError(
            f"{hint.word!r} is not in the dictionary and is not made of words that are;"
            f' give its phones: "{hint.word} = ..." (ARPABET)'
        )
    combos = itertools.islice(itertools.product(*(lookup(p) for p in parts)), MAX_VARIANTS)
    return [" ".join(c) for c in combos]


def _split(word: str, lookup: Lookup) -> list[str] | None:
    # fewest parts: best[i] is the shortest split of word[:i]
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(2, len(word) + 1):
        for start in range(0, end - 1):
            head = best[start]
            if head is None:
                continue
            part = word[start:end]
            if lookup(part) and (best[end] is None or len(head) + 1 < len(best[end] or ())):
                best[end] = [*head, part]
    return best[len(word)]


@functools.cache
def _cmu() -> dict[str, list[str]]:
    from pocketsphinx import get_model_path

    out: dict[str, list[str]] = {}
    path = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            head, _, phones = line.strip().partition(" ")
            out.setdefault(head.split("(")[0], []).append(phones.strip())
    return out


def cmu_lookup(word: str) -> list[str]:
    """The word's pronunciations in the CMU dictionary pocketsphinx ships."""
    return _cmu().get(word, [])
