"""The QA list's filters: parsing, and the review page's scrubber marks.

What the filters select on a real archive (SQLite and PostgreSQL) is in
tests/integration/test_archive_contract.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from signaling import qa_timeline
from signaling.errors import InteractionError
from signaling.qa_filter import QaFilter, parse

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 21, 23, 59, tzinfo=UTC).timestamp()
DAY3 = datetime(2026, 11, 22, 0, 1, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------ parsing


def test_an_empty_query_filters_nothing():
    f = parse({})
    assert f == QaFilter() and not f.active and f.query() == {}


def test_every_field_parses_and_goes_back_to_the_query_string():
    q = {
        "flag": "refund",
        "date_from": "2026-11-20",
        "date_to": "2026-11-21",
        "agent": "ann",
        "entry": "demo",
        "channel": "video",
        "origin": "bot",
        "min_minutes": "1.5",
        "max_minutes": "30",
        "min_score": "50",
        "max_score": "90",
        "review": "reviewed",
    }
    f = parse(q)
    assert f.date_from == date(2026, 11, 20) and f.min_minutes == 1.5 and f.max_score == 90
    assert f.active and f.query() == q


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"channel": "fax"}, "channel: one of chat_only, voice, video, screen, cobrowse"),
        ({"origin": "robot"}, "origin: one of bot, customer, agent"),
        ({"review": "maybe"}, "review: one of unreviewed, reviewed, commented"),
        ({"date_from": "20/11/2026"}, "date_from: a date as YYYY-MM-DD"),
        ({"min_minutes": "ten"}, "min_minutes: a number"),
        ({"min_minutes": "nan"}, "min_minutes: between 0 and 1440"),
        ({"max_score": "101"}, "max_score: between 0 and 100"),
        ({"min_score": "-1"}, "min_score: between 0 and 100"),
        ({"agent": "a" * 65}, "agent: at most 64 characters"),
        ({"date_from": "2026-11-22", "date_to": "2026-11-21"}, "date_to: must not be before date_from"),
        ({"min_minutes": "5", "max_minutes": "2"}, "max_minutes: must not be before min_minutes"),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_with_what_it_takes(query, message):
    with pytest.raises(InteractionError) as err:
        parse(query)
    assert err.value.code == "bad_filter" and err.value.message == message


# ------------------------------------------------------------------ scrubber marks


def test_marks_cover_chat_events_flags_and_comments_in_time_order():
    timeline = [
        {"t": 1.0, "kind": "session.accepted", "category": "join", "detail": "", "actor": "agent"},
        {
            "t": 4.0,
            "kind": "chat.message",
            "category": "chat",
            "text": "hi",
            "name": "",
            "actor": "customer",
        },
        {"t": 6.0, "kind": "channel.active", "category": "escalation", "detail": "video"},
        {"t": 7.0, "kind": "media.published", "category": "", "detail": ""},
        {"t": 9.0, "kind": "recording.paused", "category": "pause", "detail": ""},
    ]
    flags = [
        {"name": "refund", "at": 5.0, "missing": False},
        {"name": "disclosed", "at": None, "missing": True},
    ]
    comments = [{"id": 7, "author": "qa", "at": 2.5, "text": "good greeting"}]
    labels = {"customer": "Customer", "agent": "Agent", "flag": "Flag"}
    out = qa_timeline.marks(timeline, flags, comments, labels)
    assert [(m["t"], m["category"], m["ref"]) for m in out] == [
        (1.0, "join", "ev-0"),
        (2.5, "comment", "comment-7"),
        (4.0, "chat", "ev-1"),
        (5.0, "flag", "flag-0"),
        (6.0, "escalation", "ev-2"),
        (9.0, "pause", "ev-4"),
    ]
    assert out[2]["label"] == "Customer: hi" and out[4]["label"] == "channel.active · video"


def test_a_long_chat_is_thinned_on_the_scrubber_and_events_stay():
    timeline = [
        {
            "t": float(i),
            "kind": "chat.message",
            "category": "chat",
            "text": "x",
            "name": "c",
            "actor": "customer",
        }
        for i in range(2000)
    ] + [{"t": 5.5, "kind": "channel.active", "category": "escalation", "detail": "voice"}]
    out = qa_timeline.marks(timeline, [], [], {"flag": "Flag"})
    assert len(out) == qa_timeline.MAX_MARKS
    assert any(m["category"] == "escalation" for m in out)
    assert [m["t"] for m in out] == sorted(m["t"] for m in out)


def test_the_scrubber_reaches_as_far_as_anything_on_it():
    tl = [{"t": 50.0}]
    assert qa_timeline.span(tl, session_s=None, review_start_s=10, review_s=70) == 80.0
    assert qa_timeline.span(tl, session_s=120, review_start_s=10, review_s=70) == 120.0
    assert qa_timeline.span([], session_s=None, review_start_s=0, review_s=0) == 1.0
