"""The transcript model and redaction: pure functions, no audio."""

from __future__ import annotations

import numpy as np
import pytest

from transcribe.audio import RATE, speech_spans
from transcribe.model import Segment, merge, to_text, to_webvtt
from transcribe.redact import MARK_EMAIL, MARK_NUMBER, redact


def test_speakers_are_merged_in_the_order_they_spoke():
    agent = [Segment("agent", 1.0, 2.0, "hello"), Segment("agent", 5.0, 6.0, "anything else")]
    customer = [Segment("customer", 2.5, 4.0, "my refund"), Segment("customer", 7, 7.5, " ")]
    merged = merge([agent, customer])
    assert [(s.speaker, s.start) for s in merged] == [
        ("agent", 1.0),
        ("customer", 2.5),
        ("agent", 5.0),
    ]


def test_webvtt_has_a_voice_per_cue_and_escapes_markup():
    vtt = to_webvtt(
        [
            Segment("agent", 61.25, 63.5, "hello <b>there</b> & welcome"),
            Segment("customer", 3723.001, 3724.0, "hi"),
        ]
    )
    assert vtt.splitlines() == [
        "WEBVTT",
        "",
        "1",
        "00:01:01.250 --> 00:01:03.500",
        "<v Agent>hello &lt;b&gt;there&lt;/b&gt; &amp; welcome",
        "",
        "2",
        "01:02:03.001 --> 01:02:04.000",
        "<v Customer>hi",
        "",
    ]


def test_plain_text_names_the_speaker_and_the_time():
    text = to_text(
        [Segment("customer", 62.9, 64, "my  card\nbroke"), Segment("agent", 65, 66, "ok")]
    )
    assert text == "[0:01:02] Customer: my card broke\n[0:01:05] Agent: ok\n"


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        (
            "my card is four one one one one one one one one one one one one one one one",
            f"my card is {MARK_NUMBER}",
        ),
        ("the number is 4111 1111 1111 1111, thanks", f"the number is {MARK_NUMBER}, thanks"),
        ("account 12-34-56-78 please", f"account {MARK_NUMBER} please"),
        ("call me on oh seven seven double nine one two three", f"call me on {MARK_NUMBER}"),
        ("write to kim.lee@example.com today", f"write to {MARK_EMAIL} today"),
        ("it is kim at example dot com", f"it is {MARK_EMAIL}"),
    ],
)
def test_numbers_and_addresses_are_redacted(spoken: str, expected: str):
    text, count = redact(spoken)
    assert (text, count) == (expected, 1)


@pytest.mark.parametrize(
    "kept",
    [
        "i ordered two items on the fifth",
        "order 4521 arrived",
        "one two three four five",
        "it takes three to five business days",
        "meet me at the station",
    ],
)
def test_short_numbers_and_plain_words_stay(kept: str):
    assert redact(kept) == (kept, 0)


def test_speech_is_found_between_silences():
    rng = np.random.default_rng(1)
    quiet = lambda s: (rng.normal(0, 20, int(s * RATE))).astype(np.int16)  # noqa: E731
    t = np.arange(int(1.0 * RATE)) / RATE
    loud = (np.sin(2 * np.pi * 300 * t) * 6000).astype(np.int16)
    pcm = np.concatenate([quiet(2.0), loud, quiet(3.0), loud, quiet(1.0)])
    spans = speech_spans(pcm)
    assert len(spans) == 2
    starts = [lo / RATE for lo, _ in spans]
    assert starts[0] == pytest.approx(2.0, abs=0.3) and starts[1] == pytest.approx(6.0, abs=0.3)
    long_one = np.concatenate([quiet(0.5), np.tile(loud, 30), quiet(0.5)])
    assert all((hi - lo) / RATE <= 20.0 for lo, hi in speech_spans(long_one))


def test_flags_mark_what_was_said_and_what_was_not():
    from transcribe.flags import FlagRule, find_flags

    segs = [
        Segment("agent", 1.0, 2.0, "hello how can i help"),
        Segment("customer", 3.0, 5.0, "i want to cancel and get a refund"),
        Segment("agent", 6.0, 7.0, "we can cancel that"),
        Segment("customer", 8.0, 9.0, "환불 해 주세요"),
    ]
    rules = [
        FlagRule("recording_disclosed", ("this call is recorded",), "agent", expect=True),
        FlagRule("cancel", ("cancel",), "customer"),
        FlagRule("refund", ("refund", "환불")),
        FlagRule("fund", ("fund",)),
    ]
    got = [(f.name, f.at, f.missing) for f in find_flags(segs, rules)]
    assert got == [
        ("recording_disclosed", None, True),
        ("cancel", 3.0, False),
        ("refund", 3.0, False),
        ("refund", 8.0, False),
    ]
