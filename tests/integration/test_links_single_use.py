"""A personal link redeems once: in one process, under concurrency, and across processes.

The Redis cases need a server at LIVEDESK_TEST_REDIS_URL (default the local one);
without it they skip, except on CI (CI=true), where they fail. The audit cases run
against a real archive file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
import pytest_asyncio

from signaling import archive as archive_mod
from signaling import audit
from signaling.archive import Archive
from signaling.interaction import Actor, Role, new_interaction
from signaling.links import LinkError, LinkKeys, issue, mint, redeem
from signaling.store.base import Store
from signaling.store.memory import MemoryStore
from signaling.store.redis import RedisStore

from .conftest import REDIS_URL, drop_prefix, require_redis

NOW = 1_700_000_000.0
KEY = ("k1", "integration-link-secret-" + "q" * 32)
KEYS = LinkKeys(KEY)
REPO = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def redis_prefix() -> AsyncIterator[str]:
    await require_redis()
    prefix = f"ldtest:{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        await drop_prefix(prefix)


def new_token(ttl_s: float = 600) -> str:
    return mint(KEYS, entry="support", sub="cust-42", tier="gold", ttl_s=ttl_s, now=NOW)


async def outcome(coro: Awaitable[object]) -> str:
    try:
        await coro
    except LinkError as exc:
        return exc.reason
    return "ok"


# ---------------------------------------------------------------- one process


async def test_redeem_once_then_used(store: Store) -> None:
    token = new_token()
    claims = await redeem(store, KEYS, token, now=NOW)
    assert (claims.sub, claims.entry, claims.tier) == ("cust-42", "support", "gold")
    with pytest.raises(LinkError) as err:
        await redeem(store, KEYS, token, now=NOW + 1)
    assert err.value.reason == "used"
    assert (err.value.code, err.value.http_status) == ("unauthorized", 410)
    assert err.value.message == "this link was already used"


async def test_other_links_are_independent(store: Store) -> None:
    first, second = new_token(), new_token()
    await redeem(store, KEYS, first, now=NOW)
    assert (await redeem(store, KEYS, second, now=NOW)).jti != ""


async def test_refused_links_do_not_spend_the_nonce(store: Store) -> None:
    token = new_token(ttl_s=60)
    assert await outcome(redeem(store, KEYS, token, now=NOW + 60)) == "expired"
    assert await outcome(redeem(store, KEYS, token + "x", now=NOW)) == "tampered"
    assert await outcome(redeem(store, KEYS, "junk", now=NOW)) == "malformed"
    assert await outcome(redeem(store, KEYS, token, now=NOW)) == "ok"


async def test_two_concurrent_redemptions_one_wins(store: Store) -> None:
    for _ in range(10):
        token = new_token()
        results = await asyncio.gather(
            outcome(redeem(store, KEYS, token, now=NOW)),
            outcome(redeem(store, KEYS, token, now=NOW)),
        )
        assert sorted(results) == ["ok", "used"]


async def test_many_concurrent_redemptions_one_wins(store: Store) -> None:
    token = new_token()
    results = await asyncio.gather(
        *(outcome(redeem(store, KEYS, token, now=NOW)) for _ in range(20))
    )
    assert results.count("ok") == 1
    assert results.count("used") == 19


async def test_two_nodes_sharing_redis(redis_prefix: str) -> None:
    nodes = [RedisStore(REDIS_URL, key_prefix=redis_prefix) for _ in range(2)]
    try:
        for n in nodes:
            await n.start()
        token = new_token()
        results = await asyncio.gather(*(outcome(redeem(n, KEYS, token, now=NOW)) for n in nodes))
        assert sorted(results) == ["ok", "used"]
    finally:
        for n in nodes:
            await n.close()


async def test_spent_mark_outlives_the_link_by_a_minute(redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    node = RedisStore(REDIS_URL, key_prefix=redis_prefix)
    await node.start()
    probe = aioredis.from_url(REDIS_URL)
    try:
        claims = await redeem(node, KEYS, new_token(ttl_s=600), now=NOW + 100)
        ttl = await probe.pttl(f"{redis_prefix}:kv:link-used:{claims.jti}")
        assert 500_000 < ttl <= 560_000  # 500 s left to exp, plus 60 s
    finally:
        await probe.aclose()
        await node.close()


# ---------------------------------------------------------------- separate processes

RACER = r"""
import asyncio, json, os, sys

