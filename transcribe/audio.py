"""A microphone track as 16 kHz mono samples on the session clock, cut into speech.

The recogniser wants 16 kHz 16-bit mono; the tracks hold 48 kHz Opus. PyAV decodes and
resamples (a proper filter, not dropping samples), and each decoded frame is placed at
its timestamp, so pauses and gaps keep their length and the segments' times are the
session clock's.

Speech is found by energy: 30 ms windows above a threshold set from the track's own
noise floor, joined across short pauses, padded, and cut at the quietest point when a
stretch runs too long for one recogniser pass.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
import numpy as np

RATE = 16_000
WINDOW = RATE * 30 // 1000


class TrackAudio(NamedTuple):
    pcm: np.ndarray
    """int16 mono samples at 16 kHz."""
    start_ms: int
    """Session-clock time of the first sample."""


def decode_track(path: Path, *, open_input: Callable[[Path], Any] | None = None) -> TrackAudio:
    """Every sample of an audio track file, placed at its time (blocking)."""
    src = open_input(path) if open_input is not None else str(path)
    pieces: list[tuple[int, np.ndarray]] = []
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with av.open(src) as container:
        stream = container.streams.audio[0]
        tb = stream.time_base or Fraction(1, 1000)
        try:
            for packet in container.demux(stream):
                if not packet.size or packet.pts is None:
                    continue
                ms = int(packet.pts * tb * 1000)
                for frame in packet.decode():
                    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
                    if out:
                        pieces.append((ms, np.concatenate(out).astype(np.int16)))
        except (av.FFmpegError, ValueError):
            pass  # a track cut off by a crash: what came before counts
    if not pieces:
        return TrackAudio(np.zeros(0, np.int16), 0)
    start = pieces[0][0]
    end = max(ms * RATE // 1000 - start * RATE // 1000 + len(p) for ms, p in pieces)
    pcm = np.zeros(end, np.int16)
    for ms, p in pieces:
        at = (ms - start) * RATE // 1000
        pcm[at : at + len(p)] = p
    return TrackAudio(pcm, start)


def resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    """int16 mono samples at ``rate`` to 16 kHz, through FFmpeg's resampler."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    out = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def speech_spans(
    pcm: np.ndarray,
    *,
    join_s: float = 0.6,
    pad_s: float = 0.25,
    min_s: float = 0.3,
    max_s: float = 20.0,
) -> list[tuple[int, int]]:
    """Sample ranges that hold speech, found by energy (pure: samples in, ranges out)."""
    n = len(pcm) // WINDOW
    if n == 0:
        return []
    frames = pcm[: n * WINDOW].astype(np.float64).reshape(n, WINDOW)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    floor = float(np.percentile(energy, 10))
    threshold = max(floor * 4.0, 120.0)
    voiced = energy > threshold
    spans: list[list[int]] = []
    join = int(join_s * 1000 / 30)
    for i in np.flatnonzero(voiced):
        if spans and i - spans[-1][1] <= join:
            spans[-1][1] = int(i)
        else:
            spans.append([int(i), int(i)])
    pad = int(pad_s * RATE)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        lo, hi = max(0, a * WINDOW - pad), min(len(pcm), (b + 1) * WINDOW + pad)
        if hi - lo < min_s * RATE:
            continue
        out.extend(_split(energy, lo, hi, int(max_s * RATE)))
    return out


def _split(energy: np.ndarray, lo: int, hi: int, longest: int) -> list[tuple[int, int]]:
    """Cut a long span at its quietest window until every piece fits ``longest``."""
    if hi - lo <= longest:
        return [(lo, hi)]
    a, b = (lo + longest // 4) // WINDOW, (hi - longest // 4) // WINDOW
    cut = (a + int(np.argmin(energy[a:b]))) * WINDOW if b > a else lo + longest
    return _split(energy, lo, cut, longest) + _split(energy, cut, hi, longest)
