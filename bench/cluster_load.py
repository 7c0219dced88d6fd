#!/usr/bin/env python
"""Cluster benchmark: livedesk on 1, 2 and 4 nodes on this machine, one Redis.

For each node count it starts a deployment (``python -m signaling run`` per node, all on
one ``store.redis_url`` and a fresh ``store.key_prefix``, one data dir) and measures:

- **media sessions held**: two-party video sessions (customer and agent each send
  640x480 VP8 at 30 fps plus Opus, pre-encoded clips, as bench/media_load.py does),
  ramped up in steps until video or audio delivery drops under 99 % (or
  ``--max-sessions``). Customers and agents sit on different nodes; each session's media
  is forwarded by the node that owns it.
- **chat messages per second**: customer/agent pairs with the customer on one node and
  the agent on the next, so every message crosses nodes over Redis, sending
  ``chat.send`` as fast as a bounded number in flight allows, over a window.

Then a summary: how each figure scales against 1 node measured in the same run. Every
process shares the machine's cores, the load generator included; its CPU is printed
next to the servers'. Results also go to bench/results/cluster_load-<timestamp>.json.
Everything listens and connects on 127.0.0.1 only. See bench/README.md.

    PYTHONPATH=. python bench/cluster_load.py                 # 1, 2 and 4 nodes, ~5 min
    PYTHONPATH=. python bench/cluster_load.py --nodes 1,2 --seconds 3 --max-sessions 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import chat_load
import media_load
from chat_load import (
    HOST,
    PREFIX,
    Conn,
    Pair,
    Phase,
    Proc,
    base_env,
    clean_redis,
    free_port,
    gather_limited,
    log,
    machine_cpu,
    pct,
    proc_cpu_s,
    proc_mem_mb,
    wait_http,
)

from signaling.client import StaffClient
from visual.ice import restrict_host_addresses
from visual.sources import Clip, synthetic_audio, synthetic_video

RESULTS = Path(__file__).resolve().parent / "results"
CAPACITY = 100  # each agent's; the most `user add` allows
RATE_LIMIT = 10_000  # limits.messages_per_s raised to its maximum: the in-flight bound paces

STOP_WAIT_S = 15.0  # SIGTERM to exit, with cluster.drain_timeout_s = 0
CLOSE_WAIT_S = 10.0  # one client's close (peer connection, socket)
LOG_LEVELS = ("warning", "error", "critical")  # structlog's console renderer: "[warning  ]"

perf = time.perf_counter


# --------------------------------------------------------------------------- the deployment


def node_config(
    path: Path, data: Path, redis_url: str, prefix: str, log_level: str, database: str
) -> None:
    """The TOML every node of one deployment reads (host and port come on the command line)."""
    archive = ["[archive]", f'url = "{database}"'] if database else []
    path.write_text(
        "\n".join(
            [
                "[server]",
                f'host = "{HOST}"',
                f'data_dir = "{data}"',
                f'secret = "{secrets.token_hex(24)}"',
                "demo = false",
                f'log_level = "{log_level}"',
                "[store]",
                f'redis_url = "{redis_url}"',
                f'key_prefix = "{prefix}"',
                "[cluster]",
                "drain_timeout_s = 0.0",  # SIGTERM between node counts ends sessions at once
                "[limits]",
                f"messages_per_s = {RATE_LIMIT}",
                f"message_burst = {RATE_LIMIT * 10}",
                "[media]",
                f'host_addresses = ["{HOST}"]',
                "[recording]",
                "render = false",
                "transcribe = false",
                *archive,
                "[entries.demo]",  # chat_load's customers
                'channels = ["chat"]',
                "[entries.bench]",  # media_load's customers
                'channels = ["chat", "voice", "video", "screen"]',
                "",
            ]
        )
    )


class Deployment:
    """``count`` node processes on one Redis key prefix and one data dir."""

    def __init__(
        self, count: int, work: Path, template: Path, password: str, args: argparse.Namespace
    ) -> None:
        self.count = count
        self.work = work
        self.password = password  # every agent's, from add_agents_once
        self.args = args
        self.prefix = "livedesk-cluster-bench-" + secrets.token_hex(4)
        data = work / "data"
        shutil.copytree(template, data)  # the agents, added once for the whole run
        self.config = work / "livedesk.toml"
        self.schema = ""
        database = ""
        if args.database:  # the shared archive: a fresh PostgreSQL schema per deployment
            self.schema = "ldbench_" + secrets.token_hex(6)
            database = with_schema(args.database, self.schema)
            create_schema(args.database, self.schema)
            copy_agents(data / "archive.sqlite3", database)
        node_config(self.config, data, args.redis, self.prefix, args.log_level, database)
        self.procs: list[Proc] = []
        self.bases: list[str] = []

    async def start(self, http: aiohttp.ClientSession) -> float:
        t0 = perf()
        for i in range(self.count):
            port = free_port()
            env = {**base_env(), "LIVEDESK_CLUSTER_NODE_ID": f"node{i + 1}"}
            argv = [sys.executable, "-m", "signaling", "run", "--config", str(self.config)]
            argv += ["--host", HOST, "--port", str(port)]
            log_path = self.work / f"node{i + 1}.log"
            self.procs.append(
                Proc(f"node{i + 1}", argv, env=env, cwd=self.work, log=log_path, cpus=None)
            )
            self.bases.append(f"http://{HOST}:{port}")
            if i == 0:  # the first one prepares the archive; the others start together
                await wait_http(http, self.bases[0] + "/healthz", self.procs[0], 60)
        await asyncio.gather(
            *(
                wait_http(http, b + "/healthz", p, 60)
                for b, p in zip(self.bases, self.procs, strict=True)
            )
        )
        # every node must see every other alive before sessions are placed
        deadline = time.monotonic() + 30
        while min(await self._alive_peers(http)) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.count} nodes did not all see each other in 30 s")
            await asyncio.sleep(0.2)
        return perf() - t0

    async def health(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        out = []
        for base in self.bases:
            async with http.get(base + "/healthz", timeout=aiohttp.ClientTimeout(total=10)) as r:
                out.append(await r.json())
        return out

    async def _alive_peers(self, http: aiohttp.ClientSession) -> list[int]:
        return [
            sum(1 for p in h["node"].get("peers", []) if p["alive"]) if self.count > 1 else 1
            for h in await self.health(http)
        ]

    async def owned(self, http: aiohttp.ClientSession) -> list[int]:
        """Sessions owned by each node (its /healthz)."""
        return [int(h["node"].get("sessions_owned", 0)) for h in await self.health(http)]

    def cpu_s(self) -> list[float]:
        return [proc_cpu_s(p.pid) for p in self.procs]

    def rss_mb(self) -> float:
        return sum(proc_mem_mb(p.pid)[0] for p in self.procs)

    def check_alive(self) -> None:
        for p in self.procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} died:\n{p.tail()}")

    async def stop(self) -> dict[str, Any]:
        for p in self.procs:
            if p.alive():
                p.p.terminate()
        deadline = time.monotonic() + STOP_WAIT_S
        while any(p.alive() for p in self.procs) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        # a node still running now is stuck; Proc.stop() kills it
        stuck = [p.name for p in self.procs if p.alive()]
        for p in self.procs:
            p.stop()
        problems = {}
        for p in self.procs:
            lines = p.log.read_text(errors="replace").splitlines() if p.log.exists() else []
            bad = [
                line
                for line in lines
                if line.startswith("Traceback") or any(f"[{lv}" in line for lv in LOG_LEVELS)
            ]
            if bad:
                problems[p.name] = {"count": len(bad), "first": bad[:5], "tail": lines[-40:]}
        if self.schema:
            drop_schema(self.args.database, self.schema)
        return {
            "redis_keys_deleted": await clean_redis(self.args.redis, self.prefix),
            "node_log_problems": problems,
            "nodes_killed_after_sigterm": stuck,
        }


def with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def create_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def copy_agents(sqlite_path: Path, database: str) -> None:
    """The template's agents (made with `user add` into SQLite) into the shared archive."""
    from signaling import archive as archive_mod
    from signaling.config import from_dict

    async def copy(source: archive_mod.Archive) -> list[archive_mod.User]:
        return await source.list_users()

    users = archive_mod.blocking(from_dict({"archive": {"path": str(sqlite_path)}}), copy)

    async def put(target: archive_mod.Archive) -> None:
        for user in users:
            await target.put_user(user, now=time.time())

    archive_mod.blocking(from_dict({"archive": {"url": database}}), put)


