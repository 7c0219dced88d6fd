"""One participant's WebSocket: authentication, decoding, dispatch and ordered pushes.

Every session a connection follows has a feed that keeps the last ``seq`` sent,
so pushes arrive once, in order, with no gap: a live event that skips ahead
triggers a backfill from the store's log, and a reconnecting client names its
last ``seq`` per session in ``hello.resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from signaling import interaction as ix
from signaling import liveness, routing
from signaling import protocol as p
from signaling.auth import PERMISSIONS, AuthError, Participant, StaffRole, read_participant
from signaling.desk import session_claims
from signaling.errors import InteractionError, LivedeskError, ProtocolError, RateLimited
from signaling.interaction import Actor, Role, SessionState
from signaling.outage import RESYNC
from signaling.ratelimit import TokenBucket
from signaling.recording import recording_view
from signaling.store.base import Envelope, StoredEvent
from visual.cobrowse import ViewerGate

if TYPE_CHECKING:
    from signaling.archive import User
    from signaling.cobrowse import CobrowseService
    from signaling.desk import ConsoleSnapshot
    from signaling.media import MediaService
    from signaling.node import Node
    from signaling.recording import RecordingService

log = structlog.get_logger("livedesk.ws")

# routing internals a customer has no business seeing
_HIDDEN_FROM_CUSTOMER = frozenset({"session.offered", "session.declined", "session.offer_expired"})
_PRIVATE_FIELDS = ("notes", "disposition", "agent_id", "from_agent", "to_agent", "returned_to")
# co-browse pushes go to one side only: the page stream to staff, the agent's hands to the page
_STAFF_ONLY = frozenset({"cobrowse.events", "cobrowse.result"})
_CUSTOMER_ONLY = frozenset({"cobrowse.snapshot", "cobrowse.pointer", "cobrowse.command"})
UNAVAILABLE_MESSAGE = "the service cannot take this request for a moment; retry in a few seconds"
COBROWSE_PREFIX = '{"type":"cobrowse.events"'
"""Frames starting so are charged to the co-browse byte budget, not the message rate."""


def customer_view(event: dict[str, Any]) -> dict[str, Any] | None:
    """What a customer may see of a timeline event, or None to skip it."""
    if event["kind"] in _HIDDEN_FROM_CUSTOMER:
        return None
    data = {k: v for k, v in event["data"].items() if k not in _PRIVATE_FIELDS}
    shown = {**event, "data": data}
    if event["actor_role"] in ("agent", "supervisor", "system"):
        shown["actor_id"] = event["actor_role"]
    return shown


class Feed:
    """Ordered delivery of one session's log to one connection."""

    __slots__ = ("last", "pending", "syncing")

    def __init__(self, last: int) -> None:
        self.last = last
        self.syncing = False
        self.pending: list[StoredEvent] = []


