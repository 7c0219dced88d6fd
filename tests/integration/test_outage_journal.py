"""The owner's journal while the live store is away, and how it is written back.

One node's desk, cluster and connections run in this process over a real MemoryStore
that the test can make unreachable (``away``): every call then raises StoreError
('unavailable'), as the Redis store does when Redis is down. Another node is played by
writing to that store directly, with or without publishing. The three-process test with
a real Redis stopped for 30 s is test_cluster_outage.py; these pin the cases it cannot
reach on purpose: writes elsewhere before the journal is written back, a copy that missed
a write, a lost lease, and a store that lost the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from signaling import config
from signaling import interaction as ix
from signaling.archive import SqliteArchive
from signaling.cluster import Cluster
from signaling.connection import Connection, Feed
from signaling.desk import Desk
from signaling.errors import StoreError
from signaling.metrics import Metrics
from signaling.node import Node
from signaling.store import MemoryStore
from signaling.store.base import decode_envelope, session_topic

CUSTOMER = ix.Actor(ix.Role.CUSTOMER, "c1", "Cleo")
AGENT = ix.Actor(ix.Role.AGENT, "agent_ann", "Ann")
_GUARDED = (
    "create_session",
    "get_session",
    "update_session",
    "events_since",
    "sessions_by_state",
    "publish",
    "session_owner",
    "claim_session",
    "node_beat",
    "renew_owned",
    "list_nodes",
    "kv_get",
    "kv_set",
    "acquire",
    "release",
    "list_agents",
    "owned_by",
)


class ReachableStore(MemoryStore):
    """A MemoryStore that can be made unreachable (``away``), as Redis can."""

    away = False

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in _GUARDED and super().__getattribute__("away"):

            async def unreachable(*_: Any, **__: Any) -> Any:
                raise StoreError("unavailable", "the store is away (this test)")

            return unreachable
        return attr

    async def write_elsewhere(self, session_id: str, cmd: ix.Command, actor: ix.Actor) -> None:
        """Another node's write: it goes to the store and is published as usual."""
        await MemoryStore.update_session(
            self, session_id, lambda cur: ix.handle(cur, cmd, actor, cur.created_at + 50)
        )

    def write_unpublished(self, session_id: str, cmd: ix.Command, actor: ix.Actor) -> None:
        """Another node's write whose publication never arrived (lost as Redis went)."""
        cur = self._sessions[session_id]
        new, events = ix.handle(cur, cmd, actor, cur.created_at + 40)
        from signaling.store.base import assign_seqs

        new, stored = assign_seqs(new, events)
        self._sessions[session_id] = new
        self._events[session_id].extend(__import__("msgspec").json.encode(se) for se in stored)


class OneNode:
    def __init__(self, store: ReachableStore, desk: Desk, node: Node, cluster: Cluster) -> None:
        self.store, self.desk, self.node, self.cluster = store, desk, node, cluster
        self.archive = desk.archive
        self.published: list[dict[str, Any]] = []

    async def session(self) -> str:
        inter = await self.desk.start_session(
            entry="demo",
            customer=CUSTOMER,
            tier="standard",
            page="/",
            first_text="hello",
            language="en",
        )
        sid = inter.id
        await self.store.subscribe(session_topic(sid), self._published)
        return sid

    def _published(self, payload: bytes) -> None:
        env = decode_envelope(payload)
        if env.kind == "ephemeral" and env.msg is not None:
            self.published.append(env.msg)

    async def log(self, sid: str) -> list[tuple[int, str, Any]]:
        got = await MemoryStore.events_since(self.store, sid, 0)
        return [(s.seq, s.event.kind, s.event.data.get("text")) for s in got]

    async def archived(self, sid: str) -> list[tuple[int, str, Any]]:
        await self.archive.flush()
        return [(e.seq, e.kind, e.data.get("text")) for e in await self.archive.events(sid)]


