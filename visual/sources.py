"""Pre-encoded media for clients that publish without a camera: tests, benchmarks, demo bots.

A :class:`Clip` is a list of encoded frames, made once (synthetically with PyAV, or read
from a WebM/Matroska file) and then played by a :class:`ClipTrack` in real time as
``av.Packet``s, which aiortc packs without encoding. Playing costs almost nothing, so a
benchmark's load generator does not compete with the server for CPU.

The track honours keyframe requests by jumping to the next keyframe in the clip, like a
real encoder that is asked for one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class ClipFrame(NamedTuple):
    data: bytes
    keyframe: bool


class Clip(NamedTuple):
    """Encoded frames of one codec at a fixed rate."""

    kind: str
    codec: str
    frames: tuple[ClipFrame, ...]
    clock_rate: int
    frame_ticks: int
    """Clock ticks per frame: 3000 for 30 fps video at 90 kHz, 960 for 20 ms Opus."""

    @property
    def frame_seconds(self) -> float:
        return self.frame_ticks / self.clock_rate

    @property
    def bitrate(self) -> float:
        total = sum(len(f.data) for f in self.frames) * 8
        return total / (len(self.frames) * self.frame_seconds)


def synthetic_video(
    *,
    seconds: float = 10.0,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    bitrate: int = 600_000,
    keyframe_every: int = 0,
    seed: int = 7,
) -> Clip:
    """A VP8 clip of moving bars and noise; ``keyframe_every=0`` keeps only the first."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps)
    ctx.bit_rate = bitrate
    ctx.gop_size = keyframe_every or 1_000_000
    # "good" rather than "realtime": the clip is made once, and its size must not depend
    # on how busy the machine was while encoding it
    ctx.options = {"deadline": "good", "cpu-used": "4", "lag-in-frames": "0"}
    rng = np.random.default_rng(seed)
    frames: list[ClipFrame] = []
    count = max(1, int(seconds * fps))
    for i in range(count):
        img = np.empty((height, width, 3), np.uint8)
        img[:, :, 0] = (np.arange(width, dtype=np.uint16)[None, :] + i * 3) % 256
        img[:, :, 1] = (np.arange(height, dtype=np.uint16)[:, None] + i * 5) % 256
        img[:, :, 2] = (i * 2) % 256
        # a moving patch of noise keeps every frame different and costly to code,
        # like a face in front of a webcam
        ph, pw = max(8, height // 15), max(8, width // 4)
        y, x = (i * 7) % (height - ph), (i * 11) % (width - pw)
        img[y : y + ph, x : x + pw, :] = rng.integers(0, 256, (ph, pw, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        if keyframe_every and i % keyframe_every == 0:
            frame.pict_type = av.video.frame.PictureType.I
        frames += [ClipFrame(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    frames += [ClipFrame(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    return Clip("video", "VP8", tuple(frames), 90_000, 90_000 // fps)


def synthetic_audio(*, seconds: float = 5.0, tone_hz: float = 440.0) -> Clip:
    """An Opus clip (48 kHz mono, 20 ms frames) of a tone that rises and falls."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = 48_000
    ctx.layout = "mono"
    ctx.format = "s16"
    ctx.bit_rate = 32_000
    ctx.time_base = Fraction(1, 48_000)
    samples = 960
    frames: list[ClipFrame] = []
    for i in range(max(1, int(seconds * 50))):
        t = (np.arange(samples) + i * samples) / 48_000
        hz = tone_hz * (1 + 0.25 * np.sin(2 * np.pi * 0.5 * t))
        pcm = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = i * samples
        frames += [ClipFrame(bytes(p), True) for p in ctx.encode(frame)]
    return Clip("audio", "opus", tuple(frames), 48_000, samples)


def clip_from_file(path: str | Path, kind: str) -> Clip:
    """The encoded packets of the first ``kind`` stream of a WebM/Matroska file."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        name = stream.codec_context.name
        frames = [
            ClipFrame(bytes(p), bool(p.is_keyframe))
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]
        rate = 90_000 if kind == "video" else 48_000
        if kind == "video":
            fps = float(stream.average_rate or 30)
            ticks = round(rate / fps)
        else:
            ticks = 960
    codec = {"vp8": "VP8", "libvpx": "VP8", "opus": "opus", "libopus": "opus"}.get(name, name)
    return Clip(kind, codec, tuple(frames), rate, ticks)


def frame_digest(data: bytes) -> bytes:
    """The per-frame fingerprint the tests and benchmarks compare."""
    return hashlib.blake2b(data, digest_size=12).digest()


class ClipTrack(MediaStreamTrack):
    """Plays a clip in a loop, in real time, as encoded packets."""

    def __init__(
        self, clip: Clip, *, on_sent: Callable[[bytes, float], None] | None = None
    ) -> None:
        super().__init__()
        self.kind = clip.kind
        self.clip = clip
        self._index = 0
        self._pts = 0
        self._start: float | None = None
        self._sent = 0
        self._on_sent = on_sent
        self.keyframe_requests = 0
        self.late_skips = 0

    def force_keyframe(self) -> None:
        """Jump to the next keyframe, as an encoder would produce one on request."""
        self.keyframe_requests += 1
        frames = self.clip.frames
        n = len(frames)
        for step in range(n):
            i = (self._index + step) % n
            if frames[i].keyframe:
                self._index = i
                return

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._sent * self.clip.frame_seconds
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -2 * self.clip.frame_seconds:
            # running late (a busy loop): skip the missed slots, as a camera does,
            # instead of sending a burst to catch up
            missed = int(-delay / self.clip.frame_seconds)
            self._start += missed * self.clip.frame_seconds
            self.late_skips += missed
        frame = self.clip.frames[self._index]
        self._index = (self._index + 1) % len(self.clip.frames)
        packet = av.Packet(frame.data)
        packet.pts = self._pts
        packet.time_base = Fraction(1, self.clip.clock_rate)
        self._pts += self.clip.frame_ticks
        self._sent += 1
        if self._on_sent is not None:
            self._on_sent(frame.data, time.monotonic())
        return packet
