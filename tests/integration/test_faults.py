"""Faults on a real server: a disk that fills while recording, a transcription worker that
crashes, a browser that disappears without closing.

Each fault is made for real: a 4 MiB tmpfs mounted as the recordings directory and
filled with a ballast file (the kernel answers ENOSPC), SIGKILL to the worker process the
server started, and a TCP forwarder between client and server that stops carrying bytes
and closes nothing (no FIN, no reset), as a closed laptop does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import pytest_asyncio

from recorder import layout
from signaling.client import CustomerClient, StaffClient, join_cobrowse
from signaling.client_media import MediaClient
from signaling.keys import ARCHIVE, MEDIA, NODE
from visual.sources import frame_digest

from .conftest import PASSWORD, Desk, StartDesk, _fail_or_skip
from .tcp_proxy import TcpProxy
from .test_media import accepted_pair, agree, audio_clip, peers, track, video_clip, wait_kind
from .test_recording import entry, login, record, same_run

pytestmark = pytest.mark.usefixtures("media_clips")

HEARTBEAT_S = 1.0
"""Small enough to wait for, large enough that a busy loop does not drop a healthy socket
(aiohttp waits half a heartbeat for the pong)."""


# ---------------------------------------------------------------- a disk that fills


@dataclass
class SmallDisk:
    """A 4 MiB tmpfs mounted at ``<data>/recordings``; the archive stays on the real disk."""

    data: Path
    recordings: Path

    @property
    def ballast(self) -> Path:
        return self.recordings / "ballast"

    def fill(self, *, leave: int) -> None:
        """Take all but about ``leave`` bytes of the free space."""
        st = os.statvfs(self.recordings)
        with open(self.ballast, "ab") as fh:
            fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))

    def free(self) -> None:
        self.ballast.unlink()

    def free_bytes(self) -> int:
        st = os.statvfs(self.recordings)
        return st.f_bavail * st.f_frsize


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """Only the recordings are on the small disk: a full archive is the SQLite writer's
    case (it keeps its batches until the file takes them), and a node whose archive is
    full is degraded as a whole, which is not what this test is about."""
    data = tmp_path / "data"
    recordings = data / "recordings"
    recordings.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(recordings)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        _fail_or_skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield SmallDisk(data, recordings)
    finally:
        subprocess.run(["umount", "-l", str(recordings)], check=False)


def webm_digests(data: bytes) -> list[bytes]:
    """The frames a (possibly cut short) WebM file holds, as digests, in order."""
    out: list[bytes] = []
    with av.open(io.BytesIO(data)) as c:
        with contextlib.suppress(av.error.FFmpegError):  # a cluster cut off by the full disk
            for p in c.demux(c.streams[0]):
                if p.size:
                    out.append(frame_digest(bytes(p)))
    return out


async def frames_keep_coming(am: MediaClient, pub: str, more: int = 15) -> None:
    got = am.received[pub]
    start = got.count
    await am.wait_frames(pub, start + more, timeout=15)


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "encrypted"])
async def test_a_full_disk_stops_the_recording_and_nothing_else(
    start_desk: StartDesk, small_disk: SmallDisk, sealed: bool
):
    """The disk fills mid-recording: the recording stops with ``disk_full`` (both sides are
    told, the written part plays, the archive says interrupted); the call, the chat, other
    sessions and new sessions go on; with space again, recording works. With encryption
    at rest as without: the sealed chunks written before the disk filled open."""
    from recorder.sealed import new_kek_file

    recording: dict[str, Any] = {"render": False, "transcribe": False}
    if sealed:
        # the key stays off the small disk, as an operator's key file would
        key_file = small_disk.data / "recording.key"
        new_kek_file(key_file)
        recording["encryption_key_file"] = str(key_file)
    users = (("agent_ann",), ("qa_quinn", {"role": "qa"}))
    desk, agent, customer, sid = await accepted_pair(
        start_desk,
        users=users,
        server={"data_dir": str(small_disk.data)},
        entries=entry(),
        recording=recording,
    )
    other = await desk.customer("another question", name="Lee")
    other_sid = await agent.wait_offer()
    await agent.request("offer.accept", session=other_sid)
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, cam_sent = track(video_clip())
        await cm.publish("camera", cam)
        await cm.publish("mic", track(audio_clip())[0])
        pub = (await am.wait_publication("camera"))["pub"]
        await am.wait_frames(pub, 10, timeout=15)

        small_disk.fill(leave=96 * 1024)
        await record(sid, agent, customer)
        failed = await agent.wait_event(sid, "recording.failed", timeout=30)
        assert failed["event"]["data"]["code"] == "disk_full"
        assert "No space left on device" in failed["event"]["data"]["error"]
        for side in (agent, customer):
            stopped = await side.wait_event(sid, "recording.stopped", timeout=10)
            assert stopped["event"]["data"] == {"reason": "disk_full"}
            assert stopped["event"]["actor_role"] == "system"
        finished = await agent.wait_event(sid, "recording.finished", timeout=15)
        assert finished["event"]["data"]["reason"] == "disk_full"

        # the session goes on: media, chat both ways, nobody disconnected
        await frames_keep_coming(am, pub)
        await customer.say("can you still see me?")
        await agent.wait_event(sid, "chat.message")
        await agent.say(sid, "yes, all good")
        await customer.wait_event(sid, "chat.message")
        assert not customer.closed.is_set() and not agent.closed.is_set()
        again = await CustomerClient.start(await desk.http(), desk.base, entry="demo", text="x")
        desk.clients.append(again)
        await customer.reconnect()
        assert customer.welcome["session"]["recording"]["state"] == "stopped"
        # other sessions and new ones are unaffected
        await other.say("still there?")
        await agent.wait_event(other_sid, "chat.message")
        async with (await desk.http()).get(desk.base + "/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"

        # what was written before the disk filled plays: an unbroken run of what was sent
        qa = await login(desk, "qa_quinn")
        await desk.app[ARCHIVE].flush()
        async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
            row = await r.json()
        assert row["state"] == "interrupted" and row["interrupted"] is True
        (cam_track,) = [t for t in row["track_list"] if t["source"] == "camera"]
        async with qa.get(f"{desk.base}{cam_track['url']}") as r:
            assert r.status == 200
            written = webm_digests(await r.read())
        assert written, "nothing of the recording was kept"
        assert same_run(written, cam_sent.digests)
        audit = await desk.app[ARCHIVE].fetch(
            "SELECT reason FROM audit WHERE kind='recording.interrupted' AND session_id=?", (sid,)
        )
        assert audit == [("disk_full",)]

        # space again: recording the same session works, and the first run stays listed
        small_disk.free()
        await record(sid, agent, customer)
        await asyncio.sleep(1.5)
        await agent.request("recording.stop", session=sid)
        done = await agent.wait_event(sid, "recording.finished", timeout=15)
        assert done["event"]["data"]["reason"] != "disk_full"
        assert done["event"]["data"]["frames"] > 0
    directory = layout.session_dir(small_disk.data, sid)
    manifest = layout.read_manifest(directory)
    assert manifest.state == "complete"
    # a rewrite of the timeline may be in flight right now (the session's end writes it
    # in a thread): only a temporary file that stays is left behind
    for _ in range(50):
        if not list(directory.glob("*.tmp")):
            break
        await asyncio.sleep(0.1)
    assert not list(directory.glob("*.tmp")), "a refused write left a temporary file"
    assert all(t.file.endswith(".sealed") == sealed for t in manifest.tracks)
    cut_short = [t for t in manifest.tracks if t.state == "interrupted"]
    assert cut_short and all("No space left" in t.error for t in cut_short)
    fresh = [t for t in manifest.tracks if t.state == "complete" and t.source == "camera"]
    assert fresh and fresh[0].frames > 10
    assert small_disk.free_bytes() > 0


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "encrypted"])
async def test_a_full_disk_stops_a_co_browse_recording_and_co_browsing_goes_on(
    start_desk: StartDesk, small_disk: SmallDisk, sealed: bool
):
    """A co-browse-only recording has no media track to notice the full disk: the page
    stream's own write failure stops the recording with ``disk_full``, both sides are
    told, and the page keeps reaching the agent. With encryption at rest as without."""
    from recorder.sealed import new_kek_file

    recording: dict[str, Any] = {"render": False, "transcribe": False}
    if sealed:
        key_file = small_disk.data / "recording.key"
        new_kek_file(key_file)
        recording["encryption_key_file"] = str(key_file)
    desk, agent, customer, sid = await accepted_pair(
        start_desk,
        server={"data_dir": str(small_disk.data)},
        entries={"demo": {"channels": ["chat", "cobrowse"], "recording": {}}},
        recording=recording,
    )
    await agree(sid, agent, customer, "cobrowse")
    await agent.wait_event(sid, "channel.accepted")
    snapshot = [
        {"type": 4, "data": {"href": "https://shop.example/"}, "timestamp": 1},
        {"type": 2, "data": {"pad": "x" * 60_000}, "timestamp": 2},
    ]
    await record(sid, agent, customer)
    await customer.wait_for(lambda m: m.get("type") == "cobrowse.snapshot", timeout=5)
    small_disk.fill(leave=0)
    await customer.send_cobrowse(snapshot, snapshot=True)

    failed = await agent.wait_event(sid, "recording.failed", timeout=15)
    assert failed["event"]["data"]["code"] == "disk_full"
    assert failed["event"]["data"]["error"].startswith("co-browse: ")
    assert "No space left on device" in failed["event"]["data"]["error"]
    for side in (agent, customer):
        stopped = await side.wait_event(sid, "recording.stopped", timeout=10)
        assert stopped["event"]["data"] == {"reason": "disk_full"}
    # co-browsing and chat go on
    later = [{"type": 3, "data": {"source": 2}, "timestamp": 9}]
    await customer.send_cobrowse(later)
    got = await agent.wait_for(
        lambda m: m.get("type") == "cobrowse.events" and join_cobrowse([m]) == [later],
        timeout=5,
    )
    assert got["session"] == sid
    await customer.say("is the page still there?")
    await agent.wait_event(sid, "chat.message")
    assert not customer.closed.is_set() and not agent.closed.is_set()
    async with (await desk.http()).get(desk.base + "/healthz") as r:
        assert r.status == 200


# ---------------------------------------------------------------- a worker that crashes


def worker_pids() -> list[int]:
    """This process's children running ``python -m transcribe`` (what the server started)."""
    me = os.getpid()
    found = []
    for entry_ in os.scandir("/proc"):
        if not entry_.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry_.name}/stat") as fh:
                ppid = int(fh.read().rpartition(")")[2].split()[1])
            if ppid != me:
                continue
            with open(f"/proc/{entry_.name}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if b"-m" in argv and b"transcribe" in argv:
            found.append(int(entry_.name))
    return found


async def kill_next_worker(timeout: float = 60) -> int:
    """SIGKILL the transcription worker as soon as one runs (as the OOM killer would)."""
    deadline = time.monotonic() + timeout
    while not (pids := worker_pids()):
        assert time.monotonic() < deadline, "no transcription worker started"
        await asyncio.sleep(0.01)
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


async def transcribe_job(qa: aiohttp.ClientSession, desk: Desk) -> dict[str, Any]:
    async with qa.get(f"{desk.base}/api/jobs") as r:
        assert r.status == 200
        (job,) = [j for j in (await r.json())["jobs"] if j["kind"] == "transcribe"]
        return job


async def job_reaches(
    qa: aiohttp.ClientSession, desk: Desk, ok: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not ok(job := await transcribe_job(qa, desk)):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.05)
    return job


@contextlib.asynccontextmanager
async def recorded_voice_call(
    start_desk: StartDesk, **recording: Any
) -> AsyncIterator[tuple[Desk, StaffClient, str, asyncio.Task[int]]]:
    """A voice call recorded for a second; the first transcription worker it starts is
    killed (the task's result: its pid)."""
    users = (("agent_ann",), ("qa_quinn", {"role": "qa"}))
    desk, agent, customer, sid = await accepted_pair(
        start_desk,
        users=users,
        entries=entry(),
        recording={"render": False, "job_retry_pause_s": 1.0, **recording},
    )
    await agree(sid, agent, customer, "voice")
    async with peers(customer, agent, sid) as (cm, am):
        await cm.publish("mic", track(audio_clip())[0])
        pub = (await am.wait_publication("mic"))["pub"]
        await am.wait_frames(pub, 20, timeout=15)
        await record(sid, agent, customer)
        await asyncio.sleep(1.0)
        killer = asyncio.create_task(kill_next_worker())
        await agent.request("recording.stop", session=sid)
        await agent.wait_event(sid, "recording.finished", timeout=15)
    yield desk, agent, sid, killer


async def transcribe_notes(desk: Desk, sid: str) -> list[dict[str, Any]]:
    await desk.app[ARCHIVE].flush()
    return [d for _, k, d in desk.archive_events(sid) if k == "recording.transcribe_failed"]


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_killed_transcription_worker_is_retried_and_the_server_carries_on(
    start_desk: StartDesk,
):
    """SIGKILL the worker mid-job: the job goes back to the queue (attempts 1, the reason
    on the job, the timeline and the audit log), runs again to the end; meanwhile the
    server answers and another session chats."""
    async with recorded_voice_call(start_desk, job_attempts=2) as (desk, agent, sid, killer):
        other = await desk.customer("a question meanwhile", name="Lee")
        other_sid = await agent.wait_offer()
        await agent.request("offer.accept", session=other_sid)
        qa = await login(desk, "qa_quinn")
        await killer
        requeued = await job_reaches(qa, desk, lambda j: j["state"] != "running")
        assert requeued["state"] == "queued" and requeued["attempts"] == 1
        assert requeued["error"] == (
            "attempt 1 failed, trying again: crashed: the worker was killed by SIGKILL"
        )
        async with qa.get(desk.base + "/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        await other.say("are you there?")
        await agent.wait_event(other_sid, "chat.message")
        await agent.say(other_sid, "yes")
        await other.wait_event(other_sid, "chat.message")

        done = await job_reaches(qa, desk, lambda j: j["state"] in ("done", "failed"))
        assert (done["state"], done["attempts"], done["error"]) == ("done", 2, "")
        assert not worker_pids()
        async with qa.get(f"{desk.base}/api/recordings/{sid}") as r:
            assert (await r.json())["transcript_vtt"]
        notes = await transcribe_notes(desk, sid)
        assert [n["job"] for n in notes] == ["queued"]
        assert "recording.transcribed" in [k for _, k, _ in desk.archive_events(sid)]
        audit = await desk.app[ARCHIVE].fetch(
            "SELECT reason FROM audit WHERE kind='job.requeued' AND session_id=?", (sid,)
        )
        assert audit == [("worker crashed",)]


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_worker_that_keeps_crashing_ends_the_job_failed(start_desk: StartDesk):
    """Every attempt is killed: after ``job_attempts`` crashes the job is ``failed`` with
    the reason, and is not tried again by itself."""
    async with recorded_voice_call(start_desk, job_attempts=2) as (desk, _, sid, killer):
        qa = await login(desk, "qa_quinn")
        await killer
        await job_reaches(qa, desk, lambda j: j["state"] == "queued")
        await kill_next_worker()
        failed = await job_reaches(qa, desk, lambda j: j["state"] in ("failed", "done"))
        assert (failed["state"], failed["attempts"]) == ("failed", 2)
        assert failed["error"] == "crashed: the worker was killed by SIGKILL"
        await asyncio.sleep(2.5)  # more than the retry pause: nothing runs it again
        assert await transcribe_job(qa, desk) == failed
        assert not worker_pids()
        notes = await transcribe_notes(desk, sid)
        assert [n["job"] for n in notes] == ["queued", "failed"]


# ---------------------------------------------------------------- a browser that vanishes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def proxy_to() -> AsyncIterator[Callable[[Desk], Awaitable[TcpProxy]]]:
    """A forwarder to a desk; closed (its connections reset) before the desk stops, so a
    client stuck behind a frozen one closes at once."""
    made: list[TcpProxy] = []

    async def make(desk: Desk) -> TcpProxy:
        port = int(desk.base.rsplit(":", 1)[1])
        proxy = TcpProxy("127.0.0.1", port, port=free_port())
        await proxy.start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        await proxy.close()


def via(proxy: TcpProxy) -> str:
    return f"http://{proxy.url_host}"


async def test_a_customer_who_vanishes_is_detected_and_the_agent_told(
    start_desk: StartDesk, proxy_to: Callable[[Desk], Awaitable[TcpProxy]]
):
    """The customer's network goes silent: the heartbeat finds it, the agent gets
    ``participant.disconnected`` (``timeout``), then ``participant.reconnected``."""
    desk = await start_desk(limits={"ws_heartbeat_s": HEARTBEAT_S})
    agent = await desk.staff("agent_ann")
    proxy = await proxy_to(desk)
    http = await desk.http()
    customer = await CustomerClient.start(http, via(proxy), entry="demo", text="hello")
    desk.clients.append(customer)
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")

    proxy.freeze()
    lost = await agent.wait_event(sid, "participant.disconnected", timeout=15)
    assert lost["event"]["data"] == {"side": "customer", "reason": "timeout"}
    assert lost["event"]["actor_role"] == "system"
    assert not customer.closed.is_set(), "the customer's end never heard a thing"
    await agent.say(sid, "are you still there?")  # the session goes on

    back = CustomerClient(
        http, desk.base, origin=None, session=sid, token=customer.token, info=customer.info
    )
    desk.clients.append(back)
    await back.connect()
    returned = await agent.wait_event(sid, "participant.reconnected")
    assert returned["event"]["data"] == {"side": "customer"}
    await back.say("sorry, my wifi")
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "sorry, my wifi"
    )
    await desk.app[ARCHIVE].flush()
    kinds = [k for _, k, _ in desk.archive_events(sid)]
    assert kinds.count("participant.disconnected") == 1
    assert kinds.count("participant.reconnected") == 1


async def test_an_agent_who_vanishes_is_detected_and_the_customer_told(
    start_desk: StartDesk, proxy_to: Callable[[Desk], Awaitable[TcpProxy]]
):
    desk = await start_desk(limits={"ws_heartbeat_s": HEARTBEAT_S})
    proxy = await proxy_to(desk)
    agent = await StaffClient.login(await desk.http(), via(proxy), "agent_ann", PASSWORD)
    desk.clients.append(agent)
    await agent.set_status("available")
    customer = await desk.customer(name="Kim")
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")

    proxy.freeze()
    lost = await customer.wait_event(sid, "participant.disconnected", timeout=15)
    assert lost["event"]["data"] == {"side": "agent", "reason": "timeout"}
    assert lost["event"]["actor_id"] == "system"
    await customer.say("hello?")  # the session is still active for the customer

    back = StaffClient(agent.http, desk.base, origin=None)
    back.cookie = agent.cookie
    desk.clients.append(back)
    await back.connect()
    returned = await customer.wait_event(sid, "participant.reconnected")
    assert returned["event"]["data"] == {"side": "agent"}


async def test_a_clean_close_is_noted_too_and_a_second_tab_keeps_the_customer_present(
    start_desk: StartDesk,
):
    """A page closed (a close handshake) is ``closed``; while another socket of the same
    customer still follows the session, nothing is noted."""
    desk, agent, customer, sid = await accepted_pair(start_desk)
    tab = CustomerClient(
        await desk.http(), desk.base, origin=None, session=sid, token=customer.token, info={}
    )
    desk.clients.append(tab)
    await tab.connect()
    node = desk.app[NODE]
    await customer.disconnect()
    while len(node.connections) > 2:  # the server has seen it go (agent and tab remain)
        await asyncio.sleep(0.01)
    await agent.say(sid, "marker")  # anything noted before it would arrive before it
    await agent.wait_event(sid, "chat.message")
    assert "participant.disconnected" not in [m["event"]["kind"] for m in agent.events.get(sid, [])]
    await tab.disconnect()
    lost = await agent.wait_event(sid, "participant.disconnected")
    assert lost["event"]["data"] == {"side": "customer", "reason": "closed"}


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_vanished_customer_in_a_call_has_its_peer_connection_closed(
    start_desk: StartDesk, proxy_to: Callable[[Desk], Awaitable[TcpProxy]]
):
    """The browser vanishes mid-call: its peer connection on the server is closed and its
    camera withdrawn (``media.closed``, reason ``connection lost``); the agent's stays."""
    desk = await start_desk(limits={"ws_heartbeat_s": HEARTBEAT_S}, entries=entry())
    agent = await desk.staff("agent_ann")
    proxy = await proxy_to(desk)
    customer = await CustomerClient.start(await desk.http(), via(proxy), entry="demo", text="hi")
    desk.clients.append(customer)
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        await cm.publish("camera", track(video_clip())[0])
        await am.publish("mic", track(audio_clip())[0])
        pub = (await am.wait_publication("camera"))["pub"]
        await am.wait_frames(pub, 10, timeout=15)
        room = desk.app[MEDIA].plane.room(sid)
        assert room is not None
        server_pc = room.peers[cm.you].pc
        assert server_pc is not None and server_pc.connectionState == "connected"

        proxy.freeze()
        await agent.wait_event(sid, "participant.disconnected", timeout=15)
        closed = await wait_kind(agent, sid, "media.closed", timeout=15)
        assert closed["data"] == {"reason": "connection lost"}
        assert closed["actor_role"] == "customer"
        gone = await wait_kind(agent, sid, "media.unpublished")
        assert gone["data"]["pub"] == pub and gone["data"]["reason"] == "connection lost"
        assert server_pc.connectionState == "closed"
        assert cm.you not in room.peers
        assert am.you in room.peers and room.peers[am.you].state == "connected"
