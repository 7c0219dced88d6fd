"""The escalation bot: which message proposes which channel, FAQ answers, and rule checks."""

from __future__ import annotations

import pytest

from signaling.escalation import (
    MAX_CHARS,
    BotRules,
    EscalationRule,
    FaqEntry,
    Proposal,
    RuleError,
    answer,
    compile_rules,
    normalise,
    propose,
)

CHECKOUT = "You mentioned being stuck at checkout"
SEE = "Sharing your screen lets the agent see what you see"
SHOW = "A video call lets you show the agent the problem"
KO_SCREEN = "화면을 공유하시면 상담원이 같은 화면을 보며 도와드릴 수 있어요"
KO_VIDEO = "영상 통화로 상담원에게 문제를 직접 보여 주실 수 있어요"


def _fullwidth(text: str) -> str:
    """ASCII letters as their fullwidth forms (U+FF21...), as some IMEs type them."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in text)


BOT = compile_rules(
    BotRules(
        rules=(
            EscalationRule("screen", CHECKOUT, patterns=(r"stuck (at|on|in) (the )?checkout",)),
            EscalationRule("screen", SEE, phrases=("can you see this", "see my screen")),
            EscalationRule("video", SHOW, phrases=("the part is broken", "show you")),
            EscalationRule("screen", KO_SCREEN, phrases=("화면을 보여", "화면 공유")),
            EscalationRule("video", KO_VIDEO, phrases=("영상 통화",)),
        ),
        faq=(
            FaqEntry("We are open 9-18 KST on weekdays.", phrases=("opening hours", "영업 시간")),
            FaqEntry("Refunds take 3 days.", patterns=(r"refund(s|ed)?\b",)),
        ),
    )
)


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Can   You\tSee\nThis?  ", "can you see this?"),
        (_fullwidth("CAN YOU"), "can you"),
        ("STRASSE Straße", "strasse strasse"),  # casefold, not lower
        ("화면을\u3000보여", "화면을 보여"),  # ideographic space
        ("", ""),
    ],
)
def test_normalise_folds_width_case_and_whitespace(text: str, expected: str):
    assert normalise(text) == expected


# ---------------------------------------------------------------- proposals


@pytest.mark.parametrize(
    ("text", "channel", "reason", "matched"),
    [
        ("I'm stuck at checkout", "screen", CHECKOUT, "stuck at checkout"),
        ("stuck on the checkout page again", "screen", CHECKOUT, "stuck on the checkout"),
        ("Hello, can you see this?", "screen", SEE, "can you see this"),
        ("please see my screen", "screen", SEE, "see my screen"),
        ("I think the part is broken.", "video", SHOW, "the part is broken"),
        ("let me show you", "video", SHOW, "show you"),
    ],
)
def test_english_phrases_and_patterns_propose_their_channel(
    text: str, channel: str, reason: str, matched: str
):
    assert propose(BOT, text) == Proposal(
        channel=channel, reason=reason, rule=_index(reason), matched=matched
    )


@pytest.mark.parametrize(
    "text",
    [
        "CAN YOU SEE THIS",
        "can   you\n see\tthis",
        _fullwidth("can you see this"),
        "Can You See This!!!",
        "so... can you see this",
    ],
)
def test_case_whitespace_and_width_do_not_matter(text: str):
    assert propose(BOT, text) == Proposal("screen", SEE, 1, "can you see this")


@pytest.mark.parametrize(
    ("text", "channel", "reason", "matched"),
    [
        ("제 화면을 보여 드릴게요", "screen", KO_SCREEN, "화면을 보여"),
        ("화면을 보여줄게요", "screen", KO_SCREEN, "화면을 보여"),  # no word boundary in Hangul
        ("화면 공유 가능한가요?", "screen", KO_SCREEN, "화면 공유"),
        ("화면  공유", "screen", KO_SCREEN, "화면 공유"),
        ("영상 통화로 보여드려도 될까요", "video", KO_VIDEO, "영상 통화"),
        ("영상\u3000통화", "video", KO_VIDEO, "영상 통화"),
    ],
)
def test_korean_phrases_match_as_substrings(text: str, channel: str, reason: str, matched: str):
    assert propose(BOT, text) == Proposal(channel, reason, _index(reason), matched)


def test_latin_phrase_next_to_hangul_still_matches():
    """Korean particles attach directly to English words: "checkout에서"."""
    bot = compile_rules(BotRules(rules=(EscalationRule("screen", SEE, phrases=("checkout",)),)))
    assert propose(bot, "checkout에서 막혔어요") == Proposal("screen", SEE, 0, "checkout")


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "",
        "   ",
        "I can see this fine",
        "stuck at the cart",
        "showyou",  # Latin phrases need word boundaries
        "the part is brokenly described",
        "show your receipt",
        "화면이 보여요",
        "영상통화",  # the phrase has a space
    ],
)
def test_unrelated_text_proposes_nothing(text: str):
    assert propose(BOT, text) is None


@pytest.mark.parametrize(
    ("phrase", "text", "matches"),
    [
        ("cape", "escape", False),
        ("cape", "capes", False),
        ("cape", "a cape.", True),
        ("cape", "(cape)", True),
        ("help!", "help!!", True),  # no boundary needed after punctuation
        ("상담", "상담원", True),
    ],
)
def test_latin_phrases_respect_word_boundaries(phrase: str, text: str, matches: bool):
    bot = compile_rules(BotRules(rules=(EscalationRule("video", SHOW, phrases=(phrase,)),)))
    assert (propose(bot, text) is not None) is matches


def test_patterns_are_case_insensitive():
    assert propose(BOT, "STUCK IN CHECKOUT") == Proposal("screen", CHECKOUT, 0, "stuck in checkout")


def test_disabled_bot_proposes_nothing():
    off = BotRules(enabled=False, rules=BOT.rules, faq=BOT.faq)
    assert propose(off, "can you see this") is None


def test_bot_without_rules_proposes_nothing():
    assert propose(BotRules(), "can you see this") is None


def test_an_open_channel_is_skipped_for_the_next_matching_rule():
    text = "the part is broken, can you see this?"
    assert propose(BOT, text).channel == "screen"  # type: ignore[union-attr]
    assert propose(BOT, text, open_channels={"screen"}) == Proposal(
        "video", SHOW, 2, "the part is broken"
    )


def test_nothing_is_proposed_when_every_matching_channel_is_open():
    assert propose(BOT, "can you see this", open_channels=("screen", "video")) is None


def test_earlier_rules_win_over_later_ones():
    """Rule order, not position in the message, decides."""
    assert propose(BOT, "can you see this? I'm stuck at checkout") == Proposal(
        "screen", CHECKOUT, 0, "stuck at checkout"
    )


def test_only_the_first_max_chars_are_inspected():
    late = "x" * MAX_CHARS + " can you see this"
    assert propose(BOT, late) is None
    assert propose(BOT, late, max_chars=MAX_CHARS + 100) is not None


# ---------------------------------------------------------------- FAQ


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What are your OPENING  hours?", "We are open 9-18 KST on weekdays."),
        ("영업 시간이 어떻게 되나요", "We are open 9-18 KST on weekdays."),
        ("was I refunded?", "Refunds take 3 days."),
    ],
)
def test_faq_answers_the_first_matching_entry(text: str, expected: str):
    found = answer(BOT, text)
    assert found is not None and found.answer == expected


def test_faq_answers_nothing_for_other_questions():
    assert answer(BOT, "can you see this") is None


def test_disabled_bot_answers_nothing():
    assert answer(BotRules(enabled=False, faq=BOT.faq), "opening hours") is None


# ---------------------------------------------------------------- rule checks


def test_compiled_rules_keep_normalised_phrases():
    bot = compile_rules(BotRules(rules=(EscalationRule("screen", SEE, phrases=("Can  YOU",)),)))
    assert bot.rules[0].phrases == ("can you",)


@pytest.mark.parametrize(
    ("rules", "field", "value", "why"),
    [
        (
            BotRules(rules=(EscalationRule("fax", SEE, phrases=("x",)),)),
            "rules[0].channel",
            "fax",
            "expected one of voice, video, screen, cobrowse",
        ),
        (
            BotRules(rules=(EscalationRule("chat", SEE, phrases=("x",)),)),
            "rules[0].channel",
            "chat",
            "expected one of voice, video, screen, cobrowse",
        ),
        (
            BotRules(rules=(EscalationRule("screen", " ", phrases=("x",)),)),
            "rules[0].reason",
            " ",
            "must not be empty",
        ),
        (
            BotRules(rules=(EscalationRule("screen", SEE),)),
            "rules[0].phrases",
            [],
            "needs at least one phrase or pattern",
        ),
        (
            BotRules(rules=(EscalationRule("screen", SEE, phrases=("ok", "  ")),)),
            "rules[0].phrases[1]",
            "  ",
            "must not be empty",
        ),
        (
            BotRules(rules=(EscalationRule("screen", SEE, patterns=("ok", "a|")),)),
            "rules[0].patterns[1]",
            "a|",
            "matches empty text, so it would match anything",
        ),
        (
            BotRules(faq=(FaqEntry("", phrases=("x",)),)),
            "faq[0].answer",
            "",
            "must not be empty",
        ),
        (
            BotRules(faq=(FaqEntry("yes"),)),
            "faq[0].phrases",
            [],
            "needs at least one phrase or pattern",
        ),
    ],
)
def test_invalid_rule_names_the_field_and_the_value(
    rules: BotRules, field: str, value: object, why: str
):
    with pytest.raises(RuleError) as err:
        compile_rules(rules)
    assert (err.value.field, err.value.value, err.value.why) == (field, value, why)


def test_invalid_regex_names_the_pattern_and_the_reason():
    bad = BotRules(rules=(EscalationRule("screen", SEE, patterns=("ok", "stuck (at")),))
    with pytest.raises(RuleError) as err:
        compile_rules(bad)
    assert (err.value.field, err.value.value) == ("rules[0].patterns[1]", "stuck (at")
    assert err.value.why == (
        "not a valid regular expression: missing ), unterminated subpattern at position 6"
    )


def _index(reason: str) -> int:
    return next(i for i, r in enumerate(BOT.rules) if r.reason == reason)
