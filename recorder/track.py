"""Recording one track's encoded frames into a WebM file, as received, off the event loop.

A :class:`TrackRecorder` takes the frames the media plane forwards (the same bytes, never
decoded) and muxes them with PyAV in a thread of its own. The event loop only appends to
a bounded queue: when the disk falls behind, frames are dropped, counted, and video
waits for the next keyframe so that the file never holds a frame it cannot decode.

Crash safety: the Matroska muxer runs in live mode (no sizes to patch at the end) and
flushes to the file whenever a cluster ends. It builds each cluster in memory, so clusters
are kept short (``cluster_ms``, 250 ms): a process killed mid-recording leaves a file that
plays up to its last complete cluster, at most about a quarter of a second before the kill.

Timestamps: each track starts at the session-clock time its first frame arrived, and
then follows the sender's RTP clock, so tracks of different participants line up and a
paused span leaves a gap of the right length.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av

from recorder.layout import span_s

log = logging.getLogger("livedesk.recorder")

_CODECS = {"VP8": "libvpx", "OPUS": "libopus"}
MS = Fraction(1, 1000)


class Frame(NamedTuple):
    """One encoded frame as the media plane hands it over."""

    data: bytes
    timestamp: int
    """In ``clock_rate`` units since the track's first frame."""
    keyframe: bool
    clock_rate: int
    arrived: float
    """``time.monotonic()`` when it arrived."""


@dataclass
class TrackStats:
    frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    dropped: int = 0
    """Frames not written: the queue was full, or video waiting for a keyframe."""
    first_ms: int | None = None
    last_ms: int | None = None
    last_keyframe: int = 0
    """How many frames were in the file when its latest keyframe was written."""
    error: str = ""

    @property
    def duration_s(self) -> float:
        return span_s(self.first_ms, self.last_ms)


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 section 9.1)."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


class TrackRecorder:
    """Writes one track to ``path``; ``put`` is called on the event loop and never blocks."""

    def __init__(
        self,
        path: Path,
        *,
        kind: str,
        codec: str,
        origin: float,
        max_queue: int = 256,
        cluster_ms: int = 250,
        on_need_keyframe: Callable[[], None] | None = None,
    ) -> None:
        if codec.upper() not in _CODECS:
            raise ValueError(f"cannot record {codec}: only VP8 and Opus")
        self.path = path
        self.kind = kind
        self.codec = codec.upper()
        self.origin = origin
        self.stats = TrackStats()
        self.paused = False
        self._cluster_ms = cluster_ms
        self._need_keyframe = kind == "video"
        self._on_need_keyframe = on_need_keyframe
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=max_queue)
        self._base_ms: int | None = None  # session-clock ms of timestamp 0
        self._last_pts = -1
        self._thread = threading.Thread(target=self._run, name=f"record-{path.name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ event loop side
    def put(self, data: bytes, timestamp: int, keyframe: bool, clock_rate: int) -> bool:
        """Queue a frame; False if it was dropped (paused, full, or waiting for a keyframe)."""
        if self.paused:
            return False
        if self._need_keyframe:
            if not keyframe:
                self.stats.dropped += 1
                return False
            self._need_keyframe = False
        try:
            self._queue.put_nowait(Frame(data, timestamp, keyframe, clock_rate, time.monotonic()))
        except queue.Full:
            self.stats.dropped += 1
            if self.kind == "video":
                # the next frame depends on this one: start again at a keyframe
                self._need_keyframe = True
                if self._on_need_keyframe is not None:
                    self._on_need_keyframe()
            return False
        return True

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        """Resume at the next keyframe (video), which the caller should ask the sender for."""
        if not self.paused:
            return
        self.paused = False
        if self.kind == "video":
            self._need_keyframe = True
            if self._on_need_keyframe is not None:
                self._on_need_keyframe()

    def close(self, *, timeout: float = 10.0) -> TrackStats:
        """Write what is queued, finish the file, and return the figures (blocking)."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        return self.stats

    # ------------------------------------------------------------ writer thread
    def _run(self) -> None:
        container: Any = None
        stream: Any = None
        try:
            while True:
                frame = self._queue.get()
                if frame is None:
                    break
                if container is None:
                    container, stream = self._open(frame)
                    if container is None:
                        self.stats.dropped += 1
                        continue
                self._write(container, stream, frame)
        except Exception as exc:  # a full disk or a bad frame must not take the server down
            self.stats.error = f"{type(exc).__name__}: {exc}"
            log.exception("recording %s failed", self.path)
        finally:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()

    def _open(self, first: Frame) -> tuple[Any, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = vp8_size(first.data) if self.kind == "video" else None
        if self.kind == "video" and size is None:
            return None, None  # not a keyframe header we can read: wait for the next one
        container = av.open(
            str(self.path),
            "w",
            format="webm",
            options={
                "live": "1",
                "cluster_time_limit": str(self._cluster_ms),
                "flush_packets": "1",
            },
        )
        stream: Any
        if size is not None:
            stream = container.add_stream(_CODECS[self.codec], rate=30)
            stream.width, stream.height = size
        else:
            stream = container.add_stream(_CODECS[self.codec], rate=48000)
        stream.time_base = MS
        self._base_ms = round((first.arrived - self.origin) * 1000) - round(
            first.timestamp * 1000 / first.clock_rate
        )
        return container, stream

    def _write(self, container: Any, stream: Any, frame: Frame) -> None:
        assert self._base_ms is not None
        pts = self._base_ms + round(frame.timestamp * 1000 / frame.clock_rate)
        if pts <= self._last_pts:
            pts = self._last_pts + 1  # Matroska needs rising timestamps per track
        packet = av.Packet(frame.data)
        packet.stream = stream
        packet.time_base = MS
        packet.pts = packet.dts = pts
        packet.is_keyframe = frame.keyframe
        container.mux(packet)
        self._last_pts = pts
        st = self.stats
        st.frames += 1
        st.bytes += len(frame.data)
        if frame.keyframe:
            st.keyframes += 1
            st.last_keyframe = st.frames
        if st.first_ms is None:
            st.first_ms = pts
        st.last_ms = pts