class Connection:
    """A participant's socket. ``participant`` for customers, ``staff`` for staff."""

    def __init__(
        self, ws: web.WebSocketResponse, node: Node, *, staff: User | None, remote: str
    ) -> None:
        self.ws = ws
        self.node = node
        self.desk = node.desk
        self.staff = staff
        self.participant: Participant | None = None
        self.remote = remote
        self.feeds: dict[str, Feed] = {}
        self.watching: set[str] = set()
        self.last_queue: tuple[int, float | None, int] | None = None
        # the newest console snapshot this socket was sent a view of (see refresh_console)
        self._console_taken = 0
        self._console_lock = asyncio.Lock()
        """One refresh at a time: follows and unfollows are decided from one snapshot."""
        self.ready = False
        lim = self.desk.cfg.limits
        self.bucket = TokenBucket(
            rate=lim.messages_per_s, burst=lim.message_burst, now=time.monotonic()
        )
        cb = self.desk.cfg.cobrowse
        self.cobrowse_bucket = TokenBucket(
            rate=cb.bytes_per_s, burst=cb.burst_bytes, now=time.monotonic()
        )
        self.gates: dict[str, ViewerGate] = {}
        self.cid = secrets.token_hex(8)
        """This connection's id on the node bus (replies from another node find it by it)."""
        self.forwarded_to: set[str] = set()
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=lim.send_queue)
        self._drained = asyncio.Event()
        """Set by the writer when the send queue is down to half (see ``_room``)."""
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._known: set[str] = set()
        """Sessions this agent was seen holding or being offered (``_may_see``)."""
        self.log = log.bind(remote=remote, user=staff.username if staff else None)

    # ------------------------------------------------------------ identity
    @property
    def actor(self) -> Actor:
        if self.participant is not None:
            return Actor(Role.CUSTOMER, self.participant.customer_id, self.participant.name)
        if self.staff is not None:
            role = Role.SUPERVISOR if self.staff.role == "supervisor" else Role.AGENT
            return Actor(role, self.staff.username, self.staff.display_name)
        raise AuthError("unauthorized", "say hello first")

    def can(self, permission: str) -> bool:
        return self.staff is not None and permission in PERMISSIONS[StaffRole(self.staff.role)]

    def _spawn(self, coro: Any) -> None:
        """Run a background step, keeping a reference so it is not collected mid-way."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ output
    def send(self, msg: dict[str, Any]) -> None:
        if self._closing:
            return
        try:
            self._out.put_nowait(msg)
        except asyncio.QueueFull:
            self.log.warning("client too slow; closing")
            self._closing = True
            self._spawn(self.close(WSCloseCode.TRY_AGAIN_LATER, "too slow"))

    async def _write_loop(self) -> None:
        metrics = self.desk.metrics
        while True:
            msg = await self._out.get()
            if self._out.qsize() <= self._out.maxsize // 2:
                self._drained.set()
            if msg is None:
                return
            try:
                await self.ws.send_str(p.encode(msg).decode())
            except (ConnectionError, RuntimeError):
                return
            finally:
                if msg.get("type") == "cobrowse.events":
                    gate = self.gates.get(msg["session"])
                    if gate is not None:
                        gate.written(len(msg["data"]))
            metrics.inc("livedesk_messages_out_total")

    async def close(self, code: int, reason: str) -> None:
        self._closing = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    # ------------------------------------------------------------ feeds
    def on_envelope(self, env: Envelope) -> None:
        feed = self.feeds.get(env.session)
        if feed is None:
            return
        if env.kind == "ephemeral":
            if env.msg is not None and env.msg.get("type") == RESYNC:
                self._resync(env.session, int(env.msg.get("from_seq", 0)))
                return
            if env.msg is not None and self._wants_ephemeral(env.msg):
                if env.msg.get("type") == "cobrowse.events":
                    self._relay_cobrowse(env.msg)
                else:
                    self.send(env.msg)
            return
        se = env.stored
        if se is None:
            return
        if feed.syncing:
            feed.pending.append(se)
        elif se.seq == feed.last + 1:
            self._push(se)
        elif se.seq > feed.last + 1:
            feed.pending.append(se)
            self._spawn(self._backfill(env.session))

    def catch_up(self, session_id: str) -> None:
        """Send what the store's log has after what this socket got (publications may have
        been missed while pub/sub was away)."""
        if session_id in self.feeds:
            self._spawn(self._catch_up(session_id))

    async def _catch_up(self, session_id: str) -> None:
        try:
            await self._backfill(session_id)
        except LivedeskError as exc:  # the store flapped again: the next event fills in
            self.log.warning("catch-up after a pub/sub loss failed", error=exc.message)

    def _resync(self, session_id: str, from_seq: int) -> None:
        """The log after ``from_seq`` was renumbered (after a store outage): tell the
        client to drop what it has after it, and send the log again from there."""
        feed = self.feeds.get(session_id)
        if feed is None or feed.last <= from_seq:
            return
        feed.last = from_seq
        feed.pending.clear()
        self.send({"type": RESYNC, "session": session_id, "from_seq": from_seq})
        self._spawn(self._backfill(session_id))

    def _wants_ephemeral(self, msg: dict[str, Any]) -> bool:
        kind = msg.get("type")
        # nobody needs their own typing indicator echoed back
        if kind == "typing":
            return msg.get("role") != self._side()
        if kind in _STAFF_ONLY:
            return self.staff is not None
        if kind in _CUSTOMER_ONLY:
            return self.participant is not None
        return True

    def _relay_cobrowse(self, msg: dict[str, Any]) -> None:
        """Queue a page-stream batch for this viewer, unless it is too far behind."""
        session = msg["session"]
        gate = self.gates.get(session)
        if gate is None:
            gate = self.gates[session] = ViewerGate(self.desk.cfg.cobrowse.viewer_buffer_bytes)
        was_gap = gate.gap
        if gate.admit(
            size=len(msg["data"]), batch=msg["batch"], part=msg["part"], snapshot=msg["snapshot"]
        ):
            self.send(msg)
            return
        if not was_gap:  # tell the viewer once, and ask the page for a fresh start
            self.send({"type": "cobrowse.gap", "session": session})
        if self.node.cobrowse is not None:
            self.node.cobrowse.ask_snapshot(session)

    def _side(self) -> str:
        return "customer" if self.participant is not None else "agent"

    def _push(self, se: StoredEvent) -> None:
        feed = self.feeds[se.session]
        feed.last = se.seq
        event = {
            "kind": se.event.kind,
            "at": se.event.at,
            "actor_role": se.event.actor_role,
            "actor_id": se.event.actor_id,
            "data": se.event.data,
        }
        if self.participant is not None:
            shown = customer_view(event)
            if shown is None:
                return
            event = shown
        self.send({"type": "event", "session": se.session, "seq": se.seq, "event": event})
        if se.event.kind == "session.ended" or (
            self.staff is not None
            and se.event.kind in ("session.transferred",)
            and se.event.data.get("to_agent") not in (None, self.staff.username)
        ):
            self.node.request_refresh()

    async def follow(self, session_id: str, after_seq: int) -> None:
        if session_id in self.feeds:
            return
        self.feeds[session_id] = Feed(after_seq)
        await self.node.follow(self, session_id)
        await self._backfill(session_id)
        receipts = await self.desk.receipts(session_id)
        if receipts:
            self.send({"type": "receipts", "session": session_id, "receipts": receipts})

    async def _backfill(self, session_id: str) -> None:
        feed = self.feeds.get(session_id)
        if feed is None or feed.syncing:
            return
        feed.syncing = True
        # a replay longer than the send queue goes in pages the queue has room for: pushed
        # at once, it would overflow the queue and close a client that is not slow at all
        page = max(1, min(500, self._out.maxsize // 2))
        try:
            while True:
                await self._room(page)
                events = await self.desk.store.events_since(session_id, feed.last, limit=page)
                if self.feeds.get(session_id) is not feed:
                    return  # unfollowed meanwhile
                for se in events:
                    if se.seq == feed.last + 1:
                        self._push(se)
                if len(events) < page:
                    break
            for se in sorted(feed.pending, key=lambda e: e.seq):
                if se.seq == feed.last + 1:
                    self._push(se)
            gap = any(se.seq > feed.last + 1 for se in feed.pending)
            feed.pending.clear()
        finally:
            feed.syncing = False
        if gap:
            await self._backfill(session_id)

    async def _room(self, n: int, *, wait_s: float = 10.0) -> None:
        """Wait until the send queue has room for ``n`` more messages, at most ``wait_s``.

        A client that takes nothing for that long is slow: what is pushed next overflows
        the queue and closes it, as for any slow client.
        """
        q = self._out
        deadline = asyncio.get_running_loop().time() + wait_s
        while not self._closing and q.maxsize - q.qsize() < n:
            self._drained.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._drained.wait(), left)
            except TimeoutError:
                return

    async def _flush(self, wait_s: float) -> None:
        """Let the writer send what is queued (then it stops), for at most ``wait_s``."""
        self._closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self._out.put_nowait(None)
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), wait_s)

    # ------------------------------------------------------------ main loop
    async def run(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())
        self.node.add(self)
        metrics = self.desk.metrics
        metrics.inc("livedesk_connections_total")
        abuse_limit = self.desk.cfg.limits.abuse_close_after
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        self.send(p.error("bad_message", "binary frames are not accepted"))
                    continue
                metrics.inc("livedesk_messages_in_total")
                if msg.data.startswith(COBROWSE_PREFIX):
                    allowed = self.cobrowse_bucket.take(time.monotonic(), len(msg.data))
                else:
                    allowed = self.bucket.take(time.monotonic())
                if not allowed:
                    metrics.inc("livedesk_errors_total", "rate_limited")
                    refused = self.bucket.refused + self.cobrowse_bucket.refused
                    if refused >= abuse_limit:
                        self.log.warning("closing abusive client", refused=refused)
                        self.send(
                            p.error(
                                "rate_limited", "too many messages; closing", p.request_id(msg.data)
                            )
                        )
                        # that and the rate_limited errors queued so far go out before the close
                        await self._flush(1.0)
                        await self.close(WSCloseCode.POLICY_VIOLATION, "rate limit abuse")
                        break
                    if refused % 20 == 1:
                        self.send(
                            p.error(
                                "rate_limited",
                                "too many messages; slow down",
                                p.request_id(msg.data),
                            )
                        )
                    continue
                await self._handle_frame(msg.data)
                # frames already buffered would be read without a pause: one client's
                # burst would hold the loop for all of it, and everyone else would wait
                await asyncio.sleep(0)
        finally:
            await self.node.remove(self)
            with contextlib.suppress(asyncio.QueueFull):
                self._out.put_nowait(None)
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._writer, timeout=2)

    async def _handle_frame(self, data: str) -> None:
        rid: str | int | None = None
        try:
            msg = p.decode(data)
            rid = msg.id
            session = getattr(msg, "session", None)
            if self.ready and session is not None and not await self._may_see(session):
                # answer exactly as for a session that does not exist
                msg = msgspec.structs.replace(msg, session=_NO_SUCH_SESSION)
                try:
                    result = await self._dispatch(msg)
                except LivedeskError as exc:
                    exc.message = exc.message.replace(_NO_SUCH_SESSION, session)
                    raise
                if rid is not None or result:
                    self.send(p.reply(rid, **(result or {})))
                return
            if self.ready and isinstance(msg, OWNER_BOUND) and await self._forwarded(msg, data):
                return
            if session is not None and self.staff is not None:
                structlog.contextvars.bind_contextvars(session_id=session)
            result = await self._dispatch(msg)
            if rid is not None or result:
                self.send(p.reply(rid, **(result or {})))
        except LivedeskError as exc:
            if isinstance(exc, ProtocolError):
                rid = p.request_id(data)
            self.desk.metrics.inc("livedesk_errors_total", exc.code)
            message = exc.message
            if exc.code == "unavailable":  # the inside detail is for the log
                self.log.warning("request refused: unavailable", detail=exc.message)
                message = UNAVAILABLE_MESSAGE
            self.send(p.error(exc.code, message, rid))
        except Exception:
            self.log.exception("handler failed")
            self.desk.metrics.inc("livedesk_errors_total", "internal")
            self.send(p.error("internal", "unexpected server error", rid))

    async def _forwarded(self, msg: Any, data: str) -> bool:
        """Send a media, recording or co-browse message to the node owning its session.

        Those run where the session's room, recorder and page stream are; the reply
        comes back through the bus (signaling.cluster). False: run it here.
        """
        cluster = self.node.cluster
        if cluster is None:
            return False
        self._session_of(msg.session)
        owner = await cluster.owner_of(msg.session)
        if owner == cluster.id:
            return False
        if isinstance(msg, p.CobrowseSnapshot):
            self.gates.pop(msg.session, None)  # this viewer's gate lives here, not there
        await cluster.forward(self, owner, data)
        return True

    async def _dispatch(self, msg: p.Inbound) -> dict[str, Any] | None:
        if isinstance(msg, p.Hello):
            return await self._hello(msg)
        if isinstance(msg, p.Ping):
            return {"pong": time.time()}
        if not self.ready:
            raise AuthError("unauthorized", "send hello first")
        handler = _HANDLERS.get(type(msg))
        if handler is None:  # pragma: no cover - every inbound type is mapped
            raise ProtocolError("unknown_type", "no handler")
        result: dict[str, Any] | None = await handler(self, msg)
        return result

    async def _may_see(self, session_id: str) -> bool:
        """False for an agent naming a live session that is not theirs: neither held by
        nor offered to them, nor waiting in a queue they serve. Whether it exists is not
        theirs to learn, so it is answered as a missing one. A session they were seen
        serving is remembered and costs no further store read."""
        if self.staff is None or session_id in self._known:
            return True  # a customer's token names its one session: each handler checks
        if self.can("supervise") or not self.can("serve"):
            return True  # supervisors see every session; QA is refused by permission
        inter = await self.desk.store.get_session(session_id)
        if inter is None:
            return True  # missing: the handler says so
        me = self.staff.username
        if me not in (inter.agent_id, inter.offered_to):
            if inter.state not in (SessionState.QUEUED, SessionState.OFFERED):
                return False
            # a waiting customer this agent could be offered is in their console's queue
            agent = await self.desk.store.get_agent(me)
            return agent is not None and routing.serves(agent, inter)
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known.add(session_id)  # theirs: told the truth about from now on
        return True

    # ------------------------------------------------------------ handlers
    async def _hello(self, msg: p.Hello) -> dict[str, Any]:
        if self.ready:
            raise ProtocolError("bad_message", "hello was already sent on this connection")
        if self.staff is None:
            if not msg.token:
                raise AuthError("unauthorized", "a customer must present its participant token")
            participant = read_participant(msg.token, self.desk.secret)
            self._adopt_bucket(f"c:{participant.session}:{participant.customer_id}")
            self.participant = participant
            inter = await self.desk.store.get_session(self.participant.session)
            if inter is None:
                raise InteractionError("not_found", "this session no longer exists")
            self.log = self.log.bind(session_id=inter.id, participant=self.participant.customer_id)
            structlog.contextvars.bind_contextvars(
                session_id=inter.id, participant=self.participant.customer_id
            )
            self.ready = True
            await self.follow(inter.id, msg.resume.get(inter.id, 0))
            self._spawn(liveness.came_back(self.node, self, inter.id))
            self.node.request_refresh()
            return {
                "role": "customer",
                "session": _public_session(inter),
                "cobrowse": self._cobrowse_rules(inter.entry),
            }
        self._adopt_bucket(f"s:{self.staff.username}")
        if self.can("serve"):
            await self.desk.agent_online(self.staff)
        self.ready = True
        held = await self.desk.store.sessions_held_by(self.staff.username)
        for s in held:
            await self.follow(s.id, msg.resume.get(s.id, 0))
            if s.away:
                self._spawn(liveness.came_back(self.node, self, s.id))
        await self.refresh_console()
        return {
            "role": self.staff.role,
            "user": {"username": self.staff.username, "name": self.staff.display_name},
        }

    def _adopt_bucket(self, key: str) -> None:
        """From hello on, messages count against the participant, not the socket.

        A client that reconnects gets no fresh burst, and one that was closed for
        flooding is refused (then closed with 1008) until its bucket has filled up again:
        its reconnects cost a token check, not a replay of its session's log.
        """
        now = time.monotonic()
        bucket = self.node.message_buckets.get(key, now)
        if bucket.refused >= self.desk.cfg.limits.abuse_close_after and not bucket.full(now):
            self._spawn(self._close_abusive())
            wait_s = bucket.burst / bucket.rate
            raise RateLimited("closed for flooding; wait before reconnecting", wait_s)
        self.bucket = bucket

    async def _close_abusive(self) -> None:
        await self._flush(1.0)  # the error reply goes out first
        await self.close(WSCloseCode.POLICY_VIOLATION, "rate limit abuse")

    async def refresh_console(self, snap: ConsoleSnapshot | None = None) -> None:
        if self.staff is None or not self.can("console"):
            return
        if snap is None:
            snap = await self.desk.console_snapshot()
        async with self._console_lock:
            if snap.taken < self._console_taken:
                # read before a newer view was sent, e.g. before this agent's own accept
                # was written: sending it would show the offer again (or drop its feed)
                return
            self._console_taken = snap.taken
            staff = self.staff.username
            view = self.desk.console_view_of(snap, staff, supervise=self.can("supervise"))
            held = {s["session"] for s in view["sessions"]}
            for session_id in held - set(self.feeds):
                await self.follow(session_id, 0)
            # a session declined, expired, transferred away or completed is no longer
            # this agent's business: stop its events (watched ones stay)
            for session_id in set(self.feeds) - held - self.watching:
                await self.node.unfollow(self, session_id)
            self.send(view)

    def _session_of(self, session_id: str) -> None:
        if self.participant is not None and self.participant.session != session_id:
            raise AuthError("forbidden", "this token is for another session")

    async def _chat(self, msg: p.ChatSend) -> dict[str, Any]:
        self._session_of(msg.session)
        inter, stored = await self.desk.apply(
            msg.session, ix.SendChat(msg.text, msg.client_msg_id), self.actor
        )
        if not stored:
            return {"duplicate": True, "client_msg_id": msg.client_msg_id}
        if self.participant is not None:
            await self.desk.bot_reads(inter, msg.text)
        return {"seq": stored[0].seq, "client_msg_id": msg.client_msg_id}

    async def _typing(self, msg: p.ChatTyping) -> None:
        self._session_of(msg.session)
        await self._must_take_part(msg.session)
        await self.desk.ephemeral(
            msg.session,
            {
                "type": "typing",
                "session": msg.session,
                "role": self._side(),
                "name": self.actor.name,
                "typing": msg.typing,
            },
        )

    async def _receipt(self, msg: p.ChatReceipt) -> None:
        self._session_of(msg.session)
        await self._must_take_part(msg.session)
        marks = await self.desk.set_receipt(msg.session, self._side(), msg.state, msg.seq)
        await self.desk.ephemeral(
            msg.session,
            {
                "type": "receipt",
                "session": msg.session,
                "role": self._side(),
                **marks,
            },
        )

    async def _must_take_part(self, session_id: str) -> None:
        inter = await self.desk.store.get_session(session_id)
        if inter is None:
            raise InteractionError("not_found", f"no session {session_id}")
        actor = self.actor
        if actor.role == Role.CUSTOMER and inter.customer_id == actor.id:
            return
        if actor.id in (inter.agent_id, inter.offered_to):
            return
        raise AuthError("forbidden", "you are not a participant of this session")

    def _staff_only(self, permission: str = "serve") -> None:
        if not self.can(permission):
            raise AuthError("forbidden", f"this needs the {permission!r} permission")

    async def _status(self, msg: p.AgentStatus) -> dict[str, Any]:
        self._staff_only()
        if self.staff is None:  # pragma: no cover - _staff_only refused already
            raise AuthError("forbidden", "staff only")
        rec = await self.desk.set_status(self.staff.username, msg.status)
        return {"status": rec.status.value}

    async def _command(self, session_id: str, cmd: ix.Command) -> dict[str, Any]:
        self._session_of(session_id)
        inter, _ = await self.desk.apply(session_id, cmd, self.actor)
        return {"state": inter.state.value}

    async def _own_command(self, session_id: str, cmd: ix.Command) -> dict[str, Any]:
        """A command that changes this agent's own sessions: their console shows the
        result before the reply, and no view read before the write follows it."""
        out = await self._command(session_id, cmd)
        await self.refresh_console()
        return out

    async def _accept(self, msg: p.OfferAccept) -> dict[str, Any]:
        self._staff_only()
        out = await self._own_command(msg.session, ix.Accept())
        await self.follow(msg.session, 0)
        return out

    async def _decline(self, msg: p.OfferDecline) -> dict[str, Any]:
        self._staff_only()
        cooldown = self.desk.cfg.routing.decline_cooldown_s
        return await self._own_command(msg.session, ix.Decline(cooldown_s=cooldown))

    async def _transfer(self, msg: p.SessionTransfer) -> dict[str, Any]:
        self._staff_only()
        if (msg.to_agent is None) == (msg.to_queue is None):
            raise ProtocolError("bad_message", "give exactly one of to_agent or to_queue")
        if msg.to_agent is not None:
            target = await self.desk.store.get_agent(msg.to_agent)
            if target is None or target.status == "offline":
                raise InteractionError("not_found", f"agent {msg.to_agent!r} is not online")
            if target.load >= target.capacity:
                raise InteractionError("capacity", f"{target.name} has no free capacity")
            cmd = ix.Transfer(
                to_agent=target.id,
                to_agent_name=target.name,
                expires_at=time.time() + self.desk.cfg.routing.offer_timeout_s,
            )
        else:
            cmd = ix.Transfer(to_skill=msg.to_queue)
        return await self._own_command(msg.session, cmd)

    async def _wrapup(self, msg: p.SessionWrapUp) -> dict[str, Any]:
        self._staff_only()
        return await self._command(msg.session, ix.WrapUp())

    async def _complete(self, msg: p.SessionComplete) -> dict[str, Any]:
        self._staff_only()
        out = await self._own_command(msg.session, ix.Complete(msg.disposition, msg.notes))
        await self.desk.archive.flush()
        return out

    async def _leave(self, msg: p.SessionLeave) -> dict[str, Any]:
        if self.participant is None:
            raise AuthError("forbidden", "only the customer leaves; agents wrap up")
        return await self._command(msg.session, ix.Leave())

    async def _watch(self, msg: p.SessionWatch) -> dict[str, Any]:
        self._staff_only("supervise")
        inter = await self.desk.store.get_session(msg.session)
        if inter is None:
            raise InteractionError("not_found", f"no session {msg.session}")
        self.watching.add(msg.session)
        await self.follow(msg.session, 0)
        return {"session": _public_session(inter)}

    async def _check_rules(self, session_id: str, channel: str) -> None:
        """Entry rules again at every upgrade: hours may have closed, tiers still apply."""
        inter = await self.desk.store.get_session(session_id)
        if inter is None:
            raise InteractionError("not_found", f"no session {session_id}")
        if inter.entry not in self.desk.cfg.entries:
            return  # an entry removed from the config since: the session may finish
        claims = session_claims(inter)
        await self.desk.require_open(
            inter.entry,
            channel,
            inter.page,
            claims,
            language=inter.language,
            actor=self.actor.id,
            session_id=session_id,
        )

    async def _channel_request(self, msg: p.ChannelRequest) -> dict[str, Any]:
        self._session_of(msg.session)
        await self._check_rules(msg.session, msg.channel.value)
        return await self._command(
            msg.session, ix.RequestChannel(msg.channel, sharer=msg.sharer or "")
        )

    async def _channel_respond(self, msg: p.ChannelRespond) -> dict[str, Any]:
        self._session_of(msg.session)
        if msg.accept:
            await self._check_rules(msg.session, msg.channel.value)
        return await self._command(msg.session, ix.RespondChannel(msg.channel, msg.accept))

    async def _channel_stop(self, msg: p.ChannelStop) -> dict[str, Any]:
        return await self._command(msg.session, ix.StopChannel(msg.channel))

    # ------------------------------------------------------------ media
    def _media(self) -> MediaService:
        if self.node.media is None:  # pragma: no cover - the app always wires it
            raise InteractionError("wrong_state", "media is not enabled on this server")
        return self.node.media

    async def _media_config(self, msg: p.MediaConfig) -> dict[str, Any]:
        self._session_of(msg.session)
        out = await self._media().config(msg.session, self.actor)
        # the current publications follow, so a late joiner sees what is already flowing
        pubs = self._media().publications(msg.session)
        self.send({"type": "media.publications", "session": msg.session, "publications": pubs})
        return out

    async def _media_offer(self, msg: p.MediaOffer) -> dict[str, Any]:
        self._session_of(msg.session)
        return await self._media().offer(msg, self.actor)

    async def _media_mute(self, msg: p.MediaMute) -> dict[str, Any]:
        self._session_of(msg.session)
        return await self._media().mute(msg, self.actor)

    async def _media_hangup(self, msg: p.MediaHangup) -> dict[str, Any]:
        self._session_of(msg.session)
        return await self._media().hangup(msg.session, self.actor)

    # ------------------------------------------------------------ recording
    def _recording(self) -> RecordingService:
        if self.node.recording is None:  # pragma: no cover - the app always wires it
            raise InteractionError("wrong_state", "recording is not enabled on this server")
        return self.node.recording

    async def _recording_request(self, msg: p.RecordingRequest) -> dict[str, Any]:
        self._session_of(msg.session)
        return await self._recording().request(msg.session, self.actor)

    async def _recording_respond(self, msg: p.RecordingRespond) -> dict[str, Any]:
        self._session_of(msg.session)
        cmd = ix.RespondRecording(msg.accept)
        return await self._recording().command(msg.session, cmd, self.actor)

    async def _recording_pause(self, msg: p.RecordingPause) -> dict[str, Any]:
        self._session_of(msg.session)
        cmd = ix.PauseRecording()
        return await self._recording().command(msg.session, cmd, self.actor)

    async def _recording_resume(self, msg: p.RecordingResume) -> dict[str, Any]:
        self._session_of(msg.session)
        cmd = ix.ResumeRecording()
        return await self._recording().command(msg.session, cmd, self.actor)

    async def _recording_stop(self, msg: p.RecordingStop) -> dict[str, Any]:
        self._session_of(msg.session)
        cmd = ix.StopRecording()
        return await self._recording().command(msg.session, cmd, self.actor)

    # ------------------------------------------------------------ co-browse
    def _cobrowse_rules(self, entry_id: str) -> dict[str, Any]:
        """What the customer's page masks and blocks, and how it batches (docs/cobrowse.md)."""
        entry = self.desk.cfg.entries.get(entry_id)
        caps = self.desk.cfg.cobrowse
        return {
            "mask": list(entry.cobrowse.mask) if entry else [],
            "block": list(entry.cobrowse.block) if entry else [],
            "max_batch_bytes": caps.max_batch_bytes,
            "max_parts": caps.max_parts,
        }

    def _cobrowse(self) -> CobrowseService:
        if self.node.cobrowse is None:  # pragma: no cover - the app always wires it
            raise InteractionError("wrong_state", "co-browsing is not enabled on this server")
        return self.node.cobrowse

    async def _cobrowse_events(self, msg: p.CobrowseEvents) -> dict[str, Any]:
        self._session_of(msg.session)
        return await self._cobrowse().events(msg, self.actor)

    async def _cobrowse_snapshot(self, msg: p.CobrowseSnapshot) -> dict[str, Any]:
        self._staff_only("console")
        self.gates.pop(msg.session, None)  # a fresh start for this viewer
        await self._cobrowse().snapshot(msg, self.actor, supervise=self.can("supervise"))
        return {}

    async def _cobrowse_pointer(self, msg: p.CobrowsePointer) -> None:
        self._staff_only()
        await self._cobrowse().pointer(msg, self.actor)

    async def _cobrowse_command(self, msg: p.CobrowseCommand) -> dict[str, Any]:
        self._staff_only()
        return await self._cobrowse().command(msg, self.actor)

    async def _cobrowse_result(self, msg: p.CobrowseResult) -> None:
        self._session_of(msg.session)
        await self._cobrowse().result(msg, self.actor)

    async def _cobrowse_control(self, msg: p.CobrowseControl) -> dict[str, Any]:
        self._session_of(msg.session)
        return await self._cobrowse().control(msg, self.actor)


