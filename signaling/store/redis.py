"""The Redis store: live state shared by every process and node of a deployment.

A session is a JSON string changed by optimistic WATCH/MULTI transactions, so the
read-modify-write of any node is atomic; its event log is a list, and the state and
holder indexes are sets written in the same transaction. Pub/sub runs on one
connection per store, read by a single task that calls the local handlers.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar, cast

import msgspec
import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import Pipeline, PubSub
from redis.exceptions import RedisError, ResponseError, WatchError

from signaling.errors import InteractionError, StoreError
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

log = structlog.get_logger("livedesk.store.redis")

S = TypeVar("S")
R = TypeVar("R")
Queue = Callable[[Pipeline], None]
"""Queues a transaction's writes on a pipeline already in MULTI."""

SUBSCRIBE_TIMEOUT_S = 5.0
JOB_GROUP = "workers"
"""The one consumer group of every work-queue stream: each job goes to one worker."""
JOB_STREAM_MAX = 100_000
"""A work queue's stream is trimmed to about this many entries (done ones are deleted)."""
PRUNE_SLACK_S = 60.0
"""Ended-index entries outlive their session key this long, so node clock skew is harmless."""

_INCR_LUA = """
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return n
"""

_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# KEYS: owner key, last-owner key; ARGV: node id, lease ms, session id, key prefix,
# defer ('1' or '0'). Keys are built here from the prefix (a single Redis, not a Cluster).
_CLAIM_LUA = """
local cur = redis.call('get', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
local me = ARGV[1]
if not cur then
  local last = redis.call('get', KEYS[2])
  local alive = last and redis.call('exists', ARGV[4] .. 'alive:' .. last) == 1
  local known = last and redis.call('hexists', ARGV[4] .. 'nodes', last) == 1
  if last and last ~= me and (alive or (ARGV[5] == '1' and known)) then
    me = last
  end
end
redis.call('set', KEYS[1], me, 'PX', ARGV[2])
redis.call('set', KEYS[2], me, 'EX', 86400)
redis.call('sadd', ARGV[4] .. 'owned:' .. me, ARGV[3])
return me
"""

# KEYS[1]: the node's ownership index; ARGV: node id, lease ms, owner-key prefix.
# The owner keys are built here, so this script needs a single Redis (not Redis Cluster).
_RENEW_LUA = """
local kept, lost = {}, {}
for _, sid in ipairs(redis.call('smembers', KEYS[1])) do
  local key = ARGV[3] .. sid
  local cur = redis.call('get', key)
  if (not cur) or cur == ARGV[1] then
    redis.call('set', key, ARGV[1], 'PX', ARGV[2])
    table.insert(kept, sid)
  else
    redis.call('srem', KEYS[1], sid)
    table.insert(lost, sid)
  end
end
return {kept, lost}
"""

_encode = msgspec.json.Encoder().encode
_decode_session = msgspec.json.Decoder(Interaction).decode
_decode_event = msgspec.json.Decoder(StoredEvent).decode
_decode_agent = msgspec.json.Decoder(AgentPresence).decode
_decode_node = msgspec.json.Decoder(NodeInfo).decode


@contextmanager
def _unavailable() -> Iterator[None]:
    """Turn connection and server failures into the store's own error."""
    try:
        yield
    except WatchError:
        raise  # the optimistic retry loops handle it
    except (RedisError, OSError) as exc:
        raise StoreError("unavailable", str(exc) or type(exc).__name__) from exc


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _px(ttl_s: float) -> int:
    # Redis rejects PX 0, so a non-positive TTL becomes the shortest expiry it accepts
    return max(1, math.ceil(ttl_s * 1000))


