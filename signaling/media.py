"""Signaling for media: consent checks, negotiation through the media plane, timeline notes.

The media plane (:mod:`visual.plane`) forwards encoded frames and knows nothing about
sessions or consent. This module stands between it and the participants' sockets:

- ``media.offer`` is answered only when every source it sends is allowed by an agreed
  channel (:func:`signaling.interaction.may_send`);
- whenever a command changes a session's channels, sources that are no longer allowed
  stop being forwarded at once, and an ended session's room closes;
- what the plane reports (published, unpublished, connected, failed, ...) becomes a
  :class:`~signaling.interaction.Note` on the session timeline, in order;
- publication lists go to everyone on the session as ephemeral pushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from signaling import interaction as ix
from signaling import protocol as p
from signaling.errors import InteractionError, LivedeskError, MediaRefusal
from signaling.interaction import Actor, Role, SessionState
from signaling.turn import ice_servers_for
from visual.errors import MediaError
from visual.ice import restrict_host_addresses
from visual.plane import MediaPlane

if TYPE_CHECKING:
    from signaling.config import MediaConfig as MediaSettings
    from signaling.desk import Desk
    from signaling.store.base import StoredEvent

log = structlog.get_logger("livedesk.media")


def media_key(session: str, actor: Actor) -> str:
    """A participant's opaque id inside one session's media (no usernames leak)."""
    digest = hashlib.sha256(f"{session}\x00{actor.role.value}\x00{actor.id}".encode()).hexdigest()
    side = ix.side_of(actor.role)
    return f"{side}-{digest[:10]}"


_PEER_STATES = {
    "media.connected": "connected",
    "media.recovered": "connected",
    "media.failed": "failed",
    "media.closed": "closed",
}
"""Timeline notes that also change a participant's ``media.state``."""


