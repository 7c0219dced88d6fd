"""Forwarding encoded frames from one participant's track to everyone who watches it.

A :class:`Publication` is one track a participant sends to the server (microphone,
camera or screen). Frames come in from the receiver seam already encoded and go out
unchanged to each :class:`Outlet`, a track the server sends to one viewer, and to any
other sink (the recorder taps here). Nothing is decoded or re-encoded.

Keyframes: a viewer that starts watching, or falls behind and has frames dropped, waits
for the next keyframe and asks the publication for one; the publication turns that into
a PLI to the sender, at most once per ``keyframe_min_interval_s``. A viewer's own PLI
(from its browser) arrives through :func:`visual.seam.on_keyframe_request`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from visual.seam import EncodedFrame, FrameSink

log = logging.getLogger("livedesk.media")

DEFAULT_QUEUE_FRAMES = 16


class Publication:
    """One encoded track arriving at the server, fanned out to outlets and sinks."""

    def __init__(
        self,
        pub_id: str,
        *,
        owner: str,
        source: str,
        kind: str,
        ask_keyframe: Callable[[], Awaitable[bool]],
        keyframe_min_interval_s: float = 0.5,
    ) -> None:
        self.id = pub_id
        self.owner = owner
        self.source = source
        self.kind = kind
        self.muted = False
        self.closed = False
        self.frames_in = 0
        self.bytes_in = 0
        self.keyframes_in = 0
        self.keyframe_requests = 0
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self._ask_keyframe = ask_keyframe
        self._min_interval = keyframe_min_interval_s
        self._last_request = -1e9
        self._pending_request: asyncio.Handle | None = None
        self._outlets: set[Outlet] = set()
        self._sinks: list[FrameSink] = []

    # ------------------------------------------------------------ frames in
    def on_frame(self, frame: EncodedFrame) -> None:
        """Called by the receiver seam, on the event loop, for every frame."""
        now = time.monotonic()
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        self.frames_in += 1
        self.bytes_in += len(frame.data)
        if frame.keyframe:
            self.keyframes_in += 1
        for outlet in self._outlets:
            outlet.push(frame)
        for sink in self._sinks:
            try:
                sink(frame)
            except Exception:  # a broken sink must not stop the media
                log.exception("frame sink failed on %s", self.id)

    # ------------------------------------------------------------ viewers
    def attach(self, outlet: Outlet) -> None:
        self._outlets.add(outlet)
        if self.kind == "video":
            self.request_keyframe()

    def detach(self, outlet: Outlet) -> None:
        self._outlets.discard(outlet)

    def add_sink(self, sink: FrameSink) -> None:
        """Another consumer of the encoded frames (a recorder); it gets a keyframe soon."""
        self._sinks.append(sink)
        if self.kind == "video":
            self.request_keyframe()

    def remove_sink(self, sink: FrameSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    @property
    def viewers(self) -> int:
        return len(self._outlets)

    def request_keyframe(self) -> None:
        """Ask the sender for a keyframe, coalescing requests that come too close together."""
        if self.kind != "video" or self.closed:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        wait = self._last_request + self._min_interval - now
        if wait > 0:
            if self._pending_request is None:
                self._pending_request = loop.call_later(wait, self._fire_request)
            return
        self._fire_request()

    def _fire_request(self) -> None:
        self._pending_request = None
        if self.closed:
            return
        self._last_request = asyncio.get_running_loop().time()
        self.keyframe_requests += 1
        task = asyncio.ensure_future(self._ask_keyframe())
        task.add_done_callback(_log_failure)

    def close(self) -> None:
        self.closed = True
        if self._pending_request is not None:
            self._pending_request.cancel()
        for outlet in list(self._outlets):
            outlet.bind(None)
        self._sinks.clear()


def _log_failure(task: asyncio.Future[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("keyframe request failed: %s", task.exception())


class Outlet(MediaStreamTrack):
    """A track the server sends to one viewer: encoded frames of a publication, as packets.

    aiortc's sender packs the ``av.Packet`` this returns without encoding it. The queue
    is bounded: a viewer that does not keep up loses its oldest audio frames, or for
    video its whole backlog, and then waits for a fresh keyframe.
    """

    def __init__(self, kind: str, *, max_frames: int = DEFAULT_QUEUE_FRAMES) -> None:
        super().__init__()
        self.kind = kind
        self._queue: collections.deque[EncodedFrame] = collections.deque(maxlen=max_frames)
        self._max = max_frames
        self._wake = asyncio.Event()
        self._pub: Publication | None = None
        self._need_keyframe = kind == "video"
        self._offset: int | None = None
        self._last_pts: int | None = None
        self._step = 3000 if kind == "video" else 960
        self.frames_out = 0
        self.dropped = 0
        self.keyframe_waits = 0

    @property
    def publication(self) -> Publication | None:
        return self._pub

    def bind(self, pub: Publication | None) -> None:
        """Point this outlet at another publication of the same kind, or at none."""
        if pub is self._pub:
            return
        if pub is not None and pub.kind != self.kind:
            raise ValueError(f"cannot send a {pub.kind} publication on a {self.kind} track")
        if self._pub is not None:
            self._pub.detach(self)
        self._pub = pub
        self.dropped += len(self._queue)
        self._queue.clear()
        self._offset = None
        self._need_keyframe = self.kind == "video"
        if pub is not None:
            pub.attach(self)

    def push(self, frame: EncodedFrame) -> None:
        if self._need_keyframe:
            if not frame.keyframe:
                self.dropped += 1
                # ask again (coalesced to one PLI per interval) until a keyframe comes:
                # an earlier request may have been lost, or sent before the sender was up
                if self._pub is not None:
                    self._pub.request_keyframe()
                return
            self._need_keyframe = False
        if len(self._queue) >= self._max:
            if self.kind == "video":
                # a gap in a video stream breaks every frame up to the next keyframe
                self.dropped += len(self._queue) + 1
                self._queue.clear()
                self._need_keyframe = True
                self.keyframe_waits += 1
                if self._pub is not None:
                    self._pub.request_keyframe()
                return
            self.dropped += 1  # the deque drops the oldest audio frame
        self._queue.append(frame)
        self._wake.set()

    def request_keyframe(self) -> None:
        """The viewer's browser lost a picture (PLI/FIR): pass it to the sender."""
        if self._pub is not None:
            self._pub.request_keyframe()

    async def recv(self) -> av.Packet:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        if self.readyState != "live":
            raise MediaStreamError
        frame = self._queue.popleft()
        if self._offset is None:
            # keep this track's timestamps rising across a re-bind to another source
            start = 0 if self._last_pts is None else self._last_pts + self._step
            self._offset = start - frame.timestamp
        pts = frame.timestamp + self._offset
        self._last_pts = pts
        packet = av.Packet(frame.data)
        packet.pts = pts
        packet.time_base = Fraction(1, frame.clock_rate)
        self.frames_out += 1
        return packet

    def stop(self) -> None:
        self.bind(None)
        super().stop()
        self._wake.set()
