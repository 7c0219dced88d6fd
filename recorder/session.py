"""One session's recording: its directory, its manifest and a :class:`TrackRecorder` per track.

The event loop calls :meth:`SessionRecording.add_track`, :meth:`put` (through the sink
it returns), :meth:`pause` and :meth:`resume`; none of them blocks. Everything that
touches the disk (the manifest, closing the track files) runs in a thread:
:meth:`save` and :func:`close_all`. The manifest is rewritten atomically after every change
of the track list, so a crash leaves one that names every file there is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from recorder import layout
from recorder.layout import Manifest, TrackInfo
from recorder.track import TrackRecorder, TrackStats


class SessionRecording:
    """The tracks of one session, written under ``root/recordings/<session id>/``."""

    def __init__(
        self,
        root: Path,
        session_id: str,
        *,
        origin: float,
        entry: str = "",
        kek: bytes | None = None,
        queue_frames: int = 256,
        cluster_ms: int = 250,
    ) -> None:
        self.dir = layout.session_dir(root, session_id)
        self.manifest = Manifest(session_id=session_id, origin=origin, entry=entry)
        self.recorders: dict[str, TrackRecorder] = {}
        self.paused = False
        self._kek = kek
        self._queue_frames = queue_frames
        self._cluster_ms = cluster_ms
        # time.monotonic() at session-clock zero: the recorders stamp frames by arrival
        self._origin_mono = time.monotonic() - (time.time() - origin)
        self._version = 0
        self._written = -1
        self._write_lock = threading.Lock()

    def continue_from(self, earlier: Manifest) -> None:
        """A second recording in the same session adds to the first one's manifest."""
        if earlier.session_id != self.manifest.session_id:
            raise ValueError("a manifest of another session")
        earlier.state, earlier.ended_at = "recording", None
        self.manifest = earlier
        self._version += 1

    def clock(self, wall: float | None = None) -> float:
        """Seconds on the session clock at wall-clock ``wall`` (default: now)."""
        return round((time.time() if wall is None else wall) - self.manifest.origin, 3)

    # ------------------------------------------------------------ event loop side
    def begin(self, now: float | None = None) -> None:
        if self.manifest.started_at is None:
            self.manifest.started_at = time.time() if now is None else now
        self._version += 1

    def add_track(
        self,
        *,
        side: str,
        name: str,
        source: str,
        kind: str,
        codec: str,
        on_need_keyframe: Callable[[], None] | None = None,
        on_failed: Callable[[str, str], None] | None = None,
    ) -> tuple[TrackInfo, TrackRecorder]:
        """Start a file for a new track (its writer thread starts at once; never blocks).

        ``on_failed(code, message)``: the file could not be written (writer thread)."""
        track_id = layout.new_track_id()
        sealed = self._kek is not None
        info = TrackInfo(
            id=track_id,
            side=side,
            name=name[:100],
            source=source,
            kind=kind,
            codec=codec.upper(),
            file=layout.track_file(track_id, sealed=sealed),
            opened_at=time.time(),
            sealed=sealed,
        )
        recorder = TrackRecorder(
            self.dir / info.file,
            kind=kind,
            codec=codec,
            origin=self._origin_mono,
            max_queue=self._queue_frames,
            cluster_ms=self._cluster_ms,
            on_need_keyframe=on_need_keyframe,
            on_failed=on_failed,
            kek=self._kek,
        )
        if self.paused:
            recorder.pause()
        self.recorders[track_id] = recorder
        self.manifest.tracks.append(info)
        self._version += 1
        return info, recorder

    def pause(self, now: float | None = None) -> None:
        if self.paused:
            return
        self.paused = True
        for rec in self.recorders.values():
            rec.pause()
        self.manifest.paused.append((self.clock(now), None))
        self._version += 1

    def resume(self, now: float | None = None) -> None:
        if not self.paused:
            return
        self.paused = False
        for rec in self.recorders.values():
            rec.resume()
        if self.manifest.paused and self.manifest.paused[-1][1] is None:
            start = self.manifest.paused[-1][0]
            self.manifest.paused[-1] = (start, self.clock(now))
        self._version += 1

    def snapshot(self) -> tuple[int, bytes]:
        """The manifest as it is now, to be written by :meth:`save` in a thread."""
        for info in self.manifest.tracks:
            rec = self.recorders.get(info.id)
            if rec is not None:
                _copy_stats(info, rec.stats)
        self._version += 1
        return self._version, msgspec.json.encode(self.manifest)

    # ------------------------------------------------------------ blocking (threads)
    def save(self, snapshot: tuple[int, bytes]) -> None:
        """Write a snapshot unless a newer one is already on disk (blocking)."""
        version, data = snapshot
        with self._write_lock:
            if version <= self._written:
                return
            layout.write_manifest(self.dir, msgspec.json.decode(data, type=Manifest))
            self._written = version

    # ------------------------------------------------------------ ending tracks
    def detach(self, track_id: str) -> TrackRecorder | None:
        """Take a track's recorder out (event loop); close it in a thread, then call
        :meth:`track_closed` back on the loop with its figures."""
        return self.recorders.pop(track_id, None)

    def track_closed(self, track_id: str, stats: TrackStats) -> None:
        info = next((t for t in self.manifest.tracks if t.id == track_id), None)
        if info is None:
            return
        _copy_stats(info, stats)
        info.state = "interrupted" if stats.error else "complete"  # cut short: it plays
        self._version += 1

    def detach_all(self) -> dict[str, TrackRecorder]:
        out, self.recorders = self.recorders, {}
        return out

    def end(self, *, state: str = "complete", now: float | None = None) -> None:
        """Mark the recording over (event loop), after every track is closed."""
        if self.paused and self.manifest.paused and self.manifest.paused[-1][1] is None:
            start = self.manifest.paused[-1][0]
            self.manifest.paused[-1] = (start, self.clock(now))
        self.paused = False
        self.manifest.state = state
        self.manifest.ended_at = time.time() if now is None else now
        self._version += 1


def close_all(recorders: dict[str, TrackRecorder]) -> dict[str, TrackStats]:
    """Finish every file (blocking: run it in a thread)."""
    return {track_id: rec.close() for track_id, rec in recorders.items()}


def _copy_stats(info: TrackInfo, st: TrackStats) -> None:
    info.frames, info.keyframes, info.bytes = st.frames, st.keyframes, st.bytes
    info.dropped, info.first_ms, info.last_ms = st.dropped, st.first_ms, st.last_ms
    info.error = st.error