async def redis_pid(url: str) -> int | None:
    """redis-server's pid, when it runs on this machine, to charge its CPU too."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=2)
    try:
        pid = int((await client.info("server"))["process_id"])
    except Exception as exc:
        raise RuntimeError(f"no Redis at {url} ({exc}); `make test-deps` starts one") from exc
    finally:
        await client.aclose()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as f:  # noqa: ASYNC230
        if "redis" in f.read():
            return pid
    return None


class Meter:
    """CPU of the nodes, the load generator, Redis and everything else, over a window."""

    def __init__(self, dep: Deployment, redis: int | None) -> None:
        self.dep = dep
        self.redis = redis
        self._start()

    def _sample(self) -> tuple[float, list[float], float, float, float]:
        rcpu = 0.0
        if self.redis is not None:
            with contextlib.suppress(OSError):
                rcpu = proc_cpu_s(self.redis)
        return perf(), self.dep.cpu_s(), proc_cpu_s(os.getpid()), rcpu, machine_cpu()[0]

    def _start(self) -> None:
        self.s0 = self._sample()

    def read(self) -> dict[str, Any]:
        (t0, n0, g0, r0, m0), (t1, n1, g1, r1, m1) = self.s0, self._sample()
        wall = t1 - t0
        nodes = [(b - a) / wall * 100 for a, b in zip(n0, n1, strict=True)]
        gen = (g1 - g0) / wall * 100
        red = (r1 - r0) / wall * 100 if self.redis is not None else None
        busy = (m1 - m0) / wall * 100
        return {
            "window_s": wall,
            "server_cpu_pct": sum(nodes),
            "node_cpu_pct": nodes,
            "loadgen_cpu_pct": gen,
            "redis_cpu_pct": red,
            "other_cpu_pct": max(0.0, busy - sum(nodes) - gen - (red or 0.0)),
            "machine_busy_pct": busy,
        }


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep this process's garbage collector out of a measured window."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def lag_p99_ms(http: aiohttp.ClientSession, dep: Deployment) -> list[float | None]:
    """Each node's own event-loop lag p99 over its last 10 s (its /metrics)."""
    name = 'livedesk_event_loop_lag_seconds{window="p99_10s"}'
    vals = [await media_load.metric(http, b, name) for b in dep.bases]
    return [None if v is None else v * 1000 for v in vals]


