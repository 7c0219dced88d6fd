"""A real livedesk server on loopback, in the two shapes of a deployment.

``memory``: one node, the memory store and the SQLite archive (the zero-config default).
``redis``: the store on the local Redis and the archive on the local PostgreSQL, each
test under its own Redis key prefix and its own PostgreSQL schema (what several nodes
share).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from redis.exceptions import RedisError

from signaling import archive, auth, config
from signaling.app import create_app
from signaling.client import CustomerClient, StaffClient
from signaling.keys import SHUTDOWN_PROBLEMS
from signaling.store import MemoryStore, Store
from signaling.store.redis import RedisStore

REDIS_URL = os.environ.get("LIVEDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get(
    "LIVEDESK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PASSWORD = "correct horse battery"
CUSTOMER_SECRET = "company-backend-shared-secret-0123456789"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed multi-node test's report ends with its nodes' logs: a CI run's output
    is then enough to see what each node did (the log files go with the machine)."""
    from .nodes import RUNNING, STOPPED_BY_ERROR

    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    stopped = list(STOPPED_BY_ERROR)
    STOPPED_BY_ERROR.clear()
    if rep.failed:
        for text in [*stopped, *(nodes.log_tails() for nodes in RUNNING)]:
            rep.sections.append(("node logs", text))


# scrypt is deliberately slow; hash the test password once per run
_HASH = auth.hash_password(PASSWORD)


async def redis_available() -> bool:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await client.aclose()


async def drop_prefix(prefix: str, url: str = REDIS_URL) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass
class Desk:
    """A running server plus helpers to make its people."""

    base: str
    server: TestServer
    cfg: config.Config
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.server.app

    async def http(self) -> aiohttp.ClientSession:
        s = aiohttp.ClientSession()
        self.sessions.append(s)
        return s

    async def customer(self, text: str = "Hello, I need help", **kw: Any) -> CustomerClient:
        c = await CustomerClient.start(await self.http(), self.base, entry="demo", text=text, **kw)
        self.clients.append(c)
        return c

    async def staff(self, username: str, *, status: str | None = "available") -> StaffClient:
        a = await StaffClient.login(await self.http(), self.base, username, PASSWORD)
        self.clients.append(a)
        if status:
            await a.set_status(status)
        return a

    def archive_events(self, session: str) -> list[tuple[int, str, dict[str, Any]]]:
        """The session's events as the archive (SQLite or PostgreSQL) holds them."""
        events = archive.blocking(self.cfg, lambda a: a.events(session))
        return [(e.seq, e.kind, e.data) for e in events]


def add_user(
    cfg: config.Config,
    username: str,
    role: str = "agent",
    *,
    skills: tuple[str, ...] = (),
    tiers: tuple[str, ...] = (),
    capacity: int = 3,
) -> None:
    user = archive.User(
        username=username,
        display_name=username.replace("_", " ").title(),
        role=role,
        skills=skills,
        tiers=tiers,
        capacity=capacity,
        password_hash=_HASH,
    )
    archive.blocking(cfg, lambda a: a.put_user(user, now=time.time()))


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs this service: {reason}")
    pytest.skip(reason)


