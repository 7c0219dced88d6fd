"""The contract every Store backend honours, run against MemoryStore and RedisStore.

The Redis half needs a server at LIVEDESK_TEST_REDIS_URL (default the local one).
Without it those tests skip, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from uuid import uuid4

import msgspec
import pytest

from signaling.errors import InteractionError, StoreError
from signaling.interaction import (
    SYSTEM,
    Accept,
    Actor,
    Command,
    Complete,
    Event,
    Interaction,
    Offer,
    Role,
    SendChat,
    SessionState,
    WrapUp,
    handle,
    new_interaction,
)
from signaling.routing import AgentPresence, Presence
from signaling.store.base import (
    NodeInfo,
    SessionUpdate,
    Store,
    StoredEvent,
    decode_envelope,
    session_topic,
)
from signaling.store.redis import RedisStore

from .conftest import redis_stores

REDIS_URL = os.environ.get("LIVEDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_700_000_000.0
ANN = Actor(Role.AGENT, "a", "Ann")
CUSTOMER = Actor(Role.CUSTOMER, "c1", "Cleo")


# ---------------------------------------------------------------- fixtures and helpers


async def eventually(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll until ``cond()`` holds; pub/sub delivery through Redis is asynchronous."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def queued(session_id: str = "s1") -> tuple[Interaction, list[Event]]:
    return new_interaction(session_id=session_id, entry="web", customer=CUSTOMER, now=T0)


def step(cmd: Command, actor: Actor, at: float = T0 + 1) -> SessionUpdate:
    return lambda inter: handle(inter, cmd, actor, at)


def chat(text: str) -> SessionUpdate:
    return step(SendChat(text=text), CUSTOMER)


def seqs(events: list[StoredEvent]) -> list[int]:
    return [se.seq for se in events]


# ---------------------------------------------------------------- sessions


async def test_create_then_get_round_trips(store: Store) -> None:
    """A created session reads back equal, numbered after its first events."""
    inter, events = queued()
    stored = await store.create_session(inter, events)
    assert seqs(stored) == [1, 2]
    got = await store.get_session("s1")
    assert got is not None
    assert got == msgspec.structs.replace(inter, last_seq=2)
    assert await store.get_session("nope") is None


async def test_create_twice_conflicts(store: Store) -> None:
    """Creating an id that exists raises conflict and keeps the first record."""
    inter, events = queued()
    await store.create_session(inter, events)
    with pytest.raises(InteractionError) as err:
        await store.create_session(inter, events)
    assert err.value.code == "conflict"
    assert seqs(await store.events_since("s1", 0)) == [1, 2]


async def test_update_numbers_events_and_publishes_them_in_order(store: Store) -> None:
    """Updates continue the seq and every logged event reaches subscribers in order."""
    received: list[bytes] = []
    await store.subscribe(session_topic("s1"), received.append)
    await store.create_session(*queued())
    inter, stored = await store.update_session("s1", chat("hello"))
    _, more = await store.update_session("s1", chat("again"))
    assert seqs(stored) == [3] and seqs(more) == [4]
    assert inter.last_seq == 3
    await eventually(lambda: len(received) >= 4)
    envs = [decode_envelope(raw) for raw in received]
    assert [(e.kind, e.session) for e in envs] == [("event", "s1")] * 4
    assert [e.stored.seq for e in envs if e.stored] == [1, 2, 3, 4]
    assert envs[2].stored is not None and envs[2].stored.event.data["text"] == "hello"


async def test_update_missing_session_is_not_found(store: Store) -> None:
    """Updating an unknown id raises not_found."""
    with pytest.raises(InteractionError) as err:
        await store.update_session("ghost", chat("hi"))
    assert err.value.code == "not_found"


async def test_failing_update_changes_nothing(store: Store) -> None:
    """An exception from the update function propagates and leaves record and log as they were."""
    await store.create_session(*queued())
    before = await store.get_session("s1")
    with pytest.raises(InteractionError) as err:
        await store.update_session("s1", step(Accept(), ANN))  # not offered yet
    assert err.value.code == "wrong_state"

    def boom(inter: Interaction) -> tuple[Interaction, list[Event]]:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await store.update_session("s1", boom)
    assert await store.get_session("s1") == before
    assert seqs(await store.events_since("s1", 0)) == [1, 2]


async def test_a_burst_of_concurrent_updates_on_many_sessions_all_succeed(store: Store) -> None:
    """More transactions in flight than the Redis pool has connections: they wait, none fail."""
    ids = [f"burst{i}" for i in range(300)]
    for sid in ids:
        await store.create_session(*queued(sid))
    await asyncio.gather(*(store.update_session(sid, chat(f"to {sid}")) for sid in ids))
    for sid in ids[::50]:
        assert seqs(await store.events_since(sid, 0)) == [1, 2, 3]


async def test_events_since_pages_through_the_log(store: Store) -> None:
    """events_since returns seq > after, oldest first, at most ``limit``."""
    await store.create_session(*queued())
    for n in range(5):
        await store.update_session("s1", chat(f"m{n}"))
    assert seqs(await store.events_since("s1", 0, limit=3)) == [1, 2, 3]
    assert seqs(await store.events_since("s1", 3, limit=3)) == [4, 5, 6]
    assert seqs(await store.events_since("s1", 6)) == [7]
    assert await store.events_since("s1", 7) == []
    assert await store.events_since("nope", 0) == []


async def test_state_and_holder_indexes_follow_transitions(store: Store) -> None:
    """sessions_by_state and sessions_held_by track queued -> offered -> ... -> ended."""

    async def ids(state: SessionState) -> list[str]:
        return [s.id for s in await store.sessions_by_state(state)]

    async def held() -> list[str]:
        return [s.id for s in await store.sessions_held_by("a")]

    await store.create_session(*queued())
    assert await ids(SessionState.QUEUED) == ["s1"] and await held() == []
    await store.update_session("s1", step(Offer("a", "Ann", T0 + 30), SYSTEM))
    assert await ids(SessionState.QUEUED) == [] and await ids(SessionState.OFFERED) == ["s1"]
    assert await held() == ["s1"]
    await store.update_session("s1", step(Accept(), ANN))
    assert await ids(SessionState.ACTIVE) == ["s1"] and await held() == ["s1"]
    await store.update_session("s1", step(WrapUp(), ANN))
    assert await ids(SessionState.WRAP_UP) == ["s1"] and await held() == ["s1"]
    await store.update_session("s1", step(Complete(disposition="solved"), ANN))
    assert await ids(SessionState.ENDED) == ["s1"] and await held() == []
    live = await store.sessions_by_state(
        SessionState.QUEUED, SessionState.OFFERED, SessionState.ACTIVE, SessionState.WRAP_UP
    )
    assert live == []


# ---------------------------------------------------------------- presence


async def test_agent_presence_load_follows_held_sessions(store: Store) -> None:
    """Presence updates are read-modify-write, load counts held sessions, None removes."""
    seen: list[AgentPresence | None] = []

    def go_available(cur: AgentPresence | None) -> AgentPresence:
        seen.append(cur)
        return AgentPresence("a", "Ann", status=Presence.AVAILABLE, capacity=2)

    first = await store.update_agent("a", go_available)
    assert seen == [None] and first is not None and first.load == 0
    await store.update_agent("a", go_available)
    assert seen[1] is not None and seen[1].status == Presence.AVAILABLE

    await store.create_session(*queued())
    await store.update_session("s1", step(Offer("a", "Ann", T0 + 30), SYSTEM))
    agent = await store.get_agent("a")
    assert agent is not None and agent.load == 1 and agent.capacity == 2
    assert [(a.id, a.load) for a in await store.list_agents()] == [("a", 1)]

    assert await store.update_agent("a", lambda cur: None) is None
    assert await store.get_agent("a") is None
    assert await store.list_agents() == []


# ---------------------------------------------------------------- key-value and locks


async def test_kv_only_if_new(store: Store) -> None:
    """only_if_new refuses to overwrite a live key; a plain set overwrites."""
    assert await store.kv_set("k", b"one", 10, only_if_new=True) is True
    assert await store.kv_set("k", b"two", 10, only_if_new=True) is False
    assert await store.kv_get("k") == b"one"
    assert await store.kv_set("k", b"three", 10) is True
    assert await store.kv_get("k") == b"three"
    await store.kv_delete("k")
    assert await store.kv_get("k") is None


async def test_kv_expires(store: Store) -> None:
    """A key is gone after its TTL, and only_if_new may then take it again."""
    assert await store.kv_set("k", b"v", 0.05, only_if_new=True)
    await asyncio.sleep(0.1)
    assert await store.kv_get("k") is None
    assert await store.kv_set("k", b"w", 10, only_if_new=True) is True


async def test_lock_excludes_and_only_its_token_releases(store: Store) -> None:
    """A held lock refuses others; a foreign token cannot release it, the owner's can."""
    token = await store.acquire("routing", 10)
    assert token
    assert await store.acquire("routing", 10) is None
    await store.release("routing", "not-the-token")
    assert await store.acquire("routing", 10) is None
    await store.release("routing", token)
    assert await store.acquire("routing", 10) is not None


