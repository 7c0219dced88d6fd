"""The recorded co-browse stream of a session: rrweb event batches, as the customer sent them.

Each recording run (consent given, or recording resumed after a stop) writes its own
file in the session directory, ``cobrowse-<ms>.jsonl`` (``.jsonl.sealed`` when media is
encrypted at rest). One line per batch part, handed to the OS as soon as it arrives, so
a killed process loses at most the line being written::

    {"t": 12.345, "batch": 7, "part": 0, "parts": 1, "snapshot": false, "data": "[...]"}

``t`` is the arrival on the session clock (seconds since the session was created, as in
``timeline.jsonl``); ``data`` is the customer's JSON text, never parsed or rendered here.
A run starts at a full snapshot: batches before the first one are skipped, since the
mutations in them cannot be replayed without it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import BinaryIO

from recorder.sealed import SealedReader, SealedWriter

FILE = re.compile(r"^cobrowse-(\d{13})\.jsonl(\.sealed)?$")


class CobrowseLog:
    """Appends a session's co-browse batches to one file (blocking: call from a thread)."""

    def __init__(self, directory: Path, *, kek: bytes | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        name = f"cobrowse-{int(time.time() * 1000):013d}.jsonl"
        self.path = directory / (name + ".sealed" if kek is not None else name)
        self._file: BinaryIO | SealedWriter = (
            SealedWriter(self.path, kek) if kek is not None else open(self.path, "ab")
        )
        self.waiting_for_snapshot = True
        self.lines = 0
        self.bytes = 0

    def append(
        self, *, t: float, batch: int, part: int, parts: int, snapshot: bool, data: str
    ) -> bool:
        """Write one batch part; False when skipped while waiting for a full snapshot."""
        if self.waiting_for_snapshot:
            if not (snapshot and part == 0):
                return False
            self.waiting_for_snapshot = False
        line = json.dumps(
            {
                "t": round(t, 3),
                "batch": batch,
                "part": part,
                "parts": parts,
                "snapshot": snapshot,
                "data": data,
            },
            ensure_ascii=False,
        ).encode()
        self._file.write(line + b"\n")
        self._file.flush()
        self.lines += 1
        self.bytes += len(line) + 1
        return True

    def close(self) -> None:
        self._file.close()


def files(directory: Path) -> list[Path]:
    """The session's co-browse files, oldest run first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if FILE.match(p.name))


def read_all(directory: Path, *, kek: bytes | None = None) -> bytes:
    """Every run's lines, in order, as plain JSON lines. A torn last line is dropped."""
    out = bytearray()
    for path in files(directory):
        if path.name.endswith(".sealed"):
            if kek is None:
                raise OSError("an encrypted recording, and no recording.encryption_key_file")
            with SealedReader(path, kek) as reader:
                raw = reader.read()
        else:
            raw = path.read_bytes()
        end = raw.rfind(b"\n")
        if end >= 0:
            out += raw[: end + 1]
    return bytes(out)
