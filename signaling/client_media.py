"""Media for the protocol client: publish pre-encoded clips, receive and count encoded frames.

Used by the integration tests, the media benchmark and demo bots::

    media = MediaClient(customer, session)
    await media.start()
    await media.publish("camera", ClipTrack(synthetic_video()))
    ...
    received = media.received[pub_id]       # digests and arrival times, in order

Frames are received through the same encoded-frame seam the server uses, so a test can
compare what arrived with what was sent, byte for byte, without decoding anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from visual.ice import rtc_configuration
from visual.seam import EncodedFrame, on_keyframe_request, tap_receiver
from visual.sources import ClipTrack, frame_digest

if TYPE_CHECKING:
    from signaling.client import _Client


@dataclass
class Received:
    """What arrived for one publication, in arrival order."""

    pub: str
    kind: str
    digests: list[bytes] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    keyframes: int = 0
    first_keyframe_at: float | None = None
    subscribed_at: float = 0.0
    keep_digests: bool = True
    count: int = 0
    bytes: int = 0

    def on_frame(self, frame: EncodedFrame) -> None:
        now = time.monotonic()
        self.count += 1
        self.bytes += len(frame.data)
        if frame.keyframe:
            self.keyframes += 1
            if self.first_keyframe_at is None:
                self.first_keyframe_at = now
        if self.keep_digests:
            self.digests.append(frame_digest(frame.data))
            self.arrivals.append(now)


@dataclass
class _Sending:
    source: str
    track: MediaStreamTrack
    transceiver: RTCRtpTransceiver


class MediaClient:
    """One participant's peer connection to the server for one session."""

    def __init__(
        self,
        client: _Client,
        session: str,
        *,
        auto_subscribe: bool = True,
        keep_digests: bool = True,
    ) -> None:
        self.client = client
        self.session = session
        self.auto_subscribe = auto_subscribe
        self.keep_digests = keep_digests
        self.pc: RTCPeerConnection | None = None
        self.you = ""
        self.publications: list[dict[str, Any]] = []
        self.sending: dict[str, _Sending] = {}
        self.received: dict[str, Received] = {}
        self._recv_mids: dict[str, str] = {}  # pub -> mid
        self._recv_transceivers: dict[str, RTCRtpTransceiver] = {}  # pub -> transceiver
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self.negotiations = 0

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> dict[str, Any]:
        reply = await self.client.request("media.config", session=self.session)
        self.you = reply["you"]
        self.pc = RTCPeerConnection(rtc_configuration())
        self._watcher = asyncio.create_task(self._watch_publications())
        return reply

    async def close(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            # Python 3.11's asyncio.wait_for swallows a cancel that lands just as the
            # message it waited for arrives; the loop then waits again, for ever, and a
            # single cancel-and-await hung here (bench/media_cycles.py saw it)
            while not watcher.done():
                watcher.cancel()
                await asyncio.wait({watcher}, timeout=0.5)
            if not watcher.cancelled():
                watcher.exception()  # retrieved: it ended with the socket, nothing to report
        for s in self.sending.values():
            s.track.stop()
        if self.pc is not None:
            # aiortc's close can wait for ever on a sender that never started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pc.close(), 5.0)

    async def wait_connected(self, *, timeout: float = 10.0) -> None:
        assert self.pc is not None
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline:
                raise TimeoutError(f"peer connection is {self.pc.connectionState}")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------ sending
    async def publish(self, source: str, track: MediaStreamTrack) -> None:
        """Start sending ``track`` as ``source`` (``mic``, ``camera`` or ``screen``)."""
        assert self.pc is not None, "call start() first"
        t = self.pc.addTransceiver(track, direction="sendonly")
        if isinstance(track, ClipTrack):
            on_keyframe_request(t.sender, track.force_keyframe)
        self.sending[source] = _Sending(source, track, t)
        await self.negotiate()

    async def unpublish(self, source: str) -> None:
        """Stop sending ``source``; its transceiver goes inactive."""
        s = self.sending.pop(source, None)
        if s is None:
            return
        s.transceiver.direction = "inactive"
        s.track.stop()
        await self.negotiate()

    # ------------------------------------------------------------ receiving
    async def subscribe(self, pub: str, kind: str) -> Received:
        assert self.pc is not None, "call start() first"
        got = self.received.get(pub)
        if got is not None:
            return got
        t = self.pc.addTransceiver(kind, direction="recvonly")
        got = Received(pub, kind, subscribed_at=time.monotonic(), keep_digests=self.keep_digests)
        tap_receiver(t.receiver, got.on_frame)
        self.received[pub] = got
        self._recv_transceivers[pub] = t
        await self.negotiate()
        return got

    async def _watch_publications(self) -> None:
        while True:
            msg = await self.client.wait_for(
                lambda m: m.get("type") == "media.publications" and m["session"] == self.session,
                timeout=3600,
            )
            self.publications = msg["publications"]
            if not self.auto_subscribe:
                continue
            for pub in self.publications:
                if pub["owner"] != self.you and pub["pub"] not in self.received:
                    await self.subscribe(pub["pub"], pub["kind"])

    async def wait_publication(self, source: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The first remote publication of ``source`` (someone else's)."""
        deadline = time.monotonic() + timeout
        while True:
            for pub in self.publications:
                if pub["source"] == source and pub["owner"] != self.you:
                    return pub
            if time.monotonic() > deadline:
                raise TimeoutError(f"no remote {source} publication")
            await asyncio.sleep(0.02)

    async def wait_frames(self, pub: str, count: int, *, timeout: float = 10.0) -> Received:
        deadline = time.monotonic() + timeout
        while True:
            got = self.received.get(pub)
            if got is not None and got.count >= count:
                return got
            if time.monotonic() > deadline:
                have = got.count if got else 0
                raise TimeoutError(f"{have} of {count} frames of {pub} arrived")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------ negotiation
    async def negotiate(self) -> None:
        """Offer the current tracks to the server and apply its answer.

        Tracks added while an offer is in flight get their mid only in the next offer,
        so this repeats until every transceiver has been negotiated.
        """
        assert self.pc is not None
        async with self._lock:
            while True:
                await self._settle(self.pc)
                await self._negotiate_once(self.pc)
                if all(t.mid is not None for t in self.pc.getTransceivers()):
                    return

    async def _settle(self, pc: RTCPeerConnection, *, timeout: float = 10.0) -> None:
        """Before a renegotiation, let the first connection attempt finish.

        aiortc's connect step, still waiting on the ICE and DTLS handshakes, resumes
        partway through the next answer being applied and can look up a new transceiver
        in the previous answer: an IndexError in a background task, and that transceiver
        is started only by the next connect step. Renegotiating once the state has left
        ``new``/``connecting`` keeps the two apart. A first negotiation has nothing to
        wait for; a connection that never gets there is renegotiated anyway.
        """
        if self.negotiations == 0 or pc.connectionState not in ("new", "connecting"):
            return
        settled = asyncio.Event()

        def changed() -> None:
            if pc.connectionState not in ("new", "connecting"):
                settled.set()

        pc.on("connectionstatechange", changed)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), timeout)
        finally:
            pc.remove_listener("connectionstatechange", changed)

    async def _negotiate_once(self, pc: RTCPeerConnection) -> None:
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)  # aiortc gathers every candidate here
        send = [
            {"mid": s.transceiver.mid, "source": s.source}
            for s in self.sending.values()
            if s.transceiver.direction != "inactive" and s.transceiver.mid is not None
        ]
        recv = [
            {"mid": t.mid, "pub": pub}
            for pub, t in self._recv_transceivers.items()
            if t.mid is not None
        ]
        reply = await self.client.request(
            "media.offer", session=self.session, sdp=pc.localDescription.sdp, send=send, recv=recv
        )
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        self.negotiations += 1