# ---------------------------------------------------------------- pub/sub


async def test_unsubscribe_stops_delivery(store: Store) -> None:
    """A removed handler gets nothing more; the others on the topic still do."""
    kept: list[bytes] = []
    dropped: list[bytes] = []
    marks: list[bytes] = []
    await store.subscribe("t", kept.append)
    await store.subscribe("t", dropped.append)
    await store.subscribe("mark", marks.append)
    await store.publish("t", b"1")
    await eventually(lambda: kept == [b"1"] and dropped == [b"1"])

    await store.unsubscribe("t", dropped.append)
    await store.publish("t", b"2")
    await eventually(lambda: kept == [b"1", b"2"])
    await store.unsubscribe("t", kept.append)
    await store.publish("t", b"3")
    await store.publish("mark", b"done")  # published after b"3", so delivered after it
    await eventually(lambda: marks == [b"done"])
    assert kept == [b"1", b"2"] and dropped == [b"1"]


# ---------------------------------------------------------------- Redis only


@pytest.mark.redis
async def test_redis_concurrent_updates_lose_nothing() -> None:
    """20 racing updates each land once, numbered 3..22 after the two creation events."""
    n = 20
    async with redis_stores() as (rs,):
        await rs.create_session(*queued())
        results = await asyncio.gather(*(rs.update_session("s1", chat(f"m{i}")) for i in range(n)))
        assert sorted(se.seq for _, stored in results for se in stored) == list(range(3, n + 3))
        log = await rs.events_since("s1", 0)
        assert seqs(log) == list(range(1, n + 3))
        texts = sorted(se.event.data["text"] for se in log[2:])
        assert texts == sorted(f"m{i}" for i in range(n))
        got = await rs.get_session("s1")
        assert got is not None and got.last_seq == n + 2


