"""The review rendering: duration, both people on screen, sound in sync, screen layout,
paused spans, damaged tracks, thumbnails, the command line."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder import layout
from recorder.layout import Manifest, TrackInfo
from recorder.render import RenderError, render_review
from recorder.track import TrackRecorder

ROOT = Path(__file__).resolve().parents[2]
MS = Fraction(1, 1000)
RED, BLUE, GREEN = (30, 30, 220), (220, 60, 30), (40, 200, 40)  # BGR


def write_video(
    path: Path, start_ms: int, seconds: float, color_at, *, fps: int = 15, size=(320, 240)
) -> None:
    """A VP8 WebM track whose frame at session time t (ms) is filled with color_at(t)."""
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = size[0], size[1], "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, fps), Fraction(fps)
    enc.gop_size = fps
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    c = av.open(str(path), "w", format="webm", options={"live": "1"})
    st = c.add_stream("libvpx", rate=fps)
    st.width, st.height, st.time_base = size[0], size[1], MS
    for i in range(int(seconds * fps)):
        t = start_ms + i * 1000 // fps
        img = np.empty((size[1], size[0], 3), np.uint8)
        img[:] = color_at(t)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        for p in enc.encode(frame):
            out = av.Packet(bytes(p))
            out.stream, out.time_base = st, MS
            out.pts = out.dts = t
            out.is_keyframe = p.is_keyframe
            c.mux(out)
    c.close()


def write_audio(path: Path, start_ms: int, seconds: float, loud_at) -> None:
    """An Opus WebM track: a 440 Hz tone wherever loud_at(t) is true, silence elsewhere."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48_000, "mono", "s16"
    enc.time_base = Fraction(1, 48_000)
    c = av.open(str(path), "w", format="webm", options={"live": "1"})
    st = c.add_stream("libopus", rate=48_000)
    st.time_base = MS
    for i in range(int(seconds * 50)):
        t = start_ms + i * 20
        n = np.arange(960) + i * 960
        amp = 12000 if loud_at(t) else 0
        pcm = (np.sin(2 * np.pi * 440 * n / 48_000) * amp).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48_000, i * 960
        for p in enc.encode(frame):
            out = av.Packet(bytes(p))
            out.stream, out.time_base = st, MS
            out.pts = out.dts = t
            c.mux(out)
    c.close()


def track(tid: str, side: str, source: str, name: str = "") -> TrackInfo:
    kind = "audio" if source == "mic" else "video"
    return TrackInfo(
        id=tid,
        side=side,
        name=name or side.title(),
        source=source,
        kind=kind,
        codec="OPUS" if kind == "audio" else "VP8",
        file=layout.track_file(tid),
        opened_at=0.0,
    )


A_CAM, C_CAM, A_MIC, C_MIC, SCREEN = (f"{i:016x}" for i in range(1, 6))


@functools.cache
def two_cameras(tmp: Path) -> tuple[Path, Manifest]:
    """Agent red and customer blue cameras from 2.0 s to 6.0 s, the customer's voice too."""
    (tmp / "tracks").mkdir(parents=True)
    write_video(tmp / layout.track_file(A_CAM), 2000, 4.0, lambda t: RED)
    write_video(tmp / layout.track_file(C_CAM), 2000, 4.0, lambda t: BLUE)
    write_audio(tmp / layout.track_file(C_MIC), 2000, 4.0, lambda t: 3000 <= t < 5000)
    m = Manifest(session_id="s_1", origin=0.0)
    m.tracks = [
        track(A_CAM, "agent", "camera", "Mina Park"),
        track(C_CAM, "customer", "camera", "Kim"),
        track(C_MIC, "customer", "mic", "Kim"),
    ]
    return tmp, m


def frames_of(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]


def audio_of(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        chunks = [f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]
        return np.concatenate(chunks), c.streams.audio[0].rate


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64))))) if len(x) else 0.0


def near(pixel: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) < 40))


