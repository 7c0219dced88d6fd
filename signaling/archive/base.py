"""The ``Archive`` interface: what every archive backend offers, and what they share.

The archive keeps staff users, interaction records, every timeline event, and the
records built on them (audit log, links, recordings, jobs, transcripts, scores) for
good. Two backends implement it: SQLite in the data directory (one node, the default)
and PostgreSQL (several nodes sharing one archive). Both pass the same tests
(tests/integration/test_archive_contract.py).

Callers speak one small query API (:class:`Db`): ``fetch``, ``fetchone`` and
``execute`` with ``?`` placeholders, inside ``transaction()`` when several statements
must hold together. SQL is written in the subset both databases share; the few places
where they differ ask :class:`Dialect`. Routine writes never wait: ``record`` and
``execute_later`` queue them for the backend's writer, which applies them in batches,
in order, and ``flush()`` waits until they are stored.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import msgspec

from signaling.errors import LivedeskError
from signaling.interaction import Interaction

Row = tuple[Any, ...]


class ArchiveError(LivedeskError):
    """The archive failed or is unreachable (code ``unavailable``)."""


class Dialect(msgspec.Struct, frozen=True):
    """Where the SQL of the two backends differs."""

    name: str

    def json_text(self, expr: str, key: str) -> str:
        """The text value of a top-level key of a JSON text column."""
        if not key.isidentifier():  # keys are constants in the code, never input
            raise ValueError(f"bad JSON key {key!r}")
        if self.name == "postgres":
            return f"(({expr})::jsonb ->> '{key}')"
        return f"json_extract({expr}, '$.{key}')"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")


class Db(Protocol):
    """A place to run SQL: the archive itself (each call on its own connection) or an
    open transaction. Placeholders are ``?``; rows are tuples."""

    dialect: Dialect

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row the statement returns (``[]`` for one that returns none)."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters (a bulk insert)."""
        ...


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


