"""Recordings encrypted at rest: round trips, PyAV reading through the reader, bad keys,
tampering, a crash mid-write, byte ranges."""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path

import av
import pytest

from recorder.sealed import (
    HEADER_SIZE,
    SealedError,
    SealedReader,
    SealedWriter,
    load_kek,
    new_kek_file,
    plain_size,
    read_range,
)
from recorder.track import TrackRecorder
from visual.sources import frame_digest

from .test_recorder_track import decoded, feed, record_and_kill, video

KEK = bytes(range(32))


def sealed_bytes(path: Path, data: bytes, pieces: list[int]) -> None:
    writer = SealedWriter(path, KEK)
    at = 0
    for n in pieces:
        writer.write(data[at : at + n])
        at += n
    writer.write(data[at:])
    writer.close()


def refusal(fn, *args) -> str:
    with pytest.raises(SealedError) as err:
        fn(*args)
    return err.value.code


def test_what_is_written_reads_back_at_any_position(tmp_path: Path):
    rng = random.Random(5)
    data = rng.randbytes(300_000)
    path = tmp_path / "f.sealed"
    sealed_bytes(path, data, [rng.randint(0, 40_000) for _ in range(20)])
    with SealedReader(path, KEK) as r:
        assert r.size == len(data) and r.read() == data
        for _ in range(200):
            at, n = rng.randrange(len(data)), rng.randrange(1, 50_000)
            r.seek(at)
            assert r.read(n) == data[at : at + n] and r.tell() == min(len(data), at + n)
        r.seek(-10, 2)
        assert r.read() == data[-10:]


def test_a_sealed_recording_holds_the_frames_sent_and_none_in_the_clear(tmp_path: Path):
    clip = video()
    path = tmp_path / "cam.webm.sealed"
    rec = TrackRecorder(path, kind="video", codec="VP8", origin=time.monotonic(), kek=KEK)
    feed(rec, clip, range(0, 90), pace=0.002)
    stats = rec.close()
    assert stats.frames == 90 and stats.error == ""
    with av.open(SealedReader(path, KEK)) as c:
        got = [frame_digest(bytes(p)) for p in c.demux(c.streams[0]) if p.size]
    assert got == [frame_digest(clip.frames[i].data) for i in range(90)]
    assert decoded(path, kek=KEK) == 90
    raw = path.read_bytes()
    for f in clip.frames[:90:10]:
        assert f.data[:64] not in raw


def test_a_wrong_key_tampering_and_plain_files_are_refused_by_name(tmp_path: Path):
    path = tmp_path / "f.sealed"
    sealed_bytes(path, b"x" * 5000, [1000, 1000])
    assert refusal(SealedReader, path, bytes(32)) == "wrong_key"
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + 4 + 10] ^= 1  # inside the first segment's ciphertext
    (tmp_path / "t.sealed").write_bytes(raw)
    with SealedReader(tmp_path / "t.sealed", KEK) as r:
        with pytest.raises(SealedError) as err:
            r.read(10)
        assert err.value.code == "tampered"
    (tmp_path / "plain.webm").write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 100)
    assert refusal(SealedReader, tmp_path / "plain.webm", KEK) == "not_sealed"


def test_a_file_cut_mid_segment_reads_up_to_its_last_whole_segment(tmp_path: Path):
    data = random.Random(1).randbytes(30_000)
    path = tmp_path / "f.sealed"
    sealed_bytes(path, data, [10_000, 10_000])
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 500])
    with SealedReader(path, KEK) as r:
        assert r.read() == data[:20_000]


@pytest.mark.parametrize("seed", [4, 5])
def test_a_sealed_recording_killed_at_a_random_moment_plays_up_to_its_last_keyframe(
    tmp_path: Path, seed: int
):
    path = tmp_path / "killed.webm.sealed"
    settled = record_and_kill(path, seed, KEK)
    assert decoded(path, kek=KEK) >= settled


def test_byte_ranges_match_the_plaintext_across_segment_boundaries(tmp_path: Path):
    data = random.Random(2).randbytes(50_000)
    path = tmp_path / "f.sealed"
    sealed_bytes(path, data, [7_000] * 6)
    assert plain_size(path, KEK) == len(data)
    for first, last in [(0, 0), (6_990, 7_010), (0, 49_999), (49_999, 49_999), (13_999, 28_001)]:
        assert read_range(path, KEK, first, last) == data[first : last + 1]


def test_key_files_in_base64_or_hex_and_clear_errors_otherwise(tmp_path: Path):
    made = tmp_path / "made.key"
    new_kek_file(made)
    assert len(load_kek(made)) == 32 and made.stat().st_mode & 0o777 == 0o600
    (tmp_path / "b64.key").write_text(base64.b64encode(KEK).decode() + "\n")
    (tmp_path / "hex.key").write_text(KEK.hex())
    assert load_kek(tmp_path / "b64.key") == load_kek(tmp_path / "hex.key") == KEK
    (tmp_path / "short.key").write_text(base64.b64encode(b"short").decode())
    with pytest.raises(SealedError) as err:
        load_kek(tmp_path / "short.key")
    assert err.value.message.endswith("must hold a 32-byte key, as base64 or 64 hex digits")
    assert refusal(load_kek, tmp_path / "absent.key") == "missing_key"
