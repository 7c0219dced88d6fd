"""The in-process store: the default for a single process."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable

import msgspec

from signaling.errors import InteractionError
from signaling.interaction import Interaction, SessionState
from signaling.routing import AgentPresence
from signaling.store.base import (
    ENDED_RETENTION_S,
    AgentUpdate,
    Envelope,
    Event,
    Handler,
    JobTicket,
    NodeInfo,
    SessionUpdate,
    Store,
    StoredEvent,
    assign_seqs,
    encode_envelope,
    session_topic,
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StoredEvent)


def _encode(se: StoredEvent) -> bytes:
    # the encoder hands back its output buffer trimmed in place, and CPython's small-object
    # allocator keeps a block that shrinks by less than a quarter at its old size: an exact
    # copy makes each entry a log keeps about a fifth smaller (bench/soak.py)
    return bytes(memoryview(_encoder.encode(se)))


def _decode(raw: bytes) -> StoredEvent:
    return _decoder.decode(raw)


class MemoryStore(Store):
    """Everything in dictionaries. Updates are atomic because they never await."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._sessions: dict[str, Interaction] = {}
        # logs are kept encoded: bytes are invisible to the cyclic GC, and a full
        # collection over millions of event objects stalls the loop for 100s of ms
        self._events: dict[str, list[bytes]] = {}
        self._held: dict[str, set[str]] = defaultdict(set)
        self._ended_at: dict[str, float] = {}
        self._agents: dict[str, AgentPresence] = {}
        self._kv: dict[str, tuple[bytes, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._subs: dict[str, list[Handler]] = defaultdict(list)
        self._nodes: dict[str, tuple[NodeInfo, float]] = {}
        self._owners: dict[str, tuple[str, float]] = {}
        self._owned: dict[str, set[str]] = defaultdict(set)
        self._last_owner: dict[str, str] = {}
        self._waiting_jobs: dict[str, deque[tuple[str, int]]] = defaultdict(deque)
        self._taken_jobs: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
        """queue -> entry -> (job id, when it was taken)"""
        self._job_entries = itertools.count(1)
        self._job_pushed = asyncio.Condition()

    def _now(self) -> float:
        return self._clock()

    async def ping(self) -> bool:
        return True

    # ------------------------------------------------------------ sessions
    async def create_session(self, inter: Interaction, events: list[Event]) -> list[StoredEvent]:
        if inter.id in self._sessions:
            raise InteractionError("conflict", f"session {inter.id} exists")
        inter, stored = assign_seqs(inter, events)
        self._sessions[inter.id] = inter
        self._events[inter.id] = [_encode(se) for se in stored]
        self._index_holder(None, inter)
        self._publish_events(stored)
        return stored

    async def get_session(self, session_id: str) -> Interaction | None:
        self._expire_ended()
        return self._sessions.get(session_id)

    async def update_session(
        self, session_id: str, fn: SessionUpdate
    ) -> tuple[Interaction, list[StoredEvent]]:
        cur = self._sessions.get(session_id)
        if cur is None:
            raise InteractionError("not_found", f"no session {session_id}")
        new, events = fn(cur)
        new, stored = assign_seqs(new, events)
        self._sessions[session_id] = new
        self._events[session_id].extend(_encode(se) for se in stored)
        self._index_holder(cur, new)
        if new.state == SessionState.ENDED and session_id not in self._ended_at:
            self._ended_at[session_id] = self._now()
        self._publish_events(stored)
        return new, stored

    async def events_since(
        self, session_id: str, after_seq: int, limit: int = 1000
    ) -> list[StoredEvent]:
        log = self._events.get(session_id, [])
        start = max(after_seq, 0)
        return [_decode(raw) for raw in log[start : start + limit]]

    async def sessions_by_state(self, *states: SessionState) -> list[Interaction]:
        self._expire_ended()
        return [s for s in self._sessions.values() if s.state in states]

    async def sessions_held_by(self, agent_id: str) -> list[Interaction]:
        return [
            self._sessions[sid] for sid in self._held.get(agent_id, ()) if sid in self._sessions
        ]

    def _index_holder(self, old: Interaction | None, new: Interaction) -> None:
        before = old.holder if old is not None else None
        if before == new.holder:
            return
        if before is not None:
            self._held[before].discard(new.id)
            if not self._held[before]:
                del self._held[before]
        if new.holder is not None:
            self._held[new.holder].add(new.id)

    def _expire_ended(self) -> None:
        now = self._now()
        for sid, at in list(self._ended_at.items()):
            if now - at > ENDED_RETENTION_S:
                gone = self._sessions.pop(sid, None)
                if gone is not None and gone.holder is not None:
                    self._held[gone.holder].discard(sid)
                self._events.pop(sid, None)
                del self._ended_at[sid]

    def _publish_events(self, stored: list[StoredEvent]) -> None:
        for se in stored:
            env = Envelope(kind="event", session=se.session, stored=se, origin=self.origin)
            self._deliver(session_topic(se.session), encode_envelope(env))

    # ------------------------------------------------------------ presence
    async def update_agent(self, agent_id: str, fn: AgentUpdate) -> AgentPresence | None:
        new = fn(self._agents.get(agent_id))
        if new is None:
            self._agents.pop(agent_id, None)
            return None
        self._agents[agent_id] = new
        return self._with_load(new)

    async def get_agent(self, agent_id: str) -> AgentPresence | None:
        a = self._agents.get(agent_id)
        return self._with_load(a) if a else None

    async def list_agents(self) -> list[AgentPresence]:
        return [self._with_load(a) for a in self._agents.values()]

    def _with_load(self, a: AgentPresence) -> AgentPresence:
        return msgspec.structs.replace(a, load=len(self._held.get(a.id, ())))

    # ------------------------------------------------------------ key-value
    async def kv_set(
        self, key: str, value: bytes, ttl_s: float, *, only_if_new: bool = False
    ) -> bool:
        now = self._now()
        cur = self._kv.get(key)
        if only_if_new and cur is not None and cur[1] > now:
            return False
        self._kv[key] = (value, now + ttl_s)
        return True

    async def kv_incr(self, key: str, ttl_s: float) -> int:
        now = self._now()
        cur = self._kv.get(key)
        if cur is None or cur[1] <= now:
            cur = (b"0", now + ttl_s)
        value = int(cur[0]) + 1
        self._kv[key] = (str(value).encode(), cur[1])
        return value

    async def kv_get(self, key: str) -> bytes | None:
        cur = self._kv.get(key)
        if cur is None or cur[1] <= self._now():
            self._kv.pop(key, None)
            return None
        return cur[0]

    async def kv_delete(self, key: str) -> None:
        self._kv.pop(key, None)

    # ------------------------------------------------------------ pub/sub
    async def publish(self, topic: str, payload: bytes) -> None:
        self._deliver(topic, payload)

    def _deliver(self, topic: str, payload: bytes) -> None:
        for handler in list(self._subs.get(topic, ())):
            handler(payload)

    async def subscribe(self, topic: str, handler: Handler) -> None:
        self._subs[topic].append(handler)

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._subs.get(topic)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._subs[topic]

    # ------------------------------------------------------------ locks
    async def acquire(self, name: str, ttl_s: float) -> str | None:
        now = self._now()
        cur = self._locks.get(name)
        if cur is not None and cur[1] > now:
            return None
        token = secrets.token_hex(8)
        self._locks[name] = (token, now + ttl_s)
        return token

    async def release(self, name: str, token: str) -> None:
        cur = self._locks.get(name)
        if cur is not None and cur[0] == token:
            del self._locks[name]

    # ------------------------------------------------------------ nodes and ownership
    async def node_beat(self, info: NodeInfo, ttl_s: float) -> None:
        self._nodes[info.id] = (info, self._now() + ttl_s)

    async def list_nodes(self) -> list[NodeInfo]:
        now = self._now()
        return [
            msgspec.structs.replace(info, alive=until > now)
            for info, until in sorted(self._nodes.values(), key=lambda n: n[0].id)
        ]

    async def forget_node(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)
        self._owned.pop(node_id, None)

    def _live_owner(self, session_id: str) -> str | None:
        cur = self._owners.get(session_id)
        if cur is None or cur[1] <= self._now():
            return None
        return cur[0]

    async def claim_session(
        self, session_id: str, node_id: str, ttl_s: float, *, defer: bool = False
    ) -> str:
        owner = self._live_owner(session_id)
        if owner is not None and owner != node_id:
            return owner
        last = self._last_owner.get(session_id)
        if owner is None and last is not None and last != node_id:
            node = self._nodes.get(last)
            # a buried (forgotten) node gets nothing back, even just after an outage
            if node is not None and (defer or node[1] > self._now()):
                node_id = last
        self._owners[session_id] = (node_id, self._now() + ttl_s)
        self._last_owner[session_id] = node_id
        self._owned[node_id].add(session_id)
        return node_id

    async def session_owner(self, session_id: str) -> str | None:
        return self._live_owner(session_id)

    async def renew_owned(self, node_id: str, ttl_s: float) -> tuple[list[str], list[str]]:
        kept: list[str] = []
        lost: list[str] = []
        for sid in sorted(self._owned.get(node_id, ())):
            owner = self._live_owner(sid)
            if owner in (None, node_id):
                self._owners[sid] = (node_id, self._now() + ttl_s)
                kept.append(sid)
            else:
                lost.append(sid)
        if lost:
            self._owned[node_id].difference_update(lost)
        return kept, lost

    async def owned_by(self, node_id: str) -> list[str]:
        return sorted(self._owned.get(node_id, ()))

    async def release_session(self, session_id: str, node_id: str) -> None:
        if self._live_owner(session_id) == node_id:
            del self._owners[session_id]
        if self._last_owner.get(session_id) == node_id:
            del self._last_owner[session_id]
        owned = self._owned.get(node_id)
        if owned is not None:
            owned.discard(session_id)

    # ------------------------------------------------------------ work queues
    async def job_push(self, queue: str, job_id: int) -> None:
        self._waiting_jobs[queue].append((str(next(self._job_entries)), job_id))
        async with self._job_pushed:
            self._job_pushed.notify_all()

    def _next_job(self, queue: str, stale_s: float) -> JobTicket | None:
        now = self._now()
        taken = self._taken_jobs[queue]
        for entry, (job_id, at) in taken.items():
            if now - at > stale_s:
                taken[entry] = (job_id, now)
                return JobTicket(queue, entry, job_id, redelivered=True)
        waiting = self._waiting_jobs[queue]
        if not waiting:
            return None
        entry, job_id = waiting.popleft()
        taken[entry] = (job_id, now)
        return JobTicket(queue, entry, job_id)

    async def job_take(
        self, queue: str, worker: str, *, wait_s: float, stale_s: float
    ) -> JobTicket | None:
        ticket = self._next_job(queue, stale_s)
        if ticket is None and wait_s > 0:
            async with self._job_pushed:
                try:
                    await asyncio.wait_for(self._job_pushed.wait(), wait_s)
                except TimeoutError:
                    return None
            ticket = self._next_job(queue, stale_s)
        return ticket

    async def job_done(self, ticket: JobTicket) -> None:
        self._taken_jobs[ticket.queue].pop(ticket.entry, None)

    async def job_ids(self, queue: str) -> set[int]:
        waiting = {job_id for _, job_id in self._waiting_jobs[queue]}
        return waiting | {job_id for job_id, _ in self._taken_jobs[queue].values()}
