"""Recording through a real server: consent, files of the frames as sent, pause gaps, serving.

aiortc client peers publish pre-encoded clips on loopback; the recorded files are read
back with PyAV and compared with what was sent, frame by frame, by hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest

from recorder import layout
from signaling.client import CustomerClient, RequestFailed, StaffClient
from signaling.keys import ARCHIVE, RECORDING, RECORDING_JOBS
from visual.sources import frame_digest, synthetic_video

from .conftest import PASSWORD, StartDesk
from .test_media import (
    accepted_pair,
    agree,
    audio_clip,
    peers,
    track,
    video_clip,
    wait_kind,
)

pytestmark = [
    pytest.mark.parametrize("store_kind", ["memory"]),
    pytest.mark.usefixtures("media_clips"),
]

MEDIA_ENTRY = {"channels": ["chat", "voice", "video", "screen"]}


def entry(**recording: Any) -> dict[str, Any]:
    return {"demo": {**MEDIA_ENTRY, "recording": recording}}


async def record(sid: str, agent: StaffClient, customer: CustomerClient) -> None:
    """The agent asks, the customer agrees: recording is on."""
    await agent.request("recording.request", session=sid)
    await customer.wait_event(sid, "recording.requested")
    await customer.request("recording.respond", session=sid, accept=True)
    await agent.wait_event(sid, "recording.started")


@contextlib.asynccontextmanager
async def voice_call(
    start_desk: StartDesk, *, mic: Any = None, **pair: Any
) -> AsyncIterator[tuple[Any, StaffClient, CustomerClient, str]]:
    """An accepted session on a live voice call: the customer's microphone (``mic``, or a
    tone clip) reaches the agent. Recording is up to the test."""
    pair.setdefault("entries", entry())
    desk, agent, customer, sid = await accepted_pair(start_desk, **pair)
    await agree(sid, agent, customer, "voice")
    async with peers(customer, agent, sid) as (cm, am):
        await cm.publish("mic", mic if mic is not None else track(audio_clip())[0])
        await am.wait_publication("mic")
        yield desk, agent, customer, sid


async def finished(desk: Any, sid: str, timeout: float = 15) -> layout.Manifest:
    directory = layout.session_dir(desk.cfg.data_path, sid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = layout.read_manifest(directory)
            if m.state != "recording":
                return m
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError("the recording did not finish")


def packets(path: Path) -> list[tuple[int, bytes, bool]]:
    with av.open(str(path)) as c:
        s = c.streams[0]
        return [
            (int(p.pts * s.time_base * 1000), bytes(p), bool(p.is_keyframe))
            for p in c.demux(s)
            if p.size
        ]


def same_run(recorded: list[bytes], sent: list[bytes]) -> bool:
    """``recorded`` is one unbroken run of ``sent``: no frame lost, added or changed."""
    n = len(recorded)
    return any(sent[i : i + n] == recorded for i in range(len(sent) - n + 1))


async def db_rows(desk: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows from the server's archive (SQLite or PostgreSQL), ``?`` placeholders."""
    return await desk.app[ARCHIVE].fetch(sql, params)


async def test_recorded_files_hold_exactly_the_frames_sent(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk, entries=entry())
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, cam_sent = track(video_clip())
        mic, mic_sent = track(audio_clip())
        amic, amic_sent = track(audio_clip())
        await cm.publish("camera", cam)
        await cm.publish("mic", mic)
        await am.publish("mic", amic)
        pub = await am.wait_publication("camera")
        await am.wait_frames(pub["pub"], 10, timeout=15)
        await record(sid, agent, customer)
        await asyncio.sleep(3)
        await agent.request("recording.stop", session=sid)
        manifest = await finished(desk, sid)
    directory = layout.session_dir(desk.cfg.data_path, sid)
    assert manifest.state == "complete"
    by_source = {(t.side, t.source): t for t in manifest.tracks}
    assert set(by_source) == {("customer", "camera"), ("customer", "mic"), ("agent", "mic")}
    for (side, source), sent in {
        ("customer", "camera"): cam_sent,
        ("customer", "mic"): mic_sent,
        ("agent", "mic"): amic_sent,
    }.items():
        info = by_source[(side, source)]
        got = packets(directory / info.file)
        assert len(got) == info.frames > (60 if source == "camera" else 100)
        if source == "camera":
            assert got[0][2], "a video file starts on a keyframe"
        digests = [frame_digest(data) for _, data, _ in got]
        assert same_run(digests, sent.digests), f"{side} {source}: frames differ from those sent"
        times = [ms for ms, _, _ in got]
        assert all(b > a for a, b in itertools.pairwise(times)), "timestamps rise"
        assert 1500 < times[-1] - times[0] < 4500
    # every participant's files share the session clock: they start within a moment
    starts = [t.first_ms for t in manifest.tracks if t.first_ms is not None]
    assert max(starts) - min(starts) < 1500
    # the archive, the timeline and the audit log agree
    (row,) = await db_rows(
        desk, "SELECT state, tracks, bytes FROM recordings WHERE session_id=?", sid
    )
    assert row[0] in ("complete", "rendering", "rendered") and row[1] == 3 and row[2] > 0
    await desk.app[RECORDING].desk.archive.flush()
    lines = [json.loads(x) for x in (directory / layout.TIMELINE).read_text().splitlines()]
    kinds = [x["kind"] for x in lines]
    for kind in ("session.accepted", "recording.requested", "recording.consented"):
        assert kind in kinds
    assert kinds.index("recording.started") < kinds.index("recording.stopped")
    assert "recording.finished" in kinds
    assert all(x["t"] >= 0 for x in lines) and [x["t"] for x in lines] == sorted(
        x["t"] for x in lines
    )
    consents = await db_rows(
        desk, "SELECT reason FROM audit WHERE kind='recording.consent' AND session_id=?", sid
    )
    assert sorted(r[0] for r in consents) == ["consented", "requested"]