class RedisStore(Store):
    """Live state in Redis, shared by every node using the same URL and key prefix."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "livedesk",
        max_retries: int = 50,
        max_connections: int = 64,
        pool_timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 10.0,
    ) -> None:
        super().__init__()
        self._url = url
        self._max_connections = max_connections
        self._pool_timeout_s = pool_timeout_s
        # a Redis that does not answer fails requests in seconds (a new session gets a
        # quick 503); reads may take longer than the blocking job-queue wait (5 s)
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._p = key_prefix
        self._max_retries = max(1, max_retries)
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subs: dict[str, list[Handler]] = {}
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()

    def _k(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    def _r(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreError("unavailable", "the Redis store is not started")
        return self._client

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._client is not None:
            return
        # every WATCH transaction holds a connection until it commits; a blocking pool
        # makes a burst wait for one instead of failing with "Too many connections"
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url,
            max_connections=self._max_connections,
            timeout=self._pool_timeout_s,
            socket_connect_timeout=self._connect_timeout_s,
            socket_timeout=self._read_timeout_s,
        )
        self._client = aioredis.Redis(connection_pool=pool, decode_responses=False)
        self._pubsub = self._client.pubsub()
        try:
            with _unavailable():
                # redis-py cannot read a PubSub that has no channel, so each node keeps
                # a private one and the reader can block from the start
                await self._pubsub.subscribe(self._k("t", f"__node__:{secrets.token_hex(8)}"))
        except BaseException:
            await self.close()
            raise
        self._reader = asyncio.create_task(
            self._read_loop(self._pubsub), name=f"redis-pubsub:{self._p}"
        )

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        for fut in self._confirm.values():
            fut.cancel()
        self._confirm.clear()
        self._subs.clear()
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        if pubsub is not None:
            await pubsub.aclose()
        if client is not None:
            await client.aclose()

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    # ------------------------------------------------------------ transactions
    async def _optimistic(
        self,
        watch: str,
        load: Callable[[Pipeline], Awaitable[S]],
        plan: Callable[[S], tuple[R, Queue]],
    ) -> R:
        """WATCH ``watch``, read, decide, write in MULTI; start over if the key changed.

        ``plan`` runs outside the error translation, so whatever it raises reaches
        the caller untouched and nothing is written.
        """
        pipe = self._r().pipeline(transaction=True)
        try:
            for attempt in range(self._max_retries):
                with _unavailable():
                    await pipe.watch(watch)
                    current = await load(pipe)
                result, queue = plan(current)
                try:
                    with _unavailable():
                        pipe.multi()
                        queue(pipe)
                        await pipe.execute()
                except WatchError:
                    # another writer got there first: step aside a little (random, growing),
                    # so two sides chatting at once do not keep colliding
                    await asyncio.sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempt)))
                    continue
                return result
            raise InteractionError("conflict", f"{watch} kept changing; gave up retrying")
        finally:
            with _unavailable():
                await pipe.reset()

    # ------------------------------------------------------------ sessions
    async def create_session(self, inter: Interaction, events: list[Event]) -> list[StoredEvent]:
        inter, stored = assign_seqs(inter, events)

        async def load(pipe: Pipeline) -> bool:
            return bool(await pipe.exists(self._k("s", inter.id)))

        def plan(exists: bool) -> tuple[list[StoredEvent], Queue]:
            if exists:
                raise InteractionError("conflict", f"session {inter.id} exists")
            return stored, lambda p: self._queue_write(p, inter.id, None, -1, inter, stored)

        return await self._optimistic(self._k("s", inter.id), load, plan)

    async def get_session(self, session_id: str) -> Interaction | None:
        with _unavailable():
            raw = await self._r().get(self._k("s", session_id))
        return None if raw is None else _decode_session(raw)

    async def update_session(
        self, session_id: str, fn: SessionUpdate
    ) -> tuple[Interaction, list[StoredEvent]]:
        skey = self._k("s", session_id)

        async def load(pipe: Pipeline) -> tuple[Interaction, int]:
            raw = await pipe.get(skey)
            if raw is None:
                raise InteractionError("not_found", f"no session {session_id}")
            cur = _decode_session(raw)
            # only an ended session has a retention clock to keep; skip the round trip
            ttl = int(await pipe.pttl(skey)) if cur.state == SessionState.ENDED else -1
            return cur, ttl

        def plan(
            got: tuple[Interaction, int],
        ) -> tuple[tuple[Interaction, list[StoredEvent]], Queue]:
            new, stored = assign_seqs(*fn(got[0]))
            return (new, stored), lambda p: self._queue_write(p, session_id, *got, new, stored)

        return await self._optimistic(skey, load, plan)

    def _queue_write(
        self,
        pipe: Pipeline,
        sid: str,
        cur: Interaction | None,
        ttl_ms: int,
        new: Interaction,
        stored: list[StoredEvent],
    ) -> None:
        """Queue one session write: record, log, indexes, retention and publication."""
        skey, ekey = self._k("s", sid), self._k("e", sid)
        ended = SessionState.ENDED
        # once the retention clock runs (from the first end), later writes must not reset it
        pipe.set(skey, _encode(new), keepttl=ttl_ms > 0)
        if stored:
            pipe.rpush(ekey, *(_encode(se) for se in stored))
        if ttl_ms <= 0 and cur is not None and new.state == ended:
            ttl_ms = int(ENDED_RETENTION_S * 1000)
            pipe.pexpire(skey, ttl_ms)
        if ttl_ms > 0:
            pipe.pexpire(ekey, ttl_ms)
        if cur is not None and cur.state != new.state:
            old = self._k("state", cur.state)
            pipe.zrem(old, sid) if cur.state == ended else pipe.srem(old, sid)
        if new.state == ended:
            # a sorted set by expiry, so ended ids are pruned as new sessions end
            now = time.time()
            deadline = now + ttl_ms / 1000 if ttl_ms > 0 else math.inf
            pipe.zadd(self._k("state", ended), {sid: deadline})
            pipe.zremrangebyscore(self._k("state", ended), "-inf", now - PRUNE_SLACK_S)
        else:
            pipe.sadd(self._k("state", new.state), sid)
        old_holder = cur.holder if cur is not None else None
        if old_holder is not None and old_holder != new.holder:
            pipe.srem(self._k("held", old_holder), sid)
        if new.holder is not None:
            pipe.sadd(self._k("held", new.holder), sid)
        for se in stored:
            env = Envelope(kind="event", session=se.session, stored=se, origin=self.origin)
            pipe.publish(self._k("t", session_topic(se.session)), encode_envelope(env))

    async def events_since(
        self, session_id: str, after_seq: int, limit: int = 1000
    ) -> list[StoredEvent]:
        if limit <= 0:
            return []
        start = max(after_seq, 0)  # seq n sits at index n - 1
        with _unavailable():
            raws = await self._r().lrange(self._k("e", session_id), start, start + limit - 1)
        return [_decode_event(raw) for raw in raws]

    async def sessions_by_state(self, *states: SessionState) -> list[Interaction]:
        found: dict[str, Interaction] = {}
        with _unavailable():
            for state in dict.fromkeys(states):
                indexed = await self._indexed(self._k("state", state), state == SessionState.ENDED)
                found.update((s.id, s) for s in indexed if s.state == state)
        return sorted(found.values(), key=lambda s: (s.created_at, s.id))

    async def sessions_held_by(self, agent_id: str) -> list[Interaction]:
        with _unavailable():
            held = await self._indexed(self._k("held", agent_id), False)
        return sorted((s for s in held if s.holder == agent_id), key=lambda s: (s.created_at, s.id))

    async def _indexed(self, index: str, zset: bool) -> list[Interaction]:
        """The sessions an index names; ids whose session key has expired leave the index."""
        r = self._r()
        ids: Iterable[Any] = await (r.zrange(index, 0, -1) if zset else r.smembers(index))
        sids = sorted(i.decode() for i in ids)
        if not sids:
            return []
        raws = await r.mget([self._k("s", sid) for sid in sids])
        gone = [sid for sid, raw in zip(sids, raws, strict=True) if raw is None]
        if gone:
            await (r.zrem(index, *gone) if zset else r.srem(index, *gone))
        # an index entry whose record moved on is left alone: its own transaction fixes it
        return [_decode_session(raw) for raw in raws if raw is not None]

    # ------------------------------------------------------------ presence
    async def update_agent(self, agent_id: str, fn: AgentUpdate) -> AgentPresence | None:
        akey = self._k("agents")
        # a per-agent version key makes agents' updates conflict only with their own
        vkey = self._k("agentv", agent_id)

        async def load(pipe: Pipeline) -> AgentPresence | None:
            raw = await pipe.hget(akey, agent_id)
            return None if raw is None else _decode_agent(raw)

        def plan(cur: AgentPresence | None) -> tuple[AgentPresence | None, Queue]:
            new = fn(cur)

            def queue(p: Pipeline) -> None:
                if new is None:
                    p.hdel(akey, agent_id)
                    p.delete(vkey)
                else:
                    p.hset(akey, agent_id, _encode(msgspec.structs.replace(new, load=0)))
                    p.incr(vkey)

            return new, queue

        new = await self._optimistic(vkey, load, plan)
        if new is None:
            return None
        with _unavailable():
            return await self._with_load(new)

    async def get_agent(self, agent_id: str) -> AgentPresence | None:
        with _unavailable():
            raw = await self._r().hget(self._k("agents"), agent_id)
            return None if raw is None else await self._with_load(_decode_agent(raw))

    async def list_agents(self) -> list[AgentPresence]:
        with _unavailable():
            raws = await self._r().hvals(self._k("agents"))
            agents = sorted((_decode_agent(raw) for raw in raws), key=lambda a: a.id)
            async with self._r().pipeline(transaction=False) as pipe:
                for a in agents:
                    pipe.scard(self._k("held", a.id))
                loads = await pipe.execute()
        return [msgspec.structs.replace(a, load=int(n)) for a, n in zip(agents, loads, strict=True)]

    async def _with_load(self, a: AgentPresence) -> AgentPresence:
        load = await self._r().scard(self._k("held", a.id))
        return msgspec.structs.replace(a, load=int(load))

    # ------------------------------------------------------------ key-value
    async def kv_set(
        self, key: str, value: bytes, ttl_s: float, *, only_if_new: bool = False
    ) -> bool:
        with _unavailable():
            done = await self._r().set(self._k("kv", key), value, px=_px(ttl_s), nx=only_if_new)
        return bool(done)

    async def kv_get(self, key: str) -> bytes | None:
        with _unavailable():
            raw = await self._r().get(self._k("kv", key))
        return cast(bytes | None, raw)

    async def kv_delete(self, key: str) -> None:
        with _unavailable():
            await self._r().delete(self._k("kv", key))

    async def kv_incr(self, key: str, ttl_s: float) -> int:
        with _unavailable():
            value = await self._r().eval(_INCR_LUA, 1, self._k("kv", key), _px(ttl_s))
        return int(value)

    # ------------------------------------------------------------ locks
    async def acquire(self, name: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        with _unavailable():
            taken = await self._r().set(self._k("lock", name), token, px=_px(ttl_s), nx=True)
        return token if taken else None

    async def release(self, name: str, token: str) -> None:
        # compare and delete in one script: a lock that expired and was taken by
        # someone else must survive our late release
        with _unavailable():
            await self._r().eval(_RELEASE_LUA, 1, self._k("lock", name), token)

    # ------------------------------------------------------------ nodes and ownership
    async def node_beat(self, info: NodeInfo, ttl_s: float) -> None:
        with _unavailable():
            async with self._r().pipeline(transaction=True) as pipe:
                pipe.hset(self._k("nodes"), info.id, _encode(info))
                pipe.set(self._k("alive", info.id), b"1", px=_px(ttl_s))
                await pipe.execute()

    async def list_nodes(self) -> list[NodeInfo]:
        with _unavailable():
            raw = await self._r().hgetall(self._k("nodes"))
            infos = sorted((_decode_node(v) for v in raw.values()), key=lambda n: n.id)
            if not infos:
                return []
            alive = await self._r().mget([self._k("alive", n.id) for n in infos])
        return [
            msgspec.structs.replace(n, alive=a is not None)
            for n, a in zip(infos, alive, strict=True)
        ]

    async def forget_node(self, node_id: str) -> None:
        with _unavailable():
            async with self._r().pipeline(transaction=True) as pipe:
                pipe.hdel(self._k("nodes"), node_id)
                pipe.delete(self._k("alive", node_id), self._k("owned", node_id))
                await pipe.execute()

    async def claim_session(
        self, session_id: str, node_id: str, ttl_s: float, *, defer: bool = False
    ) -> str:
        keys = (self._k("owner", session_id), self._k("lastowner", session_id))
        args = (node_id, _px(ttl_s), session_id, self._k(""), "1" if defer else "0")
        with _unavailable():
            owner = await self._r().eval(_CLAIM_LUA, 2, *keys, *args)
        return _text(owner)

    async def session_owner(self, session_id: str) -> str | None:
        with _unavailable():
            raw = await self._r().get(self._k("owner", session_id))
        return None if raw is None else _text(raw)

    async def renew_owned(self, node_id: str, ttl_s: float) -> tuple[list[str], list[str]]:
        with _unavailable():
            kept, lost = await self._r().eval(
                _RENEW_LUA, 1, self._k("owned", node_id), node_id, _px(ttl_s), self._k("owner", "")
            )
        return sorted(_text(k) for k in kept), sorted(_text(k) for k in lost)

    async def owned_by(self, node_id: str) -> list[str]:
        with _unavailable():
            ids = await self._r().smembers(self._k("owned", node_id))
        return sorted(_text(i) for i in ids)

    async def release_session(self, session_id: str, node_id: str) -> None:
        with _unavailable():
            await self._r().eval(_RELEASE_LUA, 1, self._k("owner", session_id), node_id)
            await self._r().eval(_RELEASE_LUA, 1, self._k("lastowner", session_id), node_id)
            await self._r().srem(self._k("owned", node_id), session_id)

    # ------------------------------------------------------------ pub/sub
    async def publish(self, topic: str, payload: bytes) -> None:
        with _unavailable():
            await self._r().publish(self._k("t", topic), payload)

    async def subscribe(self, topic: str, handler: Handler) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            raise StoreError("unavailable", "the Redis store is not started")
        # serialised, so a second subscriber to a topic returns only once Redis confirmed it
        async with self._sub_lock:
            handlers = self._subs.setdefault(topic, [])
            handlers.append(handler)
            if len(handlers) > 1:
                return
            channel = self._k("t", topic).encode()
            confirmed = asyncio.get_running_loop().create_future()
            self._confirm[channel] = confirmed
            try:
                with _unavailable():
                    await pubsub.subscribe(channel)
                try:
                    # the reply proves Redis registered us: later publishes reach this node
                    await asyncio.wait_for(confirmed, SUBSCRIBE_TIMEOUT_S)
                except TimeoutError:
                    raise StoreError("unavailable", f"Redis did not confirm {topic}") from None
            except BaseException:
                handlers.remove(handler)
                if not handlers and self._subs.get(topic) is handlers:
                    del self._subs[topic]
                raise
            finally:
                self._confirm.pop(channel, None)

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        async with self._sub_lock:
            handlers = self._subs.get(topic)
            if not handlers or handler not in handlers:
                return
            handlers.remove(handler)
            if handlers:
                return
            del self._subs[topic]
            with _unavailable():
                if self._pubsub is not None:
                    await self._pubsub.unsubscribe(self._k("t", topic).encode())

    async def _read_loop(self, pubsub: PubSub) -> None:
        backoff = 0.1
        lost = False
        while True:
            try:
                msg = await pubsub.get_message(timeout=None)
            except Exception as exc:
                # Redis went away: redis-py reconnects and resubscribes on the next read
                if not lost:
                    log.warning("redis pubsub read failed", error=str(exc), retry_in=backoff)
                lost = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.1
            if msg is not None:
                self._dispatch(msg)
            if lost:
                # the first reply after a reconnect answers the one SUBSCRIBE redis-py sent
                # for every channel: from here on nothing is missed, but what was published
                # meanwhile was, and the followers catch up from the logs
                lost = False
                log.info("redis pubsub subscribed again")
                # connections idle in the pool through a restart are dead, and each would
                # fail its next command once: drop them now, before anyone draws one
                with suppress(Exception):
                    await self._r().connection_pool.disconnect(inuse_connections=False)
                for callback in list(self.on_resubscribed):
                    try:
                        callback()
                    except Exception:
                        log.exception("resubscribe callback failed")

    def _dispatch(self, msg: dict[str, Any]) -> None:
        channel = msg.get("channel")
        if not isinstance(channel, bytes):
            return
        if msg["type"] == "subscribe":
            confirmed = self._confirm.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if msg["type"] != "message":
            return
        topic = channel.decode()[len(self._p) + 3 :]  # strip "{prefix}:t:"
        for handler in list(self._subs.get(topic, ())):
            try:
                handler(msg["data"])
            except Exception:
                log.exception("pubsub handler failed", topic=topic)

    # ------------------------------------------------------------ work queues
    # A queue is a stream with one consumer group: XADD pushes, XREADGROUP hands each
    # entry to one worker, XAUTOCLAIM hands out again what a silent worker held, and
    # XACK + XDEL remove an entry once its job is dealt with. Streams keep their entries
    # across a worker's death; a Redis that lost them (restarted without persistence) is
    # refilled from the archive's jobs table (signaling.recording_jobs sweeps it).
    def _jobs_key(self, queue: str) -> str:
        return self._k("jobs", queue)

    async def _job_group(self, key: str) -> None:
        try:
            with _unavailable():
                await self._r().xgroup_create(key, JOB_GROUP, id="0", mkstream=True)
        except StoreError as exc:
            if "BUSYGROUP" not in exc.message:
                raise

    async def job_push(self, queue: str, job_id: int) -> None:
        key = self._jobs_key(queue)
        with _unavailable():
            await self._r().xadd(key, {"job": str(job_id)}, maxlen=JOB_STREAM_MAX, approximate=True)

    async def job_take(
        self, queue: str, worker: str, *, wait_s: float, stale_s: float
    ) -> JobTicket | None:
        key = self._jobs_key(queue)
        for attempt in range(2):
            try:
                return await self._take(key, queue, worker, wait_s, stale_s)
            except ResponseError as exc:
                # NOGROUP: a new stream, or a Redis that came back empty
                if "NOGROUP" not in str(exc) or attempt:
                    raise StoreError("unavailable", str(exc)) from exc
                await self._job_group(key)
        return None  # pragma: no cover - the loop returns or raises

    async def _take(
        self, key: str, queue: str, worker: str, wait_s: float, stale_s: float
    ) -> JobTicket | None:
        r = self._r()
        try:
            reclaimed: Any = await r.xautoclaim(
                key, JOB_GROUP, worker, min_idle_time=_px(stale_s), start_id="0-0", count=1
            )
            entries = reclaimed[1] if len(reclaimed) > 1 else []
            if entries:
                entry, fields = entries[0]
                return self._ticket(queue, entry, fields, redelivered=True)
            block = _px(wait_s) if wait_s > 0 else None
            got: Any = await r.xreadgroup(JOB_GROUP, worker, {key: ">"}, count=1, block=block)
        except ResponseError:
            raise
        except (RedisError, OSError) as exc:
            raise StoreError("unavailable", str(exc) or type(exc).__name__) from exc
        if not got:
            return None
        _, entries = got[0]
        if not entries:
            return None
        entry, fields = entries[0]
        return self._ticket(queue, entry, fields, redelivered=False)

    def _ticket(
        self, queue: str, entry: bytes | str, fields: dict[Any, Any] | None, *, redelivered: bool
    ) -> JobTicket:
        raw = (fields or {}).get(b"job") or (fields or {}).get("job")
        try:
            job_id = int(raw) if raw is not None else -1
        except ValueError:
            job_id = -1
        return JobTicket(queue, _text(entry), job_id, redelivered=redelivered)

    async def job_done(self, ticket: JobTicket) -> None:
        key = self._jobs_key(ticket.queue)
        with _unavailable():
            async with self._r().pipeline(transaction=True) as pipe:
                pipe.xack(key, JOB_GROUP, ticket.entry)
                pipe.xdel(key, ticket.entry)
                await pipe.execute()

    async def job_ids(self, queue: str) -> set[int]:
        with _unavailable():
            entries: Any = await self._r().xrange(
                self._jobs_key(queue), "-", "+", count=JOB_STREAM_MAX
            )
        out: set[int] = set()
        for _, fields in entries:
            raw = fields.get(b"job")
            if raw is not None and raw.isdigit():
                out.add(int(raw))
        return out
