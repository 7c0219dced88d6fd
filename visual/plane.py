"""The media plane of one process: a peer connection per participant, rooms per session.

Each participant holds one ``RTCPeerConnection`` with the server and is always the
offerer. Its offer names which of its media sections carry which source (``send``) and
which publication each receive-only section should get (``recv``). The server answers,
taps every incoming track at the encoded-frame seam (:mod:`visual.seam`) and sends each
viewer an :class:`~visual.forward.Outlet` bound to the publication it asked for.

The plane knows nothing of signaling: it reports what happens through two callbacks,
``on_event(session, key, kind, data)`` for the session timeline and
``on_publications(session, list)`` when the set of publications changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from visual.errors import MediaError
from visual.forward import DEFAULT_QUEUE_FRAMES, Outlet, Publication
from visual.ice import rtc_configuration
from visual.sdp import MediaSection, SdpError, ice_ufrag, parse_sections
from visual.seam import (
    EncodedFrame,
    on_keyframe_request,
    release_taps,
    request_keyframe,
    restrict_codecs,
    tap_receiver,
)

log = logging.getLogger("livedesk.media")

SOURCE_KIND = {"mic": "audio", "camera": "video", "screen": "video"}
PC_CLOSE_TIMEOUT_S = 5.0
FORWARDED_CODECS = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}
"""Both sides of a forward must use the same codec: the server offers only these."""

EventSink = Callable[[str, str, str, dict[str, Any]], None]
PublicationSink = Callable[[str, list[dict[str, Any]]], None]


class _RecvSlot:
    """A media section on which a participant sends to the server."""

    def __init__(self, receiver: RTCRtpReceiver, *, advertise_bps: int | None) -> None:
        self.receiver = receiver
        self.pub: Publication | None = None
        tap_receiver(receiver, self.on_frame, advertise_bps=advertise_bps)

    def on_frame(self, frame: EncodedFrame) -> None:
        if self.pub is not None:
            self.pub.on_frame(frame)


class MediaPeer:
    """One participant's connection to the server."""

    def __init__(self, session: str, key: str, role: str, name: str) -> None:
        self.session = session
        self.key = key
        self.role = role
        self.name = name
        self.pc: RTCPeerConnection | None = None
        self.recv_slots: dict[str, _RecvSlot] = {}
        self.outlets: dict[str, Outlet] = {}
        self.state = "new"
        self.ufrag = ""
        self.failed_before = False
        self.connected_at: float | None = None
        self.lock = asyncio.Lock()

    @property
    def publications(self) -> list[Publication]:
        return [s.pub for s in self.recv_slots.values() if s.pub is not None]


