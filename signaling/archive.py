"""The archive: SQLite in the data directory, written from one thread.

It keeps staff users, interaction records and every timeline event for good.
Writes are queued and applied by a dedicated writer thread, so the event loop
never waits on disk; reads run in the default executor. Schema migrations are
applied in order at start-up and recorded in ``schema_version``.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import structlog

from signaling.interaction import Interaction

log = structlog.get_logger("livedesk.archive")
T = TypeVar("T")

MIGRATIONS: Sequence[str] = (
    # 1: users, interactions, events
    """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        skills TEXT NOT NULL DEFAULT '[]',
        tiers TEXT NOT NULL DEFAULT '[]',
        capacity INTEGER NOT NULL DEFAULT 3,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE interactions (
        id TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        state TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        customer_name TEXT NOT NULL,
        tier TEXT NOT NULL,
        page TEXT NOT NULL,
        skill TEXT NOT NULL,
        agent_id TEXT,
        created_at REAL NOT NULL,
        ended_at REAL,
        ended_reason TEXT NOT NULL DEFAULT '',
        disposition TEXT NOT NULL DEFAULT '',
        transfers INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0,
        record TEXT NOT NULL
    );
    CREATE INDEX interactions_created ON interactions(created_at);
    CREATE INDEX interactions_agent ON interactions(agent_id);
    CREATE TABLE events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    """,
    # 2: audit log, personal links issued and used
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        entry TEXT NOT NULL DEFAULT '',
        session_id TEXT NOT NULL DEFAULT '',
        actor TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_kind_at ON audit(kind, at);
    CREATE INDEX audit_at ON audit(at);
    CREATE TABLE links (
        jti TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        sub TEXT NOT NULL,
        tier TEXT NOT NULL,
        case_id TEXT NOT NULL DEFAULT '',
        kid TEXT NOT NULL,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        issued_by TEXT NOT NULL DEFAULT '',
        used_at REAL
    );
    CREATE INDEX links_issued_at ON links(issued_at);
    """,
    # 3: callback requests and messages left when no channel is open
    """
    CREATE TABLE fallbacks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        entry TEXT NOT NULL,
        name TEXT NOT NULL,
        contact TEXT NOT NULL,
        preferred_time TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        page TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        handled_at REAL,
        handled_by TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX fallbacks_open ON fallbacks(handled_at, created_at);
    """,
    # 4: recordings, their tracks, and background jobs (review rendering, transcription)
    """
    CREATE TABLE recordings (
        session_id TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        tier TEXT NOT NULL DEFAULT '',
        agent_id TEXT NOT NULL DEFAULT '',
        agent_name TEXT NOT NULL DEFAULT '',
        customer_name TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        interrupted INTEGER NOT NULL DEFAULT 0,
        started_at REAL NOT NULL,
        ended_at REAL,
        duration_s REAL NOT NULL DEFAULT 0,
        paused_s REAL NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        tracks INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        review_bytes INTEGER NOT NULL DEFAULT 0,
        review_duration_s REAL NOT NULL DEFAULT 0,
        render_error TEXT NOT NULL DEFAULT '',
        sealed INTEGER NOT NULL DEFAULT 0,
        retention_until REAL,
        expired_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX recordings_started ON recordings(started_at);
    CREATE INDEX recordings_state ON recordings(state);
    CREATE INDEX recordings_retention ON recordings(retention_until);
    CREATE TABLE recording_tracks (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        side TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        codec TEXT NOT NULL,
        file TEXT NOT NULL,
        state TEXT NOT NULL,
        opened_at REAL NOT NULL,
        frames INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        first_ms INTEGER,
        last_ms INTEGER,
        sealed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX recording_tracks_session ON recording_tracks(session_id);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        UNIQUE (kind, session_id)
    );
    CREATE INDEX jobs_state ON jobs(state, created_at);
    """,
    # 5: transcripts: full-text search over what was said, and phrase flags
    """
    CREATE VIRTUAL TABLE transcript_text USING fts5(
        text, session_id UNINDEXED, speaker UNINDEXED, start UNINDEXED,
        tokenize = 'unicode61'
    );
    CREATE TABLE transcript_flags (
        session_id TEXT NOT NULL,
        name TEXT NOT NULL,
        at REAL,
        speaker TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        missing INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX transcript_flags_session ON transcript_flags(session_id);
    CREATE INDEX transcript_flags_name ON transcript_flags(name);
    ALTER TABLE recordings ADD COLUMN review_start_s REAL NOT NULL DEFAULT 0;
    """,
    # 6: QA scores (one per reviewer and session) and comments pinned to a moment
    """
    CREATE TABLE scores (
        session_id TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        answers TEXT NOT NULL,
        total REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (session_id, reviewer)
    );
    CREATE TABLE review_comments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        author TEXT NOT NULL,
        at REAL NOT NULL,
        text TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX review_comments_session ON review_comments(session_id, at);
    """,
    # 7: the customer's answer to the one-question survey at the end (CSAT, 1-5)
    """
    CREATE TABLE csat (
        session_id TEXT PRIMARY KEY,
        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        at REAL NOT NULL
    );
    """,
    # 8: full-text search over chat, kept by a trigger as chat messages are archived
    """
    CREATE VIRTUAL TABLE chat_text USING fts5(
        text, session_id UNINDEXED, side UNINDEXED, at UNINDEXED, tokenize = 'unicode61'
    );
    CREATE TRIGGER events_chat_text AFTER INSERT ON events
    WHEN new.kind = 'chat.message' BEGIN
        INSERT INTO chat_text (text, session_id, side, at) VALUES (
            json_extract(new.data, '$.text'), new.session_id, new.actor_role,
            new.at - COALESCE(
                (SELECT created_at FROM interactions WHERE id = new.session_id), new.at)
        );
    END;
    INSERT INTO chat_text (text, session_id, side, at)
        SELECT json_extract(e.data, '$.text'), e.session_id, e.actor_role,
               e.at - i.created_at
        FROM events e JOIN interactions i ON i.id = e.session_id
        WHERE e.kind = 'chat.message';
    """,
)


