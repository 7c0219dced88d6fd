"""The archive contract: every test here runs on SQLite and on PostgreSQL.

SQLite is a real file with every migration applied; PostgreSQL is the server on this
machine (LIVEDESK_TEST_DATABASE_URL), each test in a schema of its own. Rows are written
the way the server writes them: through ``record``, ``execute_later`` and the index
functions, or with plain SQL where a test sets up history.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from recorder.layout import Manifest, TrackInfo
from signaling import audit, fallback, kpi, review_api
from signaling import recording_index as idx
from signaling.archive import Archive, ArchiveError, User
from signaling.interaction import Actor, Role, SendChat, handle, new_interaction
from signaling.links import LinkKeys, issue
from signaling.qa_filter import parse

NOW = 1_790_000_000.0
DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 21, 23, 59, tzinfo=UTC).timestamp()
DAY3 = datetime(2026, 11, 22, 0, 1, tzinfo=UTC).timestamp()
KEYS = LinkKeys(("k1", "archive-contract-link-secret-" + "q" * 32))
CUSTOMER = Actor(Role.CUSTOMER, "c1", "Cleo")


# ---------------------------------------------------------------- schema


async def test_a_new_archive_is_at_the_latest_schema_and_reopening_changes_nothing(
    arch: Archive, tmp_path: Path
) -> None:
    from signaling.archive.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS

    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS)
    assert await arch.schema_version() == len(SQLITE_MIGRATIONS)
    rows = await arch.fetch("SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, len(SQLITE_MIGRATIONS) + 1))


async def test_an_older_archive_is_migrated_and_its_chat_indexed(tmp_path: Path) -> None:
    """Chat archived before migration 8 becomes searchable when the archive is opened."""
    for kind in ("sqlite", "postgres"):
        await _older_archive_migrates(kind, tmp_path / kind)


async def _older_archive_migrates(kind: str, tmp_path: Path) -> None:
    from signaling.archive.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS

    tmp_path.mkdir()
    if kind == "sqlite":
        from signaling.archive.sqlite import SqliteArchive, connect, migrate

        path = tmp_path / "old.sqlite3"
        db = connect(path)
        migrate(db, SQLITE_MIGRATIONS[:7])
        db.close()
        old: Archive = SqliteArchive(path)
        await _write_old_session(old)
        await (new := SqliteArchive(path)).start()
    else:
        import psycopg

        from signaling.archive.postgres import PostgresArchive

        from .conftest import pg_schema

        with pg_schema() as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                for version, script in enumerate(POSTGRES_MIGRATIONS[:7], start=1):
                    conn.execute(script)  # type: ignore[call-overload]
                    conn.execute("INSERT INTO schema_version VALUES (%s)", (version,))
            await _write_old_session(PostgresArchive(url))
            new = PostgresArchive(url)
            await new.start()
            try:
                await _check_migrated(new)
            finally:
                await new.close()
            return
    try:
        await _check_migrated(new)
    finally:
        await new.close()


async def _write_old_session(old: Archive) -> None:
    """Rows as a version-7 archive holds them, written with plain SQL."""
    async with old_db(old) as db:
        await insert_session(
            db,
            "old",
            agent="ann",
            created=DAY1,
            minutes=2,
            chat=[("customer", "hello from before")],
        )


class old_db:
    """A not-migrated archive's bare connection, as a ``Db``."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def __aenter__(self) -> Any:
        a = self.archive
        if a.backend == "sqlite":
            from signaling.archive.sqlite import _Tx, connect

            self._db = connect(a.path)  # type: ignore[attr-defined]
            return _Tx(self._db)
        import psycopg

        from signaling.archive.postgres import _Tx as PgTx

        self._conn = await psycopg.AsyncConnection.connect(a.url, autocommit=True)  # type: ignore[attr-defined]
        return PgTx(self._conn)

    async def __aexit__(self, *exc: Any) -> None:
        if self.archive.backend == "sqlite":
            self._db.close()
        else:
            await self._conn.close()


async def _check_migrated(new: Archive) -> None:
    from signaling.archive.schema import SQLITE_MIGRATIONS

    assert await new.schema_version() == len(SQLITE_MIGRATIONS)
    assert [h.session_id for h in await idx.search_text(new, "before")] == ["old"]
    assert await new.fetchone("SELECT worker FROM jobs WHERE 1=0") is None  # migration 9


# ---------------------------------------------------------------- the timeline


def chat_session(sid: str, texts: list[str]) -> tuple[Any, list[tuple[int, Any]]]:
    inter, events = new_interaction(session_id=sid, entry="support", customer=CUSTOMER, now=NOW)
    for i, text in enumerate(texts):
        inter, more = handle(inter, SendChat(text, f"m{i}"), CUSTOMER, NOW + i + 1)
        events += more
    numbered = list(enumerate(events, start=1))
    import msgspec

    return msgspec.structs.replace(inter, last_seq=len(numbered)), numbered


