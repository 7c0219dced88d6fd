"""Copy one archive into another: moving from one node's SQLite to a shared PostgreSQL.

``livedesk archive copy --to postgresql://...`` runs this. The target must be empty
(just migrated); every table is copied in key order in chunks, each chunk one
transaction, with progress reported as it goes. The chat search index is not copied: the
target's trigger builds it from the events as they arrive. Identity columns keep their
ids, and PostgreSQL's sequences are moved past them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from signaling.archive.base import INTERACTION_COLS, Archive, ArchiveError, Row


class Table(NamedTuple):
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    """Columns to page by (keyset); empty: the table has no key and is paged by offset."""
    identity: str = ""
    """An id column the database numbers itself."""


TABLES: Sequence[Table] = (
    Table(
        "users",
        ("username", "display_name", "role", "skills", "tiers", "capacity", "password_hash",
         "created_at", "disabled"),
        ("username",),
    ),
    Table("interactions", INTERACTION_COLS, ("id",)),
    Table(
        "events",
        ("session_id", "seq", "at", "kind", "actor_role", "actor_id", "data"),
        ("session_id", "seq"),
    ),
    Table(
        "audit",
        ("id", "at", "kind", "entry", "session_id", "actor", "reason", "detail"),
        ("id",),
        identity="id",
    ),
    Table(
        "links",
        ("jti", "entry", "sub", "tier", "case_id", "kid", "issued_at", "expires_at",
         "issued_by", "used_at"),
        ("jti",),
    ),
    Table(
        "fallbacks",
        ("id", "kind", "entry", "name", "contact", "preferred_time", "text", "page",
         "created_at", "handled_at", "handled_by"),
        ("id",),
        identity="id",
    ),
    Table(
        "recordings",
        ("session_id", "entry", "tier", "agent_id", "agent_name", "customer_name", "state",
         "interrupted", "started_at", "ended_at", "duration_s", "paused_s", "bytes", "tracks",
         "dropped", "review_bytes", "review_duration_s", "render_error", "sealed",
         "retention_until", "expired_at", "updated_at", "review_start_s"),
        ("session_id",),
    ),
    Table(
        "recording_tracks",
        ("id", "session_id", "side", "name", "source", "kind", "codec", "file", "state",
         "opened_at", "frames", "bytes", "dropped", "first_ms", "last_ms", "sealed"),
        ("id",),
    ),
    Table(
        "jobs",
        ("id", "kind", "session_id", "state", "progress", "attempts", "error", "created_at",
         "started_at", "finished_at", "worker"),
        ("id",),
        identity="id",
    ),
    Table("transcript_text", ("text", "session_id", "speaker", "start"), ()),
    Table("transcript_flags", ("session_id", "name", "at", "speaker", "text", "missing"), ()),
    Table(
        "scores",
        ("session_id", "reviewer", "answers", "total", "created_at", "updated_at", "updated_by"),
        ("session_id", "reviewer"),
    ),
    Table(
        "review_comments",
        ("id", "session_id", "author", "at", "text", "created_at"),
        ("id",),
        identity="id",
    ),
    Table("csat", ("session_id", "score", "at"), ("session_id",)),
)  # fmt: skip

Progress = Callable[[str, int, int], None]
"""(table, rows copied so far, rows in the table)"""


class CopyRefused(ArchiveError):
    """The target archive already holds data."""


async def copy_archive(
    source: Archive, target: Archive, *, chunk: int = 2000, progress: Progress | None = None
) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``; rows copied per table."""
    for name in ("users", "interactions", "events", "audit", "recordings"):
        row = await target.fetchone(f"SELECT count(*) FROM {name}")  # noqa: S608 - constant
        if row and row[0]:
            raise CopyRefused(
                "conflict", f"the target archive is not empty ({name} has {row[0]} rows)"
            )
    copied: dict[str, int] = {}
    for table in TABLES:
        copied[table.name] = await _copy_table(source, target, table, chunk, progress)
    return copied


async def _copy_table(
    source: Archive, target: Archive, table: Table, chunk: int, progress: Progress | None
) -> int:
    cols = ", ".join(table.columns)
    total_row = await source.fetchone(f"SELECT count(*) FROM {table.name}")  # noqa: S608
    total = int(total_row[0]) if total_row else 0
    insert = (
        f"INSERT INTO {table.name} ({cols}) VALUES ({','.join('?' * len(table.columns))})"  # noqa: S608
        + (" ON CONFLICT DO NOTHING" if table.key else "")
    )
    done = 0
    last: Row | None = None
    while True:
        rows = await _page(source, table, cols, chunk, last, done)
        if not rows:
            break
        async with target.transaction() as tx:
            await tx.execute_many(insert, rows)
        done += len(rows)
        if table.key:
            last = tuple(rows[-1][table.columns.index(k)] for k in table.key)
        if progress is not None:
            progress(table.name, done, total)
        if len(rows) < chunk:
            break
    if table.identity and target.dialect.name == "postgres":
        # ids were given: the identity's sequence must start past them
        await target.fetchone(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.identity}'),"  # noqa: S608
            f" COALESCE(MAX({table.identity}), 0) + 1, false) FROM {table.name}"
        )
    if progress is not None and total == 0:
        progress(table.name, 0, 0)
    return done


async def _page(
    source: Archive, table: Table, cols: str, chunk: int, last: Row | None, offset: int
) -> list[Row]:
    if not table.key:
        return await source.fetch(
            f"SELECT {cols} FROM {table.name} LIMIT ? OFFSET ?",  # noqa: S608
            (chunk, offset),
        )
    order = ", ".join(table.key)
    if last is None:
        return await source.fetch(
            f"SELECT {cols} FROM {table.name} ORDER BY {order} LIMIT ?",  # noqa: S608
            (chunk,),
        )
    marks = ", ".join("?" * len(table.key))
    return await source.fetch(
        f"SELECT {cols} FROM {table.name} WHERE ({order}) > ({marks})"  # noqa: S608
        f" ORDER BY {order} LIMIT ?",
        (*last, chunk),
    )
