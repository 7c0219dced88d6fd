"""Transcription benchmark: word error rate and real-time factor, plain pocketsphinx against
livedesk's pipeline, on the fixed set of support sentences (tests/fixtures/speech).

Each sentence is spoken by festival's US SLT HTS voice (``text2wave``, from Debian) at its
native 32 kHz. **Plain** is pocketsphinx with its default model fed the way a quick
integration would: the samples decimated to 16 kHz by dropping every other one, the whole
utterance in one pass. **livedesk** resamples through FFmpeg's filter (PyAV), cuts speech
by energy (transcribe/audio.py) and decodes each stretch (transcribe/engines.py). The
real-time factor is CPU seconds per second of audio, on one core.

A second set names products the stock dictionary lacks (tests/fixtures/speech/
product_sentences.txt): the livedesk pipeline without and with the entry's vocabulary
hints (product_vocabulary.txt), side by side.

faster-whisper is measured too when a local model directory is given
(``--whisper-model DIR`` or ``LIVEDESK_WHISPER_MODEL``) and the package is installed;
nothing is downloaded.

    PYTHONPATH=. python bench/transcribe_quality.py [--whisper-model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.speech import product_sentences, sentences, speak
from transcribe.audio import RATE, resample, speech_spans
from transcribe.engines import Engine, EngineError, PocketsphinxEngine, engine_for

RESULTS = Path(__file__).resolve().parent / "results"


def _pipeline(engine: Engine, texts: list[str]) -> tuple[float, float]:
    """WER and real-time factor of livedesk's path with ``engine`` on ``texts``."""
    hyps, cpu, audio_s = [], 0.0, 0.0
    for text in texts:
        pcm, rate = speak(text)
        audio_s += len(pcm) / rate
        t0 = time.process_time()
        x = resample(pcm, rate)
        hyps.append(" ".join(w.text for lo, hi in speech_spans(x) for w in engine.words(x[lo:hi])))
        cpu += time.process_time() - t0
    return jiwer.wer(texts, hyps), cpu / audio_s


def _whisper(model_dir: str, texts: list[str]) -> dict[str, float] | str:
    try:
        engine = engine_for("faster-whisper", model_dir=Path(model_dir))
    except EngineError as exc:
        return f"not measured: {exc.message}"
    wer, rtf = _pipeline(engine, texts)
    return {"wer": wer, "rtf": rtf}


def main(argv: list[str] | None = None) -> int:
    from pocketsphinx import Decoder

    ap = argparse.ArgumentParser()
    ap.add_argument("--whisper-model", default=os.environ.get("LIVEDESK_WHISPER_MODEL", ""))
    args = ap.parse_args(argv)

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
        "faster_whisper": (
            _whisper(args.whisper_model, refs)
            if args.whisper_model
            else "not measured: no local model directory given (--whisper-model)"
        ),
    }
    products, vocabulary = product_sentences()
    wer_raw, rtf_raw = _pipeline(PocketsphinxEngine(), products)
    hinted = engine_for("pocketsphinx", vocabulary=vocabulary)
    wer_hint, rtf_hint = _pipeline(hinted, products)
    res["vocabulary"] = {
        "sentences": len(products),
        "hints": vocabulary,
        "without": {"wer": wer_raw, "rtf": rtf_raw},
        "with": {"wer": wer_hint, "rtf": rtf_hint},
    }
    print(f"{len(refs)} sentences, {audio_s:.1f} s of festival speech (US SLT HTS)")
    print("| engine | WER | real-time factor (CPU s per audio s, one core) |")
    print("|---|---:|---:|")
    for name in ("plain", "livedesk"):
        label = "pocketsphinx, plain" if name == "plain" else "pocketsphinx, livedesk pipeline"
        print(f"| {label} | {res[name]['wer']:.3f} | {res[name]['rtf']:.3f} |")
    fw = res["faster_whisper"]
    if isinstance(fw, dict):
        print(f"| faster-whisper, livedesk pipeline | {fw['wer']:.3f} | {fw['rtf']:.3f} |")
    else:
        print(f"faster-whisper: {fw}")
    v = res["vocabulary"]
    print(f"\n{v['sentences']} sentences naming products the dictionary lacks")
    print(f"hints: {', '.join(vocabulary)}")
    print("| livedesk pipeline | WER | real-time factor |")
    print("|---|---:|---:|")
    print(f"| without vocabulary hints | {v['without']['wer']:.3f} | {v['without']['rtf']:.3f} |")
    print(f"| with the entry's hints | {v['with']['wer']:.3f} | {v['with']['rtf']:.3f} |")
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
