"""The recording index in the archive: one row per recorded session, one per track, and jobs.

Tables ``recordings``, ``recording_tracks`` and ``jobs`` (archive migration 4). Routine
updates go through the archive's writer thread (``Archive.execute_later``); reads and the
few writes whose result the caller needs (claiming a job) run on their own connection in
the executor (``Archive.run``).

A recording's ``state`` moves ``recording`` <-> ``paused`` -> ``complete`` (or
``interrupted``, found unfinished at start-up) -> ``rendering`` -> ``rendered``, and past
its retention to ``expired``: the media is gone and the row stays. ``interrupted`` is kept
as its own flag, so a rendered recording still says it was cut short.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from recorder.layout import Manifest, TrackInfo, span_s
from signaling.archive import Archive
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
        " dropped=excluded.dropped, sealed=max(recordings.sealed, excluded.sealed),"
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
        "INSERT INTO recording_tracks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
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


def queue_job(archive: Archive, kind: str, session_id: str, now: float) -> None:
    """Queue (or queue again) the one job of ``kind`` for a session."""
    archive.execute_later(
        "INSERT INTO jobs (kind, session_id, state, created_at) VALUES (?,?,'queued',?)"
        " ON CONFLICT(kind, session_id) DO UPDATE SET state='queued', progress=0, error='',"
        " started_at=NULL, finished_at=NULL",
        (kind, session_id, now),
    )


def job_progress(archive: Archive, job_id: int, progress: float) -> None:
    archive.execute_later(
        "UPDATE jobs SET progress=? WHERE id=? AND state='running'", (round(progress, 4), job_id)
    )


def job_finished(
    archive: Archive, job_id: int, now: float, error: str = "", *, state: str = ""
) -> None:
    """A job ended: ``done``, ``failed`` (with ``error``), or ``state`` as given:
    ``queued`` to run it again (the error stays to be read), ``cancelled``."""
    state = state or ("failed" if error else "done")
    if state not in JOB_STATES:
        raise ValueError(f"bad job state {state!r}")
    archive.execute_later(
        "UPDATE jobs SET state=?, finished_at=?, error=?, progress=CASE WHEN ?='done' THEN 1"
        " ELSE progress END, started_at=CASE WHEN ?='queued' THEN NULL ELSE started_at END"
        " WHERE id=?",
        (state, None if state == "queued" else now, error[:2000], state, state, job_id),
    )


def cancel_queued(db: sqlite3.Connection, job_id: int, now: float) -> JobRow | None:
    """Cancel a job that has not started; None if it is not queued."""
    cur = db.execute(
        "UPDATE jobs SET state='cancelled', finished_at=? WHERE id=? AND state='queued'",
        (now, job_id),
    )
    return get_job_by_id(db, job_id) if cur.rowcount else None


def get_job_by_id(db: sqlite3.Connection, job_id: int) -> JobRow | None:
    row = db.execute(f"SELECT {_JOB_COLS} FROM jobs WHERE id=?", (job_id,)).fetchone()  # noqa: S608
    return _job(row) if row else None


# ------------------------------------------------------------------ reads and claims (executor)


def claim_job(db: sqlite3.Connection, kind: str, now: float) -> JobRow | None:
    """Atomically take the oldest queued job of ``kind`` (it becomes ``running``)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(
            f"SELECT {_JOB_COLS} FROM jobs WHERE kind=? AND state='queued'"  # noqa: S608
            " ORDER BY created_at, id LIMIT 1",
            (kind,),
        ).fetchone()
        if row is None:
            db.execute("COMMIT")
            return None
        db.execute(
            "UPDATE jobs SET state='running', started_at=?, attempts=attempts+1 WHERE id=?",
            (now, row[0]),
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    job = _job(row)
    return msgspec.structs.replace(job, state="running", started_at=now, attempts=job.attempts + 1)


def requeue_running(db: sqlite3.Connection) -> int:
    """Jobs a stopped process was running go back to the queue (they survive restarts)."""
    return db.execute("UPDATE jobs SET state='queued' WHERE state='running'").rowcount


def reset_rendering(db: sqlite3.Connection) -> int:
    """Renderings a stopped process was making: back to what they were (their job is queued)."""
    return db.execute(
        "UPDATE recordings SET state=CASE WHEN interrupted=1 THEN 'interrupted'"
        " ELSE 'complete' END WHERE state='rendering'"
    ).rowcount


def get_recording(db: sqlite3.Connection, session_id: str) -> RecordingRow | None:
    q = f"SELECT {_REC_COLS} FROM recordings WHERE session_id=?"  # noqa: S608
    row = db.execute(q, (session_id,)).fetchone()
    return _recording(row) if row else None


def list_recordings(
    db: sqlite3.Connection,
    *,
    agent_id: str | None = None,
    limit: int = 100,
    before: float = 0,
    where: QaFilter | None = None,
) -> list[RecordingRow]:
    """Recorded sessions, newest first: ``where`` is the reviewer's filter, ``agent_id`` the
    access rule (an agent's own sessions only)."""
    cond, params = condition(where or QaFilter(), agent_id=agent_id)
    if before:
        cond += " AND r.started_at < ?"
        params.append(before)
    cols = ", ".join(f"r.{c}" for c in RecordingRow.__struct_fields__)
    q = (
        f"SELECT {cols} FROM recordings r WHERE {cond}"  # noqa: S608
        " ORDER BY r.started_at DESC LIMIT ?"
    )
    return [_recording(r) for r in db.execute(q, (*params, max(1, min(limit, 500))))]


def agents_recorded(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(id, name) of every agent with a recorded session: the QA list's agent filter."""
    rows = db.execute(
        "SELECT agent_id, max(agent_name) FROM recordings WHERE agent_id != ''"
        " GROUP BY agent_id ORDER BY 2, 1"
    )
    return [(r[0], r[1] or r[0]) for r in rows]


def unfinished(db: sqlite3.Connection) -> list[RecordingRow]:
    q = f"SELECT {_REC_COLS} FROM recordings WHERE state IN ('recording','paused')"  # noqa: S608
    return [_recording(r) for r in db.execute(q)]


def past_retention(db: sqlite3.Connection, now: float) -> list[RecordingRow]:
    q = (
        f"SELECT {_REC_COLS} FROM recordings WHERE retention_until IS NOT NULL"  # noqa: S608
        " AND retention_until<? AND expired_at IS NULL AND state NOT IN ('recording','paused')"
    )
    return [_recording(r) for r in db.execute(q, (now,))]


def tracks_of(db: sqlite3.Connection, session_id: str) -> list[TrackRow]:
    q = f"SELECT {_TRACK_COLS} FROM recording_tracks WHERE session_id=? ORDER BY opened_at, id"  # noqa: S608
    return [_track(r) for r in db.execute(q, (session_id,))]


def get_job(db: sqlite3.Connection, kind: str, session_id: str) -> JobRow | None:
    q = f"SELECT {_JOB_COLS} FROM jobs WHERE kind=? AND session_id=?"  # noqa: S608
    row = db.execute(q, (kind, session_id)).fetchone()
    return _job(row) if row else None


def list_jobs(db: sqlite3.Connection, *, limit: int = 100) -> list[JobRow]:
    q = f"SELECT {_JOB_COLS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?"  # noqa: S608
    return [_job(r) for r in db.execute(q, (max(1, min(limit, 500)),))]


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
            "INSERT INTO transcript_flags VALUES (?,?,?,?,?,?)",
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


def search_text(
    db: sqlite3.Connection,
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
    match = " ".join(f'"{w}"' for w in words)
    cond, params = condition(where or QaFilter(), agent_id=agent_id)
    limit = max(1, min(limit, 200))
    hits: list[tuple[float, Hit]] = []
    for source, (table, speaker, at) in _SOURCES.items():
        sql = (
            f"SELECT t.session_id, t.{speaker}, t.{at},"  # noqa: S608
            f" snippet({table}, 0, '[', ']', '…', 12), rank FROM {table} t"
            f" JOIN recordings r ON r.session_id = t.session_id"
            f" WHERE {table} MATCH ? AND {cond} ORDER BY rank LIMIT ?"
        )
        for r in db.execute(sql, (match, *params, limit)):
            hits.append((r[4], Hit(r[0], r[1], float(r[2] or 0), r[3], source)))
    # bm25: lower is better. The two tables score on similar (not identical) scales, which
    # is enough to interleave them; each list is already best-first.
    hits.sort(key=lambda h: h[0])
    return [h for _, h in hits[:limit]]


def flags_of(db: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT name, at, speaker, text, missing FROM transcript_flags WHERE session_id=?"
        " ORDER BY at IS NULL DESC, at",
        (session_id,),
    )
    return [
        {"name": r[0], "at": r[1], "speaker": r[2], "text": r[3], "missing": bool(r[4])}
        for r in rows
    ]


def retry_job(db: sqlite3.Connection, job_id: int, now: float) -> JobRow | None:
    """Queue a failed, cancelled or finished job again; None if there is none or it is busy."""
    cur = db.execute(
        "UPDATE jobs SET state='queued', progress=0, error='', started_at=NULL,"
        " finished_at=NULL, created_at=? WHERE id=? AND state IN ('failed','done','cancelled')",
        (now, job_id),
    )
    return get_job_by_id(db, job_id) if cur.rowcount else None