class Room:
    """The media of one session."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.peers: dict[str, MediaPeer] = {}
        self.publications: dict[str, Publication] = {}


class MediaPlane:
    """Every room this process holds media for."""

    def __init__(
        self,
        *,
        on_event: EventSink,
        on_publications: PublicationSink,
        keyframe_min_interval_s: float = 0.5,
        forward_queue_frames: int = DEFAULT_QUEUE_FRAMES,
        failure_grace_s: float = 5.0,
        watchdog_interval_s: float = 1.0,
        max_bitrate_kbps: int = 2500,
    ) -> None:
        self._on_event = on_event
        self._on_publications = on_publications
        self._keyframe_interval = keyframe_min_interval_s
        self._queue_frames = forward_queue_frames
        self._grace = failure_grace_s
        self._watch_interval = watchdog_interval_s
        self._max_bitrate_bps = max_bitrate_kbps * 1000
        self.rooms: dict[str, Room] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="media-watchdog")

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        rooms = [self.close_room(session, reason="shutdown") for session in list(self.rooms)]
        await asyncio.gather(*rooms, return_exceptions=True)
        release_taps()  # decoder threads of receivers whose close did not finish exit too

    async def close_room(self, session: str, *, reason: str) -> None:
        room = self.rooms.pop(session, None)
        if room is None:
            return
        for peer in list(room.peers.values()):
            await self._drop_pc(room, peer, reason=reason, log_event=False)
        self._on_event(session, "", "media.closed", {"reason": reason})

    # ------------------------------------------------------------ queries
    def room(self, session: str) -> Room | None:
        return self.rooms.get(session)

    def publication_list(self, session: str) -> list[dict[str, Any]]:
        room = self.rooms.get(session)
        if room is None:
            return []
        out = []
        for pub in room.publications.values():
            peer = room.peers.get(pub.owner)
            out.append(
                {
                    "pub": pub.id,
                    "owner": pub.owner,
                    "role": peer.role if peer else "",
                    "name": peer.name if peer else "",
                    "source": pub.source,
                    "kind": pub.kind,
                    "muted": pub.muted,
                }
            )
        return out

    def stats(self) -> dict[str, int]:
        peers = sum(len(r.peers) for r in self.rooms.values())
        pubs = sum(len(r.publications) for r in self.rooms.values())
        return {"rooms": len(self.rooms), "peers": peers, "publications": pubs}

    # ------------------------------------------------------------ negotiation
    async def negotiate(
        self,
        session: str,
        key: str,
        *,
        role: str,
        name: str,
        sdp: str,
        send: Mapping[str, str],
        recv: Mapping[str, str],
    ) -> str:
        """Answer a participant's offer; returns the answer SDP.

        ``send`` maps mid → source (``mic``/``camera``/``screen``), ``recv`` maps mid →
        publication id. Raises :class:`MediaError` (``bad_sdp``) on a malformed offer.
        """
        try:
            sections = parse_sections(sdp)
        except SdpError as exc:
            raise MediaError("bad_sdp", str(exc)) from None
        by_mid = {s.mid: s for s in sections}
        for mid, source in send.items():
            sec = by_mid.get(mid)
            if sec is None:
                raise MediaError("bad_sdp", f"send names mid {mid!r}, which the offer lacks")
            if SOURCE_KIND.get(source) != sec.kind:
                raise MediaError("bad_sdp", f"mid {mid!r} is {sec.kind}; it cannot carry {source}")
            if not sec.offerer_sends:
                raise MediaError("bad_sdp", f"mid {mid!r} is {sec.direction}; it sends nothing")
        for mid in recv:
            sec = by_mid.get(mid)
            if sec is None or not sec.offerer_receives:
                raise MediaError("bad_sdp", f"recv names mid {mid!r}, which does not receive")

        room = self.rooms.get(session)
        if room is None:
            room = self.rooms[session] = Room(session)
        peer = room.peers.get(key)
        if peer is None:
            peer = room.peers[key] = MediaPeer(session, key, role, name)
        async with peer.lock:
            return await self._negotiate(room, peer, sdp, sections, send, recv)

    async def _negotiate(
        self,
        room: Room,
        peer: MediaPeer,
        sdp: str,
        sections: list[MediaSection],
        send: Mapping[str, str],
        recv: Mapping[str, str],
    ) -> str:
        pc = peer.pc
        if pc is not None and (
            pc.connectionState in ("failed", "closed")
            or pc.signalingState != "stable"
            or ice_ufrag(sdp) != peer.ufrag
        ):
            # a fresh RTCPeerConnection on the client: start over on this side too
            await self._drop_pc(room, peer, reason="restarted", log_event=False)
            pc = None
        if pc is None:
            pc = peer.pc = RTCPeerConnection(rtc_configuration())
            peer.ufrag = ice_ufrag(sdp)
            peer.state = "connecting"
            pc.on("connectionstatechange", lambda p=pc: self._state_changed(room, peer, p))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:  # aiortc raises several types for one fault
            await self._drop_pc(room, peer, reason="bad offer", log_event=False)
            raise MediaError("bad_sdp", f"the offer was refused: {exc}") from None

        changed = False
        transceivers = {t.mid: t for t in pc.getTransceivers() if t.mid is not None}
        for sec in sections:
            t = transceivers.get(sec.mid)
            if t is None:
                continue
            if sec.kind == "application":
                continue
            _prefer_forwarded_codecs(t, sec.kind)
            changed |= self._update_sending(room, peer, t, sec, send.get(sec.mid))
            self._update_receiving(room, peer, t, sec, recv.get(sec.mid))

        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        if changed:
            self._publications_changed(room)
        return pc.localDescription.sdp

    def _update_sending(
        self,
        room: Room,
        peer: MediaPeer,
        t: RTCRtpTransceiver,
        sec: MediaSection,
        source: str | None,
    ) -> bool:
        slot = peer.recv_slots.get(sec.mid)
        if slot is None and source is not None:
            slot = peer.recv_slots[sec.mid] = _RecvSlot(
                t.receiver, advertise_bps=self._max_bitrate_bps
            )
        if slot is None:
            return False
        current = slot.pub
        if current is not None and current.source == source:
            return False
        changed = False
        if current is not None:
            self._unpublish(room, peer, slot, reason="stopped")
            changed = True
        if source is None:
            return changed
        receiver = t.receiver

        def ask_keyframe() -> Awaitable[bool]:
            return request_keyframe(receiver)

        pub = Publication(
            f"{peer.key}.{sec.mid}.{secrets.token_hex(3)}",
            owner=peer.key,
            source=source,
            kind=sec.kind,
            ask_keyframe=ask_keyframe,
            keyframe_min_interval_s=self._keyframe_interval,
        )
        slot.pub = pub
        room.publications[pub.id] = pub
        data = {"pub": pub.id, "source": source, "kind": pub.kind}
        self._on_event(room.session, peer.key, "media.published", data)
        return True

    def _update_receiving(
        self,
        room: Room,
        peer: MediaPeer,
        t: RTCRtpTransceiver,
        sec: MediaSection,
        pub_id: str | None,
    ) -> None:
        outlet = peer.outlets.get(sec.mid)
        if outlet is None and pub_id is not None:
            outlet = peer.outlets[sec.mid] = Outlet(sec.kind, max_frames=self._queue_frames)
            t.sender.replaceTrack(outlet)
            on_keyframe_request(t.sender, outlet.request_keyframe)
        if outlet is None:
            return
        t.direction = "sendrecv" if sec.mid in peer.recv_slots else "sendonly"
        pub = room.publications.get(pub_id) if pub_id is not None else None
        if pub is not None and (pub.owner == peer.key or pub.kind != sec.kind):
            pub = None
        outlet.bind(pub)

    # ------------------------------------------------------------ changes
    def _unpublish(self, room: Room, peer: MediaPeer, slot: _RecvSlot, *, reason: str) -> None:
        pub = slot.pub
        if pub is None:
            return
        slot.pub = None
        pub.close()
        room.publications.pop(pub.id, None)
        self._on_event(
            room.session,
            peer.key,
            "media.unpublished",
            {"pub": pub.id, "source": pub.source, "kind": pub.kind, "reason": reason},
        )

    def _publications_changed(self, room: Room) -> None:
        self._on_publications(room.session, self.publication_list(room.session))

    async def set_muted(self, session: str, key: str, source: str, muted: bool) -> Publication:
        room = self.rooms.get(session)
        peer = room.peers.get(key) if room else None
        pub = next((p for p in peer.publications if p.source == source), None) if peer else None
        if room is None or pub is None:
            raise MediaError("not_found", f"you are not sending {source}")
        if pub.muted != muted:
            pub.muted = muted
            data = {"pub": pub.id, "source": source, "muted": muted}
            self._on_event(session, key, "media.muted", data)
            self._publications_changed(room)
        return pub

    async def revoke(self, session: str, allowed: Callable[[str, str], bool]) -> int:
        """Stop forwarding every publication whose ``allowed(role, source)`` is now false."""
        room = self.rooms.get(session)
        if room is None:
            return 0
        stopped = 0
        for peer in room.peers.values():
            for slot in peer.recv_slots.values():
                if slot.pub is not None and not allowed(peer.role, slot.pub.source):
                    self._unpublish(room, peer, slot, reason="channel stopped")
                    stopped += 1
        if stopped:
            self._publications_changed(room)
        return stopped

    async def hangup(self, session: str, key: str, *, reason: str = "hung up") -> None:
        room = self.rooms.get(session)
        peer = room.peers.get(key) if room else None
        if room is None or peer is None:
            return
        await self._drop_pc(room, peer, reason=reason, log_event=True)
        room.peers.pop(key, None)
        if not room.peers:
            self.rooms.pop(session, None)

    async def _drop_pc(
        self,
        room: Room,
        peer: MediaPeer,
        *,
        reason: str,
        log_event: bool,
        only: RTCPeerConnection | None = None,
    ) -> None:
        if only is not None and peer.pc is not only:
            return  # the participant has already started over on a new connection
        had = bool(peer.publications)
        for slot in peer.recv_slots.values():
            self._unpublish(room, peer, slot, reason=reason)
        peer.recv_slots.clear()
        for outlet in peer.outlets.values():
            outlet.stop()
        peer.outlets.clear()
        pc, peer.pc = peer.pc, None
        if pc is not None:
            peer.state = "closed"
            # aiortc's close can wait for ever on a sender that never started; a process
            # that must exit cannot
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), PC_CLOSE_TIMEOUT_S)
            if log_event:
                self._on_event(room.session, peer.key, "media.closed", {"reason": reason})
        if had:
            self._publications_changed(room)

    def _state_changed(self, room: Room, peer: MediaPeer, pc: RTCPeerConnection) -> None:
        if pc is not peer.pc:
            return  # an old connection that was replaced
        state = pc.connectionState
        if state == "connected" and peer.state != "connected":
            peer.state = "connected"
            peer.connected_at = time.monotonic()
            kind = "media.recovered" if peer.failed_before else "media.connected"
            self._on_event(room.session, peer.key, kind, {})
        elif state in ("failed", "closed") and peer.state not in ("failed", "closed"):
            # we drop our own connections before closing them, so this one went away
            # from the other end: a lost network, a crashed tab, a closed laptop
            self._fail(room, peer, f"the connection {state} (ICE or DTLS)")

    def _fail(self, room: Room, peer: MediaPeer, reason: str) -> None:
        peer.state = "failed"
        peer.failed_before = True
        self._on_event(room.session, peer.key, "media.failed", {"reason": reason})
        failed = peer.pc
        task = asyncio.ensure_future(
            self._drop_pc(room, peer, reason="failed", log_event=False, only=failed)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        """Declare a peer failed when every track it sends has gone silent."""
        while True:
            await asyncio.sleep(self._watch_interval)
            # a function of its own: locals left in this loop (the last peer looked at)
            # kept that peer's closed connection alive until another session came along
            self._check_silence(time.monotonic())

    def _check_silence(self, now: float) -> None:
        for room in list(self.rooms.values()):
            for peer in list(room.peers.values()):
                pubs = peer.publications
                if peer.state != "connected" or not pubs:
                    continue
                last = max((p.last_frame_at or 0.0) for p in pubs)
                if last and now - last > self._grace:
                    self._fail(room, peer, f"no media for {self._grace:g} s")


def _prefer_forwarded_codecs(t: RTCRtpTransceiver, kind: str) -> None:
    wanted = FORWARDED_CODECS.get(kind)
    if wanted is None:
        return
    if not restrict_codecs(t, wanted):
        raise MediaError("bad_sdp", f"the {kind} section offers none of {', '.join(wanted)}")
