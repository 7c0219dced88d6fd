"""The transcript: who said what, when; merged across speakers, written as WebVTT or text."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

SPEAKERS = {"agent": "Agent", "customer": "Customer"}


class Segment(msgspec.Struct, frozen=True):
    """One stretch of speech by one participant, in seconds on the session clock."""

    speaker: str
    """``agent`` or ``customer``: whose microphone it came from."""
    start: float
    end: float
    text: str
    track: str = ""


class Transcript(msgspec.Struct):
    session_id: str
    language: str
    engine: str
    segments: list[Segment] = []
    redactions: int = 0
    warnings: list[str] = []
    flags: list[dict[str, object]] = []
    """What ``transcribe.flags`` found: name, at, speaker, text, missing."""


def merge(per_speaker: Iterable[Iterable[Segment]]) -> list[Segment]:
    """All speakers' segments in one list, in the order they began."""
    return sorted(
        (s for segs in per_speaker for s in segs if s.text.strip()),
        key=lambda s: (s.start, s.end, s.speaker),
    )


def _vtt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_text(text: str) -> str:
    # WebVTT cue text: "<", "&" and the cue arrow are markup; a blank line ends the cue
    clean = " ".join(text.split())
    return clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(segments: Iterable[Segment], *, offset: float = 0.0) -> str:
    """WebVTT with one cue per segment and the speaker as a voice span (``<v Agent>``).

    ``offset`` is subtracted from every time, to align cues with a video that starts
    later than the session clock's zero.
    """
    lines = ["WEBVTT", ""]
    for n, seg in enumerate(segments, start=1):
        who = SPEAKERS.get(seg.speaker, seg.speaker.title())
        lines += [
            str(n),
            f"{_vtt_time(seg.start - offset)} --> {_vtt_time(max(seg.end, seg.start) - offset)}",
            f"<v {who}>{_vtt_text(seg.text)}",
            "",
        ]
    return "\n".join(lines) + "\n"


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def to_text(segments: Iterable[Segment]) -> str:
    """Plain text, one line per segment: ``[0:01:02] Customer: ...``."""
    return "".join(
        f"[{_clock(s.start)}] {SPEAKERS.get(s.speaker, s.speaker.title())}: "
        f"{' '.join(s.text.split())}\n"
        for s in segments
    )