# --------------------------------------------------------------------------- media


def encode_clips() -> dict[str, Clip]:
    video = synthetic_video(seconds=10, width=640, height=480, fps=30, bitrate=500_000)
    return {"video": video, "audio": synthetic_audio(seconds=5)}


async def make_available(agents: list[StaffClient], who: int) -> None:
    """Only agent ``who`` takes offers, so the next session goes to the node we chose."""
    for k, agent in enumerate(agents):
        await agent.set_status("available" if k == who else "away")


async def media_ramp(
    dep: Deployment,
    http: aiohttp.ClientSession,
    clips: dict[str, Clip],
    args: argparse.Namespace,
    redis: int | None,
) -> list[dict[str, Any]]:
    """Sessions added in steps, customer on node i mod n and agent on the next node."""
    n = dep.count
    agents = [
        await StaffClient.login(http, b, f"agent{k}", dep.password) for k, b in enumerate(dep.bases)
    ]
    # media_load's target sets a session up; it is pointed at a node and an agent per session
    targets = [media_load.LivedeskTarget(b, http, dep.password) for b in dep.bases]
    direct, close_direct = await media_load.direct_pair(clips["video"])
    loads: list[media_load.SessionLoad] = []
    steps = list(range(args.session_step, args.max_sessions + 1, args.session_step))
    if not steps or steps[-1] != args.max_sessions:
        steps.append(args.max_sessions)
    results: list[dict[str, Any]] = []
    available = -1
    try:
        for step in steps:
            t0 = perf()
            while len(loads) < step:
                i = len(loads)
                target, who = targets[i % n], (i + 1) % n
                if who != available:
                    await make_available(agents, who)
                    available = who
                target.agent = agents[who]
                load = await target.add_session(clips, timed=i < args.timed_sessions)
                if i >= args.measured_sessions:
                    await load.sink()
                loads.append(load)
                # consoles and events pile up unread in the agent's inbox; the media
                # watchers scan it on every message
                agents[who].inbox[:] = [
                    m for m in agents[who].inbox if m.get("type") not in ("console", "event")
                ]
            log(f"  [{n} node(s)] {step} sessions up in {perf() - t0:.1f}s; settling")
            await asyncio.sleep(args.settle)
            dep.check_alive()
            with collector_paused():
                meter = Meter(dep, redis)
                res = await media_load.measure(
                    None, dep.procs[0], http, dep.bases[0], loads, direct, args.seconds
                )
                res.update(meter.read())
            res["server_cpu_pct_per_session"] = res["server_cpu_pct"] / step
            res["server_rss_mb"] = dep.rss_mb()
            res["node_lag_p99_ms"] = await lag_p99_ms(http, dep)
            res["lag_p99_ms"] = max(
                (v for v in res["node_lag_p99_ms"] if v is not None), default=None
            )
            res["sessions_owned"] = await dep.owned(http)
            res["held"] = media_load.held(res, args.max_loss)
            results.append(res)
            log(
                f"  [{n} node(s)] N={step}: server CPU {res['server_cpu_pct']:.0f}% "
                f"(nodes {' + '.join(f'{c:.0f}' for c in res['node_cpu_pct'])}), "
                f"video {res['video_delivered'] * 100:.2f}%, "
                f"audio {res['audio_delivered'] * 100:.2f}%, "
                f"loadgen {res['loadgen_cpu_pct']:.0f}%, owned {res['sessions_owned']}"
            )
            if not res["held"]:
                break
    finally:
        hung = await close_loads(loads)
        if hung:
            log(f"  [{n} node(s)] {len(hung)} client close(s) did not finish: {hung[:4]}")
            if results:
                results[-1]["hung_closes"] = hung
        for close in (close_direct, *(a.close for a in agents)):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), CLOSE_WAIT_S)
    return results


