"""Several real node processes on one Redis: shared queue and presence, owned sessions.

Each node is ``python -m signaling run`` on its own loopback port, all on one Redis key
prefix and one data directory, as ``livedesk run --workers N`` starts them. Customers
and agents are the protocol client (signaling.client) and aiortc peers, each talking
to the node the test picks for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from recorder import layout
from signaling import archive, config
from signaling.client import CustomerClient, RequestFailed, StaffClient
from signaling.client_media import MediaClient, Received
from visual.sources import frame_digest

from .conftest import PASSWORD, REDIS_URL, add_user, drop_prefix, pg_schema, require_redis
from .nodes import REPO, Nodes, free_port, node_processes, toml
from .test_media import Sent, agree, is_ordered_subsequence, track, video_clip
from .test_recording import finished, packets, record

pytestmark = [pytest.mark.redis, pytest.mark.usefixtures("media_clips")]

LEASE_S = 3.0
"""Ten heartbeats: a node's event loop stalled by a loaded test machine must not lose its leases."""

BASE_CONFIG: dict[str, Any] = {
    "server": {"demo": False},
    "routing": {"offer_timeout_s": 30.0, "tick_s": 0.1, "presence_grace_s": 1.0},
    "limits": {"ws_heartbeat_s": 5.0},
    "media": {"host_addresses": ["127.0.0.1"]},
    "cluster": {"heartbeat_s": 0.3, "lease_s": LEASE_S, "drain_timeout_s": 5.0},
    "recording": {"render": False, "transcribe": False},
    "entries": {"demo": {"channels": ["chat", "voice", "video", "screen", "cobrowse"]}},
}


class Deployment:
    """The node processes plus what the test needs to talk to them and to look inside."""

    def __init__(self, nodes: Nodes, prefix: str, *, redis_url: str = REDIS_URL) -> None:
        self.nodes = nodes
        self.prefix = prefix
        self.cfg = config.load(nodes.config_path)
        self.https: list[aiohttp.ClientSession] = []
        self.clients: list[Any] = []
        self.redis = aioredis.from_url(redis_url)

    async def http(self) -> aiohttp.ClientSession:
        s = aiohttp.ClientSession()
        self.https.append(s)
        return s

    async def customer(self, node: int, name: str, text: str = "Hello") -> CustomerClient:
        c = await CustomerClient.start(
            await self.http(), self.nodes[node].base, entry="demo", text=text, name=name
        )
        self.clients.append(c)
        return c

    async def agent(self, node: int, username: str) -> StaffClient:
        a = await StaffClient.login(await self.http(), self.nodes[node].base, username, PASSWORD)
        self.clients.append(a)
        await a.set_status("available")
        return a

    async def owner(self, sid: str, *, wait_s: float = LEASE_S) -> str | None:
        """The session's owner node; a moment without one (a lease being retaken) is waited out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            raw = await self.redis.get(f"{self.prefix}:owner:{sid}")
            if raw is not None or loop.time() > deadline:
                return None if raw is None else raw.decode()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
        for s in self.https:
            await s.close()
        await self.redis.aclose()


@pytest.fixture
def deployment_config() -> dict[str, Any]:
    return BASE_CONFIG


@pytest_asyncio.fixture
async def deployment(deployment_config: dict[str, Any]) -> AsyncIterator[Deployment]:
    """Three nodes on one Redis and one PostgreSQL archive; agents ann and bob (capacity 3)
    and agent_0..4 (capacity 10) in it."""
    await require_redis()
    prefix = f"ldtest:{uuid.uuid4().hex[:12]}"
    with pg_schema() as db_url:
        raw = {**deployment_config, "store": {"redis_url": REDIS_URL}, "archive": {"url": db_url}}
        async for dep in _deployment(raw, prefix):
            yield dep


async def _deployment(raw: dict[str, Any], prefix: str) -> AsyncIterator[Deployment]:
    with _started(raw, prefix) as nodes:
        dep = Deployment(nodes, prefix)
        try:
            yield dep
        finally:
            await dep.close()
    await drop_prefix(prefix)
    problems = nodes.tracebacks()
    assert not problems, f"a node logged an exception:\n{problems}"


def _started(raw: dict[str, Any], prefix: str) -> AbstractContextManager[Nodes]:
    return node_processes(raw, count=3, prefix=prefix, before=_users)


def _users(cfg: config.Config) -> None:
    for username in ("agent_ann", "agent_bob"):
        add_user(cfg, username)
    for i in range(5):
        add_user(cfg, f"agent_{i}", capacity=10)
    add_user(cfg, "qa_quinn", role="qa")


async def accepted(dep: Deployment, customer_node: int, agent_node: int) -> tuple[Any, ...]:
    customer = await dep.customer(customer_node, "Kim", "my parcel never arrived")
    agent = await dep.agent(agent_node, "agent_ann")
    sid = await agent.wait_offer(timeout=15)
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")
    return customer, agent, sid


@contextlib.asynccontextmanager
async def camera_call(
    customer: CustomerClient, agent: StaffClient, sid: str, frames: int
) -> AsyncIterator[tuple[Sent, Received]]:
    """Video agreed, the customer's camera on, and ``frames`` of it received by the agent."""
    await agree(sid, agent, customer, "video")
    cm, am = MediaClient(customer, sid), MediaClient(agent, sid)
    await cm.start()
    await am.start()
    try:
        cam, sent = track(video_clip())
        await cm.publish("camera", cam)
        pub = await am.wait_publication("camera", timeout=15)
        got = await am.wait_frames(pub["pub"], frames, timeout=20)
        yield sent, got
    finally:
        await cm.close()
        await am.close()


