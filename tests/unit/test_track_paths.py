"""Render and transcription read only files inside the recording they work on: a
manifest that names ``..`` or an absolute path, or a track file that is a symlink out of
the recording's directory, is refused with a warning and nothing outside is read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from recorder import layout
from recorder.layout import Manifest
from recorder.render import render_review
from transcribe.engines import Word
from transcribe.pipeline import transcribe_session

from .test_render import A_CAM, A_MIC, C_CAM, C_MIC, RED, track, write_audio, write_video


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A valid camera track and a valid microphone track, outside any recording."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    write_video(d / "secret.webm", 0, 2.0, lambda t: (0, 255, 0))
    write_audio(d / "secret-mic.webm", 0, 2.0, lambda t: True)
    return d


def test_track_path_keeps_to_the_recording(tmp_path: Path, outside: Path) -> None:
    rec = tmp_path / "recordings" / "s_1"
    (rec / "tracks").mkdir(parents=True)
    (rec / "tracks" / "a.webm").write_bytes(b"x")
    (rec / "tracks" / "alias.webm").symlink_to(rec / "tracks" / "a.webm")
    (rec / "tracks" / "out.webm").symlink_to(outside / "secret.webm")
    (rec / "tracks" / "up").symlink_to(outside)
    assert layout.track_path(rec, "tracks/a.webm") == (rec / "tracks" / "a.webm").resolve()
    assert layout.track_path(rec, "tracks/alias.webm") == (rec / "tracks/a.webm").resolve()
    for name in (
        "tracks/out.webm",  # a symlink out
        "tracks/up/secret.webm",  # through a symlinked directory
        "../../elsewhere/secret.webm",
        str(outside / "secret.webm"),  # absolute
        "tracks/a.webm\x00.png",
        "tracks",  # a directory
        "tracks/missing.webm",
    ):
        assert layout.track_path(rec, name) is None, name


def test_render_refuses_tracks_outside_the_recording(tmp_path: Path, outside: Path) -> None:
    rec = tmp_path / "recordings" / "s_1"
    (rec / "tracks").mkdir(parents=True)
    write_video(rec / layout.track_file(A_CAM), 0, 2.0, lambda t: RED)
    os.symlink(outside / "secret.webm", rec / layout.track_file(C_CAM))
    absolute = track("e" * 16, "customer", "screen")
    absolute.file = str(outside / "secret.webm")
    m = Manifest(
        session_id="s_1",
        origin=0.0,
        tracks=[track(A_CAM, "agent", "camera"), track(C_CAM, "customer", "camera"), absolute],
    )
    result = render_review(rec, m, out=tmp_path / "r.mp4", thumbs=None, fps=5)
    refused = [w for w in result.warnings if "outside the recording: refused" in w]
    assert len(refused) == 2, result.warnings
    assert C_CAM in refused[0] and "e" * 16 in refused[1]


class Listening:
    """A recogniser that notes each stretch it is handed and hears one word in it."""

    name = "listening"

    def __init__(self) -> None:
        self.calls = 0

    def words(self, pcm: np.ndarray) -> list[Word]:
        self.calls += 1
        return [Word("hello", 0.0, 0.5)]


def test_transcription_refuses_tracks_outside_the_recording(tmp_path: Path, outside: Path) -> None:
    rec = tmp_path / "recordings" / "s_2"
    (rec / "tracks").mkdir(parents=True)
    os.symlink(outside / "secret-mic.webm", rec / layout.track_file(C_MIC))
    dotted = track(A_MIC, "agent", "mic")
    dotted.file = "../../elsewhere/secret-mic.webm"
    m = Manifest(session_id="s_2", origin=0.0, tracks=[track(C_MIC, "customer", "mic"), dotted])
    engine = Listening()
    out = transcribe_session(rec, m, engine)
    assert engine.calls == 0 and out.segments == []
    assert [w.split(": ", 1)[1] for w in out.warnings] == [
        "file lies outside the recording: refused"
    ] * 2
    # the same file, inside the recording, is transcribed: the refusal is the path's
    (rec / layout.track_file(C_MIC)).unlink()
    (rec / layout.track_file(C_MIC)).write_bytes((outside / "secret-mic.webm").read_bytes())
    again = transcribe_session(rec, m, engine)
    assert [w.split(" ", 2)[1] for w in again.warnings] == [A_MIC], again.warnings