class Statement:
    """A queued ``execute_later`` write (not a tuple, so it never unpacks as a record)."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: tuple[Any, ...]) -> None:
        self.sql = sql
        self.params = params


INTERACTION_COLS = (
    "id",
    "entry",
    "state",
    "customer_id",
    "customer_name",
    "tier",
    "page",
    "skill",
    "agent_id",
    "created_at",
    "ended_at",
    "ended_reason",
    "disposition",
    "transfers",
    "last_seq",
    "record",
)
_USER_COLS = "username, display_name, role, skills, tiers, capacity, password_hash, disabled"


# Insert or refresh an interaction's row, never with an older record than it holds:
# several nodes archive the same session, and their batches may land in any order.
UPSERT_INTERACTION_SQL = (
    f"INSERT INTO interactions ({', '.join(INTERACTION_COLS)})"  # noqa: S608
    f" VALUES ({','.join('?' * len(INTERACTION_COLS))}) "
    "ON CONFLICT(id) DO UPDATE SET state=excluded.state, agent_id=excluded.agent_id, "
    "skill=excluded.skill, ended_at=excluded.ended_at, ended_reason=excluded.ended_reason, "
    "disposition=excluded.disposition, transfers=excluded.transfers, "
    "last_seq=excluded.last_seq, record=excluded.record "
    "WHERE excluded.last_seq >= interactions.last_seq"
)


INSERT_EVENT_SQL = (
    "INSERT INTO events (session_id, seq, at, kind, actor_role, actor_id, data)"
    " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
)


def interaction_row(inter: Interaction) -> Row:
    return (
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
    )


def event_rows(inter: Interaction, events: Sequence[tuple[int, Any]]) -> list[Row]:
    return [
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
    ]


def latest_records(records: Sequence[tuple[Interaction, Any]]) -> list[Interaction]:
    """One row write per session per batch: the record with the highest ``last_seq``,
    in session id order (so two nodes' batches lock rows in the same order)."""
    latest: dict[str, Interaction] = {}
    for inter, _ in records:
        if inter.id not in latest or inter.last_seq >= latest[inter.id].last_seq:
            latest[inter.id] = inter
    return [latest[sid] for sid in sorted(latest)]


def check_statement(sql: str) -> None:
    verb = sql.split(None, 1)[0].upper() if sql.strip() else ""
    if verb not in ("INSERT", "UPDATE", "DELETE"):
        raise ValueError("execute_later takes a single INSERT, UPDATE or DELETE")


def _user(row: Row) -> User:
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


class Archive(ABC):
    """An archive backend. ``start()`` connects and migrates; ``close()`` drains writes."""

    backend: str = "abstract"
    dialect: Dialect = SQLITE
    refused: int = 0
    """Queued writes the database refused as such (a bug, not an outage), dropped."""

    # ------------------------------------------------------------ lifecycle
    @abstractmethod
    async def start(self) -> None:
        """Connect, apply pending migrations, start the writer."""

    @abstractmethod
    async def close(self) -> None:
        """Store what is queued, stop the writer, release connections."""

    @property
    @abstractmethod
    def status(self) -> str:
        """``ok``, ``stopped`` or ``failing: <why>`` (the writer's last attempt failed)."""

    async def ping(self) -> bool:
        try:
            return await self.fetchone("SELECT 1") == (1,)
        except ArchiveError:
            return False

    # ------------------------------------------------------------ queued writes
    @abstractmethod
    def record(self, inter: Interaction, events: Sequence[tuple[int, Any]]) -> None:
        """Queue the interaction's current record and its new ``(seq, Event)`` pairs."""

    @abstractmethod
    def execute_later(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue one INSERT, UPDATE or DELETE for the writer.

        It runs inside the writer's next batch transaction, after that batch's records
        and in queue order, and ``flush()`` waits for it. For small bookkeeping writes
        such as the audit log. A statement that breaks a constraint or is malformed is
        logged and skipped on its own, never taking the batch's records with it.
        """

    @abstractmethod
    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued write is stored (or ``timeout`` passes)."""

    # ------------------------------------------------------------ queries (Db)
    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    @abstractmethod
    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Db]:
        """A ``Db`` whose statements commit together when the block ends without error."""

    # ------------------------------------------------------------ common reads
    async def events(self, session_id: str) -> list[ArchivedEvent]:
        rows = await self.fetch(
            "SELECT session_id, seq, at, kind, actor_role, actor_id, data FROM events "
            "WHERE session_id=? ORDER BY seq",
            (session_id,),
        )
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

    async def interaction(self, session_id: str) -> dict[str, Any] | None:
        """The archived interaction row as a dict of its columns, or None."""
        cols = ", ".join(INTERACTION_COLS)
        row = await self.fetchone(
            f"SELECT {cols} FROM interactions WHERE id=?",  # noqa: S608 - constant columns
            (session_id,),
        )
        return dict(zip(INTERACTION_COLS, row, strict=True)) if row else None

    async def get_user(self, username: str) -> User | None:
        row = await self.fetchone(
            f"SELECT {_USER_COLS} FROM users WHERE username=?",  # noqa: S608 - constant
            (username,),
        )
        return _user(row) if row else None

    async def list_users(self) -> list[User]:
        rows = await self.fetch(f"SELECT {_USER_COLS} FROM users ORDER BY username")  # noqa: S608
        return [_user(r) for r in rows]

    async def put_user(self, user: User, *, now: float) -> bool:
        """Add or update a staff user; True when it was new."""
        async with self.transaction() as tx:
            existed = await tx.fetchone("SELECT 1 FROM users WHERE username=?", (user.username,))
            await tx.execute(
                "INSERT INTO users (username, display_name, role, skills, tiers, capacity,"
                " password_hash, created_at, disabled) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(username) DO UPDATE SET display_name=excluded.display_name,"
                " role=excluded.role, skills=excluded.skills, tiers=excluded.tiers,"
                " capacity=excluded.capacity, password_hash=excluded.password_hash,"
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
        return existed is None

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT max(version) FROM schema_version")
        return int(row[0] or 0) if row else 0