class MediaService:
    """The media side of one process."""

    def __init__(self, desk: Desk, settings: MediaSettings) -> None:
        self.desk = desk
        self.settings = settings
        restrict_host_addresses(settings.host_addresses)
        self.plane = MediaPlane(
            on_event=self._on_plane_event,
            on_publications=self._on_publications,
            keyframe_min_interval_s=settings.keyframe_min_interval_s,
            forward_queue_frames=settings.forward_queue_frames,
            failure_grace_s=settings.media_failure_grace_s,
            max_bitrate_kbps=settings.max_bitrate_kbps,
        )
        self._actors: dict[str, dict[str, Actor]] = {}
        """Who is behind each media key, by session, for the notes; forgotten at its end."""
        self._notes: asyncio.Queue[tuple[str, str, str, dict[str, Any]] | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.publication_watchers: list[Callable[[str], None]] = []
        """Called with the session id whenever its publications change (the recorder)."""

    async def start(self) -> None:
        self.plane.start()
        self._writer = asyncio.create_task(self._write_notes(), name="media-notes")
        self.desk.after_apply.append(self.session_changed)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.desk.after_apply.remove(self.session_changed)
        await self.plane.close()
        await self._notes.put(None)
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._writer, timeout=5)

    # ------------------------------------------------------------ requests
    async def _participant(self, session: str, actor: Actor) -> ix.Interaction:
        inter = await self.desk.store.get_session(session)
        if inter is None:
            raise InteractionError("not_found", f"no session {session}")
        if actor.role == Role.CUSTOMER:
            if inter.customer_id != actor.id:
                raise InteractionError("forbidden", "you are not a participant of this session")
        elif inter.agent_id != actor.id:
            raise InteractionError("not_assigned", "this session is not assigned to you")
        if inter.state != SessionState.ACTIVE:
            raise InteractionError("wrong_state", "media needs an active session")
        return inter

    async def config(self, session: str, actor: Actor) -> dict[str, Any]:
        await self._participant(session, actor)
        key = media_key(session, actor)
        return {
            "ice_servers": ice_servers_for(self.settings, key, now=time.time()),
            "you": key,
            "max_bitrate_kbps": self.settings.max_bitrate_kbps,
        }

    async def offer(self, msg: p.MediaOffer, actor: Actor) -> dict[str, Any]:
        inter = await self._participant(msg.session, actor)
        for spec in msg.send:
            if not ix.may_send(inter, actor.role, spec.source):
                raise MediaRefusal(
                    "consent", f"{spec.source} has not been agreed by both sides in this session"
                )
        key = media_key(msg.session, actor)
        self._actors.setdefault(msg.session, {})[key] = actor
        try:
            answer = await self.plane.negotiate(
                msg.session,
                key,
                role=actor.role.value,
                name=actor.name,
                sdp=msg.sdp,
                send={s.mid: s.source for s in msg.send},
                recv={r.mid: r.pub for r in msg.recv},
            )
        except MediaError as exc:
            raise MediaRefusal(exc.code, exc.message) from None
        return {"sdp": answer, "you": key}

    async def mute(self, msg: p.MediaMute, actor: Actor) -> dict[str, Any]:
        await self._participant(msg.session, actor)
        try:
            pub = await self.plane.set_muted(
                msg.session, media_key(msg.session, actor), msg.source, msg.muted
            )
        except MediaError as exc:
            raise MediaRefusal(exc.code, exc.message) from None
        return {"muted": pub.muted}

    async def hangup(self, session: str, actor: Actor) -> dict[str, Any]:
        await self._participant(session, actor)
        await self.plane.hangup(session, media_key(session, actor))
        return {}

    def publications(self, session: str) -> list[dict[str, Any]]:
        return self.plane.publication_list(session)

    # ------------------------------------------------------------ session changes
    async def session_changed(self, inter: ix.Interaction, stored: list[StoredEvent]) -> None:
        """After every applied command: withdraw what the channels no longer allow."""
        try:
            if self.plane.room(inter.id) is None:
                return
            if inter.state in (SessionState.WRAP_UP, SessionState.ENDED, SessionState.QUEUED):
                await self.plane.close_room(inter.id, reason=f"session {inter.state.value}")
                return
            await self.plane.revoke(inter.id, lambda role, source: ix.may_send(inter, role, source))
        finally:
            if (
                inter.state in (SessionState.WRAP_UP, SessionState.ENDED)
                and inter.id in self._actors
            ):
                # no media after this (offers need an active session): its actors go,
                # after the notes already queued, which still name them
                self._notes.put_nowait((inter.id, "", "forget", {}))

    # ------------------------------------------------------------ plane callbacks
    def _on_plane_event(self, session: str, key: str, kind: str, data: dict[str, Any]) -> None:
        self._notes.put_nowait((session, key, kind, data))
        state = _PEER_STATES.get(kind)
        if state is not None and key:
            msg = {"type": "media.state", "session": session, "owner": key, "state": state}
            if "reason" in data:
                msg["reason"] = data["reason"]
            self._notes.put_nowait((session, key, "ephemeral", msg))

    def _on_publications(self, session: str, pubs: list[dict[str, Any]]) -> None:
        msg = {"type": "media.publications", "session": session, "publications": pubs}
        self._notes.put_nowait((session, "", "ephemeral", msg))
        for watcher in self.publication_watchers:
            try:
                watcher(session)
            except Exception:  # the recorder failing must not stop the media
                log.exception("publication watcher failed", session_id=session)

    async def _write_notes(self) -> None:
        """Log plane reports in the order they happened, one at a time."""
        while True:
            item = await self._notes.get()
            if item is None:
                return
            session, key, kind, data = item
            if kind == "forget":
                self._actors.pop(session, None)
                continue
            try:
                if kind == "ephemeral":
                    await self.desk.ephemeral(session, data)
                    continue
                actor = self._actors.get(session, {}).get(key, ix.SYSTEM)
                await self.desk.apply(session, ix.Note(kind, data), actor)
            except LivedeskError as exc:
                # e.g. the session ended while its media was closing: nothing to log into
                log.info("media note not logged", session_id=session, kind=kind, code=exc.code)
            except Exception:
                log.exception("media note failed", session_id=session, kind=kind)
