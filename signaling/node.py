"""This process's connections, and the fan-out of session topics to them.

A session topic is subscribed in the store once per process, when the first
local connection follows that session, and dropped with the last one. Console
changes are debounced and turned into fresh snapshots for local staff and queue
positions for local customers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from signaling import liveness
from signaling.errors import StoreError
from signaling.ratelimit import ParticipantBuckets
from signaling.routing import Presence
from signaling.store.base import CONSOLE_TOPIC, decode_envelope, session_topic

if TYPE_CHECKING:
    from signaling.cluster import Cluster
    from signaling.cobrowse import CobrowseService
    from signaling.connection import Connection
    from signaling.desk import Desk
    from signaling.media import MediaService
    from signaling.recording import RecordingService

log = structlog.get_logger("livedesk.node")


class Node:
    """Local connections of one process."""

    def __init__(self, desk: Desk, *, debounce_s: float = 0.05) -> None:
        self.desk = desk
        self.media: MediaService | None = None
        self.recording: RecordingService | None = None
        self.cobrowse: CobrowseService | None = None
        self.cluster: Cluster | None = None
        self.connections: set[Connection] = set()
        self.by_cid: dict[str, Connection] = {}
        self._followers: dict[str, set[Connection]] = defaultdict(set)
        self._handlers: dict[str, Any] = {}
        self._debounce_s = debounce_s
        self._refresh: asyncio.Task[None] | None = None
        self._dirty = False
        self._grace: dict[str, asyncio.TimerHandle] = {}
        self.started_at = time.time()
        self._tasks: set[asyncio.Future[None]] = set()
        self.closing = False
        """Shutting down: sockets closed now are not noted as lost on their sessions."""
        lim = desk.cfg.limits
        self.message_buckets = ParticipantBuckets(rate=lim.messages_per_s, burst=lim.message_burst)
        """Inbound message buckets by participant, kept across its reconnects."""

    async def start(self) -> None:
        self.desk.store.on_resubscribed.append(self.catch_up)
        await self.desk.store.subscribe(CONSOLE_TOPIC, self._on_console)

    def catch_up(self) -> None:
        """Pub/sub came back after a loss: every socket takes what it missed from the
        logs, and consoles refresh."""
        for conn in list(self.connections):
            for session_id in list(conn.feeds):
                conn.catch_up(session_id)
        self.request_refresh()

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(ValueError):
            self.desk.store.on_resubscribed.remove(self.catch_up)
        await self.desk.store.unsubscribe(CONSOLE_TOPIC, self._on_console)
        for handle in self._grace.values():
            handle.cancel()
        if self._refresh is not None:
            self._refresh.cancel()
        for conn in list(self.connections):
            await conn.close(1001, "server shutting down")

    # ------------------------------------------------------------ connections
    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.by_cid[conn.cid] = conn
        if conn.staff is not None:
            handle = self._grace.pop(conn.staff.username, None)
            if handle is not None:
                handle.cancel()

    async def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self.by_cid.pop(conn.cid, None)
        if conn.forwarded_to and self.cluster is not None:
            await self.cluster.connection_gone(conn)
        followed = list(conn.feeds)
        for session_id in followed:
            await self.unfollow(conn, session_id)
        if conn.ready and not self.closing:  # the other side hears of it (signaling.liveness)
            reason = liveness.close_reason(conn.ws)
            self._spawn(liveness.socket_lost(self, conn, followed, reason))
        if conn.staff is not None and not self.staff_connected(conn.staff.username):
            username = conn.staff.username
            loop = asyncio.get_running_loop()
            self._grace[username] = loop.call_later(
                self.desk.cfg.routing.presence_grace_s,
                lambda: self._spawn(self._went_away(username)),
            )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def staff_connected(self, username: str) -> bool:
        return any(c.staff is not None and c.staff.username == username for c in self.connections)

    async def _went_away(self, username: str) -> None:
        self._grace.pop(username, None)
        if self.staff_connected(username):
            return
        if self.cluster is not None and self.cluster.staff_elsewhere(username):
            return  # still connected to another node: presence stays
        agent = await self.desk.store.get_agent(username)
        if agent is not None and agent.status != Presence.OFFLINE:
            log.info("agent disconnected past grace; offline", agent_id=username)
            await self.desk.set_status(username, Presence.OFFLINE)

    # ------------------------------------------------------------ session topics
    async def follow(self, conn: Connection, session_id: str) -> None:
        followers = self._followers[session_id]
        first = not followers
        followers.add(conn)
        if first:
            handler = self._make_handler(session_id)
            self._handlers[session_id] = handler
            await self.desk.store.subscribe(session_topic(session_id), handler)

    async def unfollow(self, conn: Connection, session_id: str) -> None:
        followers = self._followers.get(session_id)
        if not followers:
            return
        followers.discard(conn)
        conn.feeds.pop(session_id, None)
        if not followers:
            del self._followers[session_id]
            handler = self._handlers.pop(session_id, None)
            if handler is not None:
                await self.desk.store.unsubscribe(session_topic(session_id), handler)

    def deliver_topic(self, topic: str, payload: bytes) -> None:
        """A session-topic message that did not come through the store (the peer link)."""
        if not topic.startswith("session:"):
            return
        handler = self._handlers.get(topic[len("session:") :])
        if handler is not None:
            handler(payload)

    def _make_handler(self, session_id: str) -> Any:
        def on_message(payload: bytes) -> None:
            try:
                env = decode_envelope(payload)
            except msgspec.DecodeError:
                log.warning("undecodable envelope", session_id=session_id)
                return
            for conn in list(self._followers.get(session_id, ())):
                conn.on_envelope(env)

        return on_message

    # ------------------------------------------------------------ console refresh
    def _on_console(self, _payload: bytes) -> None:
        self._dirty = True
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._refresh_soon())

    def request_refresh(self) -> None:
        self._on_console(b"")

    async def _refresh_soon(self) -> None:
        while self._dirty:
            self._dirty = False
            await asyncio.sleep(self._debounce_s)
            try:
                await self.refresh_all()
            except StoreError as exc:
                # the store is away or just back: try again shortly, quietly
                log.warning("console refresh failed", error=exc.message)
                self._dirty = True
                await asyncio.sleep(1.0)
            except Exception:  # a failed refresh must not stop later ones
                log.exception("console refresh failed")

    async def refresh_all(self) -> None:
        staff = [c for c in self.connections if c.staff is not None and c.ready]
        if staff:
            snap = await self.desk.console_snapshot()
            for conn in staff:
                with contextlib.suppress(Exception):
                    await conn.refresh_console(snap)
        customers = [c for c in self.connections if c.participant is not None and c.ready]
        if not customers:
            return
        positions = await self.desk.queue_positions()
        for conn in customers:
            sid = conn.participant.session if conn.participant else ""
            pos = positions.get(sid)
            if pos is None or pos == conn.last_queue:
                continue  # only changes travel: 2,000 waiting customers, few moves
            conn.last_queue = pos
            conn.send(
                {
                    "type": "queue",
                    "session": sid,
                    "position": pos[0],
                    "eta_s": pos[1],
                    "agents_online": pos[2],
                }
            )