def postgres_available() -> str | None:
    """None when PostgreSQL answers at DATABASE_URL, else why not."""
    import psycopg

    try:
        with psycopg.connect(DATABASE_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return (
            f"no PostgreSQL at {DATABASE_URL} ({str(exc).strip()}); set LIVEDESK_TEST_DATABASE_URL"
        )
    return None


def require_postgres() -> None:
    """Skip without PostgreSQL, but fail under CI=true: CI must exercise that archive."""
    why = postgres_available()
    if why is not None:
        _fail_or_skip(why)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test: yields an archive URL that uses it."""
    import psycopg

    require_postgres()
    schema = f"ldtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in DATABASE_URL else "?"
    try:
        # the application name marks every connection made for this test's schema
        yield f"{DATABASE_URL}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        _drop_schema(schema)


def _drop_schema(schema: str) -> None:
    """Drop a test's schema without ever waiting on a lock for long: connections of the
    test still open (a server that did not close its archive) are named in a warning and
    ended, then the drop is tried again."""
    import warnings

    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '5s'")
        for _attempt in range(3):
            try:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                return
            except psycopg.errors.LockNotAvailable:
                rows = conn.execute(
                    "SELECT pid, state, left(query, 120) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (schema,),
                ).fetchall()
                warnings.warn(
                    f"schema {schema}: drop waited on connections still open: {rows}",
                    stacklevel=2,
                )
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (schema,),
                )
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def require_redis() -> None:
    """Skip without Redis, but fail under CI=true: CI must exercise the Redis store."""
    probe = aioredis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        _fail_or_skip(f"no Redis at {REDIS_URL} ({exc}); set LIVEDESK_TEST_REDIS_URL")
    finally:
        await probe.aclose()


@asynccontextmanager
async def redis_stores(count: int = 1) -> AsyncIterator[list[RedisStore]]:
    """``count`` stores sharing a fresh key prefix, like nodes of one deployment."""
    await require_redis()
    prefix = f"ldtest:{uuid4().hex}"
    stores = [RedisStore(REDIS_URL, key_prefix=prefix) for _ in range(count)]
    try:
        for s in stores:
            await s.start()
        yield stores
    finally:
        for s in stores:
            await s.close()
        await drop_prefix(prefix)


@pytest_asyncio.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        mem = MemoryStore()
        await mem.start()
        yield mem
        await mem.close()
        return
    async with redis_stores() as (rs,):
        yield rs


@asynccontextmanager
async def opened_archive(kind: str, tmp_path: Path) -> AsyncIterator[archive.Archive]:
    """A started, migrated archive: a SQLite file, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        arch: archive.Archive = archive.SqliteArchive(tmp_path / "archive.sqlite3")
        await arch.start()
        try:
            yield arch
        finally:
            await arch.close()
        return
    from signaling.archive.postgres import PostgresArchive

    with pg_schema() as url:
        arch = PostgresArchive(url)
        await arch.start()
        try:
            yield arch
        finally:
            await arch.close()


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def arch(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[archive.Archive]:
    """Each archive test runs on both backends."""
    async with opened_archive(str(request.param), tmp_path) as a:
        yield a


StartDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def start_desk(store_kind: str, tmp_path: Path) -> AsyncIterator[StartDesk]:
    """A factory: ``await start_desk(users=..., **config_overrides)``."""
    started: list[Desk] = []
    prefixes: list[str] = []
    schemas: list[Any] = []
    if store_kind == "redis" and not await redis_available():
        _fail_or_skip(f"Redis does not answer at {REDIS_URL} (run scripts/ensure-test-deps.sh)")

    async def start(
        users: tuple[tuple[Any, ...], ...] = (("agent_ann",), ("agent_bob",)),
        **sections: dict[str, Any],
    ) -> Desk:
        raw: dict[str, Any] = {
            "server": {"data_dir": str(tmp_path / f"data{len(started)}"), "demo": False},
            "routing": {"offer_timeout_s": 5.0, "tick_s": 0.05, "presence_grace_s": 0.3},
            "limits": {"ws_heartbeat_s": 5.0},
            "customer_tokens": {"secret": CUSTOMER_SECRET},
            # aioice leaves loopback out of its host candidates; tests stay on it
            "media": {"host_addresses": ["127.0.0.1"]},
        }
        if store_kind == "redis":
            prefix = f"ldtest:{uuid.uuid4().hex[:12]}"
            prefixes.append(prefix)
            raw["store"] = {"redis_url": REDIS_URL, "key_prefix": prefix}
            schema = pg_schema()
            raw["archive"] = {"url": schema.__enter__()}
            schemas.append(schema)
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        cfg = config.from_dict(raw)
        for spec in users:
            username, *rest = spec
            opts = rest[0] if rest else {}
            add_user(cfg, username, **opts)
        server = TestServer(
            create_app(cfg, secret=b"integration-test-server-secret-0123456789"), host="127.0.0.1"
        )
        await server.start_server()
        desk = Desk(base=str(server.make_url("")).rstrip("/"), server=server, cfg=cfg)
        started.append(desk)
        return desk

    yield start
    problems: list[str] = []
    for desk in started:
        for c in desk.clients:
            await _bounded(f"closing client {c!r}", c.close(), problems)
        for s in desk.sessions:
            await _bounded("closing an HTTP session", s.close(), problems)
        await _bounded("closing the server", desk.server.close(), problems)
        problems.extend(desk.app[SHUTDOWN_PROBLEMS])
    for prefix in prefixes:
        await _bounded(f"dropping {prefix}", drop_prefix(prefix), problems)
    for schema in schemas:
        schema.__exit__(None, None, None)
    assert not problems, "teardown: " + "; ".join(problems)


async def _bounded(what: str, step: Awaitable[Any], problems: list[str]) -> None:
    """Run one teardown step for at most 40 s; a hang is reported with every task's
    stack rather than left to the test timeout, which shows only threads."""
    import asyncio
    import io

    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait([task], timeout=40)
    if done:
        task.result()
        return
    out = io.StringIO()
    for t in asyncio.all_tasks():
        t.print_stack(limit=6, file=out)
    problems.append(f"{what} hung over 40 s; tasks:\n{out.getvalue()}")
    task.cancel()


@pytest.fixture(scope="session")
def media_clips() -> None:
    """The synthetic clips the media tests send, encoded before any test's event loop
    runs. Encoding 10 s of video takes seconds on a loaded machine; done inside a test it
    stalls the loop past the server's WebSocket heartbeat, and the server drops both sides.
    """
    from .test_media import audio_clip, video_clip

    video_clip()
    audio_clip()


def _dump_tasks(*_: object) -> None:  # debugging aid: kill -USR1 <pytest pid>
    import asyncio

    for task in asyncio.all_tasks():
        with open("/tmp/tasks.txt", "a") as fh:
            task.print_stack(file=fh)


import signal  # noqa: E402

signal.signal(signal.SIGUSR1, _dump_tasks)
