"""The recording index in the archive: one row per recorded session, one per track, and jobs.

Tables ``recordings``, ``recording_tracks`` and ``jobs`` (archive migration 4). Routine
updates go through the archive's writer (``Archive.execute_later``); reads and the few
writes whose result the caller needs (queueing or claiming a job) run at once through the
archive's query API (``Db``), on SQLite and PostgreSQL alike.

A recording's ``state`` moves ``recording`` <-> ``paused`` -> ``complete`` (or
``interrupted``, found unfinished at start-up) -> ``rendering`` -> ``rendered``, and past
its retention to ``expired``: the media is gone and the row stays. ``interrupted`` is kept
as its own flag, so a rendered recording still says it was cut short.
"""

from __future__ import annotations

from typing import Any

import msgspec

from recorder.layout import Manifest, TrackInfo, span_s
from signaling.archive import Archive, Db
from signaling.qa_filter import QaFilter, condition

STATES = ("recording", "paused", "complete", "interrupted", "rendering", "rendered", "expired")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


class RecordingRow(msgspec.Struct, frozen=True):
    session_id: str
    entry: str
    tier: str
    agent_id: str
    agent_name: str
    customer_name: str
    state: str
    interrupted: bool
    started_at: float
    ended_at: float | None
    duration_s: float
    paused_s: float
    bytes: int
    tracks: int
    dropped: int
    review_bytes: int
    review_duration_s: float
    render_error: str
    sealed: bool
    retention_until: float | None
    expired_at: float | None
    updated_at: float
    review_start_s: float = 0.0
    """Where the review rendering starts on the session clock."""


class TrackRow(msgspec.Struct, frozen=True):
    id: str
    session_id: str
    side: str
    name: str
    source: str
    kind: str
    codec: str
    file: str
    state: str
    opened_at: float
    frames: int
    bytes: int
    dropped: int
    first_ms: int | None
    last_ms: int | None
    sealed: bool

    @property
    def duration_s(self) -> float:
        return span_s(self.first_ms, self.last_ms)


class JobRow(msgspec.Struct, frozen=True):
    id: int
    kind: str
    session_id: str
    state: str
    progress: float
    attempts: int
    error: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker: str = ""
    """Which worker runs (or last ran) it: ``<node id>/<kind>-<n>``."""


_REC_COLS = ", ".join(RecordingRow.__struct_fields__)
_TRACK_COLS = ", ".join(TrackRow.__struct_fields__)
_JOB_COLS = ", ".join(JobRow.__struct_fields__)


def _recording(row: tuple[Any, ...]) -> RecordingRow:
    d = dict(zip(RecordingRow.__struct_fields__, row, strict=True))
    d["interrupted"], d["sealed"] = bool(d["interrupted"]), bool(d["sealed"])
    return RecordingRow(**d)


def _track(row: tuple[Any, ...]) -> TrackRow:
    d = dict(zip(TrackRow.__struct_fields__, row, strict=True))
    d["sealed"] = bool(d["sealed"])
    return TrackRow(**d)


def _job(row: tuple[Any, ...]) -> JobRow:
    return JobRow(**dict(zip(JobRow.__struct_fields__, row, strict=True)))


# ------------------------------------------------------------------ writes (writer thread)


def put_recording(archive: Archive, manifest: Manifest, meta: dict[str, Any], now: float) -> None:
    """Insert or refresh a recording's row from its manifest and session facts."""
    tracks = manifest.tracks
    spans = [(t.first_ms, t.last_ms) for t in tracks if t.first_ms is not None and t.last_ms]
    duration = (max(b for _, b in spans) - min(a for a, _ in spans)) / 1000 if spans else 0.0
    paused = sum((end or 0) - start for start, end in manifest.paused if end is not None)
    archive.execute_later(
        "INSERT INTO recordings (session_id, entry, tier, agent_id, agent_name, customer_name,"
        " state, started_at, ended_at, duration_s, paused_s, bytes, tracks, dropped, sealed,"
        " retention_until, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(session_id) DO UPDATE SET state=excluded.state,"
        " ended_at=excluded.ended_at, duration_s=excluded.duration_s,"
        " paused_s=excluded.paused_s, bytes=excluded.bytes, tracks=excluded.tracks,"
        " dropped=excluded.dropped, sealed=CASE WHEN recordings.sealed > excluded.sealed"
        " THEN recordings.sealed ELSE excluded.sealed END,"
        " updated_at=excluded.updated_at",
        (
            manifest.session_id,
            manifest.entry,
            meta.get("tier", ""),
            meta.get("agent_id", ""),
            meta.get("agent_name", ""),
            meta.get("customer_name", ""),
            manifest.state,
            manifest.started_at or now,
            manifest.ended_at,
            round(duration, 3),
            round(paused, 3),
            sum(t.bytes for t in tracks),
            len(tracks),
            sum(t.dropped for t in tracks),
            int(any(t.sealed for t in tracks)),
            meta.get("retention_until"),
            now,
        ),
    )
    for t in tracks:
        put_track(archive, manifest.session_id, t)


