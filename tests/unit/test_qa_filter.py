"""The QA list's filters and search: parsing, and the SQL they make on a migrated archive.

The archive is a real SQLite file with every migration applied; rows are written with
plain SQL as the server would have left them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from signaling import archive, qa_timeline
from signaling import recording_index as idx
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


# ------------------------------------------------------------------ on a real archive


def event(db, sid, seq, at, kind, role="system", **data):
    db.execute(
        "INSERT INTO events VALUES (?,?,?,?,?,?,?)",
        (sid, seq, at, kind, role, role, json.dumps(data)),
    )


def session(db, sid, *, agent, entry="demo", created, minutes, upgrades=(), chat=()):
    """An interaction, its recording row and its events, as the server writes them."""
    db.execute(
        "INSERT INTO interactions (id, entry, state, customer_id, customer_name, tier, page,"
        " skill, agent_id, created_at, ended_at, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (sid, entry, "ended", "c", "Cora", "", "", "", agent, created, created + minutes * 60, "{}"),
    )  # fmt: skip
    db.execute(
        "INSERT INTO recordings (session_id, entry, agent_id, agent_name, customer_name, state,"
        " started_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        (sid, entry, agent, agent.title(), "Cora", "complete", created + 5, created),
    )
    seq = 0
    for channel, origin in upgrades:
        seq += 1
        event(db, sid, seq, created + 10 + seq, "channel.active", channel=channel, origin=origin)
    for role, text in chat:
        seq += 1
        event(db, sid, seq, created + 20 + seq, "chat.message", role, text=text, name=role)


@pytest.fixture
def db(tmp_path: Path):
    conn = archive.connect(tmp_path / "archive.db")
    session(
        conn,
        "s1",
        agent="ann",
        created=DAY1,
        minutes=3,
        upgrades=[("video", "bot")],
        chat=[("customer", "my parcel never arrived"), ("agent", "let me check the tracking")],
    )
    session(
        conn,
        "s2",
        agent="bob",
        created=DAY2,
        minutes=12,
        entry="vip",
        upgrades=[("voice", "customer"), ("screen", "agent")],
        chat=[("customer", "the invoice total looks wrong")],
    )
    session(conn, "s3", agent="ann", created=DAY3, minutes=1,
            chat=[("customer", "where is my parcel")])  # fmt: skip
    conn.execute(
        "INSERT INTO scores VALUES ('s1','qa','{}',80,?,?,'qa'), ('s2','qa','{}',40,?,?,'qa')",
        (DAY3, DAY3, DAY3, DAY3),
    )
    conn.execute(
        "INSERT INTO review_comments (session_id, author, at, text, created_at)"
        " VALUES ('s2','qa',5,'late greeting',?)",
        (DAY3,),
    )
    conn.execute(
        "INSERT INTO transcript_flags VALUES ('s2','refund',30,'customer','a refund',0),"
        " ('s3','recording_disclosed',NULL,'','',1)"
    )
    yield conn
    conn.close()


def ids(db: sqlite3.Connection, agent_id: str | None = None, **query: str) -> list[str]:
    return sorted(
        r.session_id for r in idx.list_recordings(db, agent_id=agent_id, where=parse(query))
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["s1", "s2", "s3"]),
        ({"agent": "ann"}, ["s1", "s3"]),
        ({"entry": "vip"}, ["s2"]),
        ({"date_from": "2026-11-21"}, ["s2", "s3"]),
        ({"date_to": "2026-11-21"}, ["s1", "s2"]),
        ({"date_from": "2026-11-21", "date_to": "2026-11-21"}, ["s2"]),
        ({"channel": "chat_only"}, ["s3"]),
        ({"channel": "video"}, ["s1"]),
        ({"channel": "screen"}, ["s2"]),
        ({"channel": "cobrowse"}, []),
        ({"origin": "bot"}, ["s1"]),
        ({"origin": "agent"}, ["s2"]),
        ({"origin": "customer", "channel": "voice"}, ["s2"]),
        ({"flag": "refund"}, ["s2"]),
        ({"flag": "recording_disclosed"}, ["s3"]),
        ({"min_minutes": "2"}, ["s1", "s2"]),
        ({"max_minutes": "3"}, ["s1", "s3"]),
        ({"min_minutes": "2", "max_minutes": "10"}, ["s1"]),
        ({"min_score": "50"}, ["s1"]),
        ({"max_score": "50"}, ["s2"]),
        ({"review": "reviewed"}, ["s1", "s2"]),
        ({"review": "unreviewed"}, ["s3"]),
        ({"review": "commented"}, ["s2"]),
    ],
)
def test_each_filter_keeps_exactly_the_sessions_it_names(db, query, expected):
    assert ids(db, **query) == expected


def test_an_agents_own_rule_holds_whatever_the_filter_asks(db):
    assert ids(db, agent_id="ann", agent="bob") == []
    assert ids(db, agent_id="ann") == ["s1", "s3"]


def test_chat_is_searchable_as_it_is_archived_and_hits_carry_the_session_clock(db):
    hits = idx.search_text(db, "parcel")
    assert sorted(h.session_id for h in hits) == ["s1", "s3"]
    first = next(h for h in hits if h.session_id == "s1")
    assert first.source == "chat" and first.speaker == "customer"
    assert first.start == pytest.approx(22.0, abs=0.01)  # created + 20 + seq 2 (after the video)
    assert "[parcel]" in first.snippet


def test_search_takes_the_filters_and_the_agents_own_rule(db):
    assert [
        h.session_id for h in idx.search_text(db, "parcel", where=parse({"channel": "video"}))
    ] == ["s1"]
    assert [h.session_id for h in idx.search_text(db, "parcel", agent_id="bob")] == []
    assert idx.search_text(db, "") == [] and idx.search_text(db, '"') == []


def test_transcript_and_chat_hits_come_back_together(db):
    idx_rows = [("I want a refund for the invoice", "s2", "customer", 31.5)]
    db.executemany(
        "INSERT INTO transcript_text (text, session_id, speaker, start) VALUES (?,?,?,?)", idx_rows
    )
    hits = idx.search_text(db, "invoice")
    assert {(h.source, h.session_id) for h in hits} == {("chat", "s2"), ("transcript", "s2")}


def test_chat_archived_before_the_search_existed_is_indexed_by_the_migration(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, script in enumerate(archive.MIGRATIONS[:7], start=1):
        conn.executescript(
            f"BEGIN; {script}; INSERT INTO schema_version VALUES ({version}); COMMIT;"
        )
    session(
        conn, "old", agent="ann", created=DAY1, minutes=2, chat=[("customer", "hello from before")]
    )
    conn.close()
    conn = archive.connect(path)
    try:
        assert [h.session_id for h in idx.search_text(conn, "before")] == ["old"]
    finally:
        conn.close()


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