class User(msgspec.Struct, frozen=True):
    username: str
    display_name: str
    role: str
    skills: tuple[str, ...]
    tiers: tuple[str, ...]
    capacity: int
    password_hash: str
    disabled: bool = False


class ArchivedEvent(msgspec.Struct, frozen=True):
    session_id: str
    seq: int
    at: float
    kind: str
    actor_role: str
    actor_id: str
    data: dict[str, Any]


_STOP = object()


class _Statement:
    """A queued ``execute_later`` write (not a tuple, so it never unpacks as a record)."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: tuple[Any, ...]) -> None:
        self.sql = sql
        self.params = params


class Archive:
    """SQLite archive. ``open()`` migrates and starts the writer thread."""

    def __init__(self, path: Path, *, batch: int = 500) -> None:
        self.path = path
        self._batch = batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._failed: str | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Blocking: create the file, migrate, start the writer. Call from a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            migrate(db)
        self._writer = threading.Thread(target=self._write_loop, name="archive-writer", daemon=True)
        self._writer.start()

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.open)

    async def close(self) -> None:
        if self._writer is None:
            return
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join, 30)
        self._writer = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @property
    def status(self) -> str:
        if self._failed:
            return f"failing: {self._failed}"
        return "ok" if self._writer is not None and self._writer.is_alive() else "stopped"

    # ------------------------------------------------------------ writes
    def record(self, inter: Interaction, events: Sequence[tuple[int, Any]]) -> None:
        """Queue the interaction's current record and its new ``(seq, Event)`` pairs."""
        with self._lock:
            self._pending += 1
        self._queue.put((inter, list(events)))

    def execute_later(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue one INSERT, UPDATE or DELETE for the writer thread.

        It runs inside the writer's next batch transaction, after that batch's
        records and in queue order, and ``flush()`` waits for it. For small
        bookkeeping writes such as the audit log (signaling/audit.py). A statement
        that breaks a constraint or is malformed is logged and skipped on its own,
        never taking the batch's records with it.
        """
        verb = sql.split(None, 1)[0].upper() if sql.strip() else ""
        if verb not in ("INSERT", "UPDATE", "DELETE"):
            raise ValueError("execute_later takes a single INSERT, UPDATE or DELETE")
        item = _Statement(sql, tuple(params))
        with self._lock:
            self._pending += 1
        self._queue.put(item)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued write is on disk."""

        def wait() -> None:
            with self._idle:
                self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

        await asyncio.get_running_loop().run_in_executor(None, wait)

    def _write_loop(self) -> None:
        db = self._connect()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                items = [item]
                while len(items) < self._batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._queue.put(_STOP)
                        break
                    items.append(nxt)
                self._apply(db, items)
        finally:
            db.close()

    def _apply(self, db: sqlite3.Connection, items: list[Any]) -> None:
        records = [it for it in items if not isinstance(it, _Statement)]
        statements = [it for it in items if isinstance(it, _Statement)]
        for attempt in range(5):
            try:
                db.execute("BEGIN IMMEDIATE")
                latest: dict[str, Interaction] = {}
                for inter, _ in records:  # one row write per session per batch
                    if inter.id not in latest or inter.last_seq >= latest[inter.id].last_seq:
                        latest[inter.id] = inter
                for inter in latest.values():
                    _write_interaction(db, inter)
                for inter, events in records:
                    db.executemany(
                        "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?)",
                        [
                            (
                                inter.id,
                                seq,
                                ev.at,
                                ev.kind,
                                ev.actor_role,
                                ev.actor_id,
                                json.dumps(ev.data, ensure_ascii=False),
                            )
                            for seq, ev in events
                        ],
                    )
                for st in statements:
                    _execute_statement(db, st)
                db.execute("COMMIT")
                self._failed = None
                break
            except sqlite3.Error as exc:
                db.execute("ROLLBACK") if db.in_transaction else None
                self._failed = str(exc)
                log.error("archive write failed", error=str(exc), attempt=attempt)
                threading.Event().wait(0.2 * (attempt + 1))
        with self._idle:
            self._pending -= len(items)
            self._idle.notify_all()

    # ------------------------------------------------------------ reads
    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            db = self._connect()
            try:
                return fn(db)
            finally:
                db.close()

        return await asyncio.get_running_loop().run_in_executor(None, run)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on its own autocommit connection in the default executor.

        For reads, and for a rare small write whose result the caller awaits;
        routine writes go through the writer thread (``record``, ``execute_later``).
        """
        return await self._read(fn)

    async def events(self, session_id: str) -> list[ArchivedEvent]:
        def q(db: sqlite3.Connection) -> list[ArchivedEvent]:
            rows = db.execute(
                "SELECT session_id, seq, at, kind, actor_role, actor_id, data FROM events "
                "WHERE session_id=? ORDER BY seq",
                (session_id,),
            ).fetchall()
            return [
                ArchivedEvent(
                    session_id=r[0],
                    seq=r[1],
                    at=r[2],
                    kind=r[3],
                    actor_role=r[4],
                    actor_id=r[5],
                    data=json.loads(r[6]),
                )
                for r in rows
            ]

        return await self._read(q)

    async def interaction(self, session_id: str) -> dict[str, Any] | None:
        def q(db: sqlite3.Connection) -> dict[str, Any] | None:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM interactions WHERE id=?", (session_id,)).fetchone()
            return dict(row) if row else None

        return await self._read(q)

    async def get_user(self, username: str) -> User | None:
        return await self._read(lambda db: get_user(db, username))

    async def list_users(self) -> list[User]:
        return await self._read(list_users)

    async def ping(self) -> bool:
        try:
            return await self._read(lambda db: db.execute("SELECT 1").fetchone() == (1,))
        except sqlite3.Error:
            return False


def _write_interaction(db: sqlite3.Connection, inter: Interaction) -> None:
    db.execute(
        "INSERT INTO interactions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET state=excluded.state, agent_id=excluded.agent_id, "
        "skill=excluded.skill, ended_at=excluded.ended_at, ended_reason=excluded.ended_reason, "
        "disposition=excluded.disposition, transfers=excluded.transfers, "
        "last_seq=max(interactions.last_seq, excluded.last_seq), record=excluded.record",
        (
            inter.id,
            inter.entry,
            inter.state.value,
            inter.customer_id,
            inter.customer_name,
            inter.tier,
            inter.page,
            inter.skill,
            inter.agent_id,
            inter.created_at,
            inter.ended_at,
            inter.ended_reason,
            inter.disposition,
            inter.transfers,
            inter.last_seq,
            msgspec.json.encode(inter).decode(),
        ),
    )


# ------------------------------------------------------------ synchronous helpers
# The CLI uses these directly (no event loop); the server wraps them in threads.


def migrate(db: sqlite3.Connection) -> int:
    """Apply pending migrations; return the schema version."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    for version, script in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        # the scripts are constants in this module; version is an int
        sql = f"BEGIN; {script}; INSERT INTO schema_version VALUES ({version}); COMMIT;"  # noqa: S608
        db.executescript(sql)
        log.info("archive migrated", version=version)
    return len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    migrate(db)
    return db


def put_user(db: sqlite3.Connection, user: User, *, now: float) -> None:
    db.execute(
        "INSERT INTO users (username, display_name, role, skills, tiers, capacity, password_hash,"
        " created_at, disabled) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(username) DO UPDATE SET "
        "display_name=excluded.display_name, role=excluded.role, skills=excluded.skills, "
        "tiers=excluded.tiers, capacity=excluded.capacity, password_hash=excluded.password_hash,"
        " disabled=excluded.disabled",
        (
            user.username,
            user.display_name,
            user.role,
            json.dumps(list(user.skills)),
            json.dumps(list(user.tiers)),
            user.capacity,
            user.password_hash,
            now,
            int(user.disabled),
        ),
    )


def _user(row: tuple[Any, ...]) -> User:
    return User(
        username=row[0],
        display_name=row[1],
        role=row[2],
        skills=tuple(json.loads(row[3])),
        tiers=tuple(json.loads(row[4])),
        capacity=row[5],
        password_hash=row[6],
        disabled=bool(row[7]),
    )


_USER_COLS = "username, display_name, role, skills, tiers, capacity, password_hash, disabled"


def get_user(db: sqlite3.Connection, username: str) -> User | None:
    query = f"SELECT {_USER_COLS} FROM users WHERE username=?"  # noqa: S608 - constant columns
    row = db.execute(query, (username,)).fetchone()
    return _user(row) if row else None


def list_users(db: sqlite3.Connection) -> list[User]:
    query = f"SELECT {_USER_COLS} FROM users ORDER BY username"  # noqa: S608 - constant columns
    rows = db.execute(query).fetchall()
    return [_user(r) for r in rows]


_SQLITE_ERROR = 1  # the generic result code: bad SQL, no such table or column


def _execute_statement(db: sqlite3.Connection, st: _Statement) -> None:
    """One ``execute_later`` write inside the open batch transaction.

    A savepoint confines a bad statement (bad SQL, constraint, bindings) to itself,
    so it cannot cost the batch its records; conditions of the database itself
    (busy, locked, disk I/O, full) propagate, and the whole batch is retried.
    """
    db.execute("SAVEPOINT execute_later")
    try:
        db.execute(st.sql, st.params)
    except sqlite3.Error as exc:
        own_fault = not isinstance(exc, sqlite3.OperationalError) or (
            getattr(exc, "sqlite_errorcode", None) == _SQLITE_ERROR
        )
        if not own_fault:
            raise
        db.execute("ROLLBACK TO execute_later")
        log.error("archive statement skipped", error=str(exc), sql=st.sql[:120])
    db.execute("RELEASE execute_later")