def put_track(archive: Archive, session_id: str, t: TrackInfo) -> None:
    archive.execute_later(
        f"INSERT INTO recording_tracks ({_TRACK_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
        " ON CONFLICT(id) DO UPDATE SET state=excluded.state, frames=excluded.frames,"
        " bytes=excluded.bytes, dropped=excluded.dropped, first_ms=excluded.first_ms,"
        " last_ms=excluded.last_ms",
        (
            t.id,
            session_id,
            t.side,
            t.name,
            t.source,
            t.kind,
            t.codec,
            t.file,
            t.state,
            t.opened_at,
            t.frames,
            t.bytes,
            t.dropped,
            t.first_ms,
            t.last_ms,
            int(t.sealed),
        ),
    )


def set_state(archive: Archive, session_id: str, state: str, now: float, **extra: Any) -> None:
    """Change a recording's state, and any of a few bookkeeping columns with it."""
    allowed = {
        "interrupted",
        "render_error",
        "review_bytes",
        "review_duration_s",
        "review_start_s",
        "expired_at",
    }
    if state not in STATES or not set(extra) <= allowed:
        raise ValueError(f"bad recording update {state!r} {sorted(extra)}")
    cols = "".join(f", {k}=?" for k in extra)
    archive.execute_later(
        f"UPDATE recordings SET state=?, updated_at=?{cols} WHERE session_id=?",  # noqa: S608
        (state, now, *extra.values(), session_id),
    )


async def queue_job(db: Db, kind: str, session_id: str, now: float) -> int:
    """Queue (or queue again) the one job of ``kind`` for a session; returns its id.

    Flush the archive first when the job needs rows written through ``execute_later``.
    """
    row = await db.fetchone(
        "INSERT INTO jobs (kind, session_id, state, created_at) VALUES (?,?,'queued',?)"
        " ON CONFLICT(kind, session_id) DO UPDATE SET state='queued', progress=0, error='',"
        " started_at=NULL, finished_at=NULL, worker='' RETURNING id",
        (kind, session_id, now),
    )
    if row is None:  # pragma: no cover - RETURNING always yields the row
        raise RuntimeError("queueing a job returned no id")
    return int(row[0])


def job_progress(archive: Archive, job: JobRow, progress: float) -> None:
    """A running job's progress, from the worker running it (``job`` as it claimed it)."""
    archive.execute_later(
        "UPDATE jobs SET progress=? WHERE id=? AND state='running' AND worker=?",
        (round(progress, 4), job.id, job.worker),
    )


def job_finished(
    archive: Archive, job: JobRow, now: float, error: str = "", *, state: str = ""
) -> None:
    """A job ended: ``done``, ``failed`` (with ``error``), or ``state`` as given:
    ``queued`` to run it again (the error stays to be read), ``cancelled``.

    Only the worker that claimed it (``job.worker``) may say so: a worker that lost the
    job (its node was taken for dead and the job runs elsewhere now) changes nothing.
    """
    state = state or ("failed" if error else "done")
    if state not in JOB_STATES:
        raise ValueError(f"bad job state {state!r}")
    archive.execute_later(
        "UPDATE jobs SET state=?, finished_at=?, error=?,"
        " progress=CASE WHEN CAST(? AS TEXT)='done' THEN 1 ELSE progress END,"
        " started_at=CASE WHEN CAST(? AS TEXT)='queued' THEN NULL ELSE started_at END"
        " WHERE id=? AND worker=?",
        (state, None if state == "queued" else now, error[:2000], state, state, job.id, job.worker),
    )


async def cancel_queued(db: Db, job_id: int, now: float) -> JobRow | None:
    """Cancel a job that has not started; None if it is not queued."""
    row = await db.fetchone(
        "UPDATE jobs SET state='cancelled', finished_at=? WHERE id=? AND state='queued'"  # noqa: S608
        f" RETURNING {_JOB_COLS}",
        (now, job_id),
    )
    return _job(row) if row else None


async def get_job_by_id(db: Db, job_id: int) -> JobRow | None:
    row = await db.fetchone(f"SELECT {_JOB_COLS} FROM jobs WHERE id=?", (job_id,))  # noqa: S608
    return _job(row) if row else None


# ------------------------------------------------------------------ reads and claims


