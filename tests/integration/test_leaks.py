"""Connect/disconnect cycles give back everything they took: tasks, descriptors, UDP ports.

The server runs in this process (``start_desk``), so what is counted is the whole
process: the server and the test's own clients. After a warm-up (which starts what is
started once: executor threads, the archive writer), the test counts this process's
asyncio tasks, open file descriptors, UDP sockets, threads and live RTCPeerConnections,
runs a number of cycles, lets the closes finish, and counts again: each must be back
where it was. The server's own books (media rooms, sockets, the media service's
per-session actors, recordings) must be empty too. The long version, against a server
process and with memory figures, is ``bench/media_cycles.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from signaling.client import CustomerClient, StaffClient
from signaling.client_media import MediaClient
from signaling.keys import ARCHIVE, MEDIA, NODE, RECORDING
from visual.sources import ClipTrack

from .conftest import Desk, StartDesk
from .test_media import audio_clip, video_clip

pytestmark = pytest.mark.usefixtures("media_clips")

memory_store = pytest.mark.parametrize("store_kind", ["memory"])

ENDINGS = ("clean", "abrupt", "pc_first")
MEDIA_ENTRY = {
    "demo": {"channels": ["chat", "voice", "video"], "recording": {"mode": "on_request"}}
}
# one agent takes every cycle's offers, renegotiations and requests
LIMITS = {"messages_per_s": 500.0, "message_burst": 1000}


# --------------------------------------------------------------------------- counting


def _udp_sockets() -> int:
    """This process's UDP sockets: its socket inodes listed in /proc/self/net/udp{,6}."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                mine.add(target[8:-1])
    count = 0
    for table in ("udp", "udp6"):
        with contextlib.suppress(OSError), open(f"/proc/self/net/{table}") as fh:
            next(fh)
            count += sum(1 for line in fh if line.split()[9] in mine)
    return count


def _peer_connections() -> int:
    """RTCPeerConnections still alive anywhere in the process (after a full collection)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection))


def _describe(o: object) -> str:
    if isinstance(o, dict):
        return f"dict{sorted(map(str, o))[:6]}"
    if isinstance(o, (list, tuple, set)):
        return f"{type(o).__name__}(len={len(o)})"
    if inspect.isframe(o):
        return f"frame {o.f_code.co_name} ({o.f_code.co_filename}:{o.f_lineno})"
    return type(o).__qualname__


def _pc_holders(depth: int = 4) -> list[str]:
    """For each live peer connection, chains of what refers to it, up to ``depth``
    levels, to name what keeps it alive."""
    gc.collect()
    here = inspect.currentframe()
    out: list[str] = []
    for pc in [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection)]:
        chain: list[str] = []
        level: list[object] = [pc]
        for _ in range(depth):
            nxt = [
                r
                for o in level
                for r in gc.get_referrers(o)
                if r is not here and r is not level and not (isinstance(r, list) and len(r) > 999)
            ][:4]
            if not nxt:
                break
            chain.append(" | ".join(_describe(r) for r in nxt))
            level = nxt
        out.append(" <- ".join(chain))
    return out


@dataclass(frozen=True)
class Holdings:
    tasks: int
    fds: int
    udp: int
    threads: int
    peer_connections: int

    @classmethod
    def now(cls) -> Holdings:
        return cls(
            tasks=len(asyncio.all_tasks()),
            fds=len(os.listdir("/proc/self/fd")),
            udp=_udp_sockets(),
            threads=len(os.listdir("/proc/self/task")),
            peer_connections=_peer_connections(),
        )

    def within(self, start: Holdings) -> bool:
        """No more than at ``start``, and no peer connection at all: with every session
        over, none may outlive its session, not even the last one. (One used to: a loop's
        leftover local in the media watchdog, and in the recorder's writer thread, kept the
        last peer connection seen alive until another session came along.)"""
        if self.peer_connections:
            return False
        return all(getattr(self, f) <= getattr(start, f) for f in self.__dataclass_fields__)


@dataclass(frozen=True)
class Names:
    """What the counts are made of, to say what was left behind."""

    tasks: frozenset[str]
    fds: frozenset[str]
    threads: frozenset[str]

    @classmethod
    def now(cls) -> Names:
        fds = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                fds.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        return cls(
            tasks=frozenset(f"{t.get_name()}: {t.get_coro()!r}" for t in asyncio.all_tasks()),
            fds=frozenset(fds),
            threads=frozenset(t.name for t in threading.enumerate()),
        )

    def added_since(self, start: Names) -> dict[str, list[str]]:
        return {
            "tasks": sorted(self.tasks - start.tasks)[:15],
            "fds": sorted(self.fds - start.fds)[:15],
            "threads": sorted(self.threads - start.threads),
        }


async def fill_executor(desk: Desk) -> None:
    """The default executor's threads, and the SQLite reader each opens on its first read,
    are made once per thread up to the pool's size: a pool, not a leak. Fill it first, so
    that a cycle which happens to need one more thread does not look like one."""
    loop = asyncio.get_running_loop()
    pool = getattr(loop, "_default_executor", None)
    size = getattr(pool, "_max_workers", None) or min(32, (os.cpu_count() or 1) + 4)
    barrier = threading.Barrier(size)
    open_reader = getattr(desk.app[ARCHIVE], "_reader", None)  # the SQLite archive's

    def hold() -> None:
        barrier.wait(timeout=10)  # every worker at once: the pool starts all of them
        if open_reader is not None:
            open_reader()

    await asyncio.gather(*(loop.run_in_executor(None, hold) for _ in range(size)))


async def baseline(desk: Desk) -> tuple[Holdings, Names]:
    """What the process holds once the warm-up's closes have finished."""
    await fill_executor(desk)
    before = Holdings.now()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # until two looks a second apart agree
        await asyncio.sleep(1.0)
        now = Holdings.now()
        if now == before:
            break
        before = now
    return before, Names.now()