def test_both_people_side_by_side_for_the_recorded_span_with_sound(tmp_path: Path):
    d, m = two_cameras(tmp_path)
    out = tmp_path / "review.mp4"
    seen: list[float] = []
    result = render_review(d, m, out=out, thumbs=tmp_path / "t.jpg", fps=10, progress=seen.append)
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        duration = c.duration / 1_000_000
    assert duration == pytest.approx(4.0, abs=0.5)
    assert result.start_ms == 2000 and result.has_audio and not result.warnings
    assert seen == sorted(seen) and seen[-1] == 1.0
    _, img = frames_of(out)[20]
    h, w = img.shape[:2]
    assert near(img[h // 2, w // 4], RED), "the agent on the left"
    assert near(img[h // 2, 3 * w // 4], BLUE), "the customer on the right"
    pcm, rate = audio_of(out)
    assert rms(pcm[int(1.2 * rate) : int(2.8 * rate)]) > 0.05  # the voice: 3.0-5.0 s
    assert rms(pcm[int(0.1 * rate) : int(0.8 * rate)]) < 0.01  # before it: quiet


def test_picture_and_sound_stay_within_100_ms(tmp_path: Path):
    (tmp_path / "tracks").mkdir()
    flash = 3400  # ms on the session clock: the picture turns white and a tone starts
    write_video(
        tmp_path / layout.track_file(A_CAM),
        1000,
        4.0,
        lambda t: (255, 255, 255) if t >= flash else (0, 0, 0),
        fps=30,
    )
    write_audio(tmp_path / layout.track_file(A_MIC), 1020, 4.0, lambda t: t >= flash)
    m = Manifest(session_id="s_2", origin=0.0)
    m.tracks = [track(A_CAM, "agent", "camera"), track(A_MIC, "agent", "mic")]
    out = tmp_path / "review.mp4"
    render_review(tmp_path, m, out=out, thumbs=None, fps=30, width=640, height=360)
    frames = frames_of(out)
    bright = next(t for t, img in frames if img[180, 160].mean() > 128)
    pcm, rate = audio_of(out)
    window = rate // 100
    loud = next(
        i / rate for i in range(0, len(pcm) - window, window) if rms(pcm[i : i + window]) > 0.05
    )
    # the first video timestamp of the rendering is the session's 1.0 s
    assert bright == pytest.approx((flash - 1000) / 1000, abs=0.05)
    assert abs(bright - loud) < 0.1, (bright, loud)


def test_a_screen_share_takes_the_large_area(tmp_path: Path):
    d, m = two_cameras(tmp_path)
    write_video(d / layout.track_file(SCREEN), 3000, 2.0, lambda t: GREEN, size=(640, 360))
    m2 = Manifest(
        session_id="s_1", origin=0.0, tracks=[*m.tracks, track(SCREEN, "customer", "screen")]
    )
    out = tmp_path / "screen.mp4"
    render_review(d, m2, out=out, thumbs=None, fps=10)
    frames = dict(frames_of(out))
    img = min(frames.items(), key=lambda kv: abs(kv[0] - 1.5))[1]  # session 3.5 s
    h, w = img.shape[:2]
    assert near(img[h // 2, w * 3 // 8], GREEN)
    assert near(img[h // 4, w * 7 // 8], RED) and near(img[h * 3 // 4, w * 7 // 8], BLUE)
    early = min(frames.items(), key=lambda kv: abs(kv[0] - 0.3))[1]  # before the share
    assert near(early[h // 2, w // 4], RED)


def test_a_paused_span_is_marked(tmp_path: Path):
    d, m = two_cameras(tmp_path)
    m2 = Manifest(session_id="s_1", origin=0.0, tracks=m.tracks, paused=[(4.0, 5.0)])
    out = tmp_path / "paused.mp4"
    render_review(d, m2, out=out, thumbs=None, fps=10)
    frames = dict(frames_of(out))
    during = min(frames.items(), key=lambda kv: abs(kv[0] - 2.5))[1]
    after = min(frames.items(), key=lambda kv: abs(kv[0] - 3.5))[1]
    h, w = during.shape[:2]
    assert during[h // 2, w // 4].mean() < after[h // 2, w // 4].mean() / 2, "dimmed"
    banner = during[20:60, w // 2 - 50 : w // 2 + 50]
    assert (banner[..., 2] > 120).mean() > 0.3, "a red banner across the top"


def test_missing_and_cut_off_tracks_render_what_is_there(tmp_path: Path):
    d, m = two_cameras(tmp_path)
    cut = d / layout.track_file(C_CAM)
    raw = cut.read_bytes()
    cut.write_bytes(raw[: int(len(raw) * 0.6)])
    ghost = track("f" * 16, "agent", "screen")
    m2 = Manifest(session_id="s_1", origin=0.0, tracks=[*m.tracks, ghost])
    out = tmp_path / "damaged.mp4"
    result = render_review(d, m2, out=out, thumbs=None, fps=10)
    assert any("file missing" in w for w in result.warnings)
    assert result.duration_s == pytest.approx(4.0, abs=0.5)  # the agent's camera is whole
    frames = dict(frames_of(out))
    late = min(frames.items(), key=lambda kv: abs(kv[0] - 3.8))[1]
    h, w = late.shape[:2]
    assert near(late[h // 2, w // 4], RED)
    assert not near(late[h // 2, 3 * w // 4], BLUE), "the cut customer track has ended"


def test_thumbnails_are_a_strip_of_eight(tmp_path: Path):
    d, m = two_cameras(tmp_path)
    thumbs = tmp_path / "thumbs.jpg"
    render_review(d, m, out=tmp_path / "r.mp4", thumbs=thumbs, fps=5)
    import cv2

    strip = cv2.imread(str(thumbs))
    assert strip.shape == (90, 8 * 160, 3)


def test_nothing_readable_is_a_clear_error(tmp_path: Path):
    m = Manifest(session_id="s_3", origin=0.0, tracks=[track(A_CAM, "agent", "camera")])
    with pytest.raises(RenderError) as err:
        render_review(tmp_path, m, out=tmp_path / "r.mp4", thumbs=None)
    assert err.value.code == "nothing_recorded"
    assert not (tmp_path / "r.mp4").exists()


def test_the_command_line_reports_progress_and_the_outcome(tmp_path: Path):
    """Through TrackRecorder, as the server records, then python -m recorder.render."""
    from visual.sources import synthetic_audio, synthetic_video

    d = tmp_path / "s"
    origin_wall = time.time() - 10
    origin = time.monotonic() - 10
    video, audio = synthetic_video(seconds=2, width=320, height=240), synthetic_audio(seconds=2)
    infos = [track(A_CAM, "agent", "camera", "Ann"), track(C_MIC, "customer", "mic", "Kim")]
    recs = [
        TrackRecorder(d / infos[0].file, kind="video", codec="VP8", origin=origin),
        TrackRecorder(d / infos[1].file, kind="audio", codec="OPUS", origin=origin),
    ]
    for i in range(60):
        f = video.frames[i % len(video.frames)]
        recs[0].put(f.data, i * 3000, f.keyframe, 90_000)
        for j in range(2):
            a = audio.frames[(2 * i + j) % len(audio.frames)]
            recs[1].put(a.data, (2 * i + j) * 960, True, 48_000)
        time.sleep(1 / 30)
    for r in recs:
        r.close()
    layout.write_manifest(d, Manifest(session_id="s_4", origin=origin_wall, tracks=infos))
    run = subprocess.run(
        [sys.executable, "-m", "recorder.render", str(d), "--fps", "10", "--width", "640",
         "--height", "360"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert "progress" in lines[0] and lines[-1]["done"] is True
    assert lines[-1]["duration_s"] == pytest.approx(2.0, abs=0.5) and lines[-1]["has_audio"]
    assert (d / layout.REVIEW).exists() and (d / layout.THUMBS).exists()
    empty = tmp_path / "empty"
    layout.write_manifest(empty, Manifest(session_id="s_5", origin=0.0))
    run = subprocess.run(
        [sys.executable, "-m", "recorder.render", str(empty)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert json.loads(run.stdout.splitlines()[-1])["error"] == "nothing_recorded"
