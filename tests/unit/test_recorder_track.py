"""Recording a track: frames kept whole, timestamps, keyframes, pauses, drops, crashes."""

from __future__ import annotations

import functools
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from recorder.track import TrackRecorder, vp8_size
from visual.sources import Clip, frame_digest, synthetic_audio, synthetic_video

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def video() -> Clip:
    return synthetic_video(seconds=4, width=320, height=240, bitrate=300_000, keyframe_every=30)


@functools.cache
def audio() -> Clip:
    return synthetic_audio(seconds=2)


def packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux() if p.size]


def decoded(path: Path, kind: str = "video", *, kek: bytes | None = None) -> int:
    """Frames that decode, reading until the first error (a crash's partial cluster)."""
    from recorder.sealed import SealedReader

    n = 0
    with av.open(SealedReader(path, kek) if kek else str(path)) as c:
        try:
            for _ in c.decode(**{kind: 0}):
                n += 1
        except av.FFmpegError:
            pass
    return n


def feed(rec: TrackRecorder, clip: Clip, frames: range, *, pace: float = 0.0) -> None:
    for i in frames:
        f = clip.frames[i % len(clip.frames)]
        rec.put(f.data, i * clip.frame_ticks, f.keyframe, clip.clock_rate)
        if pace:
            time.sleep(pace)


def test_the_vp8_size_is_read_from_a_keyframe():
    assert vp8_size(video().frames[0].data) == (320, 240)
    assert vp8_size(video().frames[1].data) is None


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_every_frame_is_recorded_byte_for_byte_with_rising_timestamps(tmp_path: Path, kind: str):
    clip = video() if kind == "video" else audio()
    path = tmp_path / f"{kind}.webm"
    rec = TrackRecorder(path, kind=kind, codec=clip.codec, origin=time.monotonic())
    feed(rec, clip, range(len(clip.frames)))
    stats = rec.close()
    got = packets(path)
    assert [frame_digest(bytes(p)) for p in got] == [frame_digest(f.data) for f in clip.frames]
    pts = [p.pts for p in got]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert stats.frames == len(clip.frames) and stats.dropped == 0 and not stats.error
    assert decoded(path, kind) >= len(clip.frames) - 1


def video_recorder(path: Path) -> tuple[TrackRecorder, list[int]]:
    """A video track recorder and the list of keyframe requests it made."""
    asked: list[int] = []
    rec = TrackRecorder(
        path,
        kind="video",
        codec="VP8",
        origin=time.monotonic(),
        on_need_keyframe=lambda: asked.append(1),
    )
    return rec, asked


def test_video_starts_at_a_keyframe(tmp_path: Path):
    path = tmp_path / "v.webm"
    rec, asked = video_recorder(path)
    feed(rec, video(), range(5, 65))  # joins mid-GOP: frames 5..29 cannot be decoded
    stats = rec.close()
    got = packets(path)
    assert got[0].is_keyframe
    assert frame_digest(bytes(got[0])) == frame_digest(video().frames[30].data)
    assert stats.dropped == 25


def test_a_pause_leaves_a_gap_of_its_length_and_resumes_at_a_keyframe(tmp_path: Path):
    path = tmp_path / "v.webm"
    rec, asked = video_recorder(path)
    clip = video()
    feed(rec, clip, range(0, 30))  # 1 s
    rec.pause()
    feed(rec, clip, range(30, 75))  # 1.5 s not recorded
    rec.resume()
    assert asked  # the sender is asked for a keyframe to resume on
    feed(rec, clip, range(75, 120))  # resumes at frame 90, the next keyframe
    rec.close()
    ms = [p.pts * p.time_base * 1000 for p in packets(path)]
    gaps = [b - a for a, b in itertools.pairwise(ms)]
    assert max(gaps) == pytest.approx((90 - 29) * 1000 / 30, abs=2)
    assert len(ms) == 30 + 30


def test_a_full_queue_drops_and_counts_frames_and_the_file_stays_decodable(tmp_path: Path):
    path = tmp_path / "v.webm"
    rec = TrackRecorder(path, kind="video", codec="VP8", origin=time.monotonic(), max_queue=2)
    feed(rec, video(), range(0, 120))
    stats = rec.close()
    assert stats.dropped > 0
    assert stats.frames + stats.dropped == 120
    assert decoded(path) == stats.frames  # every frame kept can be decoded


RECORD_AND_WAIT = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from recorder.track import TrackRecorder
from visual.sources import synthetic_video
clip = synthetic_video(seconds=4, width=320, height=240, bitrate=300_000, keyframe_every=30)
rec = TrackRecorder(
    Path({path!r}), kind="video", codec="VP8", origin=time.monotonic(), kek={kek!r}
)
print("ready", flush=True)
i = 0
while True:
    f = clip.frames[i % len(clip.frames)]
    rec.put(f.data, i * clip.frame_ticks, f.keyframe, clip.clock_rate)
    i += 1
    time.sleep(1 / 30)
    print("keyframe", rec.stats.last_keyframe, rec.stats.frames, flush=True)
"""


def record_and_kill(path: Path, seed: int, kek: bytes | None = None) -> int:
    """Record in a child process, SIGKILL it at a random moment; returns the frame count of
    the last keyframe the writer had written more than a cluster (250 ms) before."""
    code = RECORD_AND_WAIT.format(root=str(ROOT), path=str(path), kek=kek)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    kill_at = time.monotonic() + random.Random(seed).uniform(1.0, 3.0)
    reports: list[tuple[float, int]] = []  # when the writer had written each keyframe
    while time.monotonic() < kill_at:
        words = proc.stdout.readline().split()
        if len(words) == 3 and (not reports or int(words[1]) != reports[-1][1]):
            reports.append((time.monotonic(), int(words[1])))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    settled = [n for at, n in reports if at < kill_at - 0.3]
    assert settled and settled[-1] > 0
    return settled[-1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_recording_killed_at_a_random_moment_plays_up_to_its_last_keyframe(
    tmp_path: Path, seed: int
):
    path = tmp_path / "killed.webm"
    settled = record_and_kill(path, seed)
    assert decoded(path) >= settled


def test_after_a_loss_a_video_track_skips_to_the_next_keyframe_and_asks_for_one(tmp_path: Path):
    clip = video()  # a keyframe every 30 frames
    path = tmp_path / "v.webm"
    rec, asked = video_recorder(path)
    feed(rec, clip, range(0, 40))
    f = clip.frames[44]  # frames 40-43 never arrived
    assert rec.put(f.data, 44 * clip.frame_ticks, f.keyframe, clip.clock_rate, lost=True) is False
    assert asked == [1]
    feed(rec, clip, range(45, 90))  # dropped until frame 60, the next keyframe
    stats = rec.close()
    assert stats.frames == 40 + 30
    assert stats.dropped == 1 + (60 - 45)
    assert decoded(path) == stats.frames  # nothing in the file depends on the lost frames