# ---------------------------------------------------------------- one session across nodes


async def test_customer_and_agent_on_different_nodes_chat_video_and_record(
    deployment: Deployment,
) -> None:
    """Customer on node 1, agent on node 2: chat both ways, byte-identical video through the
    owner node, and a recording written by the owner, all as on one node."""
    dep = deployment
    customer, agent, sid = await accepted(dep, 0, 1)
    owner = await dep.owner(sid)
    assert owner in ("node1", "node2", "node3")

    await agent.say(sid, "Let me look at that for you")
    await customer.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text", "").startswith("Let")
    )
    await customer.say("thank you")
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "thank you"
    )

    async with camera_call(customer, agent, sid, 30) as (sent, got):
        assert got.count >= 30 and got.keyframes >= 1
        assert set(got.digests) <= set(sent.digests), "frames changed on the way"
        assert is_ordered_subsequence(got.digests, sent.digests)

        await record(sid, agent, customer)
        await asyncio.sleep(2)
        await agent.request("recording.stop", session=sid)
        manifest = await finished(dep, sid, timeout=20)
    assert manifest.state == "complete"
    camera = [t for t in manifest.tracks if t.source == "camera"]
    assert camera, manifest.tracks
    recorded = packets(layout.session_dir(dep.cfg.data_path, sid) / camera[0].file)
    assert len(recorded) > 10
    assert {frame_digest(data) for _, data, _ in recorded} <= set(sent.digests)

    # the owner node's hooks saw the other nodes' writes: video and recording notes
    # landed on the one timeline the archive keeps
    await agent.request("session.wrapup", session=sid)
    await agent.request("session.complete", session=sid, disposition="resolved", notes="")
    kinds = await _archived_kinds(dep, sid)
    assert "chat.message" in kinds and "recording.started" in kinds
    assert "media.published" in kinds and "session.ended" in kinds, kinds


