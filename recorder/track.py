"""Recording one track's encoded frames into a WebM file, as received, off the event loop.

A :class:`TrackRecorder` takes the frames the media plane forwards (the same bytes, never
decoded) and muxes them with PyAV off the event loop. The event loop only appends to a
bounded deque (no lock, no wake-up): one writer thread per process drains every
recorder's deque every ``WRITE_INTERVAL_S`` (20 ms), so the cost of handing a frame over
stays a few microseconds and the thread switches happen 50 times a second in all, not
once per frame per track. When the disk falls behind, frames are dropped, counted, and
video waits for the next keyframe so that the file never holds a frame it cannot decode.

Crash safety: the Matroska muxer runs in live mode (no sizes to patch at the end) and
flushes to the file whenever a cluster ends. It builds each cluster in memory, so clusters
are kept short (``cluster_ms``, 250 ms): a process killed mid-recording leaves a file that
plays up to its last complete cluster, at most about a quarter of a second before the kill.

A file that cannot be written (a full disk: ``disk_full``; any other error:
``write_failed``) stops taking frames, keeps what it holds (up to its last complete
cluster), and reports the failure once through ``on_failed`` from the writer thread.

Timestamps: each track starts at the session-clock time its first frame arrived, and
then follows the sender's RTP clock, so tracks of different participants line up and a
paused span leaves a gap of the right length.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import logging
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


WRITE_INTERVAL_S = 0.02
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def failure_code(exc: BaseException) -> str:
    """The stable code of a write failure: ``disk_full`` or ``write_failed``."""
    return "disk_full" if getattr(exc, "errno", None) in _DISK_FULL else "write_failed"


class _Writer:
    """The one thread that writes every recorder's queued frames, on a short tick."""

    def __init__(self, interval_s: float = WRITE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._recorders: list[TrackRecorder] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, rec: TrackRecorder) -> None:
        with self._lock:
            self._recorders.append(rec)
            self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="recorder-writer", daemon=True
                )
                self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        _name_os_thread(WRITER_THREAD)
        busy = True
        while True:
            # with nothing to write the thread sleeps until a recorder arrives
            self._wake.wait(self.interval_s if busy else None)
            self._wake.clear()
            busy = self._drain_all()

    def _drain_all(self) -> bool:
        """One round over the recorders; False if there were none.

        A function of its own: locals left in ``_run`` (the last recorder drained) kept that
        recorder, and through its keyframe callback the closed peer connection it recorded,
        alive while the thread slept, until another recording came along.
        """
        with self._lock:
            recs = list(self._recorders)
        for rec in recs:
            if rec._drain():
                with self._lock:
                    self._recorders.remove(rec)
        return bool(recs)


_WRITER = _Writer()
WRITER_THREAD = "ld-recorder"
"""The writer thread's name in the OS (``top -H``, /proc/<pid>/task/*/comm)."""


def _name_os_thread(name: str) -> None:
    """Name the calling thread for the OS, so its CPU can be seen apart (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


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
        on_failed: Callable[[str, str], None] | None = None,
        kek: bytes | None = None,
    ) -> None:
        """``on_failed(code, message)`` is called once, from the writer thread, when the
        file cannot be written (see :func:`failure_code`)."""
        if codec.upper() not in _CODECS:
            raise ValueError(f"cannot record {codec}: only VP8 and Opus")
        self.path = path
        self.kind = kind
        self.codec = codec.upper()
        self.origin = origin
        self.stats = TrackStats()
        self.paused = False
        self._cluster_ms = cluster_ms
        self._kek = kek
        self._need_keyframe = kind == "video"
        self._on_need_keyframe = on_need_keyframe
        self._on_failed = on_failed
        self._max_queue = max_queue
        self._pending: collections.deque[Frame] = collections.deque()
        self._closing = False
        self._done = threading.Event()
        self._container: Any = None
        self._stream: Any = None
        self._sink: Any = None  # the encrypting file under the container, when sealed
        self._failed = False
        self._base_ms: int | None = None  # session-clock ms of timestamp 0
        self._last_pts = -1
        _WRITER.add(self)

    # ------------------------------------------------------------ event loop side
    def put(
        self, data: bytes, timestamp: int, keyframe: bool, clock_rate: int, lost: bool = False
    ) -> bool:
        """Queue a frame; False if it was dropped (paused, full, or waiting for a keyframe).

        ``lost``: frames before this one were lost on the way, so a video delta frame
        cannot be decoded; the track skips to the next keyframe, and asks for one.
        """
        if self.paused or self._closing or self._failed:
            return False
        if lost and self.kind == "video" and not keyframe and not self._need_keyframe:
            self._need_keyframe = True
            if self._on_need_keyframe is not None:
                self._on_need_keyframe()
        if self._need_keyframe:
            if not keyframe:
                self.stats.dropped += 1
                return False
            self._need_keyframe = False
        if len(self._pending) >= self._max_queue:
            self.stats.dropped += 1
            if self.kind == "video":
                # the next frame depends on this one: start again at a keyframe
                self._need_keyframe = True
                if self._on_need_keyframe is not None:
                    self._on_need_keyframe()
            return False
        self._pending.append(Frame(data, timestamp, keyframe, clock_rate, time.monotonic()))
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
        self._closing = True
        _WRITER.wake()
        if not self._done.wait(timeout):
            log.error("recording %s did not finish within %.0f s", self.path, timeout)
        return self.stats

    # ------------------------------------------------------------ writer thread
    def _drain(self) -> bool:
        """Write every queued frame; True once the recorder is closed and finished."""
        closing = self._closing  # read first: frames put before close() are all written
        pending = self._pending
        while pending:
            frame = pending.popleft()
            if self._failed:
                continue
            try:
                if self._container is None:
                    self._container, self._stream = self._open(frame)
                    if self._container is None:
                        self.stats.dropped += 1
                        continue
                self._write(self._container, self._stream, frame)
            except Exception as exc:  # a full disk or a bad frame must not stop the others
                self._failed = True
                self.stats.error = f"{type(exc).__name__}: {exc}"
                log.error("recording %s failed: %s", self.path, self.stats.error)
                if self._on_failed is not None:
                    try:
                        self._on_failed(failure_code(exc), self.stats.error)
                    except Exception:  # the callback must not stop the writer thread
                        log.exception("recording failure report failed")
        if not closing:
            return False
        self._finish()
        return True

    def _finish(self) -> None:
        try:
            if self._container is not None:
                with contextlib.suppress(Exception):
                    self._container.close()
            if self._sink is not None:
                with contextlib.suppress(Exception):
                    self._sink.close()
        finally:
            self._done.set()

    def _open(self, first: Frame) -> tuple[Any, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = vp8_size(first.data) if self.kind == "video" else None
        if self.kind == "video" and size is None:
            return None, None  # not a keyframe header we can read: wait for the next one
        target: Any = str(self.path)
        if self._kek is not None:
            from recorder.sealed import SealedWriter

            target = self._sink = SealedWriter(self.path, self._kek)
        container = av.open(
            target,
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
