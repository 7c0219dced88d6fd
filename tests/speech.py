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


def sentences() -> list[str]:
    lines = (FIXTURES / "support_sentences.txt").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


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