async def test_a_customer_who_declines_leaves_no_media_file(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk, entries=entry())
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, _ = track(video_clip())
        await cm.publish("camera", cam)
        pub = await am.wait_publication("camera")
        await agent.request("recording.request", session=sid)
        await customer.wait_event(sid, "recording.requested")
        await customer.request("recording.respond", session=sid, accept=False)
        await agent.wait_event(sid, "recording.declined")
        # the call goes on, unrecorded
        before = am.received[pub["pub"]].count
        await am.wait_frames(pub["pub"], before + 30, timeout=10)
        with pytest.raises(RequestFailed) as err:
            await agent.request("recording.pause", session=sid)
        assert err.value.code == "recording_state"
    await agent.request("session.wrapup", session=sid)
    await asyncio.sleep(0.5)
    assert not (desk.cfg.data_path / "recordings" / sid).exists()
    assert await db_rows(desk, "SELECT * FROM recordings WHERE session_id=?", sid) == []
    await desk.app[RECORDING].desk.archive.flush()
    declines = await db_rows(
        desk,
        "SELECT actor, detail FROM audit WHERE kind='recording.consent' AND reason='declined'",
    )
    assert len(declines) == 1 and declines[0][0].startswith("customer:")


async def test_a_decline_on_a_chat_only_entry_stops_video_and_keeps_chat(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(
        start_desk, entries=entry(mode="always", on_decline="chat_only")
    )
    asked = await wait_kind(customer, sid, "recording.requested")
    assert asked["actor_role"] == "system" and asked["data"] == {"required": True}
    await agent.request("recording.respond", session=sid, accept=True)
    await customer.request("recording.respond", session=sid, accept=False)
    declined = await wait_kind(agent, sid, "recording.declined")
    assert declined["data"]["chat_only"] is True
    with pytest.raises(RequestFailed) as err:
        await agent.request("channel.request", session=sid, channel="video")
    assert err.value.code == "recording_required"
    with pytest.raises(RequestFailed) as err:
        await customer.request("channel.request", session=sid, channel="screen")
    assert err.value.code == "recording_required"
    await customer.request("chat.send", session=sid, text="chat still works")
    await agent.wait_event(sid, "chat.message")


async def test_an_always_entry_asks_both_sides_as_soon_as_the_agent_joins(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk, entries=entry(mode="always"))
    asked = await wait_kind(agent, sid, "recording.requested")
    assert asked["actor_role"] == "system"
    await agent.request("recording.respond", session=sid, accept=True)
    await customer.request("recording.respond", session=sid, accept=True)
    await wait_kind(customer, sid, "recording.started")
    with pytest.raises(RequestFailed) as err:
        await agent.request("recording.request", session=sid)
    assert err.value.code == "recording_state"


async def test_a_never_entry_refuses_to_record(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk, entries=entry(mode="never"))
    with pytest.raises(RequestFailed) as err:
        await agent.request("recording.request", session=sid)
    assert err.value.code == "recording_off"
    with pytest.raises(RequestFailed) as err:
        await customer.request("recording.request", session=sid)
    assert err.value.code in ("recording_off", "forbidden")


async def test_a_pause_leaves_a_gap_of_its_length(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk, entries=entry())
    await agree(sid, agent, customer, "video")
    clip = synthetic_video(seconds=10, width=320, height=240, keyframe_every=30)
    async with peers(customer, agent, sid) as (cm, am):
        cam, _ = track(clip)
        mic, _ = track(audio_clip())
        await cm.publish("camera", cam)
        await cm.publish("mic", mic)
        pub = await am.wait_publication("camera")
        await am.wait_frames(pub["pub"], 10, timeout=15)
        await record(sid, agent, customer)
        await asyncio.sleep(1.5)
        await agent.request("recording.pause", session=sid)
        paused = await wait_kind(customer, sid, "recording.paused")
        await asyncio.sleep(2.0)
        with pytest.raises(RequestFailed) as err:
            await customer.request("recording.resume", session=sid)
        assert err.value.code == "forbidden", "only the agent resumes"
        await agent.request("recording.resume", session=sid)
        resumed = await wait_kind(customer, sid, "recording.resumed")
        await asyncio.sleep(1.5)
        await agent.request("recording.stop", session=sid)
        manifest = await finished(desk, sid)
    gap_s = resumed["at"] - paused["at"]
    assert resumed["data"]["paused_s"] == pytest.approx(gap_s, abs=0.01)
    directory = layout.session_dir(desk.cfg.data_path, sid)
    for info in manifest.tracks:
        times = [ms for ms, _, _ in packets(directory / info.file)]
        gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
        biggest = max(gaps)
        # the gap is the pause (video resumes at the next keyframe: up to one second more)
        slack = 1.2 if info.kind == "video" else 0.25
        assert gap_s - 0.25 < biggest < gap_s + slack, (info.source, biggest, gap_s)
        assert sorted(gaps)[-2] < 0.5, "one gap only"
    ((start, end),) = manifest.paused
    assert end is not None and end - start == pytest.approx(gap_s, abs=0.05)


async def test_recording_stops_when_the_session_wraps_up(start_desk: StartDesk):
    async with voice_call(start_desk) as (desk, agent, customer, sid):
        await record(sid, agent, customer)
        await asyncio.sleep(1.0)
        await agent.request("session.wrapup", session=sid)
        stopped = await wait_kind(agent, sid, "recording.stopped")
        assert stopped["data"]["reason"] == "session wrap_up"
        manifest = await finished(desk, sid)
    assert manifest.state == "complete" and manifest.tracks[0].frames > 20


# ------------------------------------------------------------------ serving


async def recorded_session(start_desk: StartDesk, **sections: Any) -> tuple[Any, str]:
    users = sections.pop("users", (("agent_ann",), ("agent_bob",), ("qa_quinn", {"role": "qa"})))
    desk, agent, customer, sid = await accepted_pair(
        start_desk, entries=entry(), users=users, **sections
    )
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, _ = track(video_clip())
        await cm.publish("camera", cam)
        pub = await am.wait_publication("camera")
        await am.wait_frames(pub["pub"], 5, timeout=15)
        await record(sid, agent, customer)
        await customer.say("my parcel never arrived")
        await asyncio.sleep(2)
        await agent.request("recording.stop", session=sid)
        await finished(desk, sid)
    await desk.app[RECORDING].desk.archive.flush()
    return desk, sid


async def login(desk: Any, username: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    desk.sessions.append(http)
    async with http.post(
        f"{desk.base}/api/login", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
    return http


async def test_qa_lists_and_streams_a_recording_with_range(start_desk: StartDesk):
    desk, sid = await recorded_session(start_desk)
    qa = await login(desk, "qa_quinn")
    async with qa.get(f"{desk.base}/api/recordings") as r:
        assert r.status == 200
        listed = (await r.json())["recordings"]
    assert [x["session_id"] for x in listed] == [sid]
    assert listed[0]["customer_name"] == "Kim" and listed[0]["agent_name"] == "Agent Ann"
    async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
        detail = await r.json()
    (cam,) = [t for t in detail["track_list"] if t["source"] == "camera"]
    path = desk.cfg.data_path / "recordings" / sid / "tracks" / f"{cam['id']}.webm"
    whole = path.read_bytes()
    async with qa.get(f"{desk.base}{cam['url']}", headers={"Range": "bytes=100-1099"}) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
        assert r.headers["Content-Type"] == "video/webm"
        assert await r.read() == whole[100:1100]
    async with qa.get(f"{desk.base}{cam['url']}?download=1") as r:
        assert r.status == 200 and await r.read() == whole
        assert r.headers["Content-Disposition"].startswith("attachment;")
    async with qa.get(f"{desk.base}{detail['timeline']}") as r:
        assert r.status == 200
        assert any(
            json.loads(x)["kind"] == "recording.started" for x in (await r.text()).splitlines()
        )
    async with qa.get(f"{desk.base}{cam['url']}", headers={"Range": "bytes=99999999-"}) as r:
        assert r.status == 416


async def test_the_qa_list_filters_and_searches_chat_through_the_server(start_desk: StartDesk):
    """Filters on the API and the page; a chat word finds the session at its moment."""
    desk, sid = await recorded_session(start_desk)
    qa = await login(desk, "qa_quinn")

    async def listed(**query: str) -> list[str]:
        async with qa.get(f"{desk.base}/api/recordings", params=query) as r:
            assert r.status == 200, await r.text()
            return [x["session_id"] for x in (await r.json())["recordings"]]

    assert await listed(channel="video", origin="agent", agent="agent_ann") == [sid]
    assert await listed(channel="chat_only") == []
    assert await listed(channel="video", origin="bot") == []
    assert await listed(review="unreviewed", max_minutes="60") == [sid]
    assert await listed(review="reviewed") == []
    async with qa.get(f"{desk.base}/api/recordings", params={"channel": "fax"}) as r:
        assert r.status == 400
        body = await r.json()
    assert body["error"]["code"] == "bad_filter"
    assert body["error"]["message"].startswith("channel: one of chat_only")

    async with qa.get(f"{desk.base}/api/recordings/search", params={"q": "parcel"}) as r:
        (hit,) = (await r.json())["hits"]
    assert (hit["session_id"], hit["source"], hit["speaker"]) == (sid, "chat", "customer")
    assert (
        "[parcel]" in hit["snippet"] and hit["url"] == f"/qa/recordings/{sid}?t={hit['start']:.1f}"
    )
    async with qa.get(
        f"{desk.base}/api/recordings/search", params={"q": "parcel", "channel": "voice"}
    ) as r:
        assert (await r.json())["hits"] == []

    async with qa.get(f"{desk.base}/qa", params={"q": "parcel", "channel": "video"}) as r:
        page = await r.text()
    assert r.status == 200 and 'data-testid="qa-hit"' in page and "[parcel]" in page
    assert 'value="video" selected' in page
    async with qa.get(f"{desk.base}/qa", params={"max_score": "500"}) as r:
        assert r.status == 400 and "max_score: between 0 and 100" in await r.text()
    async with qa.get(f"{desk.base}/qa/recordings/{sid}") as r:
        page = await r.text()
    marks = re.findall(r'data-category="(\w+)" data-testid="scrubber-mark"', page)
    assert {"chat", "escalation", "consent", "join"} <= set(marks), marks


async def test_agents_read_recordings_only_of_their_own_sessions_when_allowed(
    start_desk: StartDesk,
):
    desk, sid = await recorded_session(start_desk)
    for username in ("agent_ann", "agent_bob"):
        http = await login(desk, username)
        async with http.get(f"{desk.base}/api/recordings/{sid}") as r:
            assert r.status == 403, username  # agent_access is off by default
    anon = await desk.http()
    async with anon.get(f"{desk.base}/api/recordings") as r:
        assert r.status == 401


async def test_with_agent_access_an_agent_reads_only_their_own(start_desk: StartDesk):
    desk, sid = await recorded_session(start_desk, recording={"agent_access": True})
    ann, bob = await login(desk, "agent_ann"), await login(desk, "agent_bob")
    async with ann.get(f"{desk.base}/api/recordings/{sid}") as r:
        assert r.status == 200
    async with bob.get(f"{desk.base}/api/recordings/{sid}") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    async with bob.get(f"{desk.base}/api/recordings") as r:
        assert (await r.json())["recordings"] == []


async def raw_get(base: str, path: str, cookie: str) -> int:
    """Send the request line exactly as given (no client-side normalisation)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n".encode(
            "latin-1"
        )
    )
    await writer.drain()
    status = await reader.readline()
    writer.close()
    return int(status.split()[1])


async def test_file_paths_cannot_leave_the_recordings_directory(start_desk: StartDesk):
    desk, sid = await recorded_session(start_desk)
    qa = await login(desk, "qa_quinn")
    cookie = "; ".join(f"{c.key}={c.value}" for c in qa.cookie_jar)
    (desk.cfg.data_path / "secret.txt").write_text("do not serve")
    attempts = [
        f"/api/recordings/{sid}/files/../../../secret.txt",
        f"/api/recordings/{sid}/files/..%2f..%2f..%2fsecret.txt",
        f"/api/recordings/{sid}/files/%2e%2e%2f%2e%2e%2fsecret.txt",
        f"/api/recordings/{sid}/files/%2e%2e",
        "/api/recordings/..%2f..%2fsecret.txt/files/review",
        f"/api/recordings/{sid}/files/%2fetc%2fpasswd",
        f"/api/recordings/{sid}/files//etc/passwd",
        f"/api/recordings/{sid}/files/review%00.txt",
        f"/api/recordings/{sid}%00/files/timeline",
        f"/api/recordings/{sid}/files/tracks%2f..%2f..%2fmanifest.json",
    ]
    for path in attempts:
        status = await raw_get(desk.base, path, cookie)
        assert status in (400, 404), (path, status)
    # a symlink that leads out of the data directory is not followed
    directory = desk.cfg.data_path / "recordings" / sid
    (directory / layout.THUMBS).unlink(missing_ok=True)
    (directory / layout.THUMBS).symlink_to("/etc/passwd")
    await desk.app[ARCHIVE].execute(
        "UPDATE recordings SET review_bytes=1 WHERE session_id=?", (sid,)
    )
    assert await raw_get(desk.base, f"/api/recordings/{sid}/files/thumbs", cookie) == 404
    assert await raw_get(desk.base, f"/api/recordings/{sid}/files/timeline", cookie) == 200


async def test_past_retention_media_is_deleted_and_the_metadata_stays(start_desk: StartDesk):
    desk, sid = await recorded_session(start_desk)
    jobs = desk.app[RECORDING_JOBS]
    directory = desk.cfg.data_path / "recordings" / sid
    assert list((directory / "tracks").iterdir())
    assert await jobs.expire_due(now=time.time() + 29 * 86400) == []
    while jobs.progress:  # a review rendering in progress is left alone
        await asyncio.sleep(0.1)
    assert await jobs.expire_due(now=time.time() + 31 * 86400) == [sid]
    await desk.app[RECORDING].desk.archive.flush()
    assert list((directory / "tracks").iterdir()) == []
    assert not (directory / layout.REVIEW).exists()
    assert (directory / layout.TIMELINE).exists() and (directory / layout.MANIFEST).exists()
    ((state, expired_at),) = await db_rows(
        desk, "SELECT state, expired_at FROM recordings WHERE session_id=?", sid
    )
    assert state == "expired" and expired_at is not None
    ((detail,),) = await db_rows(
        desk, "SELECT detail FROM audit WHERE kind='recording.expired' AND session_id=?", sid
    )
    assert json.loads(detail)["files"] >= 1
    qa = await login(desk, "qa_quinn")
    async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
        body = await r.json()
    assert body["state"] == "expired" and all(t["url"] is None for t in body["track_list"])


async def test_recording_again_in_the_same_session_adds_files_and_keeps_the_first(
    start_desk: StartDesk,
):
    async with voice_call(start_desk) as (desk, agent, customer, sid):
        for _ in range(2):
            await record(sid, agent, customer)
            await asyncio.sleep(1.0)
            await agent.request("recording.stop", session=sid)
            await wait_kind(agent, sid, "recording.finished")
            agent.events[sid] = [
                m for m in agent.events[sid] if m["event"]["kind"] != "recording.finished"
            ]
        manifest = await finished(desk, sid)
    assert manifest.state == "complete"
    assert len(manifest.tracks) == 2 and all(t.frames > 20 for t in manifest.tracks)
    first, second = sorted(manifest.tracks, key=lambda t: t.first_ms or 0)
    assert first.last_ms is not None and second.first_ms is not None
    assert second.first_ms > first.last_ms, "the second recording follows the first"
    directory = layout.session_dir(desk.cfg.data_path, sid)
    assert all((directory / t.file).exists() for t in manifest.tracks)


async def test_with_a_key_media_is_encrypted_at_rest_and_served_in_plain(
    start_desk: StartDesk, tmp_path: Path
):
    from recorder.sealed import SealedReader, load_kek, new_kek_file

    key_file = tmp_path / "recording.key"
    new_kek_file(key_file)
    desk, sid = await recorded_session(start_desk, recording={"encryption_key_file": str(key_file)})
    directory = desk.cfg.data_path / "recordings" / sid
    files = list((directory / "tracks").iterdir())
    assert files and all(f.name.endswith(".webm.sealed") for f in files)
    ebml = b"\x1a\x45\xdf\xa3"
    assert all(not f.read_bytes().startswith(ebml) for f in files)
    with SealedReader(files[0], load_kek(key_file)) as reader:
        plain = reader.read()
    assert plain.startswith(ebml)
    qa = await login(desk, "qa_quinn")
    async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
        detail = await r.json()
    assert detail["sealed"] is True
    (cam,) = detail["track_list"]
    async with qa.get(f"{desk.base}{cam['url']}", headers={"Range": "bytes=10-4009"}) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 10-4009/{len(plain)}"
        assert await r.read() == plain[10:4010]
    async with qa.get(f"{desk.base}{cam['url']}") as r:
        assert r.status == 200 and await r.read() == plain
    with av.open(io.BytesIO(plain)) as c:
        assert sum(1 for p in c.demux(c.streams[0]) if p.size) == cam["frames"] > 20
    # the review rendering is sealed too, and served in plain
    body = await rendered(desk, sid)
    assert not (directory / layout.REVIEW).exists()
    assert (directory / (layout.REVIEW + ".sealed")).exists()
    async with qa.get(f"{desk.base}{body['review']}") as r:
        assert r.status == 200 and (await r.read())[4:8] == b"ftyp"


async def rendered(desk: Any, sid: str, timeout: float = 60) -> dict[str, Any]:
    """The recording's API view once its review rendering is made."""
    qa = await login(desk, "qa_quinn")
    deadline = time.monotonic() + timeout
    while True:
        async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
            body = await r.json()
        if body["state"] == "rendered":
            return body
        assert body["render_error"] == "", body["render_error"]
        assert time.monotonic() < deadline, f"not rendered: {body}"
        await asyncio.sleep(0.3)


async def test_the_review_rendering_is_made_after_the_session_and_served(start_desk: StartDesk):
    desk, sid = await recorded_session(
        start_desk, recording={"render_width": 640, "render_height": 360}
    )
    body = await rendered(desk, sid)
    assert body["review_duration_s"] == pytest.approx(body["duration_s"], abs=0.5)
    qa = await login(desk, "qa_quinn")
    async with qa.get(f"{desk.base}{body['review']}", headers={"Range": "bytes=0-99"}) as r:
        assert r.status == 206 and r.headers["Content-Type"] == "video/mp4"
    async with qa.get(f"{desk.base}{body['thumbs']}") as r:
        assert r.status == 200 and (await r.read())[:2] == b"\xff\xd8"
    review = desk.cfg.data_path / "recordings" / sid / layout.REVIEW
    with av.open(str(review)) as c:
        assert {s.type for s in c.streams} == {"video", "audio"}
        assert c.streams.video[0].width == 640
    await desk.app[RECORDING].desk.archive.flush()
    kinds = [k for _, k, _ in desk.archive_events(sid)]
    assert "recording.rendered" in kinds
    (job,) = await db_rows(
        desk, "SELECT state, progress FROM jobs WHERE kind='render' AND session_id=?", sid
    )
    assert job == ("done", 1.0)


async def recorded_call(start_desk: StartDesk, *, seconds: float) -> tuple[Any, str, Any]:
    """A voice call recorded for ``seconds`` and stopped; transcribed, not rendered."""
    users = (("agent_ann",), ("qa_quinn", {"role": "qa"}))
    async with voice_call(start_desk, users=users, recording={"render": False}) as (
        desk,
        agent,
        customer,
        sid,
    ):
        await record(sid, agent, customer)
        await asyncio.sleep(seconds)
        await agent.request("recording.stop", session=sid)
        manifest = await finished(desk, sid)
    return desk, sid, manifest


async def test_a_finished_recording_is_transcribed_and_the_transcript_served(
    start_desk: StartDesk,
):
    desk, sid, _ = await recorded_call(start_desk, seconds=1.5)
    deadline = time.monotonic() + 60
    while True:
        rows = await db_rows(desk, "SELECT state, error FROM jobs WHERE kind='transcribe'")
        if rows and rows[0][0] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.3)
    assert rows == [("done", "")]
    qa = await login(desk, "qa_quinn")
    async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
        body = await r.json()
    async with qa.get(f"{desk.base}{body['transcript_vtt']}") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/vtt")
        assert (await r.text()).startswith("WEBVTT")
    await desk.app[RECORDING].desk.archive.flush()
    assert "recording.transcribed" in [k for _, k, _ in desk.archive_events(sid)]


async def test_the_job_list_shows_a_failure_with_its_reason_and_a_retry_runs_it_again(
    start_desk: StartDesk,
):
    """A failure runs again by itself (job_attempts = 3), then waits for a person."""
    desk, sid = await recorded_session(
        start_desk,
        recording={
            "render_width": 640,
            "render_height": 360,
            "transcribe": False,
            "job_attempts": 3,
        },
    )
    await rendered(desk, sid)
    qa = await login(desk, "qa_quinn")

    async def render_job() -> dict[str, Any]:
        async with qa.get(f"{desk.base}/api/jobs") as r:
            assert r.status == 200
            (job,) = [j for j in (await r.json())["jobs"] if j["kind"] == "render"]
            return job

    async def settled() -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while (job := await render_job())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        return job

    first = await render_job()
    assert first["state"] == "done" and first["progress"] == 1.0 and first["attempts"] == 1
    tracks = desk.cfg.data_path / "recordings" / sid / "tracks"
    hidden = tracks.with_name("hidden")
    tracks.rename(hidden)
    async with qa.post(f"{desk.base}/api/jobs/{first['id']}/retry") as r:
        assert r.status == 200
    failed = await settled()
    assert failed["state"] == "failed" and failed["attempts"] == 3, "attempt 2, then 3 by itself"
    assert failed["error"].startswith("nothing_recorded:")
    await desk.app[RECORDING].desk.archive.flush()
    notes = [d["job"] for _, k, d in desk.archive_events(sid) if k == "recording.render_failed"]
    assert notes == ["queued", "failed"]
    async with qa.get(f"{desk.base}/qa/jobs") as r:
        page = await r.text()
    assert 'data-state="failed"' in page and "nothing_recorded" in page
    hidden.rename(tracks)
    async with qa.post(f"{desk.base}/api/jobs/{first['id']}/retry") as r:
        assert r.status == 200
    again = await settled()
    assert again["state"] == "done" and again["attempts"] == 4
    agent = await login(desk, "agent_ann")
    async with agent.get(f"{desk.base}/api/jobs") as r:
        assert r.status == 403


async def test_a_reviewer_cancels_a_running_transcription_and_its_worker_stops(
    start_desk: StartDesk,
):
    from .test_transcription import opus_track

    desk, sid, manifest = await recorded_call(start_desk, seconds=1.0)
    qa = await login(desk, "qa_quinn")

    async def job() -> dict[str, Any]:
        async with qa.get(f"{desk.base}/api/jobs") as r:
            (found,) = [j for j in (await r.json())["jobs"] if j["kind"] == "transcribe"]
            return found

    deadline = time.monotonic() + 60
    while (first := await job())["state"] != "done":
        assert time.monotonic() < deadline, first
        await asyncio.sleep(0.2)
    # two minutes of noise bursts (1 s on, 1 s off) in place of the microphone: sixty
    # "utterances" for the decoder, a transcription that takes a while. Steady noise would
    # not do: the speech detector takes a constant level for the floor and skips it all.
    path = layout.session_dir(desk.cfg.data_path, sid) / manifest.tracks[0].file
    noise = np.random.default_rng(7).normal(0, 6000, 48_000 * 120)
    noise *= (np.arange(noise.size) // 48_000) % 2 == 0
    noise = noise.astype(np.int16)
    opus_track(path, [(1000, noise, 48_000)], 121)
    async with qa.post(f"{desk.base}/api/jobs/{first['id']}/retry") as r:
        assert r.status == 200
    running_by = time.monotonic() + 60  # its own allowance: the first run may have been slow
    while (running := await job())["state"] != "running" or running["progress"] <= 0:
        assert time.monotonic() < running_by, running
        await asyncio.sleep(0.1)
    async with qa.post(f"{desk.base}/api/jobs/{first['id']}/cancel") as r:
        assert r.status == 200, await r.text()
    stopped_by = time.monotonic() + 10
    while (ended := await job())["state"] == "running":
        assert time.monotonic() < stopped_by, "the worker did not stop"
        await asyncio.sleep(0.1)
    assert ended["state"] == "cancelled" and ended["error"] == "cancelled: by qa_quinn"
    assert ended["attempts"] == 2, "a cancelled job is not run again by itself"
    async with qa.post(f"{desk.base}/api/jobs/{first['id']}/cancel") as r:
        assert r.status == 409 and (await r.json())["error"]["code"] == "wrong_state"
    async with qa.post(f"{desk.base}/api/jobs/99999/cancel") as r:
        assert r.status == 404
    await desk.app[RECORDING].desk.archive.flush()
    assert await db_rows(desk, "SELECT actor FROM audit WHERE kind='job.cancelled'") == [
        ("qa_quinn",)
    ]
    notes = [d for _, k, d in desk.archive_events(sid) if k == "recording.transcribe_failed"]
    assert notes == [{"error": "cancelled: by qa_quinn", "job": "cancelled"}]
    agent_http = await login(desk, "agent_ann")
    async with agent_http.post(f"{desk.base}/api/jobs/{first['id']}/cancel") as r:
        assert r.status == 403


async def test_reviewers_score_a_session_and_only_the_author_or_an_admin_changes_it(
    start_desk: StartDesk,
):
    users = (
        ("agent_ann",),
        ("qa_quinn", {"role": "qa"}),
        ("qa_rhea", {"role": "qa"}),
        ("admin_ada", {"role": "admin"}),
    )
    desk, sid = await recorded_session(
        start_desk, users=users, recording={"render": False, "transcribe": False}
    )
    quinn = await login(desk, "qa_quinn")
    rhea = await login(desk, "qa_rhea")
    ada = await login(desk, "admin_ada")
    url = f"{desk.base}/api/recordings/{sid}"
    answers = {
        "greeting": {"value": True},
        "disclosure": {"value": False},
        "resolution": {"value": 4},
        "tone": {"value": 5},
    }
    async with quinn.put(f"{url}/score", json={"answers": answers}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["message"] == (
            "disclosure: a comment is required when it fails"
        )
    answers["disclosure"] = {"value": False, "comment": "never said it"}
    async with quinn.put(f"{url}/score", json={"answers": answers}) as r:
        assert r.status == 200
        total = (await r.json())["total"]
    assert total == pytest.approx(100 * (1 + 0 + 3 * 0.75 + 2) / 8, abs=0.1)
    async with rhea.put(f"{url}/score", json={"answers": answers, "reviewer": "qa_quinn"}) as r:
        assert r.status == 403
    answers["disclosure"] = {"value": True}
    async with ada.put(f"{url}/score", json={"answers": answers, "reviewer": "qa_quinn"}) as r:
        assert r.status == 200
    async with quinn.post(f"{url}/comments", json={"at": 12.5, "text": "good save here"}) as r:
        assert r.status == 201
    async with rhea.get(f"{url}/review") as r:
        review = await r.json()
    (mine,) = review["scores"]
    assert mine["reviewer"] == "qa_quinn" and mine["updated_by"] == "admin_ada"
    assert mine["total"] == pytest.approx(100 * (1 + 2 + 2.25 + 2) / 8, abs=0.1)
    assert [(c["author"], c["at"], c["text"]) for c in review["comments"]] == [
        ("qa_quinn", 12.5, "good save here")
    ]
    agent = await login(desk, "agent_ann")
    async with agent.get(f"{url}/review") as r:
        assert r.status == 403


async def test_kpis_count_escalation_consent_qa_and_the_customers_survey(start_desk: StartDesk):
    async with voice_call(
        start_desk,
        users=(("agent_ann",), ("qa_quinn", {"role": "qa"})),
        recording={"render": False, "transcribe": False},
    ) as (desk, agent, customer, sid):
        await record(sid, agent, customer)
        await asyncio.sleep(0.5)
    http = await desk.http()
    csat_url = f"{desk.base}/api/sessions/{sid}/csat"
    bearer = {"Authorization": f"Bearer {customer.token}"}
    async with http.post(csat_url, json={"score": 4}, headers=bearer) as r:
        assert r.status == 409, "not before the conversation ends"
    await agent.request("session.wrapup", session=sid)
    await agent.request("session.complete", session=sid, disposition="solved")
    async with http.post(csat_url, json={"score": 9}, headers=bearer) as r:
        assert r.status == 400
    async with http.post(csat_url, json={"score": 4}, headers=bearer) as r:
        assert r.status == 201
    async with http.post(csat_url, json={"score": 5}, headers=bearer) as r:
        assert r.status == 409, "answered once"
    async with http.post(csat_url, json={"score": 5}) as r:
        assert r.status == 401
    qa = await login(desk, "qa_quinn")
    answers = {
        "greeting": {"value": True},
        "disclosure": {"value": True},
        "resolution": {"value": 5},
        "tone": {"value": 5},
    }
    async with qa.put(f"{desk.base}/api/recordings/{sid}/score", json={"answers": answers}) as r:
        assert r.status == 200
    async with qa.get(f"{desk.base}/api/kpis", params={"by": "agent"}) as r:
        (row,) = (await r.json())["rows"]
    assert row["agent"] == "agent_ann" and row["sessions"] == 1
    assert row["escalation_rate"] == 1.0 and row["to_voice"] == 1.0 and row["by_agent"] == 1
    assert row["consent_rate"] == 1.0 and row["avg_qa_score"] == 100.0
    assert (row["avg_csat"], row["csat_answers"]) == (4.0, 1)
    assert row["avg_wait_s"] is not None and row["avg_handle_s"] > 0
    async with qa.get(f"{desk.base}/api/kpis.csv", params={"by": "entry"}) as r:
        lines = (await r.text()).strip().splitlines()
    assert lines[0].startswith("entry,sessions,") and lines[1].startswith("demo,1,")
    async with qa.get(f"{desk.base}/qa/kpis") as r:
        page = await r.text()
    assert r.status == 200 and 'data-key="agent_ann"' in page
    # the charts draw the same figures: the voice escalation, the agent's score and CSAT
    titles = re.findall(r"<title>([^<]+)</title>", page)
    assert "agent_ann · Avg QA score: 100" in titles and "agent_ann · CSAT: 4" in titles
    assert any(x.endswith(" · Voice: 100%") for x in titles), titles
    assert "agent_ann · Agent: 1" in titles
    async with qa.get(f"{desk.base}/api/kpis", params={"days": "many"}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "bad_message"
    ann = await login(desk, "agent_ann")
    async with ann.get(f"{desk.base}/api/kpis") as r:
        assert r.status == 403
