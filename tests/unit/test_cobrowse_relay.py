"""Co-browse relay arithmetic: batch and session caps, snapshot pacing, slow viewers."""

from __future__ import annotations

import pytest

from recorder.cobrowse import CobrowseLog, files, read_all
from signaling.client import join_cobrowse, split_parts
from visual.cobrowse import Caps, CobrowseLimit, PendingCommand, Stream, ViewerGate


def test_a_part_over_the_batch_cap_is_refused_without_counting():
    s = Stream(Caps(max_batch_bytes=100))
    with pytest.raises(CobrowseLimit) as err:
        s.admit(size=101, part=0, parts=1)
    assert err.value.message.startswith("a co-browse batch part is 101 bytes; the limit is 100")
    assert not err.value.stop
    assert s.bytes == 0


@pytest.mark.parametrize(("part", "parts"), [(0, 9), (3, 3)])
def test_parts_beyond_the_cap_or_the_count_are_refused(part: int, parts: int):
    with pytest.raises(CobrowseLimit):
        Stream(Caps(max_parts=8)).admit(size=1, part=part, parts=parts)


def test_the_session_cap_stops_the_stream():
    s = Stream(Caps(max_batch_bytes=600, max_session_bytes=1000))
    s.admit(size=600, part=0, parts=2)
    with pytest.raises(CobrowseLimit) as err:
        s.admit(size=500, part=1, parts=2)
    assert err.value.stop
    assert (s.bytes, s.batches) == (600, 0)


def test_snapshot_asks_are_paced():
    s = Stream(Caps(snapshot_interval_s=1.0))
    assert s.snapshot_due(10.0) == 0.0
    assert s.snapshot_due(10.25) == pytest.approx(0.75)
    assert s.snapshot_due(11.0) == 0.0


def test_pending_commands_are_bounded_oldest_first():
    s = Stream(Caps())
    for i in range(70):
        s.remember(f"c{i}", PendingCommand("a", "Ann", "click", "", 0.0))
    assert len(s.pending) == 64
    assert "c0" not in s.pending and "c69" in s.pending


def test_a_slow_viewer_drops_until_a_snapshot_fits_then_takes_all_of_it():
    g = ViewerGate(cap=1000)
    assert g.admit(size=600, batch=1, part=0, snapshot=False)
    assert not g.admit(size=600, batch=2, part=0, snapshot=False)  # over the cap: a gap
    assert g.gap
    g.written(600)
    assert not g.admit(size=10, batch=3, part=0, snapshot=False)  # still a gap: no snapshot
    # a snapshot bigger than the cap passes when nothing waits, with every part
    assert g.admit(size=900, batch=4, part=0, snapshot=True)
    assert g.admit(size=900, batch=4, part=1, snapshot=True)
    assert not g.gap
    assert g.queued == 1800
    assert g.dropped == 2


def test_a_snapshot_waits_while_the_viewer_is_still_behind():
    g = ViewerGate(cap=1000)
    g.admit(size=900, batch=1, part=0, snapshot=False)
    assert not g.admit(size=200, batch=2, part=0, snapshot=True)
    g.written(900)
    assert g.admit(size=200, batch=3, part=0, snapshot=True)


def test_parts_split_on_characters_and_join_back():
    text = "가" * 1000 + "a" * 10
    parts = split_parts(text, 100)
    assert "".join(parts) == text
    assert all(len(p.encode()) <= 100 for p in parts)


def test_a_batch_missing_a_part_is_skipped_not_misparsed():
    pushes = [
        {"batch": 1, "part": 0, "parts": 2, "data": '[{"a"'},
        {"batch": 2, "part": 0, "parts": 1, "data": "[2]"},
        {"batch": 1, "part": 1, "parts": 2, "data": ":1}]"},
        {"batch": 3, "part": 1, "parts": 2, "data": "]"},
    ]
    assert join_cobrowse(pushes) == [[2], [{"a": 1}]]  # in the order they completed


def test_the_log_starts_at_a_snapshot_and_survives_a_torn_line(tmp_path):
    log = CobrowseLog(tmp_path)
    assert not log.append(t=1.0, batch=1, part=0, parts=1, snapshot=False, data="[1]")
    assert log.append(t=2.0, batch=2, part=0, parts=1, snapshot=True, data="[2]")
    assert log.append(t=3.0, batch=3, part=0, parts=1, snapshot=False, data="[3]")
    log.close()
    with open(files(tmp_path)[0], "ab") as f:
        f.write(b'{"t": 4.0, "batch": 4, "da')  # killed mid-write
    lines = read_all(tmp_path).splitlines()
    assert [line[:9] for line in lines] == [b'{"t": 2.0', b'{"t": 3.0']


def test_a_sealed_log_reads_back_and_holds_no_plaintext(tmp_path):
    kek = bytes(range(32))
    log = CobrowseLog(tmp_path, kek=kek)
    log.append(t=1.0, batch=1, part=0, parts=1, snapshot=True, data='["secret-page-text"]')
    log.close()
    (path,) = files(tmp_path)
    assert path.name.endswith(".jsonl.sealed")
    assert b"secret-page-text" not in path.read_bytes()
    assert b"secret-page-text" in read_all(tmp_path, kek=kek)
    with pytest.raises(OSError):
        read_all(tmp_path)