async def _archived_kinds(
    dep: Deployment, sid: str, timeout: float = 10, until: str = "session.ended"
) -> list[str]:
    """The session's event kinds in the shared archive, once ``until`` is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        events = await asyncio.to_thread(archive.blocking, dep.cfg, lambda a: a.events(sid))
        kinds = [e.kind for e in events]
        if until in kinds or loop.time() > deadline:
            return kinds
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the shared queue


async def test_fifty_customers_five_agents_across_nodes_each_accepted_once(
    deployment: Deployment,
) -> None:
    """50 customers start on three nodes while 5 agents on three nodes accept whatever they
    are offered, concurrently: every customer is accepted exactly once, none is lost."""
    dep = deployment
    agents = [await dep.agent(i % 3, f"agent_{i}") for i in range(5)]
    customers = await asyncio.gather(
        *(dep.customer(i % 3, f"Customer {i}", f"question {i}") for i in range(50))
    )
    sids = {c.session for c in customers}
    assert len(sids) == 50
    accepted_by: dict[str, list[str]] = {}
    grabs: list[asyncio.Task[bool]] = []

    async def take_offers(agent: StaffClient, username: str) -> None:
        seen: set[str] = set()
        while len(accepted_by) < 50:
            try:
                msg = await agent.wait_for(
                    lambda m: (
                        m.get("type") == "console"
                        and any(
                            s["state"] == "offered"
                            and s["offered_to"] == username
                            and s["session"] not in seen
                            for s in m["sessions"]
                        )
                    ),
                    timeout=1,
                )
            except TimeoutError:
                continue  # nothing new for this agent yet (or its seats are full)
            for s in msg["sessions"]:
                if s["state"] != "offered" or s["offered_to"] != username or s["session"] in seen:
                    continue
                seen.add(s["session"])
                # every agent also tries to grab it: only the one it was offered to may
                for other in agents:
                    if other is not agent:
                        grabs.append(asyncio.create_task(_try_accept(other, s["session"])))
                reply = await agent.request("offer.accept", session=s["session"])
                assert reply.get("state") == "active"
                accepted_by.setdefault(s["session"], []).append(username)

    names = [f"agent_{i}" for i in range(5)]
    await asyncio.wait_for(
        asyncio.gather(*(take_offers(a, n) for a, n in zip(agents, names, strict=True))),
        timeout=90,
    )
    assert set(accepted_by) == sids
    stolen = await asyncio.gather(*grabs)
    assert len(stolen) == 4 * 50 and not any(stolen), "an agent took a session not offered to it"
    assert all(len(v) == 1 for v in accepted_by.values()), accepted_by
    # the customers' view agrees: each saw exactly one acceptance
    for c in customers:
        await c.wait_event(c.session, "session.accepted")
        accepts = [
            m for m in c.events.get(c.session, []) if m["event"]["kind"] == "session.accepted"
        ]
        assert len(accepts) == 1
    load = Counter(agent for v in accepted_by.values() for agent in v)
    assert sum(load.values()) == 50 and max(load.values()) <= 10


async def _try_accept(agent: StaffClient, sid: str) -> bool:
    """True if the agent managed to accept (which must never happen)."""
    try:
        await agent.request("offer.accept", session=sid)
    except RequestFailed:
        return False  # refused, as it must be
    return True


# ---------------------------------------------------------------- draining


async def test_sigterm_drains_the_owner_node_and_closes_its_recording(
    deployment: Deployment,
) -> None:
    """SIGTERM on the node owning a recorded video session: new sessions go elsewhere, both
    sides are told, the session ends after drain_timeout_s (5 s here) with reason
    node_drained, the recording is complete and readable, and the node exits cleanly."""
    dep = deployment
    customer, agent, sid = await accepted(dep, 0, 1)
    owner = await dep.owner(sid)
    node = next(n for n in dep.nodes.nodes if n.name == owner)
    async with camera_call(customer, agent, sid, 10):
        await record(sid, agent, customer)
        await asyncio.sleep(1)

        node.signal(signal.SIGTERM)
        for side in (customer, agent):
            told = await side.wait_event(sid, "node.draining", timeout=10)
            assert 0 < told["event"]["data"]["ends_in_s"] <= 5
        # while it drains, the others take the new customers
        others = [i for i, n in enumerate(dep.nodes.nodes) if n is not node]
        newcomer = await dep.customer(others[0], "Lee")
        assert await dep.owner(newcomer.session) not in (None, owner)

        for side in (customer, agent):
            ended = await side.wait_event(sid, "session.ended", timeout=15)
            assert ended["event"]["data"]["reason"] == "node_drained"
    assert await asyncio.to_thread(node.wait_exit, 30) in (0, -signal.SIGTERM)
    manifest = await finished(dep, sid, timeout=20)
    assert manifest.state == "complete"
    (camera,) = [t for t in manifest.tracks if t.source == "camera"]
    recorded = packets(layout.session_dir(dep.cfg.data_path, sid) / camera.file)
    assert len(recorded) > 10


# ---------------------------------------------------------------- the supervisor


async def test_workers_share_one_port_and_a_killed_worker_is_started_again(
    tmp_path: Any,
) -> None:
    """``livedesk run --workers 2``: two nodes answer on one port; SIGKILL one and the
    supervisor starts another; SIGTERM stops them all and exits 0."""
    await require_redis()
    prefix = f"ldtest:{uuid.uuid4().hex[:12]}"
    port = free_port()
    raw = {
        **BASE_CONFIG,
        "server": {"demo": True, "data_dir": str(tmp_path / "data"), "port": port},
        "store": {"redis_url": REDIS_URL, "key_prefix": prefix},
    }
    cfg_path = tmp_path / "livedesk.toml"
    cfg_path.write_text(toml(raw))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "supervisor.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "signaling", "run", "--workers", "2", "--config", str(cfg_path)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        first = await _live_workers(base, 2, proc, log_path)
        victim = first[0]
        os.kill(victim["pid"], signal.SIGKILL)
        again = await _live_workers(base, 2, proc, log_path, without=victim["id"])
        assert victim["pid"] not in {w["pid"] for w in again}
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 40)
        assert code == 0, log_path.read_text()
        for w in again:
            with pytest.raises(ProcessLookupError):
                os.kill(w["pid"], 0)
    finally:
        if proc.poll() is None:
            proc.kill()
        await drop_prefix(prefix)
    text = log_path.read_text()
    assert "worker exited; starting it again" in text
    assert "demo logins" in text and text.count("demo logins") == 1


async def _live_workers(
    base: str, count: int, proc: Any, log_path: Any, *, without: str = "", timeout: float = 40
) -> list[dict[str, Any]]:
    """Poll /healthz until ``count`` live workers are registered (not ``without``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                async with http.get(base + "/healthz") as r:
                    peers = (await r.json())["node"]["peers"]
                live = [p for p in peers if p["alive"] and p["id"] != without]
                if len(live) == count:
                    return live
            except (aiohttp.ClientError, KeyError):
                pass
            assert loop.time() < deadline, log_path.read_text()
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------- a node dies


async def test_sigkill_of_the_owner_node_is_found_within_the_lease_and_nothing_is_lost(
    deployment: Deployment,
) -> None:
    """SIGKILL the node owning a recorded video session: within the lease both sides are
    told (node.lost; a side whose socket was on that node reconnects through another, as
    behind a load balancer), the video channel stops, the recording is marked interrupted
    with its media playable, chat goes on and the archive keeps it, and queued customers
    get a live owner and are served."""
    dep = deployment
    customer, agent, sid = await accepted(dep, 0, 1)
    await customer.say("before the crash")
    owner = await dep.owner(sid)
    victim = next(n for n in dep.nodes.nodes if n.name == owner)
    await agent.set_status("busy")  # the queued customers below wait
    # new sessions go to the least-loaded node as of the last heartbeats: keep adding
    # customers until one of them is owned by the victim too
    queued: list[CustomerClient] = []
    queued_owners: dict[str, str | None] = {}
    while owner not in queued_owners.values():
        assert len(queued) < 9, f"no queued session was placed on {owner}: {queued_owners}"
        c = await dep.customer(len(queued) % 3, f"Waiting {len(queued)}")
        queued.append(c)
        queued_owners[c.session] = await dep.owner(c.session)
        await asyncio.sleep(LEASE_S / 10)  # a heartbeat, so placement sees the new load

    async with camera_call(customer, agent, sid, 10):
        await record(sid, agent, customer)
        await asyncio.sleep(1.5)
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        victim.signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait_exit, 10)
        survivors = [n for n in dep.nodes.nodes if n is not victim]
        for side in (customer, agent):
            if side.base_url == victim.base:
                await side.closed.wait()
                side.base_url = survivors[0].base
                await side.reconnect()
            lost = await side.wait_event(sid, "node.lost", timeout=LEASE_S + 8)
            assert lost["event"]["data"]["node"] == owner
            assert loop.time() - killed_at < LEASE_S + 5
            stopped = await side.wait_event(sid, "channel.stopped", timeout=5)
            assert stopped["event"]["data"]["channel"] == "video"

    new_owner = await dep.owner(sid)
    assert new_owner not in (None, owner)
    await customer.say("after the crash")
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "after the crash"
    )
    manifest = await finished(dep, sid, timeout=20)
    assert manifest.state == "interrupted"
    (camera,) = [t for t in manifest.tracks if t.source == "camera"]
    assert len(packets(layout.session_dir(dep.cfg.data_path, sid) / camera.file)) > 5
    kinds = await _archived_kinds(dep, sid, until="node.lost")
    assert kinds.count("chat.message") >= 2 and "recording.started" in kinds

    # every queued customer is still there, with a live owner, and ann's two free seats
    # go to the longest-waiting two (only one was queued if the first landed on the victim)
    for c in queued:
        assert await dep.owner(c.session) not in (None, owner)
    await agent.set_status("available")
    for c in queued[:2]:
        await agent.wait_offer(session=c.session, timeout=15)
        reply = await agent.request("offer.accept", session=c.session)
        assert reply.get("state") == "active"