async def idle_window(dep: Deployment, redis: int | None, seconds: float = 5.0) -> dict[str, Any]:
    """What the nodes cost doing nothing (heartbeats, timers): each node's fixed share."""
    await asyncio.sleep(1.0)
    meter = Meter(dep, redis)
    await asyncio.sleep(seconds)
    got = meter.read()
    log(
        f"  [{dep.count} node(s)] idle: nodes {got['server_cpu_pct']:.1f}% "
        f"({' + '.join(f'{c:.1f}' for c in got['node_cpu_pct'])})"
    )
    return got


async def close_loads(loads: list[media_load.SessionLoad]) -> list[str]:
    """Close every session's clients, each with a time limit; the ones that hung."""
    hung = []
    for load in loads:
        for close in load.closers:
            try:
                await asyncio.wait_for(close(), CLOSE_WAIT_S)
            except TimeoutError:
                owner = getattr(close, "__self__", None)
                pc = getattr(owner, "pc", None)
                state = f" (pc {pc.connectionState})" if pc is not None else ""
                hung.append(f"{load.sid}: {close.__qualname__}{state}")
            except Exception:  # a client that fails to close is gone anyway
                continue
    return hung


# --------------------------------------------------------------------------- chat


class InFlight(set[tuple[int, int]]):
    """chat_load's ``Phase.inflight``, which also frees the sender's slot on delivery.

    ``chat_load.Conn`` discards a key when the other side receives the message; that
    release lets the sender send its next one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.slots: dict[tuple[int, int], asyncio.Semaphore] = {}

    def discard(self, key: tuple[int, int]) -> None:
        if key in self:
            super().discard(key)
            self.slots[(key[0], key[1] % 2)].release()


async def chat_pairs(
    dep: Deployment, http: aiohttp.ClientSession, phase: Phase, args: argparse.Namespace
) -> tuple[list[Pair], list[Conn]]:
    """``--chat-pairs`` accepted chats: customer on node c, agent on node c + 1."""
    n = dep.count
    ns = argparse.Namespace(
        customers=args.chat_pairs, agents=n, capacity=CAPACITY, no_compress=False
    )
    targets = [chat_load.LivedeskTarget(ns, b, phase, dep.password) for b in dep.bases]
    agents = [await targets[k].new_agent(http, k) for k in range(n)]
    conns: list[Conn] = list(agents)
    pairs: list[Pair] = []
    for c in range(n):
        who = (c + 1) % n
        for k, agent in enumerate(agents):
            await agent.request("agent.status", status="available" if k == who else "away")
        mine = [i for i in range(args.chat_pairs) if i % n == c]
        made = await gather_limited(
            [lambda i=i, t=targets[c]: t.new_customer(http, i) for i in mine], 20
        )
        deadline = time.monotonic() + 60
        for i, r in zip(mine, made, strict=True):
            if isinstance(r, BaseException):
                raise RuntimeError(f"customer {i} on node{c + 1}: {r}")
            sid, conn = r
            conns.append(conn)
            while sid not in targets[who].accepted:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"session {sid} was not accepted by agent{who} in 60 s")
                await asyncio.sleep(0.05)
            pairs.append(Pair(i, sid, conn, targets[who].accepted[sid]))
    for agent in agents:
        await agent.request("agent.status", status="available")
    pairs.sort(key=lambda p: p.idx)
    return pairs, conns


async def chat_sender(
    phase: Phase, inflight: InFlight, pair: Pair, side: int, pad: str, stop: asyncio.Event
) -> None:
    """One side of one pair: a new message as soon as one of its slots is free."""
    conn = pair.customer if side == 0 else pair.agent
    slot = inflight.slots[(pair.idx, side)]
    j = 0
    while not stop.is_set():
        await slot.acquire()
        if stop.is_set():
            return
        k = 2 * j + side
        j += 1
        key = (pair.idx, k)
        t0 = perf()
        inflight.add(key)

        def acked(msg: dict[str, Any], _at: float, key: tuple[int, int] = key) -> None:
            if msg["type"] != "ok" and key in inflight:
                phase.err(str(msg.get("code")))
                set.discard(inflight, key)  # never delivered: counted as failed, slot freed
                slot.release()

        try:
            await conn.send(
                {
                    "type": "chat.send",
                    "session": pair.session,
                    "text": f"{PREFIX}{pair.idx}|{k}|{t0:.6f}|{pad}",
                    "client_msg_id": f"c{pair.idx}-{k}",
                },
                acked,
            )
            phase.sent += 1
        except Exception:
            set.discard(inflight, key)
            phase.send_failed += 1
            return


async def chat_run(
    dep: Deployment, http: aiohttp.ClientSession, args: argparse.Namespace, redis: int | None
) -> dict[str, Any]:
    phase = Phase(f"{dep.count} nodes")
    inflight = InFlight()
    phase.inflight = inflight
    t0 = perf()
    pairs, conns = await chat_pairs(dep, http, phase, args)
    setup_s = perf() - t0
    log(f"  [{dep.count} node(s)] {len(pairs)} chats accepted in {setup_s:.1f}s; sending")
    stop = asyncio.Event()
    pad = "x" * max(0, args.size - 40)
    senders = []
    for p in pairs:
        for side in (0,) if args.one_way else (0, 1):
            inflight.slots[(p.idx, side)] = asyncio.Semaphore(args.inflight)
            senders.append(asyncio.create_task(chat_sender(phase, inflight, p, side, pad, stop)))
    phase.t_start = perf()  # the timeline counts from the first send
    try:
        await asyncio.sleep(args.warmup)
        with collector_paused():
            d0, l0 = phase.delivered, len(phase.lat_ms)
            meter = Meter(dep, redis)
            await asyncio.sleep(args.seconds)
            cpu = meter.read()
            d1, l1 = phase.delivered, len(phase.lat_ms)
        lag = await lag_p99_ms(http, dep)
        stop.set()
        for slot in inflight.slots.values():
            slot.release()  # wake senders waiting for a slot so they see `stop`
        await asyncio.gather(*senders, return_exceptions=True)
        g0 = perf()
        while inflight and perf() - g0 < args.grace:  # noqa: ASYNC110 - bounded wait
            await asyncio.sleep(0.05)
        dep.check_alive()
    finally:
        for t in senders:
            t.cancel()
        await gather_limited([c.close for c in conns], 100)
    lat = phase.lat_ms[l0:l1]
    per_s = (d1 - d0) / cpu["window_s"]
    return {
        "pairs": len(pairs),
        # customer on node idx mod n, agent on the next one
        "cross_node_pairs": len(pairs) if dep.count > 1 else 0,
        "inflight_per_side": args.inflight,
        "setup_s": setup_s,
        **cpu,
        "delivered_per_s": per_s,
        "delivered_in_window": d1 - d0,
        "latency_p50_ms": pct(lat, 50),
        "latency_p99_ms": pct(lat, 99),
        "latency_max_ms": max(lat) if lat else None,
        "server_cpu_ms_per_msg": cpu["server_cpu_pct"] * 10 / per_s if per_s else None,
        "node_lag_p99_ms": lag,
        "sent": phase.sent,
        "received": phase.delivered,
        "refused": sum(phase.errors.values()),  # an error reply: the sender knows
        "lost": len(inflight),  # sent, no error, never received
        "late_or_duplicate": phase.late,
        "errors": dict(phase.errors),
        "send_failed": phase.send_failed,
        "setup_errors": dict(phase.setup_errors),
        "server_rss_mb": dep.rss_mb(),
        # per second of sending, by send time; the window starts at s = --warmup
        "timeline": chat_load.timeline(phase),
    }


# --------------------------------------------------------------------------- the run


async def add_agents_once(work: Path, count: int) -> tuple[Path, str]:
    """agent0..agent<count-1> in a template data dir that every deployment copies."""
    password = "bench-" + secrets.token_hex(8)
    data = work / "template"
    ns = argparse.Namespace(agents=count, capacity=CAPACITY)
    await chat_load.add_agents(ns, data, password, work)
    return data, password


async def one_count(
    n: int,
    work: Path,
    template: Path,
    password: str,
    clips: dict[str, Clip] | None,
    args: argparse.Namespace,
    redis: int | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes": n}
    phases = [p for p in ("media", "chat") if args.only in ("", p)]
    for what in phases:
        # a fresh deployment per phase: the chat window must not carry the media sessions
        dep = Deployment(n, work / f"{n}-nodes-{what}", template, password, args)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            try:
                started = await dep.start(http)
                log(f"[{n} node(s)] {what}: nodes up in {started:.1f}s")
                if what == "media":
                    assert clips is not None
                    out["idle"] = await idle_window(dep, redis)
                    out["media"] = await media_ramp(dep, http, clips, args, redis)
                else:
                    out["chat"] = await chat_run(dep, http, args, redis)
            except Exception as exc:
                log(f"[{n} node(s)] {what} failed: {exc!r}")
                out.setdefault("failed", {})[what] = repr(exc)[:2000]
            finally:
                out.setdefault("cleanup", {})[what] = await dep.stop()
    return out


async def amain(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    restrict_host_addresses([HOST])
    redis = await redis_pid(args.redis)
    counts = args.node_counts
    clips = None
    if args.only in ("", "media"):
        log("encoding clips: 640x480 VP8 at 30 fps, Opus 20 ms")
        clips = await asyncio.get_running_loop().run_in_executor(None, encode_clips)
    log(f"adding agent0..agent{max(counts) - 1} with `signaling user add`")
    template, password = await add_agents_once(work, max(counts))
    res: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": len(os.sched_getaffinity(0)),
        "redis_pid_measured": redis is not None,
        "video_kbps": clips["video"].bitrate / 1000 if clips else None,
        "args": {k: str(v) for k, v in vars(args).items()},
        "runs": [],
    }
    for n in counts:
        res["runs"].append(await one_count(n, work, template, password, clips, args, redis))
    return res


# --------------------------------------------------------------------------- report


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def held_step(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [s for s in steps if s["held"]]
    return max(ok, key=lambda s: s["sessions"]) if ok else None


def media_table(run: dict[str, Any]) -> list[str]:
    lines = [
        f"\nmedia, {run['nodes']} node(s)",
        "| sessions | owned per node | server CPU (sum) | per node | video delivered "
        "| audio delivered | worst stream | loop lag p99 (worst node) | latency p50 / p99 "
        "| server-added p50 / p99 | loadgen CPU | redis CPU | other |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run.get("media", []):
        lines.append(
            f"| {r['sessions']} | {'/'.join(map(str, r['sessions_owned']))} "
            f"| {r['server_cpu_pct']:.0f}% | {' + '.join(f'{c:.0f}' for c in r['node_cpu_pct'])} "
            f"| {r['video_delivered'] * 100:.2f}% | {r['audio_delivered'] * 100:.2f}% "
            f"| {r['worst_video_stream'] * 100:.1f}% | {_f(r['lag_p99_ms'])} ms "
            f"| {_f(r['latency_p50_ms'])} / {_f(r['latency_p99_ms'])} ms "
            f"| {_f(r.get('server_added_p50_ms'))} / {_f(r.get('server_added_p99_ms'))} ms "
            f"| {r['loadgen_cpu_pct']:.0f}% | {_f(r['redis_cpu_pct'], '{:.0f}')}% "
            f"| {r['other_cpu_pct']:.0f}% |"
        )
    return lines


def chat_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "\nchat (customer and agent on different nodes; every message crosses Redis)",
        "| nodes | pairs | delivered/s | latency p50 / p99 / max | server CPU (sum) | per node "
        "| CPU per msg | loop lag p99 (worst node) | loadgen CPU | redis CPU | other "
        "| sent / received / refused / lost |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        c = run.get("chat")
        if c is None:
            continue
        lag = max((v for v in c["node_lag_p99_ms"] if v is not None), default=None)
        lines.append(
            f"| {run['nodes']} | {c['pairs']} | {c['delivered_per_s']:.0f} "
            f"| {_f(c['latency_p50_ms'])} / {_f(c['latency_p99_ms'])} "
            f"/ {_f(c['latency_max_ms'])} ms "
            f"| {c['server_cpu_pct']:.0f}% | {' + '.join(f'{x:.0f}' for x in c['node_cpu_pct'])} "
            f"| {_f(c['server_cpu_ms_per_msg'], '{:.2f}')} ms | {_f(lag)} ms "
            f"| {c['loadgen_cpu_pct']:.0f}% | {_f(c['redis_cpu_pct'], '{:.0f}')}% "
            f"| {c['other_cpu_pct']:.0f}% "
            f"| {c['sent']} / {c['received']} / {c['refused']} / {c['lost']} |"
        )
    return lines


def summary_table(runs: list[dict[str, Any]], max_sessions: int) -> list[str]:
    base = next((r for r in runs if r["nodes"] == 1), None)
    base_held = held_step(base.get("media", [])) if base else None
    base_chat = base.get("chat") if base else None
    lines = [
        "\nsummary: capacity by node count (ratio to 1 node, measured in this run)",
        "| nodes | nodes idle | media sessions held | ratio | server CPU there | per session "
        "| held per server core | loadgen CPU there | chat delivered/s | ratio | server CPU "
        "| per message | delivered/s per server core | loadgen CPU | chat lost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        idle = run.get("idle")
        cells = [str(run["nodes"]), f"{idle['server_cpu_pct']:.1f}%" if idle else "-"]
        if "media" in run:
            h = held_step(run["media"])
            got = h["sessions"] if h else 0
            capped = " (cap)" if h and got >= max_sessions else ""
            ratio = (
                f"{got / base_held['sessions']:.2f}x"
                if base_held and base_held["sessions"]
                else "-"
            )
            cells += [
                f"{got}{capped}",
                ratio,
                f"{h['server_cpu_pct']:.0f}%" if h else "-",
                f"{h['server_cpu_pct_per_session']:.1f}%" if h else "-",
                f"{got / (h['server_cpu_pct'] / 100):.1f}" if h and h["server_cpu_pct"] else "-",
                f"{h['loadgen_cpu_pct']:.0f}%" if h else "-",
            ]
        else:
            cells += ["-"] * 6
        c = run.get("chat")
        if c is not None:
            ratio = (
                f"{c['delivered_per_s'] / base_chat['delivered_per_s']:.2f}x" if base_chat else "-"
            )
            cells += [
                f"{c['delivered_per_s']:.0f}",
                ratio,
                f"{c['server_cpu_pct']:.0f}%",
                f"{_f(c['server_cpu_ms_per_msg'], '{:.2f}')} ms",
                f"{c['delivered_per_s'] / (c['server_cpu_pct'] / 100):.0f}"
                if c["server_cpu_pct"]
                else "-",
                f"{c['loadgen_cpu_pct']:.0f}%",
                str(c["lost"]),
            ]
        else:
            cells += ["-"] * 7
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report(res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    runs = res["runs"]
    lines = [
        "",
        f"livedesk cluster load: nodes {','.join(map(str, args.node_counts))} on "
        f"{res['cpus']} CPUs, one Redis ({args.redis}), one load-generator process; "
        f"{args.seconds:g}s windows",
        "CPU is % of one core. The nodes, redis-server and the load generator share the "
        f"{res['cpus']} cores: a machine total near {res['cpus'] * 100}% means the figures "
        "describe the machine, not livedesk.",
    ]
    for run in runs:
        if "media" in run:
            lines += media_table(run)
    lines += chat_table(runs)
    lines += summary_table(runs, args.max_sessions)
    lines.append(
        f"\nmedia held = the largest step with >= {(1 - args.max_loss) * 100:g}% of video and "
        f"audio frames delivered (counted on the first {args.measured_sessions} sessions); "
        f"chat: {args.inflight} message(s) in flight per "
        + ("customer (customers only send)" if args.one_way else "side (both sides send)")
        + f", {args.size}-byte texts, limits.messages_per_s raised to {RATE_LIMIT}."
    )
    for run in runs:
        for what, err in run.get("failed", {}).items():
            lines.append(f"FAILED: {run['nodes']} node(s) {what}: {err[:300]}")
        for what, clean in run.get("cleanup", {}).items():
            for node in clean.get("nodes_killed_after_sigterm", []):
                lines.append(
                    f"note: {run['nodes']} node(s) {what}: {node} had not exited "
                    f"{STOP_WAIT_S:g}s after SIGTERM and was killed"
                )
            for node, bad in clean["node_log_problems"].items():
                lines.append(
                    f"note: {run['nodes']} node(s) {what}: {node} logged {bad['count']} "
                    f"warning/error line(s), first: {bad['first'][0][:160]}"
                )
        for step in run.get("media", []):
            if step.get("hung_closes"):
                lines.append(
                    f"note: {run['nodes']} node(s) media: {len(step['hung_closes'])} client "
                    f"close(s) hung over {CLOSE_WAIT_S:g}s, first: {step['hung_closes'][0]}"
                )
        c = run.get("chat")
        if c and (c["lost"] or c["errors"] or c["send_failed"] or c["late_or_duplicate"]):
            lines.append(
                f"note: {run['nodes']} node(s) chat: lost {c['lost']}, errors {c['errors']}, "
                f"send failures {c['send_failed']}, late or duplicate {c['late_or_duplicate']}"
            )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated (1,2,4)")
    ap.add_argument("--seconds", type=float, default=10.0, help="each measured window (10)")
    ap.add_argument("--max-sessions", type=int, default=25, help="media ramp ceiling (25)")
    ap.add_argument("--session-step", type=int, default=5, help="media ramp step (5)")
    ap.add_argument("--chat-pairs", type=int, default=40, help="customer/agent chats (40)")
    ap.add_argument(
        "--inflight", type=int, default=1, help="chat messages in flight per side of a chat (1)"
    )
    ap.add_argument(
        "--one-way",
        action="store_true",
        help="only customers send (no two writers on one session at once)",
    )
    ap.add_argument("--size", type=int, default=100, help="chat text bytes (100)")
    ap.add_argument("--only", choices=["chat", "media"], default="", help="run one part only")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the Redis every node uses")
    ap.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="the PostgreSQL the nodes share as their archive, a fresh schema per deployment"
        " (default: the local one); '' for one SQLite file in the shared data dir",
    )
    ap.add_argument("--warmup", type=float, default=2.0, help="chat seconds before the window (2)")
    ap.add_argument("--grace", type=float, default=5.0, help="seconds for in-flight chat after (5)")
    ap.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with the node logs")
    ap.add_argument("--json", type=Path, help="results file (bench/results/cluster_load-<ts>.json)")
    args = ap.parse_args(argv)
    # the media ramp settles, counts and judges as bench/media_load.py does by default
    media = media_load.parse_args([])
    for name in ("settle", "max_loss", "timed_sessions", "measured_sessions"):
        setattr(args, name, getattr(media, name))
    try:
        args.node_counts = sorted({int(x) for x in args.nodes.split(",") if x.strip()})
    except ValueError:
        ap.error("--nodes is a comma-separated list of node counts, such as 1,2,4")
    if not args.node_counts or min(args.node_counts) < 1:
        ap.error("--nodes needs counts of 1 or more")
    if args.max_sessions < 1 or args.session_step < 1 or args.chat_pairs < 1 or args.inflight < 1:
        ap.error("--max-sessions, --session-step, --chat-pairs and --inflight must be positive")
    if args.size < 48:
        ap.error("--size must be at least 48 (the text carries ids and a timestamp)")
    if not args.redis.startswith(("redis://127.0.0.1", "redis://localhost", "unix://")):
        ap.error("--redis must point at 127.0.0.1/localhost or a unix socket")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chat_load.raise_nofile(65536)
    work = Path(tempfile.mkdtemp(prefix="livedesk-cluster-bench-"))
    started = time.time()
    try:
        res = asyncio.run(amain(args, work))
    except RuntimeError as exc:
        log(f"cluster_load: {exc}")
        return 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    res["total_s"] = time.time() - started
    print("\n".join(report(res, args)), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    path = args.json or RESULTS / f"cluster_load-{stamp}.json"
    path.write_text(json.dumps(res, indent=2, default=str))
    print(f"\nresults: {path}  (total {res['total_s']:.0f}s)", flush=True)
    return 1 if any(r.get("failed") for r in res["runs"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
