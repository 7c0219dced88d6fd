"""The escalation bot: reads the customer's chat text, proposes a richer channel or answers a FAQ.

``propose(rules, text)`` returns the first rule, in configuration order, that matches
the text and whose channel is not already open, as a :class:`Proposal` carrying the
human-readable reason both sides see. ``answer(rules, text)`` returns the first
matching :class:`FaqEntry`. Nothing here does I/O or reads a clock.

Matching works on :func:`normalise`'d text (NFKC, case-folded, whitespace collapsed),
cut to its first ``max_chars`` characters so that one long message costs a bounded
amount of work. A *phrase* is normalised the same way and matched as a substring; where
a phrase begins or ends with a letter or digit of a script that separates words with
spaces (Latin, Cyrillic, ...), that end must not touch another such character, so
``"cape"`` does not match inside ``"escape"``. Hangul, kana, CJK ideographs and the
Southeast Asian scripts that do not space their words are matched as plain substrings:
``"화면을 보여"`` matches ``"화면을 보여줄게요"``, and ``"checkout"`` matches
``"checkout에서"``. A *pattern* is a Python regular expression, searched
case-insensitively in the same normalised text. Regexes are compiled once per distinct
rule and cached.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from functools import lru_cache

import msgspec

CHANNELS = ("voice", "video", "screen", "cobrowse")
"""The channels a rule may propose (chat is always there already)."""

MAX_CHARS = 4096
"""How much of a message is inspected by default."""

# Scripts written without spaces between words: no word boundary is required around
# phrases in them. Hangul jamo and syllables, CJK radicals to Yi (kana, ideographs,
# compatibility jamo), CJK compatibility ideographs, halfwidth forms, Thai, Lao,
# Myanmar and Khmer.
_UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff"
    "\u2e80-\ua4cf\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff00-\uffef"
)
# A letter or digit (\w without "_") of a script that spaces its words.
_SPACED_WORD = rf"[^\W_{_UNSPACED}]"
_SPACED_WORD_RE = re.compile(_SPACED_WORD)
_WHITESPACE = re.compile(r"\s+")


class RuleError(ValueError):
    """A bot rule is invalid; names the field (``rules[0].patterns[1]``), the value and why."""

    def __init__(self, field: str, value: object, why: str) -> None:
        super().__init__(f"bot rule {field} = {value!r}: {why}")
        self.field = field
        self.value = value
        self.why = why


class EscalationRule(msgspec.Struct, frozen=True):
    """Propose ``channel`` with ``reason`` when any phrase or pattern matches."""

    channel: str  # one of CHANNELS
    reason: str  # shown to both sides, e.g. "You mentioned being stuck at checkout"
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


class FaqEntry(msgspec.Struct, frozen=True):
    """Answer ``answer`` when any phrase or pattern matches."""

    answer: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


class BotRules(msgspec.Struct, frozen=True):
    """One entry's bot. Check and compile it once with :func:`compile_rules`."""

    enabled: bool = True
    rules: tuple[EscalationRule, ...] = ()
    faq: tuple[FaqEntry, ...] = ()


class Proposal(msgspec.Struct, frozen=True):
    """An upgrade the bot proposes: ``rule`` is its index in ``rules``, ``matched`` the
    span of the normalised text that triggered it."""

    channel: str
    reason: str
    rule: int
    matched: str


def normalise(text: str) -> str:
    """NFKC, case-folded, runs of whitespace as one space, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def propose(
    rules: BotRules,
    text: str,
    *,
    open_channels: Collection[str] = (),
    max_chars: int = MAX_CHARS,
) -> Proposal | None:
    """The first matching rule whose channel is not in ``open_channels``; None if the bot
    is disabled or nothing matches."""
    if not rules.enabled or not rules.rules:
        return None
    norm = normalise(text[:max_chars])
    for i, rule in enumerate(rules.rules):
        if rule.channel in open_channels:
            continue
        matched = _search(rule.phrases, rule.patterns, norm)
        if matched is not None:
            return Proposal(channel=rule.channel, reason=rule.reason, rule=i, matched=matched)
    return None


def answer(rules: BotRules, text: str, *, max_chars: int = MAX_CHARS) -> FaqEntry | None:
    """The first matching FAQ entry; None if the bot is disabled or nothing matches."""
    if not rules.enabled or not rules.faq:
        return None
    norm = normalise(text[:max_chars])
    for entry in rules.faq:
        if _search(entry.phrases, entry.patterns, norm) is not None:
            return entry
    return None


def compile_rules(rules: BotRules) -> BotRules:
    """Check every rule and compile its regexes; return the rules with normalised phrases.

    Raises :class:`RuleError` for the first invalid value.
    """
    out_rules = []
    for i, rule in enumerate(rules.rules):
        where = f"rules[{i}]"
        if rule.channel not in CHANNELS:
            raise RuleError(
                f"{where}.channel", rule.channel, "expected one of " + ", ".join(CHANNELS)
            )
        if not rule.reason.strip():
            raise RuleError(f"{where}.reason", rule.reason, "must not be empty")
        phrases = _check_matchers(where, rule.phrases, rule.patterns)
        out_rules.append(EscalationRule(rule.channel, rule.reason, phrases, rule.patterns))
    out_faq = []
    for i, entry in enumerate(rules.faq):
        where = f"faq[{i}]"
        if not entry.answer.strip():
            raise RuleError(f"{where}.answer", entry.answer, "must not be empty")
        phrases = _check_matchers(where, entry.phrases, entry.patterns)
        out_faq.append(FaqEntry(entry.answer, phrases, entry.patterns))
    return BotRules(enabled=rules.enabled, rules=tuple(out_rules), faq=tuple(out_faq))


# ---------------------------------------------------------------- internals


def _check_matchers(
    where: str, phrases: Iterable[str], patterns: tuple[str, ...]
) -> tuple[str, ...]:
    out = []
    for j, phrase in enumerate(phrases):
        norm = normalise(phrase)
        if not norm:
            raise RuleError(f"{where}.phrases[{j}]", phrase, "must not be empty")
        out.append(norm)
    for j, pattern in enumerate(patterns):
        try:
            compiled = _pattern(pattern)
        except re.error as exc:
            raise RuleError(
                f"{where}.patterns[{j}]", pattern, f"not a valid regular expression: {exc}"
            ) from None
        if compiled.search("") is not None:
            raise RuleError(
                f"{where}.patterns[{j}]", pattern, "matches empty text, so it would match anything"
            )
    if not out and not patterns:
        raise RuleError(f"{where}.phrases", [], "needs at least one phrase or pattern")
    _matcher(tuple(out), patterns)  # compile now, not on the first message
    return tuple(out)


def _search(phrases: tuple[str, ...], patterns: tuple[str, ...], norm: str) -> str | None:
    for regex in _matcher(phrases, patterns):
        m = regex.search(norm)
        if m is not None:
            return m.group(0)
    return None


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=4096)
def _matcher(phrases: tuple[str, ...], patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """One regex for all of a rule's phrases, then its patterns in order."""
    out = []
    alternatives = [_phrase_regex(n) for n in map(normalise, phrases) if n]
    if alternatives:
        out.append(re.compile("|".join(alternatives)))
    out.extend(_pattern(p) for p in patterns)
    return tuple(out)


def _phrase_regex(phrase: str) -> str:
    body = re.escape(phrase)
    if _SPACED_WORD_RE.fullmatch(phrase[0]):
        body = f"(?<!{_SPACED_WORD})" + body
    if _SPACED_WORD_RE.fullmatch(phrase[-1]):
        body += f"(?!{_SPACED_WORD})"
    return body