# ---------------------------------------------------------------- co-browsing across nodes


async def test_co_browsing_works_with_the_customer_and_the_agent_on_different_nodes(
    deployment: Deployment,
) -> None:
    """The page stream from a customer on node 1 reaches the agent on node 2 byte for
    byte through the owner, and the agent's highlight comes back to the page."""
    from signaling.client import join_cobrowse

    from .test_cobrowse import answer, pushes, shop_events
    from .test_media import agree

    dep = deployment
    customer, agent, sid = await accepted(dep, 0, 1)
    await agree(sid, agent, customer, "cobrowse")
    await agent.wait_event(sid, "channel.accepted")
    events = shop_events()
    await customer.send_cobrowse(events, snapshot=True)
    await agent.wait_event(sid, "channel.active", timeout=10)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not pushes(agent, "cobrowse.events"):
        assert loop.time() < deadline, "the page stream never reached the agent's node"
        await asyncio.sleep(0.05)
    assert join_cobrowse(pushes(agent, "cobrowse.events")) == [events]

    await agent.request("cobrowse.command", session=sid, cmd="h1", action="highlight", node=42)
    cmd = await answer(customer, sid, ok=True, selector="#place-order")
    assert (cmd["action"], cmd["node"]) == ("highlight", 42)
    logged = await agent.wait_event(sid, "cobrowse.action", timeout=10)
    assert logged["event"]["data"]["selector"] == "#place-order"