@pytest.fixture
async def one(tmp_path: Path) -> AsyncIterator[OneNode]:
    cfg = config.from_dict(
        {
            "server": {"data_dir": str(tmp_path), "demo": False},
            "cluster": {"heartbeat_s": 60.0, "lease_s": 120.0},
        }
    )
    store = ReachableStore()
    await store.start()
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    await archive.start()
    desk = Desk(cfg, store, archive, Metrics(), secret=b"s" * 32)
    node = Node(desk)
    cluster = Cluster(desk, node, cfg.cluster, secret=b"k" * 32)
    node.cluster = desk.cluster = cluster
    await cluster.start()
    try:
        yield OneNode(store, desk, node, cluster)
    finally:
        store.away = False
        await cluster.close()
        await archive.close()


async def test_chat_while_the_store_is_away_gets_the_seqs_it_was_shown_with(one: OneNode) -> None:
    sid = await one.session()
    one.store.away = True
    _, first = await one.desk.apply(sid, ix.SendChat("said while away", "m1"), CUSTOMER)
    _, second = await one.desk.apply(sid, ix.SendChat("and again", "m2"), CUSTOMER)
    assert one.cluster.journaled(sid) and one.cluster.journal_size == 1
    assert second[0].seq == first[0].seq + 1
    one.store.away = False
    assert await one.cluster.replay() == 1
    log = await one.log(sid)
    assert log[-2:] == [
        (first[0].seq, "chat.message", "said while away"),
        (second[0].seq, "chat.message", "and again"),
    ]
    assert await one.archived(sid) == log
    assert not one.cluster.journaled(sid)
    assert not [m for m in one.published if m["type"] == "session.resync"]


async def test_a_write_seen_on_the_topic_but_not_in_the_copy_is_numbered_after(
    one: OneNode,
) -> None:
    """Another node chatted just before the store went away: the owner saw the event
    published but could not read the session; its own message goes after it."""
    sid = await one.session()
    await one.store.write_elsewhere(sid, ix.SendChat("from the agent's node", "a1"), CUSTOMER)
    one.store.away = True
    _, stored = await one.desk.apply(sid, ix.SendChat("said while away", "m1"), CUSTOMER)
    one.store.away = False
    await one.cluster.replay()
    log = await one.log(sid)
    texts = [t for _, k, t in log if k == "chat.message"]
    assert texts[-2:] == ["from the agent's node", "said while away"]
    assert log[-1][0] == stored[0].seq, "the seq the clients saw"
    assert not [m for m in one.published if m["type"] == "session.resync"]


async def test_a_session_that_moved_on_keeps_its_state_and_sockets_take_the_log_again(
    one: OneNode,
) -> None:
    """Before the journal was written back, another node offered, accepted and ended the
    session: it stays ended, the outage's message is kept on the timeline as a note, the
    archive is the store's log, and every socket is told to take the log again."""
    sid = await one.session()
    staff = await _watching(one, sid)
    one.store.away = True
    _, shown = await one.desk.apply(sid, ix.SendChat("said while away", "m1"), CUSTOMER)
    base = shown[0].seq - 1
    one.store.away = False
    now = one.desk.clock()
    await one.store.write_elsewhere(sid, ix.Offer("agent_ann", "Ann", now + 60), ix.SYSTEM)
    await one.store.write_elsewhere(sid, ix.Accept(), AGENT)
    await one.store.write_elsewhere(sid, ix.ForceEnd(reason="agent_ended"), ix.SYSTEM)
    await one.cluster.replay()
    after = await MemoryStore.get_session(one.store, sid)
    assert after is not None and after.state == ix.SessionState.ENDED
    assert after.agent_id == "agent_ann"
    log = await one.log(sid)
    kinds = [k for _, k, _ in log]
    assert kinds[-1] == "outage.unapplied" and "session.ended" in kinds
    (note,) = [
        e
        for e in await MemoryStore.events_since(one.store, sid, 0)
        if e.event.kind == "outage.unapplied"
    ]
    assert note.event.data["text"] == "said while away" and note.event.data["code"] == "wrong_state"
    await asyncio.sleep(0.05)
    assert await one.archived(sid) == log
    assert {"type": "session.resync", "session": sid, "from_seq": base} in one.published
    # the socket following the session dropped back to the base and took the log again
    await _drained(staff)
    sent = _sent(staff)
    resync = next(i for i, m in enumerate(sent) if m.get("type") == "session.resync")
    again = [m["seq"] for m in sent[resync + 1 :] if m.get("type") == "event"]
    assert again[0] == base + 1 and again[-1] == log[-1][0]


