"""The PostgreSQL archive: one database that every node of a deployment shares.

It speaks to PostgreSQL through psycopg 3's asyncio API (``AsyncConnectionPool``), so
the event loop never blocks on it. Queued writes go to one writer task that applies
them in batches, each batch in one transaction; while the database is unreachable the
writer keeps the batch and tries again with a growing pause, so nothing queued is lost
(``status`` says ``failing`` meanwhile, and ``/healthz`` reports it). Queries that fail
because the database is unreachable raise ``ArchiveError('unavailable')`` (HTTP 503).

Migrations run under an advisory lock, so nodes starting together apply each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
import structlog
from psycopg.types.numeric import FloatLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from signaling.archive.base import (
    INSERT_EVENT_SQL,
    POSTGRES,
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
from signaling.archive.schema import POSTGRES_MIGRATIONS
from signaling.interaction import Interaction

log = structlog.get_logger("livedesk.archive")

MIGRATION_LOCK = 0x6C6976656465736B  # "livedesk": the advisory lock id for migrations
_UNREACHABLE = (psycopg.OperationalError, PoolTimeout)
_RETRY_MAX_S = 5.0
_CLOSE_WAIT_S = 30.0


_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@functools.lru_cache(maxsize=1024)
def to_pg(sql: str) -> str:
    """The archive's ``?`` placeholders as psycopg's ``%s``, and every literal ``%`` doubled.

    Quoted strings (``'...'``, ``E'...'`` with backslash escapes, ``$tag$...$tag$``),
    quoted identifiers and comments are copied as they are: a ``?`` in them is text.
    Outside them every ``?`` is a placeholder (so PostgreSQL's ``?`` JSON operators are
    not available: use ``jsonb_exists``).
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        end = i + 1
        if ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
            end = _string_end(sql, i + 1, escapes)
        elif ch == '"':
            end = sql.find('"', i + 1) + 1 or n
        elif sql.startswith("--", i):
            end = sql.find("\n", i) + 1 or n
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2) + 2 if sql.find("*/", i + 2) >= 0 else n
        elif ch == "$" and (m := _DOLLAR.match(sql, i)):
            close = sql.find(m.group(0), m.end())
            end = close + len(m.group(0)) if close >= 0 else n
        elif ch == "?":
            out.append("%s")
            i += 1
            continue
        out.append(sql[i:end].replace("%", "%%"))
        i = end
    return "".join(out)


def _string_end(sql: str, i: int, escapes: bool) -> int:
    """Where a quoted string that opened before ``i`` ends (just past its quote)."""
    n = len(sql)
    while i < n:
        if escapes and sql[i] == "\\":
            i += 2
            continue
        if sql[i] == "'":
            if i + 1 < n and sql[i + 1] == "'":  # a doubled quote is a quote
                i += 2
                continue
            return i + 1
        i += 1
    return n


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # sum() and avg() over integers are NUMERIC; the archive's callers want floats, as
    # SQLite gives them
    conn.adapters.register_loader("numeric", FloatLoader)


_TRANSIENT_CLASSES = frozenset({"08", "25", "40", "53", "55", "57", "58"})
"""SQLSTATE classes of the database's condition, not of what was sent: connection, a
read-only transaction (a failover), serialization or deadlock, resources, locks not
available, operator intervention (a restart), system errors. Worth trying again."""


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, _UNREACHABLE):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in _TRANSIENT_CLASSES


def clean(value: Any) -> Any:
    """A text PostgreSQL can store: NUL, which it cannot (as text, or ``\\u0000`` in
    JSON it casts), becomes U+FFFD. SQLite keeps it as it is."""
    if isinstance(value, str) and ("\x00" in value or "\\u0000" in value):
        return value.replace("\x00", "\ufffd").replace("\\u0000", "\\ufffd")
    return value


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(clean(v) for v in params)


def _unavailable(exc: Exception) -> ArchiveError:
    return ArchiveError("unavailable", f"archive: {str(exc).strip() or type(exc).__name__}")


class _Queries:
    """``Db`` methods over ``_connection``: a pooled connection, or a transaction's own."""

    dialect = POSTGRES

    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._connection() as conn:
            cur = await conn.execute(to_pg(sql), _params(params))
            return list(await cur.fetchall()) if cur.description is not None else []

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._connection() as conn:
            cur = await conn.execute(to_pg(sql), _params(params))
            return max(cur.rowcount, 0)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._connection() as conn, conn.cursor() as cur:
            await cur.executemany(to_pg(sql), [_params(r) for r in rows])


