"""A personal link redeems once: in one process, under concurrency, and across processes.

The Redis cases need a server at LIVEDESK_TEST_REDIS_URL (default the local one);
without it they skip, except on CI (CI=true), where they fail. How the audit log keeps
issued and used links is in test_archive_contract.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
import pytest_asyncio

from signaling.links import LinkError, LinkKeys, mint, redeem
from signaling.store.base import Store
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
