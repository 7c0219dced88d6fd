"""``python -m transcribe SESSION_DIR``: the worker process that transcribes a recording.

Writes ``transcript.json``, ``transcript.vtt`` and ``transcript.txt`` beside the tracks and
prints JSON lines: ``{"progress": p}`` then ``{"done": true, ...}`` or ``{"error", "message"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from recorder import layout
from transcribe.engines import EngineError, engine_for
from transcribe.flags import FlagRule, find_flags
from transcribe.model import to_text, to_webvtt
from transcribe.pipeline import transcribe_session

JSON, VTT, TXT = "transcript.json", "transcript.vtt", "transcript.txt"


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transcribe")
    ap.add_argument("session_dir", type=Path)
    ap.add_argument("--engine", default="pocketsphinx")
    ap.add_argument("--language", default="en")
    ap.add_argument("--model-dir", type=Path, help="the engine's model (faster-whisper, vosk)")
    ap.add_argument("--key-file", type=Path, help="the key that unwraps sealed tracks")
    ap.add_argument("--flags", default="[]", help="JSON list of flag rules (transcribe/flags.py)")
    ap.add_argument(
        "--vocabulary", default="[]", help="JSON list of hints (transcribe/vocabulary.py)"
    )
    args = ap.parse_args(argv)
    started = time.monotonic()
    try:
        opener = None
        if args.key_file is not None:
            from recorder.sealed import SealedReader, load_kek

            kek = load_kek(args.key_file)

            def opener(p: Path) -> Any:
                return SealedReader(p, kek) if p.name.endswith(".sealed") else str(p)

        manifest = layout.read_manifest(args.session_dir)
        vocabulary = msgspec.json.decode(args.vocabulary.encode(), type=list[str])
        engine = engine_for(
            args.engine, language=args.language, model_dir=args.model_dir, vocabulary=vocabulary
        )
        last = [0.0]

        def progress(p: float) -> None:
            if time.monotonic() - last[0] > 0.2 or p >= 1.0:
                last[0] = time.monotonic()
                _emit({"progress": p})

        result = transcribe_session(
            args.session_dir,
            manifest,
            engine,
            language=args.language,
            progress=progress,
            open_input=opener,
        )
        rules = msgspec.json.decode(args.flags.encode(), type=list[FlagRule])
        result.flags = [msgspec.to_builtins(f) for f in find_flags(result.segments, rules)]
    except EngineError as exc:
        _emit({"error": "engine", "message": exc.message})
        return 2
    except Exception as exc:  # reported to the job runner, which records it
        _emit({"error": "internal", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    d = args.session_dir
    _write(d / JSON, msgspec.json.encode(result))
    _write(d / VTT, to_webvtt(result.segments).encode())
    _write(d / TXT, to_text(result.segments).encode())
    _emit(
        {
            "done": True,
            "segments": len(result.segments),
            "redactions": result.redactions,
            "flags": len(result.flags),
            "warnings": result.warnings,
            "took_s": round(time.monotonic() - started, 2),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