@asynccontextmanager
async def _reachable(
    conns: AbstractAsyncContextManager[psycopg.AsyncConnection[Any]],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection; the database being unreachable is ``ArchiveError('unavailable')``."""
    try:
        async with conns as conn:
            yield conn
    except _UNREACHABLE as exc:
        raise _unavailable(exc) from exc


class _Tx(_Queries):
    """A ``Db`` on one pooled connection inside a transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return _reachable(contextlib.nullcontext(self._conn))


class PostgresArchive(_Queries, Archive):
    """The archive in a PostgreSQL database given by a ``postgresql://`` URL."""

    backend = "postgres"
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        batch: int = 500,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self._batch = batch
        self._connect_timeout_s = connect_timeout_s
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max(2, pool_size),
            open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout_s))},
            configure=_configure,
            timeout=connect_timeout_s,
            name="livedesk-archive",
        )
        self._items: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._failed: str | None = None
        self._closing = False
        self.refused = 0
        """Queued writes the database refused as such (a bug, not an outage): dropped."""

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=self._connect_timeout_s)
            async with self._pool.connection() as conn:
                await migrate(conn)
        except _UNREACHABLE as exc:
            await self._pool.close()
            raise _unavailable(exc) from exc
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._writer = asyncio.create_task(self._write_loop(), name="archive-writer")

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self._closing = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), _CLOSE_WAIT_S)
            if self._pending:
                log.error("archive closed with writes it could not store", pending=self._pending)
            writer.cancel()
            await asyncio.wait([writer])
        await self._pool.close()

    @property
    def status(self) -> str:
        if self._failed:
            return f"failing: {self._failed}"
        return "ok" if self._writer is not None and not self._writer.done() else "stopped"

    # ------------------------------------------------------------ writes
    def _enqueue(self, item: Any) -> None:
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._enqueue, item)
            return
        self._pending += 1
        self._idle.clear()
        self._items.append(item)
        self._wake.set()

    def record(self, inter: Interaction, events: Sequence[tuple[int, Any]]) -> None:
        self._enqueue((inter, list(events)))

    def execute_later(self, sql: str, params: Sequence[Any] = ()) -> None:
        check_statement(sql)
        self._enqueue(Statement(sql, tuple(params)))

    async def flush(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                items = [self._items.popleft() for _ in range(min(self._batch, len(self._items)))]
                await self._store(items)
                self._pending -= len(items)
            if self._pending == 0:
                self._idle.set()

    async def _store(self, items: list[Any]) -> None:
        """Store one batch; while the database is away, keep it and try again."""
        pause = 0.2
        while True:
            try:
                await self._apply(items)
                if self._failed:
                    log.info("archive writes restored", batch=len(items))
                self._failed = None
                return
            except (psycopg.Error, PoolTimeout) as exc:
                if _transient(exc):
                    self._failed = str(exc).strip() or type(exc).__name__
                    log.warning(
                        "archive write failed; will retry", error=self._failed, retry_in=pause
                    )
                    if self._closing and pause >= _RETRY_MAX_S:
                        log.error("archive writes dropped at shutdown", items=len(items))
                        return
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, _RETRY_MAX_S)
                    continue
                # the database refused what we sent (a bug, not an outage): store the rest
                if len(items) == 1:
                    self.refused += 1
                    log.error("archive write refused; dropped", error=str(exc), item=repr(items[0]))
                    return
                for item in items:
                    await self._store([item])
                return

    async def _apply(self, items: list[Any]) -> None:
        records = [it for it in items if not isinstance(it, Statement)]
        statements = [it for it in items if isinstance(it, Statement)]
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                for inter in latest_records(records):
                    row = _params(interaction_row(inter))
                    await cur.execute(to_pg(UPSERT_INTERACTION_SQL), row)
                # in key order, as the interactions: concurrent batches lock alike
                rows = [_params(r) for inter, events in records for r in event_rows(inter, events)]
                rows.sort(key=lambda row: (row[0], row[1]))
                if rows:
                    await cur.executemany(to_pg(INSERT_EVENT_SQL), rows)
            for st in statements:
                await _execute_statement(conn, st)

    # ------------------------------------------------------------ queries
    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return _reachable(self._pool.connection())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Db]:
        async with self._connection() as conn, conn.transaction():
            yield _Tx(conn)


async def migrate(conn: psycopg.AsyncConnection[Any]) -> int:
    """Apply pending migrations under the advisory lock; return the schema version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        cur = await conn.execute("SELECT max(version) FROM schema_version")
        row = await cur.fetchone()
        current = int(row[0] or 0) if row else 0
        for version, script in enumerate(POSTGRES_MIGRATIONS, start=1):
            if version <= current:
                continue
            await conn.execute(script)  # constants in schema.py
            await conn.execute("INSERT INTO schema_version VALUES (%s)", (version,))
            log.info("archive migrated", backend="postgres", version=version)
    return len(POSTGRES_MIGRATIONS)


async def _execute_statement(conn: psycopg.AsyncConnection[Any], st: Statement) -> None:
    """One ``execute_later`` write inside the batch transaction, in its own savepoint: a
    statement the database refuses is logged and skipped; an outage fails the batch."""
    try:
        async with conn.transaction():
            await conn.execute(to_pg(st.sql), _params(st.params))
    except (psycopg.Error, PoolTimeout) as exc:
        if _transient(exc):
            raise
        log.error("archive statement skipped", error=str(exc), sql=st.sql[:120])