async def test_a_write_whose_publication_was_lost_is_renumbered_around(one: OneNode) -> None:
    sid = await one.session()
    one.store.write_unpublished(sid, ix.SendChat("lost in flight", "a1"), CUSTOMER)
    one.store.away = True
    _, shown = await one.desk.apply(sid, ix.SendChat("said while away", "m1"), CUSTOMER)
    one.store.away = False
    await one.cluster.replay()
    log = await one.log(sid)
    texts = [t for _, k, t in log if k == "chat.message"]
    assert texts[-2:] == ["lost in flight", "said while away"]
    assert [s for s, _, _ in log] == list(range(1, len(log) + 1))
    assert log[-1][0] == shown[0].seq + 1, "renumbered after the write it collided with"
    await asyncio.sleep(0.05)
    assert await one.archived(sid) == log, "the archive keeps the store's numbering"
    assert any(m["type"] == "session.resync" for m in one.published)


async def test_a_journal_outlives_losing_the_lease_and_is_still_written(one: OneNode) -> None:
    sid = await one.session()
    one.store.away = True
    await one.desk.apply(sid, ix.SendChat("said while away", "m1"), CUSTOMER)
    one.store.away = False
    one.store._owners[sid] = ("another-node", one.store._now() + 60)  # it took the lease
    await one.cluster.beat()
    assert sid not in one.cluster.owned and one.cluster.journaled(sid)
    assert await one.cluster.replay() == 1
    assert (await one.log(sid))[-1][2] == "said while away"
    assert not one.cluster.journaled(sid)


async def test_a_store_that_lost_the_session_drops_the_journal_and_routing_goes_on(
    one: OneNode,
) -> None:
    sid = await one.session()
    one.store.away = True
    await one.desk.apply(sid, ix.SendChat("said while away", "m1"), CUSTOMER)
    one.store.away = False
    del one.store._sessions[sid]  # a Redis that came back empty
    assert await one.cluster.replay() == 1
    assert not one.cluster.journaled(sid)
    assert (await one.archived(sid))[-1][2] == "said while away", "the archive has it"
    await one.cluster.beat()
    assert await one.cluster.reap() == 0  # the heartbeat's work goes on


async def test_only_chat_and_notes_are_taken_while_the_store_is_away(one: OneNode) -> None:
    sid = await one.session()
    one.store.away = True
    with pytest.raises(StoreError) as err:
        await one.desk.apply(sid, ix.WrapUp(), AGENT)
    assert err.value.code == "unavailable"


async def _watching(one: OneNode, sid: str) -> Connection:
    """A supervisor's socket following the session (its pushes are kept, not sent)."""
    from signaling.archive import User

    user = User("sup", "Sup", "supervisor", (), (), 3, "x")
    conn = Connection(None, one.node, staff=user, remote="test")  # type: ignore[arg-type]
    conn.ready = True
    conn.feeds[sid] = Feed(0)
    await one.node.follow(conn, sid)
    await conn._backfill(sid)
    return conn


def _sent(conn: Connection) -> list[dict[str, Any]]:
    return [m for m in list(conn._out._queue) if m is not None]  # type: ignore[attr-defined]


async def _drained(conn: Connection) -> None:
    for _ in range(50):
        await asyncio.sleep(0.02)
        if not conn._tasks:
            return