async def test_records_keep_every_event_once_in_order_and_the_latest_record(
    arch: Archive,
) -> None:
    inter, events = chat_session("s_rec", ["hello", "ünïcode ✓ 한국어", "third"])
    arch.record(inter, events[:2])
    arch.record(inter, events[2:])
    arch.record(inter, events[1:3])  # a repeat changes nothing
    await arch.flush()
    got = await arch.events("s_rec")
    assert [e.seq for e in got] == [s for s, _ in events]
    assert [e.kind for e in got] == [ev.kind for _, ev in events]
    texts = [e.data["text"] for e in got if e.kind == "chat.message"]
    assert texts == ["hello", "ünïcode ✓ 한국어", "third"]
    row = await arch.interaction("s_rec")
    assert row is not None and row["last_seq"] == len(events) and row["state"] == "queued"
    assert row["customer_name"] == "Cleo" and json.loads(row["record"])["id"] == "s_rec"
    assert await arch.interaction("nobody") is None


async def test_an_older_record_arriving_late_changes_nothing(arch: Archive) -> None:
    """Several nodes archive one session: a record older than the row (a late batch from
    another node) neither lowers last_seq nor brings back an old state."""
    import msgspec

    from signaling.interaction import SessionState

    inter, events = chat_session("s_seq", ["a", "b"])
    ended = msgspec.structs.replace(inter, state=SessionState.ENDED, ended_reason="done")
    arch.record(ended, events)
    await arch.flush()
    arch.record(msgspec.structs.replace(inter, last_seq=1), [])
    await arch.flush()
    row = await arch.interaction("s_seq")
    assert row is not None and row["last_seq"] == len(events)
    assert row["state"] == "ended" and json.loads(row["record"])["state"] == "ended"


async def test_writes_queued_before_the_writer_starts_are_stored(tmp_path: Path) -> None:
    """Queued before start, so all of it lands in one batch transaction; the bad
    statements among them are skipped alone and take nothing else with them."""
    for kind in ("sqlite", "postgres"):
        async with _unstarted(kind, tmp_path / kind) as a:
            inter, events = chat_session("s_batch", ["x"])
            a.record(inter, events)
            audit.record(a, audit.FALLBACK_MESSAGE, detail={"n": 1}, at=NOW)
            a.execute_later("INSERT INTO audit (at, kind) VALUES (?, NULL)", (NOW,))  # NOT NULL
            a.execute_later("INSERT INTO audit (at, kind) VALUES (?)", (NOW, "x"))  # bindings
            a.execute_later("INSERT INTO no_such_table VALUES (1)")
            a.execute_later("UPDATE audit SET no_such_column=1")
            audit.record(a, audit.FALLBACK_MESSAGE, detail={"n": 2}, at=NOW + 1)
            await a.start()
            await a.flush()
            assert [r.detail["n"] for r in await audit.query_recent(a, None)] == [2, 1], kind
            assert (await a.interaction("s_batch")) is not None
            assert len(await a.events("s_batch")) == len(events)
            assert a.status == "ok"


