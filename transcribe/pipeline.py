"""A recorded session to a transcript: each microphone on its own, then merged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorder import layout
from recorder.layout import Manifest
from transcribe.audio import RATE, decode_track, speech_spans
from transcribe.engines import Engine
from transcribe.model import Segment, Transcript, merge
from transcribe.redact import redact


def transcribe_session(
    session_dir: Path,
    manifest: Manifest,
    engine: Engine,
    *,
    language: str = "en",
    progress: Callable[[float], None] | None = None,
    open_input: Callable[[Path], Any] | None = None,
) -> Transcript:
    """Every microphone track of ``manifest`` transcribed, labelled with its side (blocking)."""
    mics = [t for t in manifest.tracks if t.kind == "audio"]
    out = Transcript(session_id=manifest.session_id, language=language, engine=engine.name)
    per_track: list[list[Segment]] = []
    work = [(t, layout.track_path(session_dir, t.file)) for t in mics]
    total = len(work) or 1
    for n, (info, path) in enumerate(work):
        if path is None:
            why = layout.track_unreadable(session_dir, info.file)
            out.warnings.append(f"track {info.id} ({info.side} mic): {why}")
            continue
        audio = decode_track(path, open_input=open_input)
        spans = speech_spans(audio.pcm)
        segs: list[Segment] = []
        for k, (lo, hi) in enumerate(spans):
            words = engine.words(audio.pcm[lo:hi])
            if words:
                base = audio.start_ms / 1000 + lo / RATE
                text, hidden = redact(" ".join(w.text for w in words))
                out.redactions += hidden
                segs.append(
                    Segment(
                        speaker=info.side,
                        start=round(base + words[0].start, 3),
                        end=round(base + words[-1].end, 3),
                        text=text,
                        track=info.id,
                    )
                )
            if progress is not None:
                progress(round((n + (k + 1) / max(1, len(spans))) / total, 4))
        per_track.append(segs)
    out.segments = merge(per_track)
    if progress is not None:
        progress(1.0)
    return out
