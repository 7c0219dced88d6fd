"""Co-browsing: relay the customer's page stream, record it, and carry the agent's commands.

The customer's browser (web/static/cobrowse.js) records its page with rrweb, masking
passwords, card fields, long digit runs and the entry's selectors before anything is
sent, and sends the events in ``cobrowse.events`` batches. This service:

- checks each batch against the caps (:mod:`visual.cobrowse`) and the channel's state
  (the first batch makes an accepted ``cobrowse`` channel ``active``);
- relays it, as opaque text, to the staff following the session (each viewer behind its
  own :class:`~visual.cobrowse.ViewerGate`, see :mod:`signaling.connection`);
- appends it to the session's recording while recording is on (:mod:`recorder.cobrowse`);
- asks the customer for a fresh full snapshot when a viewer joins or falls behind, or a
  recording starts, at most every ``cobrowse.snapshot_interval_s``;
- passes the agent's pointer and commands to the customer's page, enforcing control
  consent here as the page does too, and logs each command's outcome on the timeline.

Docs: docs/cobrowse.md (how it works, what is masked) and docs/protocol.md (messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from recorder import layout
from recorder.cobrowse import CobrowseLog
from recorder.track import failure_code
from signaling import interaction as ix
from signaling import protocol as p
from signaling.errors import InteractionError, LivedeskError
from signaling.interaction import Actor, Channel, ChannelState, RecordingState, Role, SessionState
from visual.cobrowse import Caps, CobrowseLimit, PendingCommand, Stream

if TYPE_CHECKING:
    from signaling.config import Config
    from signaling.desk import Desk
    from signaling.store.base import StoredEvent

log = structlog.get_logger("livedesk.cobrowse")

CONTROL_ACTIONS = frozenset({"click", "scroll", "input"})
_CONTROL_COMMANDS: dict[str, Any] = {
    "request": lambda m: ix.RequestControl(),
    "grant": lambda m: ix.RespondControl(True),
    "decline": lambda m: ix.RespondControl(False),
    "revoke": lambda m: ix.EndControl(m.reason),
    "release": lambda m: ix.EndControl(m.reason),
}


_CONTROL_SIDE = {
    "request": "agent",
    "release": "agent",
    "grant": "customer",
    "decline": "customer",
    "revoke": "customer",
}
"""Who may give each ``cobrowse.control`` action."""


class CobrowseError(LivedeskError):
    """A co-browse message refused: ``cobrowse_limit``, ``control_state``, ``channel_state``."""


class CobrowseService:
    """The co-browse side of one process."""

    def __init__(
        self,
        desk: Desk,
        cfg: Config,
        *,
        kek: bytes | None = None,
        on_write_failed: Callable[[str, str, str], None] | None = None,
    ) -> None:
        c = cfg.cobrowse
        self.desk = desk
        # (session, code, message): the recording service stops the whole recording
        # with the reason, as it does when a media track cannot be written
        self.on_write_failed = on_write_failed
        self.root = cfg.data_path
        self.kek = kek
        self.caps = Caps(
            max_batch_bytes=c.max_batch_bytes,
            max_parts=c.max_parts,
            max_session_bytes=c.max_session_bytes,
            viewer_buffer_bytes=c.viewer_buffer_bytes,
            snapshot_interval_s=c.snapshot_interval_s,
        )
        self.streams: dict[str, Stream] = {}
        self.logs: dict[str, CobrowseLog] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.desk.after_apply.append(self.session_changed)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.desk.after_apply.remove(self.session_changed)
        for handle in self._timers.values():
            handle.cancel()
        for session_id in list(self.logs):
            await self._close_log(session_id)
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)

    def stream(self, session_id: str) -> Stream:
        s = self.streams.get(session_id)
        if s is None:
            s = self.streams[session_id] = Stream(self.caps)
        return s

    # ------------------------------------------------------------ the customer's stream
    async def events(self, msg: p.CobrowseEvents, actor: Actor) -> dict[str, Any]:
        """One batch part from the customer's page: check, relay, record, acknowledge."""
        inter = await self._session(msg.session)
        if actor.role != Role.CUSTOMER or actor.id != inter.customer_id:
            raise CobrowseError("forbidden", "only the customer's page sends co-browse events")
        cur = _live_channel(inter)
        size = len(msg.data.encode("utf-8", "replace"))
        stream = self.stream(msg.session)
        try:
            stream.admit(size=size, part=msg.part, parts=msg.parts)
        except CobrowseLimit as exc:
            if exc.stop:
                await self._over_cap(msg.session, exc.message)
            raise CobrowseError("cobrowse_limit", exc.message) from None
        if cur.state == ChannelState.ACCEPTED:
            with contextlib.suppress(InteractionError):
                await self.desk.apply(msg.session, ix.ActivateChannel(Channel.COBROWSE), ix.SYSTEM)
        now = time.time()
        await self.desk.ephemeral(
            msg.session,
            {
                "type": "cobrowse.events",
                "session": msg.session,
                "batch": msg.batch,
                "part": msg.part,
                "parts": msg.parts,
                "snapshot": msg.snapshot,
                "data": msg.data,
                "sent": now,
            },
        )
        await self._record(inter, msg, now)
        return {"batch": msg.batch, "part": msg.part}

    async def _over_cap(self, session_id: str, why: str) -> None:
        log.warning("co-browse stream over its cap", session_id=session_id, why=why)
        with contextlib.suppress(LivedeskError):
            await self.desk.apply(session_id, ix.Note("cobrowse.limit", {"reason": why}), ix.SYSTEM)
            await self.desk.apply(
                session_id, ix.StopChannel(Channel.COBROWSE, reason=why), ix.SYSTEM
            )

    async def _record(self, inter: ix.Interaction, msg: p.CobrowseEvents, now: float) -> None:
        rec = inter.recording
        if rec is None or rec.state != RecordingState.RECORDING:
            return
        cblog = self.logs.get(msg.session)
        loop = asyncio.get_running_loop()
        t = now - inter.created_at
        try:
            if cblog is None:
                directory = layout.session_dir(self.root, msg.session)
                # opening writes too: a sealed log starts with its header
                cblog = await loop.run_in_executor(
                    None, lambda: CobrowseLog(directory, kek=self.kek)
                )
                self.logs[msg.session] = cblog
                if not (msg.snapshot and msg.part == 0):
                    self.ask_snapshot(msg.session)
            opened = cblog
            written = await loop.run_in_executor(
                None,
                lambda: opened.append(
                    t=t,
                    batch=msg.batch,
                    part=msg.part,
                    parts=msg.parts,
                    snapshot=msg.snapshot,
                    data=msg.data,
                ),
            )
        except OSError as exc:  # a full disk: co-browsing goes on, the recording stops
            log.error("co-browse recording failed", session_id=msg.session, error=str(exc))
            await self._close_log(msg.session)
            if self.on_write_failed is not None:
                self.on_write_failed(msg.session, failure_code(exc), f"co-browse: {exc}")
            return
        if not written:
            self.ask_snapshot(msg.session)

    async def _close_log(self, session_id: str) -> None:
        cblog = self.logs.pop(session_id, None)
        if cblog is not None:
            with contextlib.suppress(OSError):
                await asyncio.get_running_loop().run_in_executor(None, cblog.close)

    # ------------------------------------------------------------ fresh snapshots
    def ask_snapshot(self, session_id: str) -> None:
        """Ask the customer's page for a full snapshot now, or as soon as the interval allows."""
        stream = self.stream(session_id)
        wait = stream.snapshot_due(time.monotonic())
        if wait == 0:
            self._spawn(
                self.desk.ephemeral(
                    session_id, {"type": "cobrowse.snapshot", "session": session_id}
                )
            )
        elif not stream.snapshot_ask_pending:
            stream.snapshot_ask_pending = True
            loop = asyncio.get_running_loop()
            self._timers[session_id] = loop.call_later(wait, self.ask_snapshot, session_id)

    async def snapshot(self, msg: p.CobrowseSnapshot, actor: Actor, *, supervise: bool) -> None:
        inter = await self._session(msg.session)
        if not supervise and actor.id != inter.agent_id:
            raise CobrowseError("not_assigned", "this session is not assigned to you")
        _live_channel(inter)
        self.ask_snapshot(msg.session)

    # ------------------------------------------------------------ the agent's hands
    async def pointer(self, msg: p.CobrowsePointer, actor: Actor) -> None:
        inter = await self._agent_of(msg.session, actor)
        _live_channel(inter)
        await self.desk.ephemeral(
            msg.session,
            {
                "type": "cobrowse.pointer",
                "session": msg.session,
                "node": msg.node,
                "x": msg.x,
                "y": msg.y,
                "page": msg.page,
                "name": actor.name,
            },
        )

    async def command(self, msg: p.CobrowseCommand, actor: Actor) -> dict[str, Any]:
        inter = await self._agent_of(msg.session, actor)
        _live_channel(inter)
        if msg.action in CONTROL_ACTIONS and inter.control != "granted":
            raise CobrowseError(
                "control_state",
                "the customer has not given control; ask for it first"
                if not inter.control
                else "the customer has not answered the request for control yet",
            )
        self.stream(msg.session).remember(
            msg.cmd, PendingCommand(actor.id, actor.name, msg.action, msg.text, time.time())
        )
        await self.desk.ephemeral(
            msg.session,
            {
                "type": "cobrowse.command",
                "session": msg.session,
                "cmd": msg.cmd,
                "action": msg.action,
                "node": msg.node,
                "page": msg.page,
                "text": msg.text,
                "dx": msg.dx,
                "dy": msg.dy,
                "name": actor.name,
            },
        )
        return {"cmd": msg.cmd}

    async def result(self, msg: p.CobrowseResult, actor: Actor) -> None:
        """The page's answer to a command: logged on the timeline as the agent's action."""
        inter = await self._session(msg.session)
        if actor.role != Role.CUSTOMER or actor.id != inter.customer_id:
            raise CobrowseError("forbidden", "only the customer's page answers commands")
        pending = self.stream(msg.session).pending.pop(msg.cmd, None)
        if pending is None:
            raise CobrowseError("not_found", f"no command {msg.cmd!r} is waiting for an answer")
        data: dict[str, Any] = {"action": pending.action, "selector": msg.selector, "ok": msg.ok}
        if msg.code:
            data["code"] = msg.code
        if msg.masked:
            data["masked"] = True
        elif pending.action == "input" and msg.ok:
            data["text"] = pending.text  # the page found the field unmasked
        agent = Actor(Role.AGENT, pending.agent_id, pending.agent_name)
        if inter.agent_id != pending.agent_id:
            agent = ix.SYSTEM  # the session moved on; the record still says who it was
            data["agent_id"] = pending.agent_id
        with contextlib.suppress(LivedeskError):
            await self.desk.apply(msg.session, ix.Note("cobrowse.action", data), agent)
        await self.desk.ephemeral(
            msg.session,
            {
                "type": "cobrowse.result",
                "session": msg.session,
                "cmd": msg.cmd,
                "ok": msg.ok,
                "code": msg.code,
                "selector": msg.selector,
            },
        )

    async def control(self, msg: p.CobrowseControl, actor: Actor) -> dict[str, Any]:
        side = ix.side_of(actor.role)
        if _CONTROL_SIDE[msg.action] != side:
            who = _CONTROL_SIDE[msg.action]
            raise CobrowseError("forbidden", f"the {who} does {msg.action!r}")
        inter, _ = await self.desk.apply(msg.session, _CONTROL_COMMANDS[msg.action](msg), actor)
        return {"control": inter.control}

    # ------------------------------------------------------------ the core's decisions
    async def session_changed(self, inter: ix.Interaction, stored: list[StoredEvent]) -> None:
        for item in stored:
            kind = item.event.kind
            if kind in ("recording.started", "recording.resumed"):
                if _running(inter):
                    self.ask_snapshot(inter.id)
            elif kind in ("recording.paused", "recording.stopped"):
                await self._close_log(inter.id)
            elif kind == "channel.stopped" and item.event.data.get("channel") == "cobrowse":
                await self._close_log(inter.id)
                self._drop(inter.id)
        if inter.state == SessionState.ENDED:
            await self._close_log(inter.id)
            self._drop(inter.id)
            self.streams.pop(inter.id, None)

    def _drop(self, session_id: str) -> None:
        handle = self._timers.pop(session_id, None)
        if handle is not None:
            handle.cancel()
        stream = self.streams.get(session_id)
        if stream is not None:
            stream.pending.clear()

    # ------------------------------------------------------------ helpers
    async def _session(self, session_id: str) -> ix.Interaction:
        inter = await self.desk.store.get_session(session_id)
        if inter is None:
            raise CobrowseError("not_found", f"no session {session_id}")
        return inter

    async def _agent_of(self, session_id: str, actor: Actor) -> ix.Interaction:
        inter = await self._session(session_id)
        if actor.role not in ix.SERVING:
            raise CobrowseError("forbidden", "only the agent points and sends commands")
        if actor.id != inter.agent_id:
            raise CobrowseError("not_assigned", "this session is not assigned to you")
        return inter

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _running(inter: ix.Interaction) -> bool:
    cur = inter.channels.get(Channel.COBROWSE.value)
    return cur is not None and cur.state in (ChannelState.ACCEPTED, ChannelState.ACTIVE)


def _live_channel(inter: ix.Interaction) -> ix.ChannelStatus:
    cur = inter.channels.get(Channel.COBROWSE.value)
    if inter.state != SessionState.ACTIVE or cur is None or not cur.agreed:
        raise CobrowseError("channel_state", "co-browsing is not running in this session")
    return cur
