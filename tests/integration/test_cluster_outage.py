"""Redis goes away for 30 s under a running deployment, and comes back.

Three real node processes share a Redis this test starts (and stops, and starts again)
and the local PostgreSQL archive. A customer on node 1 and an agent on node 2 are on a
video call when Redis stops: the video keeps flowing, chat keeps flowing both ways
(the session's owner applies it and the nodes reach each other over the peer link),
a new customer is refused at once with 503 and a retry hint, and when Redis is back
the nodes take up where they were without a restart: what was said meanwhile is in
the store's log with the numbers the clients saw, new customers are served again, and
nobody was taken for dead.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from signaling import archive

from .conftest import drop_prefix, pg_schema
from .nodes import free_port, node_processes
from .redis_server import RedisServer
from .test_cluster import BASE_CONFIG, LEASE_S, Deployment, _users, accepted, camera_call

pytestmark = pytest.mark.redis

OUTAGE_S = 30.0


def texts(client: Any, sid: str) -> dict[str, int]:
    """Chat text -> the seq this client saw it under."""
    return {
        e["event"]["data"]["text"]: e["seq"]
        for e in client.events.get(sid, [])
        if e["event"]["kind"] == "chat.message"
    }


async def got_text(client: Any, sid: str, text: str, timeout: float = 10) -> int:
    await client.wait_for(
        lambda m: (
            m.get("type") == "event"
            and m.get("session") == sid
            and m["event"]["data"].get("text") == text
        ),
        timeout=timeout,
    )
    return texts(client, sid)[text]


async def new_session(base: str) -> tuple[int, dict[str, str], dict[str, Any], float]:
    """POST /api/sessions as a new customer would: status, headers, body, seconds taken."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/api/sessions", json={"entry": "demo", "text": "hello?", "name": "New"}
        ) as r:
            return r.status, dict(r.headers), await r.json(), time.monotonic() - started


async def test_redis_away_for_30_s_media_and_chat_go_on_and_the_nodes_recover(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path / "redis", free_port())
    redis.start()
    prefix = f"ldtest:{uuid.uuid4().hex[:12]}"
    try:
        with pg_schema() as db_url:
            raw = {**BASE_CONFIG, "store": {"redis_url": redis.url}, "archive": {"url": db_url}}
            with node_processes(raw, count=3, prefix=prefix, before=_users) as nodes:
                dep = Deployment(nodes, prefix, redis_url=redis.url)
                try:
                    await _outage(dep, redis)
                finally:
                    await dep.close()
                problems = nodes.tracebacks()
                assert not problems, f"a node logged an exception:\n{problems}"
    finally:
        if not redis.answers():
            redis.start()
        await drop_prefix(prefix, redis.url)
        redis.stop()


async def _outage(dep: Deployment, redis: RedisServer) -> None:
    customer, agent, sid = await accepted(dep, 0, 1)
    owner = await dep.owner(sid)
    await customer.say("before the outage")
    await got_text(agent, sid, "before the outage")

    async with camera_call(customer, agent, sid, 10) as (_, video):
        redis.stop()
        went_at = time.monotonic()

        # a new customer is told at once, with a retry hint
        status, headers, body, took = await new_session(dep.nodes[2].base)
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert int(headers["Retry-After"]) > 0 and took < 2.0, (headers, took)

        # health checks say so
        async with aiohttp.ClientSession() as http:
            async with http.get(dep.nodes[0].base + "/healthz") as r:
                assert r.status == 503
                health = await r.json()
        assert health["status"] == "degraded"
        assert health["store"]["ok"] is False and health["archive"]["ok"] is True
        assert [p["id"] for p in health["node"]["peers"]] == ["node1", "node2", "node3"]

        # chat goes on both ways, across nodes
        await customer.say("said while Redis was away")
        seq_c = await got_text(agent, sid, "said while Redis was away")
        await agent.say(sid, "and the answer")
        seq_a = await got_text(customer, sid, "and the answer")
        assert seq_a == seq_c + 1

        # the video never stalls for long, the whole outage through
        frames: list[int] = []
        while time.monotonic() - went_at < OUTAGE_S:
            before = video.count
            await asyncio.sleep(1.0)
            frames.append(video.count - before)
        assert min(frames) > 10, f"video frames per second during the outage: {frames}"

        redis.start()
        back_at = time.monotonic()
        # new customers are served again, without restarting anything
        while True:
            status, _, body, _ = await new_session(dep.nodes[2].base)
            if status == 201:
                break
            assert time.monotonic() - back_at < 15, (status, body)
            await asyncio.sleep(0.25)
        recovered_s = time.monotonic() - back_at
        # the test's own client saw its connection go with Redis: a new one
        await dep.redis.aclose()
        dep.redis = aioredis.from_url(redis.url)

        # the outage's chat is in the store's log under the seqs the clients saw, once the
        # owner has replayed its journal (on its own next heartbeat: another node serving
        # new customers again does not mean the owner's store connection is back yet)
        while True:
            raws = await dep.redis.lrange(f"{dep.prefix}:e:{sid}", 0, -1)
            logged = {
                json.loads(r)["event"]["data"].get("text"): json.loads(r)["seq"]
                for r in raws
                if json.loads(r)["event"]["kind"] == "chat.message"
            }
            if "and the answer" in logged or time.monotonic() - back_at > 15:
                break
            await asyncio.sleep(0.1)
        assert logged["said while Redis was away"] == seq_c
        assert logged["and the answer"] == seq_a
        assert [json.loads(r)["seq"] for r in raws] == list(range(1, len(raws) + 1))

        # chat through the store again, numbered after the outage's
        await customer.say("after the outage")
        assert await got_text(agent, sid, "after the outage") > seq_a
        # media still flows, and nobody was taken for dead or lost its session
        before = video.count
        await asyncio.sleep(LEASE_S)
        assert video.count - before > 20
        assert await dep.owner(sid) == owner
        for side in (customer, agent):
            kinds = [e["event"]["kind"] for e in side.events.get(sid, [])]
            assert "node.lost" not in kinds and "channel.stopped" not in kinds, kinds

    # the archive kept all of it
    events = await asyncio.to_thread(archive.blocking, dep.cfg, lambda a: a.events(sid))
    said = [e.data.get("text") for e in events if e.kind == "chat.message"]
    assert said.count("said while Redis was away") == 1 and "after the outage" in said
    print(f"recovered {recovered_s:.1f} s after Redis came back")
