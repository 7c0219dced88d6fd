"""The SQLite archive: one file in the data directory, written from one thread.

Writes are queued and applied by a dedicated writer thread, so the event loop never
waits on disk; queries run in the default executor on per-thread connections. The
file is in WAL mode, so readers never block the writer.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import structlog

from signaling.archive.base import (
    INSERT_EVENT_SQL,
    SQLITE,
    UPSERT_INTERACTION_SQL,
    Archive,
    ArchiveError,
    Db,
    Row,
    Statement,
    check_statement,
    event_rows,
    interaction_row,
    latest_records,
)
from signaling.archive.schema import SQLITE_MIGRATIONS
from signaling.interaction import Interaction

log = structlog.get_logger("livedesk.archive")
T = TypeVar("T")

_STOP = object()
_SQLITE_ERROR = 1  # the generic result code: bad SQL, no such table or column


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with the archive's settings (blocking)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def migrate(db: sqlite3.Connection, migrations: Sequence[str] = SQLITE_MIGRATIONS) -> int:
    """Apply pending migrations (blocking); return the schema version."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    for version, script in enumerate(migrations, start=1):
        if version <= current:
            continue
        # the scripts are constants in schema.py; version is an int
        sql = f"BEGIN; {script}; INSERT INTO schema_version VALUES ({version}); COMMIT;"  # noqa: S608
        db.executescript(sql)
        log.info("archive migrated", backend="sqlite", version=version)
    return len(migrations)


def _fail(exc: sqlite3.OperationalError) -> NoReturn:
    """A condition of the database (locked, I/O, full) is ``unavailable``; bad SQL is a bug."""
    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_ERROR:
        raise exc
    raise ArchiveError("unavailable", f"archive: {exc}") from exc


class _Queries:
    """``Db`` methods over ``_run``, which runs a function of a connection in a thread."""

    dialect = SQLITE

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._run(lambda db: db.execute(sql, tuple(params)).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self._run(lambda db: db.execute(sql, tuple(params)).fetchone())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._run(lambda db: db.execute(sql, tuple(params)).rowcount)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._run(lambda db: db.executemany(sql, [tuple(r) for r in rows]))


async def _in_thread(work: Callable[[], T]) -> T:
    try:
        return await asyncio.get_running_loop().run_in_executor(None, work)
    except sqlite3.OperationalError as exc:
        _fail(exc)


class _Tx(_Queries):
    """A ``Db`` on one connection inside BEGIN IMMEDIATE ... COMMIT."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await _in_thread(lambda: fn(self._db))


class SqliteArchive(_Queries, Archive):
    """The archive in one SQLite file. ``start()`` migrates and starts the writer thread."""

    backend = "sqlite"
    dialect = SQLITE

    def __init__(self, path: Path, *, batch: int = 500) -> None:
        self.path = path
        self._batch = batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._failed: str | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._stopping = threading.Event()
        self.refused = 0
        """Queued writes the database refused as such (a bug, not an outage): dropped."""

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Blocking: create the file, migrate, start the writer. Call from a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path)
        try:
            migrate(db)
        finally:
            db.close()
        self._writer = threading.Thread(target=self._write_loop, name="archive-writer", daemon=True)
        self._writer.start()

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.open)

    async def close(self) -> None:
        if self._writer is not None:
            self._stopping.set()
            self._queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join, 30)
            self._writer = None
        with self._lock:
            readers, self._readers = self._readers, []
        for db in readers:
            db.close()

    @property
    def status(self) -> str:
        if self._failed:
            return f"failing: {self._failed}"
        return "ok" if self._writer is not None and self._writer.is_alive() else "stopped"

    # ------------------------------------------------------------ writes
    def record(self, inter: Interaction, events: Sequence[tuple[int, Any]]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put((inter, list(events)))

    def execute_later(self, sql: str, params: Sequence[Any] = ()) -> None:
        check_statement(sql)
        item = Statement(sql, tuple(params))
        with self._lock:
            self._pending += 1
        self._queue.put(item)

    async def flush(self, timeout: float = 10.0) -> None:
        def wait() -> None:
            with self._idle:
                self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

        await asyncio.get_running_loop().run_in_executor(None, wait)

    def _write_loop(self) -> None:
        db = connect(self.path)
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
                self._store(db, items)
                with self._idle:
                    self._pending -= len(items)
                    self._idle.notify_all()
        finally:
            db.close()

    def _store(self, db: sqlite3.Connection, items: list[Any]) -> None:
        """Store one batch. While the file cannot take writes (locked, I/O, disk full) the
        batch is kept and tried again with a growing pause, so nothing queued is lost; a
        batch the database refuses as such (a bug) is stored item by item, and only the
        item it refuses is dropped, loudly."""
        pause = 0.2
        while True:
            try:
                self._apply(db, items)
                if self._failed:
                    log.info("archive writes restored", batch=len(items))
                self._failed = None
                return
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if _condition_of_the_database(exc):
                    self._failed = str(exc)
                    log.warning("archive write failed; will retry", error=str(exc), retry_in=pause)
                    if self._stopping.is_set() and pause >= 5.0:
                        log.error("archive writes dropped at shutdown", items=len(items))
                        return
                    threading.Event().wait(pause)
                    pause = min(pause * 2, 5.0)
                    continue
                if len(items) == 1:
                    self.refused += 1
                    log.error("archive write refused; dropped", error=str(exc), item=repr(items[0]))
                    return
                for item in items:
                    self._store(db, [item])
                return

    def _apply(self, db: sqlite3.Connection, items: list[Any]) -> None:
        records = [it for it in items if not isinstance(it, Statement)]
        statements = [it for it in items if isinstance(it, Statement)]
        db.execute("BEGIN IMMEDIATE")
        for inter in latest_records(records):
            db.execute(UPSERT_INTERACTION_SQL, interaction_row(inter))
        for inter, events in records:
            db.executemany(INSERT_EVENT_SQL, event_rows(inter, events))
        for st in statements:
            _execute_statement(db, st)
        db.execute("COMMIT")

    # ------------------------------------------------------------ queries
    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
            with self._lock:
                self._readers.append(db)
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # each executor thread keeps its own connection (made there, on first use)
        return await _in_thread(lambda: fn(self._reader()))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Db]:
        loop = asyncio.get_running_loop()
        db = await loop.run_in_executor(None, connect, self.path)
        tx = _Tx(db)
        try:
            await tx.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                await loop.run_in_executor(None, db.execute, "ROLLBACK")
                raise
            await tx.execute("COMMIT")
        finally:
            await loop.run_in_executor(None, db.close)


def _condition_of_the_database(exc: sqlite3.Error) -> bool:
    """Busy, locked, I/O, full: the file, not what was sent. Worth trying again."""
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) != _SQLITE_ERROR
    )


def _execute_statement(db: sqlite3.Connection, st: Statement) -> None:
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