async def claim_job(db: Db, job_id: int, worker: str, now: float) -> JobRow | None:
    """Make a queued job ``running`` on ``worker``; None when it is not queued (done,
    cancelled, or another worker has it). Atomic: of two workers handed the same job
    (a queue may deliver it twice), one gets it."""
    row = await db.fetchone(
        "UPDATE jobs SET state='running', started_at=?, attempts=attempts+1, worker=?,"  # noqa: S608
        f" progress=0 WHERE id=? AND state='queued' RETURNING {_JOB_COLS}",
        (now, worker, job_id),
    )
    return _job(row) if row else None


async def open_jobs(db: Db) -> list[JobRow]:
    """Jobs queued or running, oldest first: what the job queue should hold."""
    rows = await db.fetch(
        f"SELECT {_JOB_COLS} FROM jobs WHERE state IN ('queued','running')"  # noqa: S608
        " ORDER BY created_at, id"
    )
    return [_job(r) for r in rows]


async def requeue(db: Db, job_id: int, worker: str) -> bool:
    """A running job whose worker is gone goes back to the queue; False if it moved on."""
    n = await db.execute(
        "UPDATE jobs SET state='queued', started_at=NULL WHERE id=? AND state='running'"
        " AND worker=?",
        (job_id, worker),
    )
    return n == 1


async def reset_rendering(db: Db) -> int:
    """Renderings whose job is back in the queue (their worker stopped): back to what they
    were until a worker takes the job again."""
    return await db.execute(
        "UPDATE recordings SET state=CASE WHEN interrupted=1 THEN 'interrupted'"
        " ELSE 'complete' END WHERE state='rendering' AND session_id IN"
        " (SELECT session_id FROM jobs WHERE kind='render' AND state='queued')"
    )


async def get_recording(db: Db, session_id: str) -> RecordingRow | None:
    q = f"SELECT {_REC_COLS} FROM recordings WHERE session_id=?"  # noqa: S608
    row = await db.fetchone(q, (session_id,))
    return _recording(row) if row else None


async def list_recordings(
    db: Db,
    *,
    agent_id: str | None = None,
    limit: int = 100,
    before: float = 0,
    where: QaFilter | None = None,
) -> list[RecordingRow]:
    """Recorded sessions, newest first: ``where`` is the reviewer's filter, ``agent_id`` the
    access rule (an agent's own sessions only)."""
    cond, params = condition(where or QaFilter(), agent_id=agent_id, dialect=db.dialect)
    if before:
        cond += " AND r.started_at < ?"
        params.append(before)
    cols = ", ".join(f"r.{c}" for c in RecordingRow.__struct_fields__)
    q = (
        f"SELECT {cols} FROM recordings r WHERE {cond}"  # noqa: S608
        " ORDER BY r.started_at DESC LIMIT ?"
    )
    return [_recording(r) for r in await db.fetch(q, (*params, max(1, min(limit, 500))))]


async def agents_recorded(db: Db) -> list[tuple[str, str]]:
    """(id, name) of every agent with a recorded session: the QA list's agent filter."""
    rows = await db.fetch(
        "SELECT agent_id, max(agent_name) FROM recordings WHERE agent_id != ''"
        " GROUP BY agent_id ORDER BY 2, 1"
    )
    return [(r[0], r[1] or r[0]) for r in rows]


async def unfinished(db: Db) -> list[RecordingRow]:
    q = f"SELECT {_REC_COLS} FROM recordings WHERE state IN ('recording','paused')"  # noqa: S608
    return [_recording(r) for r in await db.fetch(q)]


async def past_retention(db: Db, now: float) -> list[RecordingRow]:
    q = (
        f"SELECT {_REC_COLS} FROM recordings WHERE retention_until IS NOT NULL"  # noqa: S608
        " AND retention_until<? AND expired_at IS NULL AND state NOT IN ('recording','paused')"
    )
    return [_recording(r) for r in await db.fetch(q, (now,))]


async def tracks_of(db: Db, session_id: str) -> list[TrackRow]:
    q = f"SELECT {_TRACK_COLS} FROM recording_tracks WHERE session_id=? ORDER BY opened_at, id"  # noqa: S608
    return [_track(r) for r in await db.fetch(q, (session_id,))]


async def get_job(db: Db, kind: str, session_id: str) -> JobRow | None:
    q = f"SELECT {_JOB_COLS} FROM jobs WHERE kind=? AND session_id=?"  # noqa: S608
    row = await db.fetchone(q, (kind, session_id))
    return _job(row) if row else None


async def list_jobs(db: Db, *, limit: int = 100) -> list[JobRow]:
    q = f"SELECT {_JOB_COLS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?"  # noqa: S608
    return [_job(r) for r in await db.fetch(q, (max(1, min(limit, 500)),))]


# ------------------------------------------------------------------ transcripts


