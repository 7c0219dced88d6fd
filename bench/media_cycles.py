"""Media connect/disconnect cycles: does the server give back everything a session took?

One ``livedesk run`` process; this script is the customers and the agent. Each **media
cycle** is a whole conversation with video:

1. a customer starts a session over HTTP and opens its WebSocket; the agent opens a
   socket of its own for this session (a console tab), is offered it and accepts;
2. the agent asks for video and the customer consents;
3. both open an aiortc peer connection to the server and publish a camera and a
   microphone (pre-encoded clips); each side waits for at least one video frame of the
   other's camera, forwarded by the server;
4. the conversation ends one of three ways, in turn:

   * ``clean``: both hang up (``media.hangup``), the customer leaves, the agent
     completes the session, both sockets close with a close frame;
   * ``abrupt``: the customer's socket drops without a close frame and its peer
     connection is left open; the agent wraps up and completes, which closes the
     server's side of the media; then the agent's socket drops the same way;
   * ``pc_first``: both peer connections are closed first, with no word on the
     socket; the server sees them go (``media.failed``); then the customer leaves, the
     agent completes and the sockets close cleanly.

Every ``--record-every``-th cycle also records (both sides consent; rendering and
transcription are off: they are jobs, measured elsewhere). ``--parallel`` cycles (2) are
in flight at a time, all with the same agent, whose console tab stays open throughout.

Before the media cycles, as the **baseline** of the same run, the script does the same
number of **chat cycles** (a session, one chat message each way, the same three ways of
ending, no media): their memory growth is what the signalling side and the memory
store's retention of ended sessions (``ENDED_RETENTION_S``, an hour) cost per session,
so what the media cycles add on top of it is the media plane's.

After a warm-up, and after every ``--every`` cycles, with no cycle in flight and a
settle longer than ``cluster.lease_s`` (an ended session's ownership is released after
a lease), it samples the server process: RSS, open file descriptors, UDP sockets
(its socket inodes found in ``/proc/PID/net/udp{,6}``), threads (``/proc/PID/task``),
and its asyncio tasks (``livedesk_asyncio_tasks`` on ``/metrics``). At the end it
compares each with the sample taken after the warm-up: leaked tasks, descriptors and
UDP ports should be zero, and RSS growth should stay under ``--bound-mib``.

    PYTHONPATH=. python bench/media_cycles.py                     # 1,000 cycles, ~15-25 min
    PYTHONPATH=. python bench/media_cycles.py --cycles 100 --chat-cycles 100
    PYTHONPATH=. python bench/media_cycles.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import HOST, Proc, base_env, free_port, proc_mem_mb, wait_http

from signaling.client import CustomerClient, StaffClient, _Client
from signaling.client_media import MediaClient
from visual.ice import restrict_host_addresses
from visual.sources import Clip, ClipTrack, synthetic_audio, synthetic_video

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ENDINGS = ("clean", "abrupt", "pc_first")
AGENT = "cycle_agent"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --------------------------------------------------------------------------- the server's holdings


def socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                out.add(target[8:-1])
    return out


def udp_sockets(pid: int) -> int:
    """UDP sockets the process holds: its socket inodes listed in /proc/PID/net/udp{,6}."""
    mine = socket_inodes(pid)
    count = 0
    for table in ("udp", "udp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as fh:
            next(fh)  # the header
            for line in fh:
                cols = line.split()
                if len(cols) > 9 and cols[9] in mine:
                    count += 1
    return count


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def tcp_peers(pid: int) -> dict[str, int]:
    """Socket inode -> remote port, for the process's TCP sockets."""
    out = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as fh:
            next(fh)
            for line in fh:
                cols = line.split()
                if len(cols) > 9:
                    out[cols[9]] = int(cols[2].rsplit(":", 1)[1], 16)
    return out


STORE_PORT = 0
"""The Redis port with ``--redis``: the server's connections to it are its store pool."""