# ---------------------------------------------------------------- jobs of a dead node


@pytest.fixture
def jobs_config() -> dict[str, Any]:
    """Transcription on (one worker per node), rendering off."""
    return {**BASE_CONFIG, "recording": {"render": False, "transcribe": True}}


async def test_a_transcription_whose_node_dies_is_run_by_another_node(
    jobs_config: dict[str, Any],
) -> None:
    """A long transcription runs on some node's worker; SIGKILL that node: the job goes
    back to the shared queue (audited, on the timeline) and a worker of a live node
    finishes it."""
    import numpy as np

    from .test_recording import finished, record
    from .test_transcription import opus_track

    await require_redis()
    prefix = f"ldtest:{uuid.uuid4().hex[:12]}"
    with pg_schema() as db_url:
        raw = {**jobs_config, "store": {"redis_url": REDIS_URL}, "archive": {"url": db_url}}
        async for dep in _deployment(raw, prefix):
            customer, agent, sid = await accepted(dep, 0, 1)
            await _voice_recorded(dep, customer, agent, sid, record, finished)
            first = await _job(dep, sid, lambda j: j["state"] == "done", timeout=60)
            manifest = layout.read_manifest(layout.session_dir(dep.cfg.data_path, sid))
            mic = next(t for t in manifest.tracks if t.source == "mic")
            # a minute of noise bursts: a transcription that takes a while (long enough
            # to be killed mid-run, short enough to finish twice on a loaded machine)
            noise = np.random.default_rng(7).normal(0, 6000, 48_000 * 60)
            noise *= (np.arange(noise.size) // 48_000) % 2 == 0
            path = layout.session_dir(dep.cfg.data_path, sid) / mic.file
            opus_track(path, [(1000, noise.astype(np.int16), 48_000)], 61)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as qa:
                await _login(qa, dep.nodes[2].base, "qa_quinn")
                async with qa.post(f"{dep.nodes[2].base}/api/jobs/{first['id']}/retry") as r:
                    assert r.status == 200, await r.text()
            running = await _job(
                dep, sid, lambda j: j["state"] == "running" and j["progress"] > 0, timeout=60
            )
            node_name = running["worker"].split("/")[0]
            victim = next(n for n in dep.nodes.nodes if n.name == node_name)
            victim.signal(signal.SIGKILL)
            await asyncio.to_thread(victim.wait_exit, 10)
            again = await _job(
                dep,
                sid,
                lambda j, gone=node_name: (
                    j["state"] == "done" and not j["worker"].startswith(gone + "/")
                ),
                timeout=LEASE_S + 120,
            )
            assert again["attempts"] == running["attempts"] + 1
            assert again["worker"].split("/")[0] in {n.name for n in dep.nodes.nodes} - {node_name}
            kinds = await _archived_kinds(dep, sid, until="recording.job_requeued")
            assert "recording.job_requeued" in kinds


async def _login(http: aiohttp.ClientSession, base: str, username: str) -> None:
    async with http.post(
        f"{base}/api/login", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()


async def _job(dep: Deployment, sid: str, ok: Any, *, timeout: float) -> dict[str, Any]:
    """The session's transcription job as the archive has it, once ``ok`` says so."""
    from signaling import recording_index as idx

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        row = await asyncio.to_thread(
            archive.blocking, dep.cfg, lambda a: idx.get_job(a, "transcribe", sid)
        )
        if row is not None:
            last = msgspec.to_builtins(row)
            if ok(last):
                return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"the job never got there: {last}")


async def _voice_recorded(
    dep: Deployment, customer: Any, agent: Any, sid: str, record: Any, finished: Any
) -> None:
    """A voice call across nodes, recorded for a moment and stopped."""
    from .test_media import agree, audio_clip, track

    await agree(sid, agent, customer, "voice")
    cm, am = MediaClient(customer, sid), MediaClient(agent, sid)
    await cm.start()
    await am.start()
    try:
        await cm.publish("mic", track(audio_clip())[0])
        await am.wait_publication("mic", timeout=15)
        await record(sid, agent, customer)
        await asyncio.sleep(1.5)
        await agent.request("recording.stop", session=sid)
        await finished(dep, sid, timeout=20)
    finally:
        await cm.close()
        await am.close()