def _public_session(inter: ix.Interaction) -> dict[str, Any]:
    return {
        "id": inter.id,
        "entry": inter.entry,
        "state": inter.state.value,
        "agent_name": inter.agent_name if inter.state != SessionState.QUEUED else "",
        "customer_name": inter.customer_name,
        "tier": inter.tier,
        "last_seq": inter.last_seq,
        "recording": recording_view(inter),
        "channels": {name: st.state.value for name, st in inter.channels.items()},
        "control": inter.control,
    }


OWNER_BOUND = (
    p.MediaConfig,
    p.MediaOffer,
    p.MediaMute,
    p.MediaHangup,
    p.RecordingRequest,
    p.RecordingRespond,
    p.RecordingPause,
    p.RecordingResume,
    p.RecordingStop,
    p.CobrowseEvents,
    p.CobrowseSnapshot,
    p.CobrowsePointer,
    p.CobrowseCommand,
    p.CobrowseResult,
    p.CobrowseControl,
)
"""Messages that run on the node owning the session (its media, recorder, page stream)."""

MAX_KNOWN = 1024

_NO_SUCH_SESSION = "s_" + "0" * 16
"""Not a session id the server makes (those are random); stands in for one an agent
may not know of."""

_HANDLERS: dict[type, Any] = {
    p.ChatSend: Connection._chat,
    p.ChatTyping: Connection._typing,
    p.ChatReceipt: Connection._receipt,
    p.AgentStatus: Connection._status,
    p.OfferAccept: Connection._accept,
    p.OfferDecline: Connection._decline,
    p.SessionTransfer: Connection._transfer,
    p.SessionWrapUp: Connection._wrapup,
    p.SessionComplete: Connection._complete,
    p.SessionLeave: Connection._leave,
    p.SessionWatch: Connection._watch,
    p.ChannelRequest: Connection._channel_request,
    p.ChannelRespond: Connection._channel_respond,
    p.ChannelStop: Connection._channel_stop,
    p.MediaConfig: Connection._media_config,
    p.MediaOffer: Connection._media_offer,
    p.MediaMute: Connection._media_mute,
    p.MediaHangup: Connection._media_hangup,
    p.RecordingRequest: Connection._recording_request,
    p.RecordingRespond: Connection._recording_respond,
    p.RecordingPause: Connection._recording_pause,
    p.RecordingResume: Connection._recording_resume,
    p.RecordingStop: Connection._recording_stop,
    p.CobrowseEvents: Connection._cobrowse_events,
    p.CobrowseSnapshot: Connection._cobrowse_snapshot,
    p.CobrowsePointer: Connection._cobrowse_pointer,
    p.CobrowseCommand: Connection._cobrowse_command,
    p.CobrowseResult: Connection._cobrowse_result,
    p.CobrowseControl: Connection._cobrowse_control,
}