async def back_to(start: Holdings, names: Names, *, within: float = 15.0) -> None:
    """Wait until nothing more than at ``start`` is held; fail with what is left if not.

    Some closes take a while by design: a peer connection's close, and an ended session's
    ownership, kept a lease's length (``cluster.lease_s``, 6 s) for late notes.
    """
    deadline = time.monotonic() + within
    while True:
        now = Holdings.now()
        if now.within(start):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"left behind after the cycles: {now}, against {start} at the start; "
                f"new since then: {Names.now().added_since(names)}; "
                f"peer connections held by: {_pc_holders()}"
            )
        await asyncio.sleep(0.5)


def assert_server_books_empty(desk: Desk, anchor_sockets: int = 1) -> None:
    media = desk.app[MEDIA]
    assert media.plane.rooms == {}
    assert media._actors == {}, "the media service still holds actors of ended sessions"
    assert len(desk.app[NODE].connections) == anchor_sockets
    assert desk.app[RECORDING].active == {}


# --------------------------------------------------------------------------- cycles


@dataclass
class Rig:
    desk: Desk
    anchor: StaffClient  # the agent's console tab, open all along

    async def agent_socket(self) -> StaffClient:
        agent = StaffClient(self.anchor.http, self.desk.base, origin=None)
        agent.cookie = self.anchor.cookie
        await agent.connect()
        return agent

    def trim(self) -> None:
        """The anchor is never read: keep what it was sent from piling up."""
        self.anchor.inbox.clear()
        self.anchor.events.clear()
        self.anchor.last_seq.clear()


def abort_socket(client: CustomerClient | StaffClient) -> None:
    """Drop the TCP connection with no close frame, as a tab that died."""
    ws = client.ws
    transport = getattr(getattr(ws, "_conn", None), "transport", None)
    if transport is not None:
        transport.abort()


async def forget(client: CustomerClient | StaffClient | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 5)


async def accepted(rig: Rig, http: aiohttp.ClientSession) -> tuple[CustomerClient, StaffClient]:
    customer = await CustomerClient.start(http, rig.desk.base, entry="demo", text="hello")
    agent = await rig.agent_socket()
    sid = customer.session
    await agent.wait_for(
        lambda m: (
            m.get("type") == "console"
            and any(s["session"] == sid and s["state"] == "offered" for s in m["sessions"])
        ),
        timeout=15,
    )
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")
    return customer, agent


