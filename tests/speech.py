"""Synthetic speech for the transcription tests: festival's HTS voice, cached per run.

festival (``text2wave``) comes from Debian (``scripts/ensure-test-deps.sh``); without it
the tests that need speech skip, except under ``CI=true``, where it is a failure.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "speech"
_CACHE = Path(tempfile.gettempdir()) / "livedesk-speech-cache"


def _lines(name: str) -> list[str]:
    lines = (FIXTURES / name).read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def sentences() -> list[str]:
    """The fixed set of support sentences (WER regression guard and benchmark)."""
    return _lines("support_sentences.txt")


def product_sentences() -> tuple[list[str], list[str]]:
    """Sentences naming products the stock dictionary lacks, and the hints for them."""
    return _lines("product_sentences.txt"), _lines("product_vocabulary.txt")


def need_festival() -> None:
    if shutil.which("text2wave"):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("text2wave (festival) is missing; run scripts/ensure-test-deps.sh")
    pytest.skip("text2wave (festival) is not installed")


@functools.cache
def speak(text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by festival's US SLT HTS voice: int16 mono samples and their rate."""
    need_festival()
    _CACHE.mkdir(exist_ok=True)
    path = _CACHE / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.wav"
    if not path.exists():
        part = path.with_suffix(".part.wav")
        subprocess.run(
            ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(part)],
            input=text.encode(),
            check=True,
            capture_output=True,
            timeout=60,
        )
        part.replace(path)
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        return pcm, w.getframerate()


@functools.cache
def speak_korean(text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng's Korean voice (robotic, but Korean)."""
    if not shutil.which("espeak-ng"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("espeak-ng is missing; run scripts/ensure-test-deps.sh")
        pytest.skip("espeak-ng is not installed")
    _CACHE.mkdir(exist_ok=True)
    path = _CACHE / f"ko-{hashlib.sha1(text.encode()).hexdigest()[:16]}.wav"
    if not path.exists():
        part = path.with_suffix(".part.wav")
        subprocess.run(
            ["espeak-ng", "-v", "ko", "-w", str(part), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        part.replace(path)
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def speech_clip(text: str, *, seconds: float = 6.0):
    """``text`` spoken, then silence up to ``seconds``, as an Opus clip a ClipTrack plays."""
    from fractions import Fraction

    import av

    from visual.sources import Clip, ClipFrame

    pcm, rate = speak(text)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    up = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    x = np.concatenate([f.to_ndarray().reshape(-1) for f in up.resample(frame)])
    total = np.zeros(int(seconds * 48_000), np.int16)
    total[: min(len(x), len(total))] = x[: len(total)]
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48_000, "mono", "s16"
    enc.time_base = Fraction(1, 48_000)
    frames = []
    for i in range(len(total) // 960):
        f = av.AudioFrame.from_ndarray(
            total[i * 960 : (i + 1) * 960].reshape(1, -1), format="s16", layout="mono"
        )
        f.sample_rate, f.pts = 48_000, i * 960
        frames += [ClipFrame(bytes(p), True) for p in enc.encode(f)]
    return Clip("audio", "opus", tuple(frames), 48_000, 960)