def fd_kinds(pid: int) -> dict[str, int]:
    """Open descriptors by what they are: connections to the Redis store (a bounded pool),
    other sockets, the SQLite archive (the writer's and one reader per executor thread),
    recording files, anything else."""
    out: Counter[str] = Counter()
    peers = tcp_peers(pid) if STORE_PORT else {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:") and peers.get(target[8:-1]) == STORE_PORT:
            out["store"] += 1
        elif target.startswith("socket:"):
            out["socket"] += 1
        elif "archive.sqlite3" in target:
            out["archive"] += 1
        elif "/recordings/" in target:
            out["recording"] += 1
        else:
            out["other"] += 1
    return dict(out)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """Unlabelled gauges from /metrics (plus the media ones)."""
    async with http.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as r:
        text = await r.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or "{" in line:
            continue
        name, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


async def sample(http: aiohttp.ClientSession, base: str, pid: int, cycles: int) -> dict[str, Any]:
    # the fewest tasks of a few scrapes: timers of the idle server (heartbeats, the router)
    # come and go, and the scrape's own request is one of them
    scrapes = []
    for _ in range(4):
        scrapes.append(await scrape(http, base))
        await asyncio.sleep(0.25)
    m = min(scrapes, key=lambda x: x.get("livedesk_asyncio_tasks", 0))
    rss, hwm = proc_mem_mb(pid)
    return {
        "cycles": cycles,
        "at": time.monotonic(),
        "rss_mib": rss,
        "hwm_mib": hwm,
        "fds": fd_count(pid),
        "fd_kinds": fd_kinds(pid),
        "udp": udp_sockets(pid),
        "threads": thread_count(pid),
        "tasks": int(m.get("livedesk_asyncio_tasks", -1)),
        "connections": int(m.get("livedesk_connections", -1)),
        "media_rooms": int(m.get("livedesk_media_rooms", -1)),
        "media_peers": int(m.get("livedesk_media_peers", -1)),
        "media_publications": int(m.get("livedesk_media_publications", -1)),
        "loadgen_fds": fd_count(os.getpid()),
        "loadgen_udp": udp_sockets(os.getpid()),
    }


# --------------------------------------------------------------------------- one cycle


@dataclass
class Rig:
    """What every cycle shares: the server, the agent's login, the clips."""

    base: str
    http: aiohttp.ClientSession  # the agent's cookie jar
    cookie: str
    clips: dict[str, Clip]
    record_every: int
    anchor: StaffClient | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    stage: dict[int, str] = field(default_factory=dict)
    """Where each cycle in flight has got to, for the failure report."""
    endings: Counter[str] = field(default_factory=Counter)
    recorded: int = 0

    async def agent_socket(self) -> StaffClient:
        agent = StaffClient(self.http, self.base, origin=None)
        agent.cookie = self.cookie
        await agent.connect()
        return agent


def abort_socket(client: _Client) -> None:
    """Drop the client's TCP connection with no WebSocket close frame (a tab that died)."""
    ws = client.ws
    conn = getattr(ws, "_conn", None) if ws is not None else None
    transport = getattr(conn, "transport", None)
    if transport is not None:
        transport.abort()


async def forget(client: _Client) -> None:
    """Close a client's socket however it stands, without waiting on a dead peer."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 5)


async def accepted(rig: Rig, http: aiohttp.ClientSession) -> tuple[CustomerClient, StaffClient]:
    customer = await CustomerClient.start(http, rig.base, entry="cycles", text="hello")
    agent = await rig.agent_socket()
    sid = customer.session
    await agent.wait_for(
        lambda m: (
            m.get("type") == "console"
            and any(s["session"] == sid and s["state"] == "offered" for s in m["sessions"])
        ),
        timeout=30,
    )
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")
    return customer, agent


async def end_session(ending: str, customer: CustomerClient, agent: StaffClient) -> None:
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
    ending = ENDINGS[n % len(ENDINGS)]
    async with aiohttp.ClientSession() as http:
        customer: CustomerClient | None = None
        agent: StaffClient | None = None
        try:
            rig.stage[n] = "start and accept"
            customer, agent = await accepted(rig, http)
            sid = customer.session
            rig.stage[n] = "chat"
            await agent.say(sid, "how can I help?")
            await customer.say("it is fine now, thanks")
            rig.stage[n] = f"end ({ending})"
            await end_session(ending, customer, agent)
        finally:
            for c in (customer, agent):
                if c is not None:
                    await forget(c)
    rig.endings[f"chat/{ending}"] += 1


async def media_cycle(rig: Rig, n: int) -> None:
    ending = ENDINGS[n % len(ENDINGS)]
    recording = rig.record_every > 0 and n % rig.record_every == 0
    async with aiohttp.ClientSession() as http:
        customer: CustomerClient | None = None
        agent: StaffClient | None = None
        media: list[MediaClient] = []
        try:
            rig.stage[n] = "start and accept"
            customer, agent = await accepted(rig, http)
            sid = customer.session
            rig.stage[n] = "video consent"
            await agent.request("channel.request", session=sid, channel="video")
            await customer.wait_event(sid, "channel.offered")
            await customer.request("channel.respond", session=sid, channel="video", accept=True)
            cm, am = (
                MediaClient(customer, sid, keep_digests=False),
                MediaClient(agent, sid, keep_digests=False),
            )
            media += [cm, am]
            rig.stage[n] = "publish"
            await cm.start()
            await am.start()
            for m in media:
                await m.publish("camera", ClipTrack(rig.clips["video"]))
                await m.publish("mic", ClipTrack(rig.clips["audio"]))
            rig.stage[n] = "first frames"
            for viewer in media:
                pub = await viewer.wait_publication("camera", timeout=20)
                await viewer.wait_frames(pub["pub"], 1, timeout=20)
            rig.stage[n] = "recording consent"
            if recording:
                await agent.request("recording.request", session=sid)
                await customer.wait_event(sid, "recording.requested")
                await customer.request("recording.respond", session=sid, accept=True)
                await agent.wait_event(sid, "recording.started")
                rig.recorded += 1
            rig.stage[n] = f"media end ({ending})"
            if ending == "clean":
                for m in media:
                    await m.client.request("media.hangup", session=sid)
                    await m.close()
            elif ending == "pc_first":
                for m in media:
                    await m.close()
                for m in media:
                    await wait_failed(m)
            rig.stage[n] = f"end ({ending})"
            await end_session(ending, customer, agent)
        finally:
            for m in media:
                with contextlib.suppress(Exception):
                    await m.close()
            for c in (customer, agent):
                if c is not None:
                    await forget(c)
    rig.endings[f"media/{ending}{'+rec' if recording else ''}"] += 1


async def wait_failed(media: MediaClient) -> None:
    """The server noticed that this participant's own peer connection went away."""
    await media.client.wait_for(
        lambda m: (
            m.get("type") == "media.state"
            and m["owner"] == media.you
            and m["state"] in ("failed", "closed")
        ),
        timeout=20,
    )


# --------------------------------------------------------------------------- phases


async def run_cycles(
    rig: Rig,
    kind: str,
    cycle: Callable[[Rig, int], Awaitable[None]],
    start: int,
    count: int,
    *,
    parallel: int,
    timeout: float,
) -> None:
    """``count`` cycles numbered from ``start``, ``parallel`` at a time; all done on return."""
    numbers = iter(range(start, start + count))

    async def lane() -> None:
        for n in numbers:
            try:
                await asyncio.wait_for(cycle(rig, n), timeout)
            except Exception as exc:  # a failed cycle is a figure, not the end of the run
                rig.failures.append(
                    {
                        "kind": kind,
                        "cycle": n,
                        "stage": rig.stage.get(n, "?"),
                        "error": f"{type(exc).__name__}: {exc}",
                        "trace": traceback.format_exc(limit=6),
                    }
                )
                log(
                    f"  {kind} cycle {n} failed at {rig.stage.get(n, '?')}: "
                    f"{type(exc).__name__}: {exc}"
                )
            rig.stage.pop(n, None)
            if rig.anchor is not None:
                # the console tab that stays open is never read: keep its inbox short
                rig.anchor.inbox.clear()
                rig.anchor.events.clear()
                rig.anchor.last_seq.clear()

    await asyncio.gather(*(lane() for _ in range(parallel)))


async def settle(http: aiohttp.ClientSession, base: str, seconds: float) -> None:
    """Let the server finish closing: a peer connection closes within a few seconds, and
    an ended session's ownership is kept a lease's length (``cluster.lease_s``, 6 s)."""
    deadline = time.monotonic() + max(seconds, 20.0)
    await asyncio.sleep(seconds)
    while time.monotonic() < deadline:
        m = await scrape(http, base)
        if m.get("livedesk_media_peers", 0) == 0 and m.get("livedesk_connections", 0) <= 1:
            return
        await asyncio.sleep(0.5)


def fmt_sample(s: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["fd_kinds"].items()))
    return (
        f"RSS {s['rss_mib']:.1f} MiB, fds {s['fds']} ({kinds}), UDP {s['udp']}, "
        f"threads {s['threads']}, "
        f"tasks {s['tasks']}, sockets {s['connections']}, media peers {s['media_peers']}"
    )