def put_transcript(
    archive: Archive, session_id: str, segments: list[dict[str, Any]], flags: list[dict[str, Any]]
) -> None:
    """Replace a session's searchable transcript lines and its flags."""
    archive.execute_later("DELETE FROM transcript_text WHERE session_id=?", (session_id,))
    archive.execute_later("DELETE FROM transcript_flags WHERE session_id=?", (session_id,))
    for seg in segments:
        archive.execute_later(
            "INSERT INTO transcript_text (text, session_id, speaker, start) VALUES (?,?,?,?)",
            (seg["text"], session_id, seg["speaker"], seg["start"]),
        )
    for f in flags:
        archive.execute_later(
            "INSERT INTO transcript_flags (session_id, name, at, speaker, text, missing)"
            " VALUES (?,?,?,?,?,?)",
            (session_id, f["name"], f.get("at"), f.get("speaker", ""), f.get("text", ""),
             int(bool(f.get("missing")))),
        )  # fmt: skip


class Hit(msgspec.Struct, frozen=True):
    session_id: str
    speaker: str
    """``agent`` or ``customer`` (said), or who wrote it (chat: also ``bot``, ``system``)."""
    start: float
    snippet: str
    source: str = "transcript"
    """``transcript`` (said) or ``chat`` (written)."""


_SOURCES = {
    # table, speaker column, time column
    "transcript": ("transcript_text", "speaker", "start"),
    "chat": ("chat_text", "side", "at"),
}


async def search_text(
    db: Db,
    query: str,
    *,
    agent_id: str | None = None,
    where: QaFilter | None = None,
    limit: int = 50,
) -> list[Hit]:
    """What was said (transcripts) and written (chat) that matches every word of ``query``,
    in recorded sessions the filter keeps, best matches first, the hit marked ``[...]``."""
    words = [w for w in query.replace('"', " ").split() if w][:10]
    if not words:
        return []
    cond, params = condition(where or QaFilter(), agent_id=agent_id, dialect=db.dialect)
    limit = max(1, min(limit, 200))
    hits: list[tuple[float, Hit]] = []
    for source, (table, speaker, at) in _SOURCES.items():
        sql, match = _match_sql(db.dialect.name, table, speaker, at, cond, words)
        for r in await db.fetch(sql, (match, *params, limit)):
            hits.append((r[4], Hit(r[0], r[1], float(r[2] or 0), r[3], source)))
    # lower is better (bm25 in SQLite, minus ts_rank in PostgreSQL). The two tables score
    # on similar (not identical) scales, which is enough to interleave them; each list is
    # already best-first.
    hits.sort(key=lambda h: h[0])
    return [h for _, h in hits[:limit]]


def _match_sql(
    dialect: str, table: str, speaker: str, at: str, cond: str, words: list[str]
) -> tuple[str, str]:
    """The full-text query for one table, and its match parameter: every word, as a word."""
    if dialect == "postgres":
        # plainto_tsquery ANDs the words and treats any punctuation as text, never syntax
        sql = (
            f"SELECT t.session_id, t.{speaker}, t.{at},"  # noqa: S608
            " ts_headline('simple', t.text, q.q,"
            " 'StartSel=[, StopSel=], MaxWords=12, MinWords=4, ShortWord=0'),"
            f" -ts_rank(t.tsv, q.q) AS score FROM {table} t"
            " CROSS JOIN (SELECT plainto_tsquery('simple', ?) AS q) q"
            " JOIN recordings r ON r.session_id = t.session_id"
            f" WHERE t.tsv @@ q.q AND {cond} ORDER BY score LIMIT ?"
        )
        return sql, " ".join(words)
    sql = (
        f"SELECT t.session_id, t.{speaker}, t.{at},"  # noqa: S608
        f" snippet({table}, 0, '[', ']', '…', 12), rank FROM {table} t"
        f" JOIN recordings r ON r.session_id = t.session_id"
        f" WHERE {table} MATCH ? AND {cond} ORDER BY rank LIMIT ?"
    )
    return sql, " ".join(f'"{w}"' for w in words)


async def flags_of(db: Db, session_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT name, at, speaker, text, missing FROM transcript_flags WHERE session_id=?"
        " ORDER BY at IS NULL DESC, at",
        (session_id,),
    )
    return [
        {"name": r[0], "at": r[1], "speaker": r[2], "text": r[3], "missing": bool(r[4])}
        for r in rows
    ]


async def retry_job(db: Db, job_id: int, now: float) -> JobRow | None:
    """Queue a failed, cancelled or finished job again; None if there is none or it is busy."""
    row = await db.fetchone(
        "UPDATE jobs SET state='queued', progress=0, error='', started_at=NULL,"  # noqa: S608
        " finished_at=NULL, worker='', created_at=? WHERE id=?"
        f" AND state IN ('failed','done','cancelled') RETURNING {_JOB_COLS}",
        (now, job_id),
    )
    return _job(row) if row else None
