"""Several nodes, one deployment: the node registry, session ownership and the node bus.

Every ``livedesk run`` process is a node. Nodes on the same Redis share sessions, the
queue and presence through the store; what cannot be shared is held by one node:

- **Ownership.** A session's media room, recorder and co-browse stream live on the node
  that owns it, through a lease in the store (:meth:`Store.claim_session`). A new
  session is placed on the least-loaded live node; the owner renews its leases at every
  heartbeat. A session whose lease lapsed (its node died) is claimed by the next node
  that needs it, or moved by the reaper (see ``_bury``).
- **The bus.** Each node listens on its own channel (:func:`node_topic`). A participant
  connected to node B who sends a media, recording or co-browse message for a session
  owned by node A has it forwarded to A, where a :class:`RemoteConnection` runs the same
  handler with the same identity; the replies travel back to B's socket.
- **Hooks.** The owner runs the session hooks (media withdrawal, recording start/stop,
  co-browse channel changes) for every event, including those written by other nodes,
  which it learns from the session topic (``Envelope.origin``).
- **Registry.** Each heartbeat publishes the node's load and the staff connected to it;
  presence of an agent lasts as long as some live node lists them.
- **Degraded mode.** While the store is unreachable, nodes reach each other over the peer
  link (signaling/peerlink.py) instead of pub/sub: forwarded media messages and their
  replies still travel, and a chat message (or a media or recording note) for a session
  is applied by the session's owner on its own copy of the session, numbered after the
  last ``seq`` it knew, delivered to every node's sockets over the link, archived, and
  kept in a journal that the owner writes to the store, with the same numbers, as soon
  as the store is back. Everything else (new sessions, routing, transfers) waits for
  the store and says ``unavailable`` (503) meanwhile.

With the memory store there is one node and all of this is local.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import msgspec
import structlog

from signaling import interaction as ix
from signaling.archive import User
from signaling.auth import Participant
from signaling.connection import Connection
from signaling.errors import InteractionError, LivedeskError, StoreError
from signaling.interaction import Actor, Interaction, SessionState
from signaling.outage import OutageLog
from signaling.peerlink import LinkRefused, PeerLink
from signaling.routing import Presence
from signaling.store.base import (
    NodeInfo,
    StoredEvent,
    decode_envelope,
    node_topic,
    session_topic,
)

if TYPE_CHECKING:
    from signaling.config import ClusterConfig
    from signaling.desk import Desk
    from signaling.node import Node
    from signaling.recording_jobs import RecordingJobs

log = structlog.get_logger("livedesk.cluster")

HOOK_IDLE_S = 30.0
"""A session's hook runner stops after this long without remote events (a new one starts)."""
PROXY_IDLE_S = 600.0
"""A forwarded connection nobody used for this long is dropped (its node said nothing)."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_decode_command = msgspec.json.Decoder(ix.Command).decode
OWNER_CACHE_S = 1.0
"""How long a looked-up owner of another node's session is taken as still true."""
SETTLE_LEASES = 2
"""After a store outage, how many leases nodes defer to last owners and reap no one."""
OWNER_CACHE_MAX = 20_000
FAN_OUT_TIMEOUT_S = 1.0
PEER_DOWN_S = 5.0
"""A peer whose link did not answer is left out of fan-outs this long."""


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Cluster:
    """This node's part in a deployment: its leases, its heartbeat and its bus channel."""

    def __init__(
        self,
        desk: Desk,
        node: Node,
        settings: ClusterConfig,
        *,
        url: str = "",
        secret: bytes = b"",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.desk = desk
        self.node = node
        self.store = desk.store
        self.settings = settings
        self.id = settings.node_id or default_node_id()
        self.url = url
        self.clock = clock
        self.started_at = clock()
        self.draining = False
        self.owned: set[str] = set()
        self.peers: list[NodeInfo] = []
        """Every registered node as of the last heartbeat (this one included)."""
        self._watched: dict[str, Callable[[bytes], None]] = {}
        self._hooks: dict[str, asyncio.Queue[StoredEvent]] = {}
        self._proxies: dict[tuple[str, str], RemoteConnection] = {}
        self._beat_task: asyncio.Task[None] | None = None
        self.recordings: RecordingJobs | None = None
        """Marks a dead node's recordings interrupted (wired by the app)."""
        self._steady_since = clock() - SETTLE_LEASES * settings.lease_s
        """When heartbeats last started succeeding after a store outage: no reaping (and
        claims defer to last owners) until a lease has passed."""
        self._tasks: set[asyncio.Future[Any]] = set()
        self.owners: dict[str, str] = {}
        """The owner of each session this node looked up (for when the store is away)."""
        self.outage = OutageLog(self)
        """Copies of the sessions owned here, and their journals while the store is away."""
        self._peer_down: dict[str, float] = {}
        self._placed: Counter[str] = Counter()
        """Sessions placed on each other node since the last heartbeat."""
        self._owner_seen: dict[str, float] = {}
        self.link = PeerLink(
            self.id,
            secret or secrets.token_bytes(32),
            self._on_link,
            host=settings.link_host or "127.0.0.1",
            port=settings.link_port,
            advertise=settings.link_advertise,
        )

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.store.origin = self.id
        self.store.on_resubscribed.append(self._catch_up)
        await self.link.start()
        await self.store.subscribe(node_topic(self.id), self._on_bus)
        await self.beat()
        self._beat_task = asyncio.create_task(self._beat_forever(), name="cluster-heartbeat")
        log.info("node started", node_id=self.id, store=self.store.name)

    async def close(self) -> None:
        task, self._beat_task = self._beat_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        for proxy in list(self._proxies.values()):
            await proxy.stop()
        self._proxies.clear()
        for sid in list(self._watched):
            await self._unwatch(sid)
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(LivedeskError):
            await self.store.unsubscribe(node_topic(self.id), self._on_bus)
            # leave cleanly: our leases go at once, so others need not wait for them to lapse
            for sid in list(self.owned):
                await self.store.release_session(sid, self.id)
            await self.store.forget_node(self.id)
        await self.outage.close()
        await self.link.close()
        self.owned.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ heartbeat
    def info(self) -> NodeInfo:
        media = self.node.media
        staff = sorted({c.staff.username for c in self.node.connections if c.staff is not None})
        return NodeInfo(
            id=self.id,
            url=self.url,
            pid=os.getpid(),
            started_at=self.started_at,
            beat_at=self.clock(),
            sessions=len(self.owned),
            rooms=len(media.plane.rooms) if media is not None else 0,
            connections=len(self.node.connections),
            draining=self.draining,
            staff=tuple(staff),
            link=self.link.url,
        )

    async def beat(self) -> None:
        """Publish this node's record, renew its leases, and read the others'."""
        lease = self.settings.lease_s
        await self.store.node_beat(self.info(), lease)
        kept, lost = await self.store.renew_owned(self.id, lease)
        for sid in lost:
            log.warning("session lease lost to another node", session_id=sid)
            await self._disown(sid)
        for sid in kept:
            if sid not in self.owned:
                await self._adopt(sid)
        self.peers = await self.store.list_nodes()
        self._placed.clear()

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self.beat()
                if failing:
                    # every node missed beats while the store was away: give them a lease
                    # to beat again before anyone is taken for dead
                    failing = False
                    self._steady_since = self.clock()
                    log.info("heartbeat restored")
                with contextlib.suppress(StoreError):
                    await self.outage.replay()
                await self.reap()
            except StoreError as exc:
                if not failing:
                    self._steady_since = self.clock()  # a lease of grace starts at recovery
                failing = True
                log.warning("heartbeat failed", error=exc.message)
            except Exception:  # the heartbeat must outlive any one bad pass
                log.exception("heartbeat failed")

    def staff_elsewhere(self, username: str) -> bool:
        """Whether another live node listed this staff member at its last heartbeat."""
        return any(n.alive and n.id != self.id and username in n.staff for n in self.peers)

    # ------------------------------------------------------------ ownership
    def least_loaded(self) -> str:
        """The live, not draining node with the least load (this one when alone)."""
        live = [n for n in self.peers if n.alive and not n.draining and n.id != self.id]
        if not self.draining:
            live.append(self.info())
        if not live:
            return self.id

        def load(n: NodeInfo) -> tuple[int, int, int, float]:
            rooms, sessions, conns = n.load
            # the others' figures are from their last heartbeat: count what this node
            # placed on them since, and break ties at random, so a burst of new sessions
            # within one heartbeat spreads instead of piling on one node
            placed = 0 if n.id == self.id else self._placed[n.id]
            return (rooms, sessions + placed, conns, random.random())

        return min(live, key=load).id

    async def place(self, session_id: str) -> str:
        """Give a new session an owner: the least-loaded node. Returns the owner's id."""
        target = self.least_loaded()
        owner = await self.store.claim_session(session_id, target, self.settings.lease_s)
        if owner == self.id:
            await self._adopt(session_id)
        else:
            self._placed[owner] += 1
            self._know_owner(session_id, owner)
            await self._send(owner, {"k": "own", "s": session_id})
        log.info("session placed", session_id=session_id, owner=owner)
        return owner

    async def owner_of(self, session_id: str) -> str:
        """The node that owns the session; a session nobody holds is claimed here.

        While the store is away, the owner last looked up (it still holds the media).
        Within a lease of the store coming back, a session whose lease lapsed meanwhile
        is left to its last owner, which takes it again at its next heartbeat.
        """
        if session_id in self.owned:
            return self.id
        known = self.owners.get(session_id)
        seen = self._owner_seen.get(session_id, 0.0)
        if known is not None and time.monotonic() - seen < OWNER_CACHE_S:
            return known  # asked for every forwarded frame: a second-old answer will do
        try:
            owner = await self.store.session_owner(session_id)
            if owner is None:
                owner = await self.store.claim_session(
                    session_id, self.id, self.settings.lease_s, defer=self.settling()
                )
                if owner == self.id:
                    log.info("unowned session claimed", session_id=session_id)
        except StoreError:
            if known is None:
                raise
            return known
        self._know_owner(session_id, owner)
        if owner == self.id:
            await self._adopt(session_id)
        return owner

    def _catch_up(self) -> None:
        """Pub/sub came back: refresh the copies of owned sessions (writes elsewhere were
        not heard meanwhile)."""
        for session_id in list(self.owned):
            self._spawn(self._refresh_copy(session_id))

    async def _refresh_copy(self, session_id: str) -> None:
        with contextlib.suppress(LivedeskError):
            inter = await self.store.get_session(session_id)
            if inter is not None:
                self.remember(inter)

    def _know_owner(self, session_id: str, owner: str) -> None:
        if len(self.owners) >= OWNER_CACHE_MAX and session_id not in self.owners:
            # the oldest half goes: an entry is only a shortcut, the store has the truth
            oldest = sorted(self._owner_seen, key=self._owner_seen.__getitem__)
            for sid in oldest[: len(oldest) // 2]:
                self.owners.pop(sid, None)
                self._owner_seen.pop(sid, None)
        self.owners[session_id] = owner
        self._owner_seen[session_id] = time.monotonic()

    def settling(self) -> bool:
        """Within two leases of this node's heartbeats (re)starting to succeed: the other
        nodes come back from an outage at their own pace (a loaded one may need more than
        a lease to beat again), and until then only the registry says they exist."""
        return self.clock() - self._steady_since < SETTLE_LEASES * self.settings.lease_s

    async def is_mine(self, session_id: str) -> bool:
        return await self.owner_of(session_id) == self.id

    async def _adopt(self, session_id: str) -> None:
        if session_id in self.owned:
            return
        self.owned.add(session_id)
        self.owners[session_id] = self.id
        handler = self._session_handler(session_id)
        self._watched[session_id] = handler
        await self.store.subscribe(session_topic(session_id), handler)
        if session_id not in self.outage.copies:
            inter = await self.store.get_session(session_id)
            if inter is not None:
                self.remember(inter)

    def remember(self, inter: Interaction) -> None:
        """Keep the newest state of a session this node owns (degraded mode needs it)."""
        if inter.id in self.owned:
            self.outage.remember(inter)

    async def _disown(self, session_id: str) -> None:
        self.owned.discard(session_id)
        self.outage.forget(session_id)
        self.owners.pop(session_id, None)
        self._owner_seen.pop(session_id, None)
        await self._unwatch(session_id)

    async def _unwatch(self, session_id: str) -> None:
        handler = self._watched.pop(session_id, None)
        if handler is not None:
            with contextlib.suppress(LivedeskError):
                await self.store.unsubscribe(session_topic(session_id), handler)

    async def release_later(self, session_id: str) -> None:
        """An ended session: keep it a lease's length for late notes, then let it go."""
        await asyncio.sleep(self.settings.lease_s)
        if session_id in self.owned:
            await self._disown(session_id)
            with contextlib.suppress(LivedeskError):
                await self.store.release_session(session_id, self.id)

    def session_ended(self, session_id: str) -> None:
        if session_id in self.owned:
            self._spawn(self.release_later(session_id))

    # ------------------------------------------------------------ dead nodes
    async def reap(self) -> int:
        """Bury nodes whose lease lapsed (one reaper at a time); returns how many."""
        if self.settling():
            return 0
        dead = [n for n in self.peers if not n.alive and n.id != self.id]
        if not dead:
            return 0
        token = await self.store.acquire("reaper", self.settings.lease_s)
        if token is None:
            return 0
        try:
            for n in dead:
                await self._bury(n)
        finally:
            await self.store.release("reaper", token)
        return len(dead)

    async def _bury(self, dead: NodeInfo) -> None:
        """A dead node's sessions get a new owner; media and recording stop with a notice.

        Chat, queue and the timeline never lived on the node, so they go on; what did
        (the media room, the recorder, the co-browse stream) is gone, and both sides are
        told so they can start the call again.
        """
        log.warning("node dead", node_id=dead.id, sessions=dead.sessions)
        for sid in await self.store.owned_by(dead.id):
            inter = await self.store.get_session(sid)
            if inter is None or inter.state == SessionState.ENDED:
                continue
            owner = await self.store.session_owner(sid)
            if owner is None or owner == dead.id:
                owner = await self.place(sid)
            await self._media_lost(inter, dead.id, owner)
        live = [n for n in self.peers if n.alive]
        for username in dead.staff:
            elsewhere = any(username in n.staff for n in live)
            if not elsewhere and not self.node.staff_connected(username):
                with contextlib.suppress(LivedeskError):
                    await self.desk.set_status(username, Presence.OFFLINE)
                    log.info("agent offline: their node died", agent_id=username)
        await self.store.forget_node(dead.id)

    async def _media_lost(self, inter: ix.Interaction, dead: str, owner: str) -> None:
        running = [
            name
            for name, st in inter.channels.items()
            if name != ix.Channel.CHAT.value
            and st.state in (ix.ChannelState.ACCEPTED, ix.ChannelState.ACTIVE)
        ]
        recording = inter.recording is not None and inter.recording.state in (
            ix.RecordingState.RECORDING,
            ix.RecordingState.PAUSED,
            ix.RecordingState.ASKING,
        )
        if inter.state == SessionState.ACTIVE or running or recording:
            note = ix.Note("node.lost", {"node": dead, "owner": owner, "channels": running})
            await self._system(inter.id, note)
        for name in running:
            await self._system(inter.id, ix.StopChannel(ix.Channel(name), reason="node_lost"))
        if recording:
            await self._system(inter.id, ix.StopRecording())
        if self.recordings is not None:
            try:
                if await self.recordings.recover_session(inter.id, reason=f"node {dead} died"):
                    log.warning("recording interrupted: its node died", session_id=inter.id)
            except Exception:
                log.exception("marking a recording interrupted failed", session_id=inter.id)

    # ------------------------------------------------------------ draining
    async def drain(self, timeout_s: float) -> None:
        """Stop taking sessions; let active ones finish for ``timeout_s``; end the rest.

        Sessions without media here (queued, offered, in wrap-up) move to other nodes at
        once. Both sides of an active session are told when it will end; at the end the
        session ends with reason ``node_drained`` and its recording closes cleanly.
        """
        self.draining = True
        with contextlib.suppress(LivedeskError):
            await self.beat()  # the others stop placing sessions here
        log.info("draining", node_id=self.id, sessions=len(self.owned), timeout_s=timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        told: set[str] = set()
        active: list[str] = []
        while True:
            active = []
            for sid in sorted(self.owned):
                try:
                    inter = await self.store.get_session(sid)
                except LivedeskError:
                    active.append(sid)  # cannot tell: keep it until the end
                    continue
                if inter is None or inter.state == SessionState.ENDED:
                    await self._disown(sid)
                elif inter.state == SessionState.ACTIVE:
                    active.append(sid)
                else:
                    await self._hand_over(sid)
            left = deadline - loop.time()
            for sid in active:
                if sid not in told:
                    told.add(sid)
                    await self._system(sid, ix.Note("node.draining", {"ends_in_s": round(left)}))
            if not active or left <= 0:
                break
            await asyncio.sleep(min(0.5, left))
        for sid in active:
            log.info("session ended by drain", session_id=sid)
            await self._system(sid, ix.ForceEnd(reason="node_drained"))
        if active:
            await asyncio.sleep(0.5)  # the end reaches sockets on this node before they close
        log.info("drained", node_id=self.id, ended=len(active))

    async def _hand_over(self, session_id: str) -> None:
        await self._disown(session_id)
        with contextlib.suppress(LivedeskError):
            await self.store.release_session(session_id, self.id)
            owner = await self.place(session_id)
            log.info("session handed over", session_id=session_id, owner=owner)

    async def _system(self, session_id: str, cmd: ix.Command) -> None:
        try:
            await self.desk.apply(session_id, cmd, ix.SYSTEM)
        except LivedeskError as exc:
            log.info("drain step refused", session_id=session_id, code=exc.code)

    # ------------------------------------------------------------ hooks for remote events
    def _session_handler(self, session_id: str) -> Callable[[bytes], None]:
        def on_message(payload: bytes) -> None:
            try:
                env = decode_envelope(payload)
            except msgspec.DecodeError:
                return
            if env.kind != "event" or env.stored is None:
                return
            self.outage.saw(session_id, env.stored.seq)
            if env.origin == self.id:
                return
            queue = self._hooks.get(session_id)
            if queue is None:
                queue = self._hooks[session_id] = asyncio.Queue()
                self._spawn(self._run_hooks(session_id, queue))
            queue.put_nowait(env.stored)

        return on_message

    async def _run_hooks(self, session_id: str, queue: asyncio.Queue[StoredEvent]) -> None:
        """Run the owner's hooks for events other nodes wrote, in order, one batch at a time."""
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), HOOK_IDLE_S)
            except TimeoutError:
                if queue.empty():
                    self._hooks.pop(session_id, None)
                    return
                continue
            batch = [first]
            while not queue.empty():
                batch.append(queue.get_nowait())
            try:
                inter = await self.store.get_session(session_id)
                if inter is not None and session_id in self.owned:
                    self.remember(inter)
                    await self.desk.run_hooks(inter, sorted(batch, key=lambda se: se.seq))
            except StoreError as exc:
                log.warning("owner hooks skipped", session_id=session_id, error=exc.message)
            except Exception:
                log.exception("owner hooks failed", session_id=session_id)

    # ------------------------------------------------------------ the bus
    async def forward(self, conn: Connection, owner: str, data: str) -> None:
        """Send one client frame to the session's owner, to run there as this client."""
        conn.forwarded_to.add(owner)
        who: dict[str, Any]
        if conn.participant is not None:
            who = {"participant": msgspec.to_builtins(conn.participant)}
        elif conn.staff is not None:
            staff = msgspec.structs.replace(conn.staff, password_hash="")
            who = {"staff": msgspec.to_builtins(staff)}
        else:  # pragma: no cover - only ready connections forward
            return
        msg = {"k": "req", "o": self.id, "c": conn.cid, "who": who, "d": data}
        await self._send(owner, msg)

    async def connection_gone(self, conn: Connection) -> None:
        for owner in conn.forwarded_to:
            with contextlib.suppress(LivedeskError):
                await self._send(owner, {"k": "gone", "o": self.id, "c": conn.cid})

    async def deliver(self, origin: str, cid: str, msg: dict[str, Any]) -> None:
        await self._send(origin, {"k": "out", "c": cid, "m": msg})

    async def _send(self, node_id: str, msg: dict[str, Any]) -> None:
        """A message for another node's bus: over Redis, or over the link while it is away."""
        try:
            await self.store.publish(node_topic(node_id), _encode(msg))
            return
        except StoreError:
            url = self._link_of(node_id)
            if not url:
                raise
        try:
            await self.link.send(url, {"k": "bus", "m": msg}, to=node_id)
        except LinkRefused as exc:
            raise StoreError("unavailable", f"node {node_id} unreachable: {exc}") from exc

    def _link_of(self, node_id: str) -> str:
        return next((n.link for n in self.peers if n.id == node_id and n.alive), "")

    # ------------------------------------------------------------ degraded mode
    def degradable(self, cmd: ix.Command) -> bool:
        return self.outage.degradable(cmd)

    @property
    def journal_size(self) -> int:
        return self.outage.size

    def journaled(self, session_id: str) -> bool:
        return self.outage.journaled(session_id)

    async def replay_session(self, session_id: str) -> None:
        await self.outage.replay_session(session_id)

    async def replay(self) -> int:
        return await self.outage.replay()

    async def apply_degraded(
        self, session_id: str, cmd: ix.Command, actor: Actor
    ) -> tuple[Interaction, list[StoredEvent]]:
        """Apply a chat message or note while the store is away: here if this node owns
        the session, else on its owner over the link. StoreError('unavailable') when
        neither can."""
        if session_id in self.owned:
            return await self.outage.apply(session_id, cmd, actor)
        known = self.owners.get(session_id)
        others = [n.id for n in self.peers if n.id not in (self.id, known)]
        body = {
            "k": "apply",
            "s": session_id,
            "a": msgspec.to_builtins(actor),
            "c": msgspec.json.encode(cmd).decode(),
        }
        for node_id in ([known] if known else []) + others:
            url = self._link_of(node_id)
            if not url:
                continue
            try:
                reply = await self.link.send(url, body, to=node_id)
            except LinkRefused as exc:
                log.warning("degraded apply: owner unreachable", node=node_id, error=str(exc))
                continue
            if not reply.get("mine"):
                continue
            self._know_owner(session_id, node_id)
            if "error" in reply:
                raise InteractionError(reply["error"]["code"], reply["error"]["message"])
            inter = msgspec.convert(reply["inter"], Interaction)
            stored = [msgspec.convert(s, StoredEvent) for s in reply["stored"]]
            return inter, stored
        raise StoreError(
            "unavailable", "the live store is away and the session's owner is not reachable"
        )

    async def fan_out(self, topic: str, payload: bytes) -> None:
        """Deliver a session-topic message to this node's sockets and, over the link, to
        every other live node's (the store that would publish it is away). Peers are sent
        to at once; one that does not answer is left out for a while."""
        self.node.deliver_topic(topic, payload)
        now = time.monotonic()
        peers = [
            p
            for p in self.peers
            if p.id != self.id and p.alive and p.link and self._peer_down.get(p.id, 0) <= now
        ]
        if not peers:
            return
        msg = {"k": "topic", "t": topic, "p": payload.decode()}
        results = await asyncio.gather(
            *(self.link.send(p.link, msg, to=p.id, timeout_s=FAN_OUT_TIMEOUT_S) for p in peers),
            return_exceptions=True,
        )
        for peer, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                self._peer_down[peer.id] = time.monotonic() + PEER_DOWN_S
                log.warning("fan-out over the link failed", node=peer.id, error=str(result))

    async def _on_link(self, sender: str, msg: dict[str, Any]) -> dict[str, Any]:
        kind = msg.get("k")
        if kind == "bus" and isinstance(msg.get("m"), dict):
            self._bus_message(msg["m"])
            return {"ok": True}
        if kind == "topic":
            self.node.deliver_topic(str(msg.get("t", "")), str(msg.get("p", "")).encode())
            return {"ok": True}
        if kind == "apply":
            return await self._link_apply(msg)
        raise LinkRefused(f"unknown link message {kind!r}")

    async def _link_apply(self, msg: dict[str, Any]) -> dict[str, Any]:
        session_id = str(msg.get("s", ""))
        if session_id not in self.owned:
            return {"mine": False}
        try:
            actor = msgspec.convert(msg["a"], Actor)
            cmd = _decode_command(str(msg["c"]))
        except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise LinkRefused(f"bad apply message: {exc}") from exc
        if not self.degradable(cmd):
            raise LinkRefused("only chat and notes are applied over the link")
        try:
            # the store first: it may answer the owner although it did not the sender
            inter, stored = await self.desk.apply(session_id, cmd, actor)
        except LivedeskError as exc:
            return {"mine": True, "error": {"code": exc.code, "message": exc.message}}
        return {
            "mine": True,
            "inter": msgspec.to_builtins(inter),
            "stored": msgspec.to_builtins(stored),
        }

    async def cancel_job(self, node_id: str, job_id: int, by: str) -> bool:
        """Ask another live node to stop a job its worker runs; False if there is none."""
        if node_id == self.id or not any(n.alive and n.id == node_id for n in self.peers):
            return False
        await self._send(node_id, {"k": "cancel", "j": job_id, "by": by})
        return True

    def _on_bus(self, payload: bytes) -> None:
        try:
            msg = _decode(payload)
        except msgspec.DecodeError:
            log.warning("undecodable bus message")
            return
        self._bus_message(msg)

    def _bus_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("k")
        if kind == "out":
            conn = self.node.by_cid.get(str(msg.get("c")))
            if conn is not None:
                conn.send(msg["m"])
        elif kind == "req":
            self._request(msg)
        elif kind == "gone":
            proxy = self._proxies.pop((str(msg.get("o")), str(msg.get("c"))), None)
            if proxy is not None:
                self._spawn(proxy.stop())
        elif kind == "own":
            self._spawn(self._adopt(str(msg["s"])))
        elif kind == "cancel" and self.recordings is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                self.recordings.cancel_running(int(msg["j"]), str(msg["by"]))

    def _request(self, msg: dict[str, Any]) -> None:
        key = (str(msg["o"]), str(msg["c"]))
        proxy = self._proxies.get(key)
        if proxy is None:
            try:
                who = msg["who"]
                staff = msgspec.convert(who["staff"], User) if "staff" in who else None
                part = (
                    msgspec.convert(who["participant"], Participant)
                    if "participant" in who
                    else None
                )
            except (KeyError, msgspec.ValidationError):
                log.warning("bus request without a valid identity", origin=key[0])
                return
            proxy = RemoteConnection(self, origin=key[0], cid=key[1], staff=staff, participant=part)
            self._proxies[key] = proxy
            proxy.begin()
        proxy.feed(str(msg["d"]))


class RemoteConnection(Connection):
    """A participant connected to another node, acting on a session this node owns.

    Frames arrive over the bus in the order the participant sent them and run one at a
    time through the same handlers as a local socket; what they send goes back over
    the bus to the participant's own node.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        origin: str,
        cid: str,
        staff: User | None,
        participant: Participant | None,
    ) -> None:
        super().__init__(cast(Any, None), cluster.node, staff=staff, remote=f"node:{origin}")
        self.cluster = cluster
        self.origin = origin
        self.cid = cid
        self.participant = participant
        self.ready = True
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.last_used = time.monotonic()

    def begin(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())
        self._reader = asyncio.create_task(self._read_loop())

    def feed(self, data: str) -> None:
        self.last_used = time.monotonic()
        self._inbox.put_nowait(data)

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await asyncio.wait_for(self._inbox.get(), PROXY_IDLE_S)
            except TimeoutError:
                self.cluster._proxies.pop((self.origin, self.cid), None)
                data = None
            if data is None:
                with contextlib.suppress(asyncio.QueueFull):
                    self._out.put_nowait(None)
                return
            await self._handle_frame(data)

    async def _write_loop(self) -> None:
        while True:
            msg = await self._out.get()
            if msg is None:
                return
            try:
                await self.cluster.deliver(self.origin, self.cid, msg)
            except LivedeskError as exc:
                log.warning("reply to another node failed", origin=self.origin, error=exc.message)

    async def stop(self) -> None:
        self._inbox.put_nowait(None)
        tasks = [t for t in (self._reader, self._writer) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def close(self, code: int, reason: str) -> None:
        self._closing = True