async def phase(
    rig: Rig,
    http: aiohttp.ClientSession,
    proc: Proc,
    kind: str,
    cycle: Callable[[Rig, int], Awaitable[None]],
    total: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    samples = [await sample(http, rig.base, proc.pid, 0)]
    log(f"{kind}: start: {fmt_sample(samples[0])}")
    t0 = time.monotonic()
    busy = 0.0
    done = 0
    failed_before = len(rig.failures)
    while done < total:
        step = min(args.every, total - done)
        s0 = time.monotonic()
        await run_cycles(
            rig, kind, cycle, done, step, parallel=args.parallel, timeout=args.cycle_timeout
        )
        busy += time.monotonic() - s0
        done += step
        if not proc.alive():
            raise RuntimeError(f"livedesk died:\n{proc.tail()}")
        await settle(http, rig.base, args.settle)
        s = await sample(http, rig.base, proc.pid, done)
        samples.append(s)
        log(f"{kind}: {done} cycles: {fmt_sample(s)} ({done / busy:.2f} cycles/s)")
    first, last = samples[0], samples[-1]
    growth = last["rss_mib"] - first["rss_mib"]
    return {
        "kind": kind,
        "cycles": total,
        "failures": len(rig.failures) - failed_before,
        "seconds": time.monotonic() - t0,
        "cycles_per_s": total / busy if busy else None,
        "samples": samples,
        "rss_growth_mib": growth,
        "rss_growth_mib_per_1000": growth * 1000 / total if total else 0.0,
        "leaked": {k: last[k] - first[k] for k in ("fds", "udp", "threads", "tasks")},
    }


# --------------------------------------------------------------------------- server


def write_config(work: Path, port: int, args: argparse.Namespace) -> Path:
    cfg = work / "livedesk.toml"
    store = (
        f'\n[store]\nredis_url = "{args.redis}"\nkey_prefix = "{args.key_prefix}"\n'
        if args.redis
        else ""
    )
    cfg.write_text(
        f"""
[server]
host = "{HOST}"
port = {port}
data_dir = "{work / "data"}"
demo = false
log_level = "warning"

[limits]
# one agent runs every cycle: its messages (offers, renegotiations) are counted together
messages_per_s = 500
message_burst = 1000

[media]
host_addresses = ["{HOST}"]
media_failure_grace_s = 5.0

[recording]
render = false
transcribe = false

[entries.cycles]
title = "cycles"
channels = ["chat", "voice", "video"]
{store}"""
    )
    return cfg


async def start_server(
    http: aiohttp.ClientSession, work: Path, args: argparse.Namespace
) -> tuple[Proc, str, str]:
    port = free_port()
    cfg = write_config(work, port, args)
    password = "cycles-" + secrets.token_hex(8)
    env = {**base_env(), "LIVEDESK_NEW_PASSWORD": password}
    add = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", "user", "add", AGENT,
        "--role", "agent", "--capacity", "100", "--config", str(cfg),
        env=env, cwd=work, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await add.communicate()
    if add.returncode != 0:
        raise RuntimeError(out.decode(errors="replace"))
    proc = Proc(
        "livedesk",
        [sys.executable, "-m", "signaling", "run", "--config", str(cfg)],
        env=base_env(),
        cwd=work,
        log=work / "livedesk.log",
        cpus=None,
    )
    base = f"http://{HOST}:{port}"
    try:
        await wait_http(http, base + "/healthz", proc, 60)
    except BaseException:
        proc.stop()
        raise
    return proc, base, password


async def drop_keys(url: str, prefix: str) -> None:
    """The run's keys in Redis go with it."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    restrict_host_addresses([HOST])
    loop = asyncio.get_running_loop()
    video = await loop.run_in_executor(
        None, lambda: synthetic_video(seconds=2, width=320, height=240, bitrate=200_000)
    )
    audio = await loop.run_in_executor(None, lambda: synthetic_audio(seconds=2))
    work = Path(tempfile.mkdtemp(prefix="livedesk-cycles-"))
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    async with aiohttp.ClientSession() as http:
        proc, base, password = await start_server(http, work, args)
        try:
            agent = await StaffClient.login(http, base, AGENT, password)
            await agent.set_status("available")
            rig = Rig(base, http, agent.cookie, {"video": video, "audio": audio}, args.record_every)
            rig.anchor = agent  # a console tab open all along: presence never lapses
            log(f"livedesk pid {proc.pid}; warm-up: {args.warmup} media + {args.warmup} chat")
            await run_cycles(
                rig, "warmup", media_cycle, 0, args.warmup, parallel=args.parallel, timeout=60
            )
            await run_cycles(
                rig, "warmup", chat_cycle, 0, args.warmup, parallel=args.parallel, timeout=60
            )
            await settle(http, base, args.settle)
            out["warmup_failures"] = len(rig.failures)
            if args.chat_cycles:
                out["chat"] = await phase(
                    rig, http, proc, "chat", chat_cycle, args.chat_cycles, args
                )
            out["media"] = await phase(rig, http, proc, "media", media_cycle, args.cycles, args)
            out["baseline_after_warmup"] = (out.get("chat") or out["media"])["samples"][0]
            out["failures"] = rig.failures
            out["endings"] = dict(rig.endings)
            out["recorded"] = rig.recorded
            await agent.disconnect()
        finally:
            proc.stop()
            out["server_log_tail"] = proc.tail(30)
            if args.redis:
                await drop_keys(args.redis, args.key_prefix)
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return out


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [""]
    for key in ("chat", "media"):
        ph = res.get(key)
        if not ph:
            continue
        lines.append(
            f"{key} cycles: {ph['cycles']} in {ph['seconds']:.0f} s "
            f"({ph['cycles_per_s']:.2f} cycles/s), failures {ph['failures']}"
        )
        lines.append(
            "| cycles | RSS MiB | fds (sockets / store / archive / recording / other) | UDP "
            "| threads | tasks | WebSockets | media peers |"
        )
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in ph["samples"]:
            k = s["fd_kinds"]
            kinds = "/".join(
                str(k.get(x, 0)) for x in ("socket", "store", "archive", "recording", "other")
            )
            lines.append(
                f"| {s['cycles']} | {s['rss_mib']:.1f} | {s['fds']} ({kinds}) | {s['udp']} "
                f"| {s['threads']} | {s['tasks']} | {s['connections']} | {s['media_peers']} |"
            )
        lines.append(
            f"RSS growth: {ph['rss_growth_mib']:+.1f} MiB "
            f"({ph['rss_growth_mib_per_1000']:+.1f} MiB per 1,000 cycles); "
            "left over at the end vs the start: "
            + ", ".join(f"{k} {v:+d}" for k, v in ph["leaked"].items())
        )
        lines.append("")
    media = res["media"]
    base = res["baseline_after_warmup"]
    last = media["samples"][-1]
    total_growth = last["rss_mib"] - base["rss_mib"]
    media_growth = media["rss_growth_mib"]
    chat_per_1000 = res["chat"]["rss_growth_mib_per_1000"] if res.get("chat") else None
    held = media_growth < args.bound_mib
    lines.append(
        f"server RSS after warm-up {base['rss_mib']:.1f} MiB, before the media cycles "
        f"{media['samples'][0]['rss_mib']:.1f} MiB, at the end {last['rss_mib']:.1f} MiB"
    )
    lines.append(
        f"RSS growth over the {media['cycles']} media cycles: {media_growth:+.1f} MiB; "
        f"bound < {args.bound_mib:g} MiB: {'held' if held else 'NOT held'} "
        f"(all phases after warm-up: {total_growth:+.1f} MiB)"
    )
    lines.append(
        f"media cycles: {media['rss_growth_mib_per_1000']:+.1f} MiB per 1,000"
        + (
            f"; chat cycles (baseline, same run): {chat_per_1000:+.1f} MiB per 1,000; "
            f"media on top: {media['rss_growth_mib_per_1000'] - chat_per_1000:+.1f} MiB per 1,000"
            if chat_per_1000 is not None
            else ""
        )
    )
    leaked = {k: last[k] - base[k] for k in ("fds", "udp", "threads", "tasks")}
    for kind in ("socket", "store", "archive", "recording", "other"):
        leaked[f"fds:{kind}"] = last["fd_kinds"].get(kind, 0) - base["fd_kinds"].get(kind, 0)
    # a new worker of the default executor (bounded: min(32, cpus + 4) threads) opens its
    # own SQLite reader (the file and its -wal): a pool filling up, not a leak
    pooled = leaked["fds"] - leaked["fds:store"]
    pool = leaked["threads"] > 0 and pooled == leaked["fds:archive"] == 2 * leaked["threads"]
    # connections to Redis are a pool too (redis-py's, bounded by its max_connections)
    hard = {
        k: v for k, v in leaked.items() if k not in ("fds", "threads", "fds:archive", "fds:store")
    }
    zero = all(v <= 0 for v in hard.values()) and (pool or (pooled <= 0 and leaked["threads"] <= 0))
    lines.append(
        "after every cycle, vs after warm-up: "
        + ", ".join(f"{k} {v:+d}" for k, v in leaked.items())
        + (" (zero leaked" if zero else " (LEAK")
        + (
            f"; the {leaked['threads']} more thread(s) and their archive files are the "
            "default executor's pool filling up, each worker with its own SQLite reader)"
            if zero and pool
            else ")"
        )
    )
    lines.append(
        f"failures: {len(res['failures'])} (warm-up {res['warmup_failures']}); "
        f"endings: {res['endings']}; recorded: {res['recorded']}"
    )
    res["verdict"] = {
        "rss_bound_held": held,
        "leaked": leaked,
        "zero_leaked": zero,
        "total_growth_mib": total_growth,
    }
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cycles", type=int, default=1000, help="media cycles (1000)")
    ap.add_argument("--chat-cycles", type=int, default=1000, help="baseline chat cycles (1000)")
    ap.add_argument("--warmup", type=int, default=20, help="cycles of each kind first (20)")
    ap.add_argument("--every", type=int, default=100, help="sample after this many cycles (100)")
    ap.add_argument("--parallel", type=int, default=2, help="cycles in flight at once (2)")
    ap.add_argument("--record-every", type=int, default=10, help="every Nth cycle records (10)")
    ap.add_argument(
        "--settle", type=float, default=8.0, help="seconds before each sample (8, > lease_s)"
    )
    ap.add_argument("--cycle-timeout", type=float, default=60.0, help="one cycle at most (60 s)")
    ap.add_argument("--bound-mib", type=float, default=30.0, help="stated RSS bound (30 MiB)")
    ap.add_argument(
        "--redis",
        default="",
        help="keep live state in this Redis (redis://127.0.0.1:6379/0), not in the server "
        "process: ended sessions are then held there, not in its RSS (default: memory store)",
    )
    ap.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with the server log")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.key_prefix = f"bench-cycles:{secrets.token_hex(4)}"
    if args.redis:
        global STORE_PORT
        from urllib.parse import urlsplit

        STORE_PORT = urlsplit(args.redis).port or 6379
    res = asyncio.run(amain(args))
    print(report(res, args), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.json or RESULTS / f"media_cycles-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2, default=str))
    log(f"results in {path}")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
