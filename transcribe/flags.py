"""Phrase flags: moments in a transcript a reviewer should look at (pure).

A rule names phrases and whose speech to search. A rule with ``expect`` flags the session
when none of its phrases was said at all (a required disclosure such as "this call is
recorded"); otherwise each segment that says one is flagged at its time. Latin phrases
match as whole words, ignoring case; phrases in other scripts (Korean) match anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from transcribe.model import Segment


class FlagRule(msgspec.Struct, frozen=True):
    name: str
    phrases: tuple[str, ...]
    speaker: str = "any"
    expect: bool = False


class Flag(msgspec.Struct, frozen=True):
    name: str
    at: float | None
    """Seconds on the session clock; None for a phrase that was never said."""
    speaker: str = ""
    text: str = ""
    missing: bool = False


def _pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.lower().split()]
    body = r"\s+".join(words)
    if phrase.isascii():
        return re.compile(rf"\b{body}\b")
    return re.compile(body)


def find_flags(segments: Iterable[Segment], rules: Iterable[FlagRule]) -> list[Flag]:
    segs = list(segments)
    out: list[Flag] = []
    for rule in rules:
        patterns = [_pattern(p) for p in rule.phrases if p.strip()]
        hits = [
            s
            for s in segs
            if rule.speaker in ("any", s.speaker)
            and any(p.search(s.text.lower()) for p in patterns)
        ]
        if rule.expect:
            if not hits:
                out.append(Flag(rule.name, None, rule.speaker, "", missing=True))
            continue
        out += [Flag(rule.name, s.start, s.speaker, s.text[:300]) for s in hits]
    return sorted(out, key=lambda f: (f.at is not None, f.at or 0.0, f.name))