class _unstarted:
    """An archive object not started yet (its database exists), closed at the end."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind, self.tmp_path = kind, tmp_path

    async def __aenter__(self) -> Archive:
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        if self.kind == "sqlite":
            from signaling.archive.sqlite import SqliteArchive

            self.a: Archive = SqliteArchive(self.tmp_path / "a.sqlite3")
            return self.a
        from signaling.archive.postgres import PostgresArchive

        from .conftest import pg_schema

        self._schema = pg_schema()
        self.a = PostgresArchive(self._schema.__enter__())
        return self.a

    async def __aexit__(self, *exc: Any) -> None:
        await self.a.close()
        if self.kind == "postgres":
            self._schema.__exit__(None, None, None)


@pytest.mark.parametrize("sql", ["COMMIT", "DROP TABLE audit", "  ", "SELECT 1", "BEGIN"])
async def test_execute_later_takes_only_writes(arch: Archive, sql: str) -> None:
    with pytest.raises(ValueError):
        arch.execute_later(sql)


async def test_a_transaction_commits_together_or_not_at_all(arch: Archive) -> None:
    async with arch.transaction() as tx:
        await tx.execute("INSERT INTO csat (session_id, score, at) VALUES (?,?,?)", ("t1", 5, NOW))
        await tx.execute("INSERT INTO csat (session_id, score, at) VALUES (?,?,?)", ("t2", 4, NOW))
    with pytest.raises(RuntimeError):
        async with arch.transaction() as tx:
            await tx.execute(
                "INSERT INTO csat (session_id, score, at) VALUES (?,?,?)", ("t3", 3, NOW)
            )
            raise RuntimeError("changed my mind")
    rows = await arch.fetch("SELECT session_id FROM csat ORDER BY session_id")
    assert rows == [("t1",), ("t2",)]


async def test_a_question_mark_inside_a_literal_is_text(arch: Archive) -> None:
    row = await arch.fetchone("SELECT 'why?', ? || '%'", ("50",))
    assert row == ("why?", "50%")


# ---------------------------------------------------------------- users


async def test_users_are_added_updated_and_listed(arch: Archive) -> None:
    ann = User("ann", "Ann", "agent", ("billing",), ("vip",), 4, "hash1")
    assert await arch.put_user(ann, now=NOW) is True
    assert await arch.put_user(User("bob", "Bob", "qa", (), (), 3, "hash2"), now=NOW) is True
    changed = User("ann", "Ann Lee", "supervisor", (), (), 6, "hash3", disabled=True)
    assert await arch.put_user(changed, now=NOW + 1) is False
    assert await arch.get_user("ann") == changed
    assert await arch.get_user("nobody") is None
    assert [u.username for u in await arch.list_users()] == ["ann", "bob"]


# ---------------------------------------------------------------- audit and links


async def test_audit_round_trip(arch: Archive) -> None:
    audit.record(
        arch,
        audit.ENTRY_REFUSED,
        entry="support",
        actor="cust-9",
        reason="closed_hours",
        detail={"channel": "video", "note": "ünïcode"},
        at=NOW,
    )
    await arch.flush()
    (row,) = await audit.recent(arch)
    assert (row.kind, row.entry, row.actor, row.reason, row.at) == (
        "entry.refused",
        "support",
        "cust-9",
        "closed_hours",
        NOW,
    )
    assert row.detail == {"channel": "video", "note": "ünïcode"} and row.id >= 1


async def test_recent_filters_orders_and_limits(arch: Archive) -> None:
    for i in range(5):
        audit.record(arch, audit.FALLBACK_CALLBACK, entry="e", detail={"i": i}, at=NOW + i)
    audit.record(arch, audit.FALLBACK_MESSAGE, entry="e", at=NOW + 10)
    audit.note_link_refused(arch, "tampered", at=NOW + 11)
    await arch.flush()
    everything = await audit.recent(arch)
    assert [r.kind for r in everything[:2]] == ["link.refused", "fallback.message"]
    callbacks = await audit.recent(arch, kind="fallback.callback", limit=3)
    assert [r.detail["i"] for r in callbacks] == [4, 3, 2]
    assert await audit.recent(arch, kind="link.used") == []


async def test_audit_rejects_unknown_kinds_and_bounds_sizes(arch: Archive) -> None:
    with pytest.raises(ValueError):
        audit.record(arch, "link.exploded")
    audit.record(arch, audit.FALLBACK_MESSAGE, actor="a" * 5000, detail={"blob": "x" * 50_000})
    await arch.flush()
    (row,) = await audit.recent(arch)
    assert len(row.actor) == audit.MAX_TEXT and row.detail["truncated"] is True


async def test_a_link_is_issued_once_and_its_first_use_kept(arch: Archive) -> None:
    token, claims = issue(
        KEYS, entry="support", sub="c7", tier="vip", case="s_c", ttl_s=900, now=NOW
    )
    audit.note_link_issued(arch, claims, issued_by="agent_ann")
    audit.note_link_issued(arch, claims, issued_by="someone else")
    audit.note_link_used(arch, claims.jti, NOW + 30, entry="support", session_id="s_c")
    audit.note_link_used(arch, claims.jti, NOW + 99)
    await arch.flush()
    (link,) = await audit.links_issued(arch)
    assert (link.jti, link.sub, link.case_id, link.issued_by) == (
        claims.jti,
        "c7",
        "s_c",
        "agent_ann",
    )
    assert link.expires_at == float(int(NOW) + 900) and link.used_at == NOW + 30
    assert await audit.links_issued(arch, entry="other") == []
    assert token not in json.dumps([r.detail for r in await audit.recent(arch)])


# ---------------------------------------------------------------- call-backs and messages


async def test_callbacks_are_stored_listed_and_handled_once(arch: Archive) -> None:
    req = fallback.CallbackRequest(name=" Dana ", contact="+44 20 7946 0000", page="/p")
    first = await fallback.store(arch, "callback", "support", req)
    msg = fallback.LeftMessage(name="Eli", contact="eli@example.com", text="call me", page="/q")
    second = await fallback.store(arch, "message", "support", msg)
    assert second > first >= 1
    items = await fallback.open_items(arch)
    assert [(i["id"], i["kind"], i["name"]) for i in items][::-1] == [
        (first, "callback", "Dana"),
        (second, "message", "Eli"),
    ]
    assert await fallback.mark_handled(arch, first, "ann") is True
    assert await fallback.mark_handled(arch, first, "bob") is False
    assert [i["id"] for i in await fallback.open_items(arch)] == [second]


# ---------------------------------------------------------------- recordings and jobs


def manifest(sid: str, *, frames: int = 30) -> Manifest:
    m = Manifest(session_id=sid, origin=NOW, entry="support")
    m.started_at, m.ended_at, m.state = NOW, NOW + 60, "complete"
    m.tracks.append(
        TrackInfo(
            id=f"{sid}-cam",
            side="customer",
            name="Cleo",
            source="camera",
            kind="video",
            codec="VP8",
            file="tracks/cam.webm",
            state="complete",
            opened_at=NOW,
            frames=frames,
            bytes=5_000_000_000,
            first_ms=0,
            last_ms=60_000,
            sealed=True,
        )
    )
    return m


async def test_a_recording_row_follows_its_manifest_and_its_states(arch: Archive) -> None:
    meta = {"agent_id": "ann", "agent_name": "Ann", "customer_name": "Cleo", "tier": "vip"}
    idx.put_recording(arch, manifest("s_r"), meta | {"retention_until": NOW + 10}, NOW)
    await arch.flush()
    row = await idx.get_recording(arch, "s_r")
    assert row is not None and row.state == "complete" and row.tracks == 1
    assert row.bytes == 5_000_000_000 and row.duration_s == 60.0 and row.sealed is True
    (track,) = await idx.tracks_of(arch, "s_r")
    assert track.frames == 30 and track.duration_s == 60.0 and track.sealed is True
    # a later manifest never unseals; states and bookkeeping columns move
    unsealed = manifest("s_r", frames=40)
    unsealed.tracks[0].sealed = False
    idx.put_recording(arch, unsealed, meta, NOW + 1)
    idx.set_state(arch, "s_r", "rendered", NOW + 2, review_bytes=123, review_start_s=1.5)
    await arch.flush()
    row = await idx.get_recording(arch, "s_r")
    assert row is not None and row.sealed is True and row.state == "rendered"
    assert (row.review_bytes, row.review_start_s) == (123, 1.5)
    assert [t.frames for t in await idx.tracks_of(arch, "s_r")] == [40]
    assert [r.session_id for r in await idx.past_retention(arch, NOW + 11)] == ["s_r"]
    assert await idx.past_retention(arch, NOW + 9) == []
    assert await idx.agents_recorded(arch) == [("ann", "Ann")]
    with pytest.raises(ValueError):
        idx.set_state(arch, "s_r", "lost", NOW)


async def test_a_job_is_queued_once_per_kind_and_claimed_by_exactly_one_worker(
    arch: Archive,
) -> None:
    first = await idx.queue_job(arch, "render", "s_j", NOW)
    assert await idx.queue_job(arch, "render", "s_j", NOW + 1) == first
    other = await idx.queue_job(arch, "transcribe", "s_j", NOW)
    assert other != first
    claims = await asyncio.gather(
        *(idx.claim_job(arch, first, f"node{i}/render-0", NOW + 2) for i in range(12))
    )
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].state == "running" and won[0].attempts == 1
    winner = won[0].worker
    assert [j.id for j in await idx.open_jobs(arch)] == [first, other]
    # only the worker named in the row gives it back
    assert await idx.requeue(arch, first, "someone/else") is False
    assert await idx.requeue(arch, first, winner) is True
    again = await idx.claim_job(arch, first, "node9/render-0", NOW + 3)
    assert again is not None and again.attempts == 2
    # the worker that lost it says nothing any more
    stale = msgspec.structs.replace(again, worker=winner)
    idx.job_progress(arch, stale, 0.9)
    idx.job_finished(arch, stale, NOW + 4, "late", state="failed")
    await arch.flush()
    assert (await idx.get_job_by_id(arch, first)).state == "running"  # type: ignore[union-attr]
    idx.job_progress(arch, again, 0.5)
    idx.job_finished(arch, again, NOW + 4)
    await arch.flush()
    done = await idx.get_job_by_id(arch, first)
    assert done is not None and (done.state, done.progress, done.finished_at) == (
        "done",
        1.0,
        NOW + 4,
    )
    assert await idx.claim_job(arch, first, "late/render-0", NOW + 5) is None
    retried = await idx.retry_job(arch, first, NOW + 6)
    assert retried is not None and retried.state == "queued" and retried.worker == ""
    assert await idx.retry_job(arch, first, NOW + 6) is None  # already queued
    cancelled = await idx.cancel_queued(arch, first, NOW + 7)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert await idx.cancel_queued(arch, first, NOW + 7) is None
    running_other = await idx.claim_job(arch, other, "node1/transcribe-0", NOW)
    assert running_other is not None
    idx.job_finished(arch, running_other, NOW, "boom", state="queued")
    await arch.flush()
    queued = await idx.get_job(arch, "transcribe", "s_j")
    assert queued is not None and (queued.state, queued.error) == ("queued", "boom")
    assert [j.id for j in await idx.list_jobs(arch)] == [first, other]  # newest first


async def test_a_rendering_whose_job_went_back_to_the_queue_is_reset(arch: Archive) -> None:
    idx.put_recording(arch, manifest("s_x"), {}, NOW)
    idx.set_state(arch, "s_x", "rendering", NOW)
    await arch.flush()
    job = await idx.queue_job(arch, "render", "s_x", NOW)
    assert await idx.claim_job(arch, job, "dead/render-0", NOW) is not None
    assert await idx.reset_rendering(arch) == 0  # still running: left alone
    assert await idx.requeue(arch, job, "dead/render-0")
    assert await idx.reset_rendering(arch) == 1
    row = await idx.get_recording(arch, "s_x")
    assert row is not None and row.state == "complete"


# ---------------------------------------------------------------- QA filters and search


async def insert_event(
    db: Any, sid: str, seq: int, at: float, kind: str, role: str = "system", **data: Any
) -> None:
    await db.execute(
        "INSERT INTO events (session_id, seq, at, kind, actor_role, actor_id, data)"
        " VALUES (?,?,?,?,?,?,?)",
        (sid, seq, at, kind, role, role, json.dumps(data)),
    )


async def insert_session(
    db: Any,
    sid: str,
    *,
    agent: str,
    entry: str = "demo",
    created: float,
    minutes: float,
    upgrades: Any = (),
    chat: Any = (),
) -> None:
    """An interaction, its recording row and its events, as the server writes them."""
    await db.execute(
        "INSERT INTO interactions (id, entry, state, customer_id, customer_name, tier, page,"
        " skill, agent_id, created_at, ended_at, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            sid,
            entry,
            "ended",
            "c",
            "Cora",
            "",
            "",
            "",
            agent,
            created,
            created + minutes * 60,
            "{}",
        ),
    )
    await db.execute(
        "INSERT INTO recordings (session_id, entry, agent_id, agent_name, customer_name, state,"
        " started_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        (sid, entry, agent, agent.title(), "Cora", "complete", created + 5, created),
    )
    seq = 0
    for channel, origin in upgrades:
        seq += 1
        await insert_event(
            db, sid, seq, created + 10 + seq, "channel.active", channel=channel, origin=origin
        )
    for role, text in chat:
        seq += 1
        await insert_event(
            db, sid, seq, created + 20 + seq, "chat.message", role, text=text, name=role
        )


@pytest.fixture
async def qa(arch: Archive) -> Archive:
    """Three recorded sessions with chat, upgrades, scores, a comment and flags."""
    await insert_session(
        arch,
        "s1",
        agent="ann",
        created=DAY1,
        minutes=3,
        upgrades=[("video", "bot")],
        chat=[("customer", "my parcel never arrived"), ("agent", "let me check the tracking")],
    )
    await insert_session(
        arch,
        "s2",
        agent="bob",
        created=DAY2,
        minutes=12,
        entry="vip",
        upgrades=[("voice", "customer"), ("screen", "agent")],
        chat=[("customer", "the invoice total looks wrong")],
    )
    await insert_session(
        arch, "s3", agent="ann", created=DAY3, minutes=1, chat=[("customer", "where is my parcel")]
    )
    for sid, total in (("s1", 80), ("s2", 40)):
        await arch.execute(
            "INSERT INTO scores (session_id, reviewer, answers, total, created_at, updated_at,"
            " updated_by) VALUES (?,?,?,?,?,?,?)",
            (sid, "qa", "{}", total, DAY3, DAY3, "qa"),
        )
    await arch.execute(
        "INSERT INTO review_comments (session_id, author, at, text, created_at)"
        " VALUES ('s2','qa',5,'late greeting',?)",
        (DAY3,),
    )
    idx.put_transcript(
        arch,
        "s2",
        [],
        [{"name": "refund", "at": 30, "speaker": "customer", "text": "a refund"}],
    )
    idx.put_transcript(arch, "s3", [], [{"name": "recording_disclosed", "missing": True}])
    await arch.flush()
    return arch


async def ids(db: Archive, agent_id: str | None = None, **query: str) -> list[str]:
    rows = await idx.list_recordings(db, agent_id=agent_id, where=parse(query))
    return sorted(r.session_id for r in rows)


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
async def test_each_filter_keeps_exactly_the_sessions_it_names(
    qa: Archive, query: dict[str, str], expected: list[str]
) -> None:
    assert await ids(qa, **query) == expected


async def test_an_agents_own_rule_holds_whatever_the_filter_asks(qa: Archive) -> None:
    assert await ids(qa, agent_id="ann", agent="bob") == []
    assert await ids(qa, agent_id="ann") == ["s1", "s3"]


async def test_chat_is_searchable_as_it_is_archived_and_hits_carry_the_session_clock(
    qa: Archive,
) -> None:
    hits = await idx.search_text(qa, "parcel")
    assert sorted(h.session_id for h in hits) == ["s1", "s3"]
    first = next(h for h in hits if h.session_id == "s1")
    assert first.source == "chat" and first.speaker == "customer"
    assert first.start == pytest.approx(22.0, abs=0.01)  # created + 20 + seq 2 (after the video)
    assert "[parcel]" in first.snippet


async def test_search_needs_every_word_and_takes_the_filters(qa: Archive) -> None:
    assert [h.session_id for h in await idx.search_text(qa, "parcel arrived")] == ["s1"]
    video = await idx.search_text(qa, "parcel", where=parse({"channel": "video"}))
    assert [h.session_id for h in video] == ["s1"]
    assert await idx.search_text(qa, "parcel", agent_id="bob") == []
    assert await idx.search_text(qa, "") == [] and await idx.search_text(qa, '"') == []
    # what would be query syntax in either database is only text
    for odd in ("parcel OR invoice", "parcel & !invoice", "parcel:*", "'; DROP TABLE x; --"):
        assert {h.session_id for h in await idx.search_text(qa, odd)} <= {"s1", "s3"}


async def test_transcript_and_chat_hits_come_back_together(qa: Archive) -> None:
    segments = [{"text": "I want a refund for the invoice", "speaker": "customer", "start": 31.5}]
    idx.put_transcript(qa, "s2", segments, [])
    await qa.flush()
    hits = await idx.search_text(qa, "invoice")
    assert {(h.source, h.session_id) for h in hits} == {("chat", "s2"), ("transcript", "s2")}
    said = next(h for h in hits if h.source == "transcript")
    assert said.start == 31.5 and "[invoice]" in said.snippet
    # a new transcript replaces the old one, flags too
    idx.put_transcript(qa, "s2", [], [])
    await qa.flush()
    assert {h.source for h in await idx.search_text(qa, "invoice")} == {"chat"}
    assert await idx.flags_of(qa, "s2") == []


async def test_flags_list_the_missing_ones_first(qa: Archive) -> None:
    flags = [
        {"name": "refund", "at": 30, "speaker": "customer", "text": "a refund"},
        {"name": "greeting", "at": 2.5, "speaker": "agent", "text": "hello"},
        {"name": "disclosed", "missing": True},
    ]
    idx.put_transcript(qa, "s1", [], flags)
    await qa.flush()
    got = await idx.flags_of(qa, "s1")
    assert [(f["name"], f["missing"]) for f in got] == [
        ("disclosed", True),
        ("greeting", False),
        ("refund", False),
    ]


# ---------------------------------------------------------------- reviews and KPIs


async def test_scores_comments_and_csat(qa: Archive) -> None:
    (score,) = await review_api.scores_of(qa, "s1")
    assert score["reviewer"] == "qa" and score["total"] == 80 and score["answers"] == {}
    (comment,) = await review_api.comments_of(qa, "s2")
    assert comment["text"] == "late greeting" and comment["at"] == 5
    sql = "INSERT INTO csat (session_id, score, at) VALUES (?,?,?) ON CONFLICT DO NOTHING"
    assert await qa.execute(sql, ("s1", 4, DAY3)) == 1
    assert await qa.execute(sql, ("s1", 1, DAY3)) == 0
    facts = {f.session_id: f for f in await kpi.load_facts(qa, since=0)}
    assert set(facts) == {"s1", "s2", "s3"}
    assert facts["s1"].csat == 4 and facts["s1"].qa_score == 80.0
    assert isinstance(facts["s1"].qa_score, float)
    assert facts["s2"].channels == frozenset({"voice", "screen"})
    assert facts["s2"].origins == ("customer", "agent")
    by_agent = {r["agent"]: r for r in kpi.aggregate(facts.values(), "agent")}
    assert by_agent["ann"]["sessions"] == 2


# ---------------------------------------------------------------- failure


async def test_an_unreachable_postgres_is_a_clear_unavailable_error_at_start() -> None:
    from signaling.archive.postgres import PostgresArchive

    from .nodes import free_port

    started = time.monotonic()
    a = PostgresArchive(f"postgresql://postgres@127.0.0.1:{free_port()}/test", connect_timeout_s=2)
    with pytest.raises(ArchiveError) as err:
        await a.start()
    assert err.value.code == "unavailable" and "archive" in err.value.message
    assert time.monotonic() - started < 10


async def test_postgres_going_away_loses_no_queued_write_and_reads_say_unavailable() -> None:
    """The network to PostgreSQL is cut for a while: queued writes wait (status
    ``failing``), reads fail fast with ``unavailable``, and once it is back everything
    queued is stored, in order, without a restart."""
    from urllib.parse import urlsplit, urlunsplit

    from signaling.archive.postgres import PostgresArchive

    from .conftest import pg_schema
    from .nodes import free_port
    from .tcp_proxy import TcpProxy

    with pg_schema() as url:
        parts = urlsplit(url)
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432, port=free_port())
        await proxy.start()
        user = f"{parts.username}@" if parts.username else ""
        via = urlunsplit(parts._replace(netloc=f"{user}{proxy.url_host}"))
        a = PostgresArchive(via, connect_timeout_s=1)
        await a.start()
        try:
            inter, events = chat_session("s_out", [f"line {i}" for i in range(6)])
            a.record(inter, events[:3])
            await a.flush()
            await proxy.cut()
            a.record(inter, events[3:])
            audit.record(a, audit.FALLBACK_MESSAGE, detail={"n": 1}, at=NOW)
            for _ in range(100):
                if a.status.startswith("failing"):
                    break
                await asyncio.sleep(0.05)
            assert a.status.startswith("failing"), a.status
            started = time.monotonic()
            with pytest.raises(ArchiveError) as err:
                await a.fetch("SELECT 1")
            assert err.value.code == "unavailable" and time.monotonic() - started < 5
            assert await a.ping() is False
            await asyncio.sleep(1.0)
            await proxy.restore()
            await a.flush(timeout=20)
            assert a.status == "ok"
            got = await a.events("s_out")
            assert [e.seq for e in got] == [s for s, _ in events]
            assert [r.detail for r in await audit.recent(a)] == [{"n": 1}]
        finally:
            await a.close()
            await proxy.close()


# ---------------------------------------------------------------- moving to PostgreSQL


async def test_a_sqlite_archive_is_copied_into_postgres_whole_by_the_cli(tmp_path: Path) -> None:
    """`livedesk archive copy --to postgresql://...`: every row arrives, search works there,
    new ids continue after the copied ones, and a second copy into it is refused."""
    import subprocess
    import sys

    from signaling.archive.postgres import PostgresArchive
    from signaling.archive.sqlite import SqliteArchive

    from .conftest import pg_schema
    from .nodes import REPO

    path = tmp_path / "one-node.sqlite3"
    src = SqliteArchive(path)
    await src.start()
    try:
        await src.put_user(User("ann", "Ann", "agent", ("billing",), (), 3, "h"), now=NOW)
        for i in range(5):  # more rows than one chunk (--chunk 2 below)
            inter, events = chat_session(f"s_m{i}", [f"parcel number {i}", "thanks"])
            src.record(inter, events)
            audit.record(src, audit.FALLBACK_MESSAGE, detail={"i": i}, at=NOW + i)
        await insert_session(
            src,
            "s_rec",
            agent="ann",
            created=DAY1,
            minutes=2,
            chat=[("customer", "my invoice is wrong")],
        )
        idx.put_recording(src, manifest("s_rec"), {"agent_id": "ann"}, NOW)
        idx.put_transcript(
            src,
            "s_rec",
            [{"text": "the invoice total", "speaker": "agent", "start": 3.0}],
            [{"name": "refund", "at": 4.0}],
        )
        await src.flush()
        job = await idx.queue_job(src, "render", "s_rec", NOW)
        await fallback.store(
            src, "callback", "demo", fallback.CallbackRequest(name="Dee", contact="dee@example.com")
        )
        await src.execute(
            "INSERT INTO csat (session_id, score, at) VALUES (?,?,?)", ("s_rec", 5, NOW)
        )
        counts = {}
        from signaling.archive.copy import TABLES

        for table in TABLES:
            (n,) = await src.fetchone(f"SELECT count(*) FROM {table.name}") or (0,)
            counts[table.name] = n
    finally:
        await src.close()

    def livedesk(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "signaling", *argv],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
        )

    with pg_schema() as url:
        run = livedesk("archive", "copy", "--from", str(path), "--to", url, "--chunk", "2")
        assert run.returncode == 0, run.stderr
        assert "events: " in run.stderr and "(100%)" in run.stderr  # progress as it goes
        assert "copied" in run.stdout
        dst = PostgresArchive(url)
        await dst.start()
        try:
            for table in TABLES:
                (n,) = await dst.fetchone(f"SELECT count(*) FROM {table.name}") or (0,)
                assert n == counts[table.name], table.name
            chat_hits = await dst.fetch("SELECT count(*) FROM chat_text")
            assert chat_hits[0][0] == await _chat_count(path)
            hits = await idx.search_text(dst, "invoice")
            assert {h.source for h in hits} == {"chat", "transcript"}
            assert (await dst.get_user("ann")) is not None
            copied_job = await idx.get_job_by_id(dst, job)
            assert copied_job is not None and copied_job.state == "queued"
            audit.record(dst, audit.FALLBACK_MESSAGE, detail={"i": "new"}, at=NOW + 99)
            await dst.flush()
            ids = [r.id for r in await audit.recent(dst)]
            assert ids[0] > max(ids[1:]), "a new row continues after the copied ids"
        finally:
            await dst.close()
        again = livedesk("archive", "copy", "--from", str(path), "--to", url)
        assert again.returncode == 1 and "not empty" in again.stderr
    missing = livedesk("archive", "copy", "--from", str(tmp_path / "none.sqlite3"), "--to", url)
    assert missing.returncode == 2 and "no SQLite archive" in missing.stderr


async def _chat_count(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM chat_text").fetchone()[0])
    finally:
        db.close()


# ---------------------------------------------------------------- PostgreSQL's own cases


@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("SELECT 'why?', ? || '%'", ("50",), ("why?", "50%")),
        ("SELECT E'a\\'?', ?", (1,), ("a'?", 1)),
        ("SELECT 1 -- don't ? here\n, ?", (2,), (1, 2)),
        ("SELECT /* ? */ ?", ("x",), ("x",)),
        ("SELECT $$ ? $$, $t$ it's ? $t$, ?", (3,), (" ? ", " it's ? ", 3)),
        ("SELECT 'it''s ?', ?", (4,), ("it's ?", 4)),
    ],
)
async def test_placeholders_outside_literals_and_comments_only(
    sql: str, params: tuple[Any, ...], expected: tuple[Any, ...], tmp_path: Path
) -> None:
    from .conftest import opened_archive

    async with opened_archive("postgres", tmp_path) as pg:
        assert await pg.fetchone(sql, params) == expected


async def test_text_with_nul_is_kept_readable_not_dropped(arch: Archive) -> None:
    """A NUL a client sent (PostgreSQL cannot store it) does not cost the archive the
    session or its other events: it is kept as U+FFFD there."""
    inter, events = chat_session("s_nul", ["before", "with \x00 inside", "after"])
    inter = msgspec.structs.replace(inter, customer_name="Cl\x00eo", page="/p\x00")
    arch.record(inter, events)
    audit.record(arch, audit.FALLBACK_MESSAGE, actor="a\x00b", detail={"t": "x\x00y"}, at=NOW)
    await arch.flush()
    got = await arch.events("s_nul")
    assert len(got) == len(events)
    texts = [e.data["text"] for e in got if e.kind == "chat.message"]
    row = await arch.interaction("s_nul")
    assert row is not None
    if arch.backend == "postgres":
        assert texts[1] == "with \ufffd inside" and row["customer_name"] == "Cl\ufffdeo"
    else:
        assert texts[1] == "with \x00 inside"
    assert len(await audit.recent(arch)) == 1
    assert arch.refused == 0 and arch.status == "ok"


async def test_a_read_only_postgres_keeps_the_writes_until_it_takes_them(tmp_path: Path) -> None:
    """A failover to a read-only standby refuses writes with SQLSTATE 25006: the writer
    keeps them, says it is failing, and stores them once the database takes writes."""
    from .conftest import opened_archive

    async with opened_archive("postgres", tmp_path) as pg:
        await pg.execute(
            "CREATE FUNCTION read_only() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'read only' USING ERRCODE = '25006'; END $$"
        )
        await pg.execute(
            "CREATE TRIGGER read_only BEFORE INSERT ON interactions"
            " FOR EACH ROW EXECUTE FUNCTION read_only()"
        )
        inter, events = chat_session("s_ro", ["kept"])
        pg.record(inter, events)
        for _ in range(100):
            if pg.status.startswith("failing"):
                break
            await asyncio.sleep(0.05)
        assert pg.status.startswith("failing") and "read only" in pg.status
        await pg.execute("DROP TRIGGER read_only ON interactions")
        await pg.flush(timeout=20)
        assert pg.status == "ok" and pg.refused == 0
        assert len(await pg.events("s_ro")) == len(events)