# ---------------------------------------------------------------- nodes and ownership


async def test_node_registry_lists_beats_and_lapses(store: Store) -> None:
    """A beating node is alive with its published load; past its lease it is listed dead."""
    await store.node_beat(NodeInfo(id="n1", url="http://a", sessions=3), ttl_s=30)
    await store.node_beat(NodeInfo(id="n2", staff=("ann",)), ttl_s=0.15)
    nodes = {n.id: n for n in await store.list_nodes()}
    assert nodes["n1"].alive and nodes["n1"].sessions == 3 and nodes["n1"].url == "http://a"
    assert nodes["n2"].alive and nodes["n2"].staff == ("ann",)
    await asyncio.sleep(0.3)
    nodes = {n.id: n for n in await store.list_nodes()}
    assert nodes["n1"].alive and not nodes["n2"].alive
    await store.forget_node("n2")
    assert [n.id for n in await store.list_nodes()] == ["n1"]


async def test_claim_has_one_winner_and_the_owner_extends(store: Store) -> None:
    """The first claim wins; another node's claim returns the owner; the owner re-claims."""
    assert await store.claim_session("s1", "n1", 30) == "n1"
    assert await store.claim_session("s1", "n2", 30) == "n1"
    assert await store.claim_session("s1", "n1", 30) == "n1"
    assert await store.session_owner("s1") == "n1"
    assert await store.owned_by("n1") == ["s1"]
    assert await store.owned_by("n2") == []
    assert await store.session_owner("s2") is None


