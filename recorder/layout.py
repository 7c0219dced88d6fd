"""Where a recorded session lives on disk, and its manifest.

One directory per session under ``<data_dir>/recordings/<session id>/``::

    manifest.json      what was recorded: tracks, session clock, state (rewritten atomically)
    timeline.jsonl     every timeline event, with its time on the session clock
    tracks/<id>.webm   one file per participant and source, the encoded media as received
                       (``.webm.sealed`` when encrypted at rest, see recorder/sealed.py)
    review.mp4         the side-by-side review rendering (made after the session)
    thumbs.jpg         a strip of thumbnails for the QA list

File names come from ids the server made (session ids, random track ids), never from a
client. The session clock starts at the session's creation (``Manifest.origin``); every
track file's timestamps and every timeline line are in milliseconds on that clock, so the
tracks of both participants line up without further work.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import msgspec

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TRACK_ID = re.compile(r"^[a-f0-9]{16}$")

MANIFEST = "manifest.json"
TIMELINE = "timeline.jsonl"
REVIEW = "review.mp4"
THUMBS = "thumbs.jpg"
TRACKS = "tracks"


class TrackInfo(msgspec.Struct):
    """One recorded track: a participant's camera, microphone or screen."""

    id: str
    side: str
    """``agent`` or ``customer``."""
    name: str
    """The participant's display name, burned into the review rendering."""
    source: str
    """``camera``, ``mic`` or ``screen``."""
    kind: str
    """``video`` or ``audio``."""
    codec: str
    """``VP8`` or ``OPUS``."""
    file: str
    """Relative to the session directory, e.g. ``tracks/0123456789abcdef.webm``."""
    opened_at: float
    """Wall clock when recording of this track began."""
    state: str = "recording"
    """``recording``, ``complete`` or ``interrupted``."""
    frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    dropped: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    sealed: bool = False
    error: str = ""

    @property
    def duration_s(self) -> float:
        return span_s(self.first_ms, self.last_ms)


def span_s(first_ms: int | None, last_ms: int | None) -> float:
    """Seconds from a track's first to its last frame (0 when it has none)."""
    if first_ms is None or last_ms is None:
        return 0.0
    return (last_ms - first_ms) / 1000


class Manifest(msgspec.Struct):
    session_id: str
    origin: float
    """Wall-clock time of session-clock zero (the session's creation)."""
    entry: str = ""
    state: str = "recording"
    tracks: list[TrackInfo] = []
    started_at: float | None = None
    ended_at: float | None = None
    paused: list[tuple[float, float | None]] = []
    """Paused spans on the session clock, in seconds: ``(start, end)``; end None if open."""


def session_dir(root: Path, session_id: str) -> Path:
    """``root/recordings/<session id>``; refuses an id that is not a plain token."""
    if not SESSION_ID.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    return root / "recordings" / session_id


def new_track_id() -> str:
    return secrets.token_hex(8)


def track_file(track_id: str, *, sealed: bool = False) -> str:
    if not TRACK_ID.match(track_id):
        raise ValueError(f"not a track id: {track_id!r}")
    return f"{TRACKS}/{track_id}.webm" + (".sealed" if sealed else "")


def track_path(directory: Path, name: str) -> Path | None:
    """The file a manifest names, only if it is a regular file that really lies inside
    the recording's directory: a name with ``..``, an absolute one, or a symlink that
    leads out gives None, so a tampered manifest or data dir reads nothing else."""
    try:
        top = directory.resolve(strict=True)
        real = (directory / name).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a loop, a NUL byte
        return None
    if real.is_relative_to(top) and real.is_file():
        return real
    return None


def track_unreadable(directory: Path, name: str) -> str:
    """Why ``track_path`` gave None for ``name``: for a track's warning."""
    if (directory / name).exists():
        return "file lies outside the recording: refused"
    return "file missing"


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Atomically replace the manifest (a crash leaves the old one or the new one)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (MANIFEST + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(msgspec.json.format(msgspec.json.encode(manifest)))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / MANIFEST)


def read_manifest(directory: Path) -> Manifest:
    return msgspec.json.decode((directory / MANIFEST).read_bytes(), type=Manifest)
