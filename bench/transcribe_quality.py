"""Transcription benchmark: word error rate and real-time factor, plain pocketsphinx against
livedesk's pipeline, on the fixed set of support sentences (tests/fixtures/speech).

Each sentence is spoken by festival's US SLT HTS voice (``text2wave``, from Debian) at its
native 32 kHz. **Plain** is pocketsphinx with its default model fed the way a quick
integration would: the samples decimated to 16 kHz by dropping every other one, the whole
utterance in one pass. **livedesk** resamples through FFmpeg's filter (PyAV), cuts speech
by energy (transcribe/audio.py) and decodes each stretch (transcribe/engines.py). The
real-time factor is CPU seconds per second of audio, on one core.

    PYTHONPATH=. python bench/transcribe_quality.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.speech import sentences, speak
from transcribe.audio import RATE, resample, speech_spans
from transcribe.engines import PocketsphinxEngine

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    from pocketsphinx import Decoder

    plain = Decoder(samprate=16000, loglevel="FATAL")
    engine = PocketsphinxEngine()
    refs: list[str] = []
    hyp_plain: list[str] = []
    hyp_ld: list[str] = []
    cpu = {"plain": 0.0, "livedesk": 0.0}
    audio_s = 0.0
    for text in sentences():
        pcm, rate = speak(text)
        refs.append(text)
        audio_s += len(pcm) / rate
        t0 = time.process_time()
        naive = pcm[:: rate // RATE] if rate % RATE == 0 else pcm
        plain.start_utt()
        plain.process_raw(naive.tobytes(), full_utt=True)
        plain.end_utt()
        hyp_plain.append(plain.hyp().hypstr if plain.hyp() else "")
        cpu["plain"] += time.process_time() - t0
        t0 = time.process_time()
        x = resample(pcm, rate)
        words = [w.text for lo, hi in speech_spans(x) for w in engine.words(x[lo:hi])]
        hyp_ld.append(" ".join(words))
        cpu["livedesk"] += time.process_time() - t0
    res = {
        "sentences": len(refs),
        "audio_s": round(audio_s, 1),
        "plain": {"wer": jiwer.wer(refs, hyp_plain), "rtf": cpu["plain"] / audio_s},
        "livedesk": {"wer": jiwer.wer(refs, hyp_ld), "rtf": cpu["livedesk"] / audio_s},
        "faster_whisper": "not measured: no local model on this machine",
    }
    print(f"{len(refs)} sentences, {audio_s:.1f} s of festival speech (US SLT HTS)")
    print("| engine | WER | real-time factor (CPU s per audio s, one core) |")
    print("|---|---:|---:|")
    for name in ("plain", "livedesk"):
        label = "pocketsphinx, plain" if name == "plain" else "pocketsphinx, livedesk pipeline"
        print(f"| {label} | {res[name]['wer']:.3f} | {res[name]['rtf']:.3f} |")
    print("faster-whisper: not measured (no local model directory on this machine)")
    for ref, a, b in zip(refs, hyp_plain, hyp_ld, strict=True):
        if a != ref or b != ref:
            print(f"  ref: {ref}\n  plain: {a}\n  livedesk: {b}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"transcribe_quality-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2))
    print(f"results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