async def test_concurrent_claims_elect_exactly_one(store: Store) -> None:
    """Twenty nodes claiming the same session at once: one owner, and all of them agree."""
    answers = await asyncio.gather(*(store.claim_session("s1", f"n{i}", 30) for i in range(20)))
    assert len(set(answers)) == 1
    winner = answers[0]
    assert await store.session_owner("s1") == winner
    owners = [n for n in (f"n{i}" for i in range(20)) if "s1" in await store.owned_by(n)]
    assert owners == [winner]


async def test_lapsed_lease_goes_to_the_next_claimer_and_renew_reports_it_lost(
    store: Store,
) -> None:
    """A lease not renewed in time can be claimed by another node; the old owner loses it."""
    await store.claim_session("s1", "n1", 0.1)
    await store.claim_session("s2", "n1", 0.1)
    await asyncio.sleep(0.25)
    assert await store.session_owner("s1") is None
    assert await store.claim_session("s1", "n2", 30) == "n2"
    kept, lost = await store.renew_owned("n1", 30)
    # s2 lapsed too, but nobody claimed it: renewing takes it again
    assert kept == ["s2"] and lost == ["s1"]
    assert await store.owned_by("n1") == ["s2"]
    assert await store.session_owner("s2") == "n1"


async def test_a_lapsed_lease_of_a_live_owner_goes_back_to_it(store: Store) -> None:
    """The owner is alive (its node lease runs) but missed renewing one session's lease:
    another node's claim restores it to the owner instead of taking it; with ``defer``
    (just after an outage) it does so even before the owner has beaten again."""
    await store.node_beat(NodeInfo(id="n1"), ttl_s=30)
    await store.node_beat(NodeInfo(id="gone"), ttl_s=0.1)
    await store.claim_session("s1", "n1", 0.1)
    await store.claim_session("s2", "gone", 0.1)
    await store.claim_session("s3", "buried", 0.1)
    await asyncio.sleep(0.25)
    assert await store.session_owner("s1") is None
    assert await store.claim_session("s1", "n2", 30) == "n1"
    assert await store.session_owner("s1") == "n1"
    assert await store.claim_session("s2", "n2", 30, defer=True) == "gone"
    await asyncio.sleep(0.1)
    await store.release_session("s2", "gone")
    assert await store.claim_session("s2", "n2", 30) == "n2", "a released session moves on"
    # a node the registry no longer lists (buried) gets nothing back, even deferring
    assert await store.claim_session("s3", "n2", 30, defer=True) == "n2"


async def test_release_only_by_the_holder(store: Store) -> None:
    """Releasing a lease one does not hold changes nothing; the holder's release frees it."""
    await store.claim_session("s1", "n1", 30)
    await store.release_session("s1", "n2")
    assert await store.session_owner("s1") == "n1"
    await store.release_session("s1", "n1")
    assert await store.session_owner("s1") is None
    assert await store.owned_by("n1") == []
    assert await store.claim_session("s1", "n2", 30) == "n2"


async def test_events_carry_the_writing_node(store: Store) -> None:
    """Logged events published on a session topic name the node whose write made them."""
    store.origin = "node-x"
    received: list[bytes] = []
    await store.subscribe(session_topic("s1"), received.append)
    await store.create_session(*queued())
    await eventually(lambda: len(received) == 2)
    assert {decode_envelope(raw).origin for raw in received} == {"node-x"}


@pytest.mark.redis
async def test_redis_nodes_share_state_and_events() -> None:
    """A second store on the same prefix sees the session and receives its events."""
    async with redis_stores(2) as (node_a, node_b):
        received: list[bytes] = []
        await node_b.subscribe(session_topic("s1"), received.append)
        await node_a.create_session(*queued())
        await node_a.update_session("s1", chat("hi"))
        await eventually(lambda: len(received) == 3)
        assert [e.stored.seq for e in map(decode_envelope, received) if e.stored] == [1, 2, 3]
        got = await node_b.get_session("s1")
        assert got is not None and got.last_seq == 3