async def end(ending: str, customer: CustomerClient, agent: StaffClient) -> None:
    sid = customer.session
    if ending == "abrupt":
        abort_socket(customer)
        await agent.request("session.wrapup", session=sid)
        await agent.request("session.complete", session=sid)
        abort_socket(agent)
    else:
        await customer.request("session.leave", session=sid)
        await agent.wait_event(sid, "session.wrap_up")
        await agent.request("session.complete", session=sid)
        await customer.wait_event(sid, "session.ended")


async def chat_cycle(rig: Rig, n: int) -> None:
    async with aiohttp.ClientSession() as http:
        customer = agent = None
        try:
            customer, agent = await accepted(rig, http)
            await agent.say(customer.session, "how can I help?")
            await customer.say("all good now")
            await end(ENDINGS[n % 3], customer, agent)
        finally:
            await forget(customer)
            await forget(agent)
    rig.trim()


async def media_cycle(rig: Rig, n: int, *, record: bool = False) -> None:
    ending = ENDINGS[n % 3]
    async with aiohttp.ClientSession() as http:
        customer = agent = None
        media: list[MediaClient] = []
        try:
            customer, agent = await accepted(rig, http)
            sid = customer.session
            await agent.request("channel.request", session=sid, channel="video")
            await customer.wait_event(sid, "channel.offered")
            await customer.request("channel.respond", session=sid, channel="video", accept=True)
            media = [MediaClient(customer, sid), MediaClient(agent, sid)]
            for m in media:
                await m.start()
            for m in media:
                await m.publish("camera", ClipTrack(video_clip()))
                await m.publish("mic", ClipTrack(audio_clip()))
            for m in media:  # each side sees the other's camera
                pub = await m.wait_publication("camera", timeout=15)
                await m.wait_frames(pub["pub"], 1, timeout=15)
            if record:
                await agent.request("recording.request", session=sid)
                await customer.wait_event(sid, "recording.requested")
                await customer.request("recording.respond", session=sid, accept=True)
                await agent.wait_event(sid, "recording.started")
            if ending == "clean":
                for m in media:
                    await m.client.request("media.hangup", session=sid)
                    await m.close()
            elif ending == "pc_first":
                for m in media:
                    await m.close()
                for m in media:  # the server saw each of them go
                    you = m.you
                    await m.client.wait_for(
                        lambda msg, you=you: (
                            msg.get("type") == "media.state"
                            and msg["owner"] == you
                            and msg["state"] in ("failed", "closed")
                        ),
                        timeout=15,
                    )
            await end(ending, customer, agent)
        finally:
            for m in media:
                await m.close()
            await forget(customer)
            await forget(agent)
    rig.trim()


async def rig_up(start_desk: StartDesk, **sections: Any) -> Rig:
    desk = await start_desk(
        users=(("agent_ann", {"capacity": 10}),),
        entries=MEDIA_ENTRY,
        limits=LIMITS,
        recording={"render": False, "transcribe": False},
        **sections,
    )
    return Rig(desk, await desk.staff("agent_ann"))


async def cycles(rig: Rig, cycle: Callable[[Rig, int], Awaitable[None]], first: int, n: int):
    for i in range(first, first + n):
        await cycle(rig, i)


# --------------------------------------------------------------------------- tests


@memory_store
async def test_media_cycles_leave_no_task_descriptor_udp_port_or_thread(start_desk: StartDesk):
    """Video both ways, then a clean hang-up, a dropped socket, or peers closed first."""
    rig = await rig_up(start_desk)
    await cycles(rig, media_cycle, 0, 3)  # one of each ending
    start, names = await baseline(rig.desk)
    await cycles(rig, media_cycle, 3, 9)
    await back_to(start, names)
    assert_server_books_empty(rig.desk)


