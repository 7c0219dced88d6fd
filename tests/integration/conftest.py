"""A real livedesk server on loopback, once on the memory store and once on Redis."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
from signaling.store import MemoryStore, Store
from signaling.store.redis import RedisStore

REDIS_URL = os.environ.get("LIVEDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery"
CUSTOMER_SECRET = "company-backend-shared-secret-0123456789"

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


async def drop_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
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
        import json

        db = sqlite3.connect(self.cfg.archive_path)
        try:
            rows = db.execute(
                "SELECT seq, kind, data FROM events WHERE session_id=? ORDER BY seq", (session,)
            ).fetchall()
        finally:
            db.close()
        return [(seq, kind, json.loads(data)) for seq, kind, data in rows]


def add_user(
    cfg: config.Config,
    username: str,
    role: str = "agent",
    *,
    skills: tuple[str, ...] = (),
    tiers: tuple[str, ...] = (),
    capacity: int = 3,
) -> None:
    db = archive.connect(cfg.archive_path)
    try:
        archive.put_user(
            db,
            archive.User(
                username=username,
                display_name=username.replace("_", " ").title(),
                role=role,
                skills=skills,
                tiers=tiers,
                capacity=capacity,
                password_hash=_HASH,
            ),
            now=time.time(),
        )
    finally:
        db.close()


async def require_redis() -> None:
    """Skip without Redis, but fail under CI=true: CI must exercise the Redis store."""
    probe = aioredis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        reason = f"no Redis at {REDIS_URL} ({exc}); set LIVEDESK_TEST_REDIS_URL"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs Redis for the store contract: {reason}")
        pytest.skip(reason)
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


StartDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def start_desk(store_kind: str, tmp_path: Path) -> AsyncIterator[StartDesk]:
    """A factory: ``await start_desk(users=..., **config_overrides)``."""
    started: list[Desk] = []
    prefixes: list[str] = []
    if store_kind == "redis" and not await redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis does not answer at {REDIS_URL} (run scripts/ensure-test-deps.sh)")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")

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
    for desk in started:
        for c in desk.clients:
            await c.close()
        for s in desk.sessions:
            await s.close()
        await desk.server.close()
    for prefix in prefixes:
        await drop_prefix(prefix)


def _dump_tasks(*_: object) -> None:  # debugging aid: kill -USR1 <pytest pid>
    import asyncio

    for task in asyncio.all_tasks():
        with open("/tmp/tasks.txt", "a") as fh:
            task.print_stack(file=fh)


import signal  # noqa: E402

signal.signal(signal.SIGUSR1, _dump_tasks)