async def test_redis_down_is_unavailable_and_ping_false() -> None:
    """Against a dead port ping is False and start raises StoreError('unavailable')."""
    dead = RedisStore("redis://127.0.0.1:1/0", key_prefix=f"ldtest:{uuid4().hex}")
    assert await dead.ping() is False
    with pytest.raises(StoreError) as err:
        await dead.start()
    assert err.value.code == "unavailable"
    assert await dead.ping() is False
    await dead.close()
    await dead.close()


# ---------------------------------------------------------------- work queues


async def test_a_pushed_job_goes_to_one_worker_and_done_removes_it(store: Store) -> None:
    assert await store.job_take("render", "w1", wait_s=0, stale_s=60) is None
    await store.job_push("render", 7)
    await store.job_push("render", 8)
    await store.job_push("transcribe", 9)
    assert await store.job_ids("render") == {7, 8}
    first = await store.job_take("render", "w1", wait_s=0, stale_s=60)
    second = await store.job_take("render", "w2", wait_s=0, stale_s=60)
    assert first is not None and second is not None
    assert (first.job_id, second.job_id) == (7, 8) and not first.redelivered
    assert await store.job_take("render", "w3", wait_s=0, stale_s=60) is None
    assert await store.job_ids("render") == {7, 8}, "taken and not done: still held"
    await store.job_done(first)
    assert await store.job_ids("render") == {8}
    other = await store.job_take("transcribe", "w1", wait_s=0, stale_s=60)
    assert other is not None and other.job_id == 9 and other.queue == "transcribe"


async def test_a_waiting_worker_gets_a_job_pushed_while_it_waits(store: Store) -> None:
    taker = asyncio.create_task(store.job_take("render", "w1", wait_s=5, stale_s=60))
    await asyncio.sleep(0.2)
    await store.job_push("render", 42)
    ticket = await asyncio.wait_for(taker, 5)
    assert ticket is not None and ticket.job_id == 42


async def test_a_job_a_silent_worker_held_is_handed_out_again(store: Store) -> None:
    await store.job_push("render", 5)
    held = await store.job_take("render", "dead-worker", wait_s=0, stale_s=60)
    assert held is not None
    await asyncio.sleep(0.3)
    assert await store.job_take("render", "w2", wait_s=0, stale_s=60) is None
    again = await store.job_take("render", "w2", wait_s=0, stale_s=0.1)
    assert again is not None and again.job_id == 5 and again.redelivered
    await store.job_done(again)
    assert await store.job_ids("render") == set()


@pytest.mark.redis
async def test_redis_workers_of_several_nodes_share_a_queue_each_job_once() -> None:
    """Twenty jobs, four nodes' workers taking at once: every job once, none twice."""
    async with redis_stores(4) as nodes:
        for job_id in range(20):
            await nodes[job_id % 4].job_push("render", job_id)
        got: list[tuple[str, int]] = []

        async def work(store: Store, name: str) -> None:
            while (t := await store.job_take("render", name, wait_s=0.2, stale_s=60)) is not None:
                got.append((name, t.job_id))
                await store.job_done(t)

        await asyncio.gather(*(work(s, f"node{i}/render-0") for i, s in enumerate(nodes)))
        assert sorted(j for _, j in got) == list(range(20))
        assert len({name for name, _ in got}) > 1, "one node took them all"
        assert await nodes[0].job_ids("render") == set()


async def test_a_counter_counts_every_increment_once_and_expires(store: Store) -> None:
    results = await asyncio.gather(*(store.kv_incr("fails", ttl_s=0.3) for _ in range(25)))
    assert sorted(results) == list(range(1, 26))
    assert await store.kv_get("fails") == b"25"
    await asyncio.sleep(0.45)
    assert await store.kv_get("fails") is None
    assert await store.kv_incr("fails", ttl_s=30) == 1