@memory_store
async def test_chat_cycles_leave_no_task_or_descriptor(start_desk: StartDesk):
    rig = await rig_up(start_desk)
    await cycles(rig, chat_cycle, 0, 3)
    start, names = await baseline(rig.desk)
    await cycles(rig, chat_cycle, 3, 15)
    await back_to(start, names)
    assert_server_books_empty(rig.desk)


@memory_store
async def test_recorded_media_cycles_leave_nothing_behind(start_desk: StartDesk):
    """The recorder's files and writers go with the recording."""

    async def recorded(rig: Rig, n: int) -> None:
        await media_cycle(rig, n, record=True)

    rig = await rig_up(start_desk)
    await cycles(rig, recorded, 0, 1)
    start, names = await baseline(rig.desk)
    await cycles(rig, recorded, 1, 3)
    await back_to(start, names)
    assert_server_books_empty(rig.desk)


async def test_closing_a_media_client_never_hangs_on_its_publication_watcher():
    """asyncio.wait_for in Python 3.11 swallows a cancel that lands as its wait completes;
    the watcher then waited again, and MediaClient.close() waited for it for ever.

    Each round delivers a publication list and closes the client a few loop turns later,
    so that some round lands the cancel right on the hand-over. ``close()`` runs as a task
    of its own and is never cancelled here (a cancel from outside would get it unstuck).
    """
    stuck = []
    async with aiohttp.ClientSession() as http:
        for turns in range(8):
            client = CustomerClient(
                http, "http://127.0.0.1:9", origin=None, session="s", token="t", info={}
            )
            media = MediaClient(client, "s", auto_subscribe=False)
            watcher = media._watcher = asyncio.create_task(media._watch_publications())
            while not client._arrived._waiters:  # the watcher waits for a message
                await asyncio.sleep(0)
            client._on_message({"type": "media.publications", "session": "s", "publications": []})
            for _ in range(turns):
                await asyncio.sleep(0)
            closing = asyncio.create_task(media.close())
            done, _ = await asyncio.wait({closing}, timeout=3)
            if not done:
                stuck.append(turns)
                watcher.cancel()  # let it go, so the test itself ends
                await asyncio.wait({closing})
            assert watcher.done()
    assert stuck == [], f"close() hung when cancelling {stuck} loop turns after a message"


async def _gauges(desk: Desk) -> dict[str, float]:
    http = await desk.http()
    async with http.get(desk.base + "/metrics") as r:
        text = await r.text()
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("livedesk_asyncio_tasks", "livedesk_threads", "livedesk_open_fds"):
            out[name] = float(value)
    return out


@memory_store
async def test_metrics_count_the_processes_tasks_threads_and_descriptors(start_desk: StartDesk):
    """What bench/media_cycles.py reads from a server process it cannot look into (other
    tasks come and go meanwhile, hence the margins)."""
    desk = await start_desk()
    before = await _gauges(desk)
    stop = threading.Event()
    sleepers = [asyncio.create_task(asyncio.sleep(60)) for _ in range(50)]
    threads = [threading.Thread(target=stop.wait, name=f"test-idle-{i}") for i in range(3)]
    for t in threads:
        t.start()
    pipes = [os.pipe() for _ in range(10)]
    try:
        during = await _gauges(desk)
    finally:
        for pipe in pipes:
            for fd in pipe:
                os.close(fd)
        stop.set()
        for t in threads:
            t.join()
        for task in sleepers:
            task.cancel()
        await asyncio.gather(*sleepers, return_exceptions=True)
    after = await _gauges(desk)
    assert during["livedesk_asyncio_tasks"] >= before["livedesk_asyncio_tasks"] + 40
    assert after["livedesk_asyncio_tasks"] <= during["livedesk_asyncio_tasks"] - 40
    # threads only up: the server may start one of its own (an executor worker) meanwhile
    assert during["livedesk_threads"] >= before["livedesk_threads"] + 3
    assert during["livedesk_open_fds"] >= before["livedesk_open_fds"] + 15
    assert after["livedesk_open_fds"] <= during["livedesk_open_fds"] - 15