from signaling.links import LinkError, LinkKeys, redeem
from signaling.store.redis import RedisStore


async def main() -> None:
    job = json.loads(sys.stdin.read())
    keys = LinkKeys((job["kid"], os.environ["LIVEDESK_TEST_LINK_SECRET"]))
    store = RedisStore(job["url"], key_prefix=job["prefix"])
    await store.start()
    results = []
    try:
        await store.kv_set("ready:" + job["name"], b"1", 60)
        while await store.kv_get("go") is None:
            await asyncio.sleep(0.001)
        for token in job["tokens"]:
            try:
                await redeem(store, keys, token, now=job["now"])
                results.append("ok")
            except LinkError as exc:
                results.append(exc.reason)
    finally:
        await store.close()
    print(json.dumps(results))


asyncio.run(main())
"""


async def test_two_processes_race_for_the_same_links(redis_prefix: str) -> None:
    tokens = [new_token() for _ in range(25)]
    env = {
        **os.environ,
        "LIVEDESK_TEST_LINK_SECRET": KEY[1],
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RACER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    control = RedisStore(REDIS_URL, key_prefix=redis_prefix)
    await control.start()
    try:
        for i, proc in enumerate(procs):
            job = {
                "url": REDIS_URL,
                "prefix": redis_prefix,
                "name": f"p{i}",
                "kid": KEY[0],
                "tokens": tokens,
                "now": NOW,
            }
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job).encode())
            await proc.stdin.drain()
            proc.stdin.close()

        async def ready() -> bool:
            return all([await control.kv_get(f"ready:p{i}") for i in range(len(procs))])

        deadline = time.monotonic() + 60
        while not await ready():
            assert all(p.returncode is None for p in procs), "a racer exited before the start"
            assert time.monotonic() < deadline, "the racers did not get ready"
            await asyncio.sleep(0.01)
        await control.kv_set("go", b"1", 60)  # both start together

        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in procs)), timeout=60
        )
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        await control.close()

    per_process: list[list[str]] = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        per_process.append(json.loads(out.decode().strip().splitlines()[-1]))
    for i in range(len(tokens)):
        assert sorted(r[i] for r in per_process) == ["ok", "used"], f"token {i}: {per_process}"


# ---------------------------------------------------------------- audit log in the archive


@pytest_asyncio.fixture
async def arch(tmp_path: Path) -> AsyncIterator[Archive]:
    a = Archive(tmp_path / "archive.sqlite3")
    await a.start()
    try:
        yield a
    finally:
        await a.close()


async def test_audit_round_trip(arch: Archive) -> None:
    audit.record(
        arch,
        audit.ENTRY_REFUSED,
        entry="support",
        session_id="",
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
    assert row.detail == {"channel": "video", "note": "ünïcode"}
    assert row.session_id == ""
    assert row.id >= 1


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
    assert (await audit.recent(arch, kind="link.refused"))[0].reason == "tampered"
    assert await audit.recent(arch, kind="link.used") == []


async def test_audit_rejects_unknown_kinds_and_bounds_sizes(arch: Archive) -> None:
    with pytest.raises(ValueError):
        audit.record(arch, "link.exploded")
    audit.record(arch, audit.FALLBACK_MESSAGE, actor="a" * 5000, detail={"blob": "x" * 50_000})
    await arch.flush()
    (row,) = await audit.recent(arch)
    assert len(row.actor) == audit.MAX_TEXT
    assert row.detail["truncated"] is True


async def test_link_issued_then_used(arch: Archive) -> None:
    token, claims = issue(
        KEYS, entry="support", sub="cust-7", tier="vip", case="s_call123", ttl_s=900, now=NOW
    )
    audit.note_link_issued(arch, claims, issued_by="agent_ann")
    await arch.flush()
    (link,) = await audit.links_issued(arch)
    assert (link.jti, link.entry, link.sub, link.tier, link.case_id, link.kid) == (
        claims.jti,
        "support",
        "cust-7",
        "vip",
        "s_call123",
        "k1",
    )
    assert (link.issued_at, link.expires_at, link.issued_by, link.used_at) == (
        float(int(NOW)),
        float(int(NOW) + 900),
        "agent_ann",
        None,
    )

    store = MemoryStore()
    used = await redeem(store, KEYS, token, now=NOW + 30)
    audit.note_link_used(arch, used.jti, NOW + 30, entry=used.entry, session_id="s_call123")
    audit.note_link_used(arch, used.jti, NOW + 99)  # a late duplicate does not move used_at
    await arch.flush()
    (link,) = await audit.links_issued(arch, entry="support")
    assert link.used_at == NOW + 30
    assert await audit.links_issued(arch, entry="other") == []

    kinds = [r.kind for r in await audit.recent(arch)]
    assert kinds.count("link.issued") == 1 and kinds.count("link.used") == 2
    issued = (await audit.recent(arch, kind="link.issued"))[0]
    assert issued.actor == "agent_ann" and issued.session_id == "s_call123"
    assert issued.detail["jti"] == claims.jti
    assert token not in json.dumps([r.detail for r in await audit.recent(arch)])


async def test_noting_the_same_link_twice_keeps_one_row(arch: Archive) -> None:
    _, claims = issue(KEYS, entry="support", sub="c", tier="t", ttl_s=60, now=NOW)
    audit.note_link_issued(arch, claims, issued_by="a")
    audit.note_link_issued(arch, claims, issued_by="b")
    await arch.flush()
    (link,) = await audit.links_issued(arch)
    assert link.issued_by == "a"


# ---------------------------------------------------------------- execute_later itself


async def test_a_bad_statement_is_skipped_alone(tmp_path: Path) -> None:
    """Queued before the writer starts, so all of it lands in one batch transaction."""
    a = Archive(tmp_path / "archive.sqlite3")
    inter, events = new_interaction(
        session_id="s_batch", entry="support", customer=Actor(Role.CUSTOMER, "c1", "Cleo"), now=NOW
    )
    a.record(inter, list(enumerate(events, start=1)))
    audit.record(a, audit.FALLBACK_MESSAGE, detail={"n": 1}, at=NOW)
    a.execute_later("INSERT INTO audit (at, kind) VALUES (?, NULL)", (NOW,))  # NOT NULL
    a.execute_later("INSERT INTO audit (at, kind) VALUES (?)", (NOW, "x"))  # bindings
    a.execute_later("INSERT INTO audit (at, kind) VALUES (?, ?)", (NOW, object()))  # type
    a.execute_later("INSERT INTO no_such_table VALUES (1)")
    a.execute_later("UPDATE audit SET no_such_column=1")
    audit.record(a, audit.FALLBACK_MESSAGE, detail={"n": 2}, at=NOW + 1)
    await a.start()
    try:
        await a.flush()
        assert [r.detail["n"] for r in await a.run(lambda db: audit.query_recent(db, None))] == [
            2,
            1,
        ]
        assert (await a.interaction("s_batch")) is not None
        assert len(await a.events("s_batch")) == len(events)
        assert a.status == "ok"
    finally:
        await a.close()


@pytest.mark.parametrize("sql", ["COMMIT", "DROP TABLE audit", "  ", "SELECT 1", "BEGIN"])
def test_execute_later_takes_only_writes(tmp_path: Path, sql: str) -> None:
    with pytest.raises(ValueError):
        Archive(tmp_path / "a.sqlite3").execute_later(sql)


def test_later_migrations_apply_to_a_version_one_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(archive_mod, "MIGRATIONS", archive_mod.MIGRATIONS[:1])
        archive_mod.connect(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (1,)
        latest = len(archive_mod.MIGRATIONS)
        assert archive_mod.migrate(db) == latest
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (latest,)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert {"audit", "links", "audit_kind_at", "links_issued_at", "users"} <= tables
        assert "fallbacks" in tables
        assert archive_mod.migrate(db) == latest  # idempotent
    finally:
        db.close()


def test_sync_queries_for_the_cli(tmp_path: Path) -> None:
    db = archive_mod.connect(tmp_path / "cli.sqlite3")
    try:
        assert audit.query_recent(db, None) == []
        assert audit.query_links(db) == []
    finally:
        db.close()
