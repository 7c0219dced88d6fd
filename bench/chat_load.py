#!/usr/bin/env python
"""Chat load benchmark: N customer WebSockets plus agents exchanging chat.

It starts a livedesk server (``python -m signaling run``) in its own process,
opens ``--customers`` customer sessions and ``--agents`` agents from this
(separate) load-generator process, lets the agents accept what routing offers
them, and then has every active chat exchange messages at ``--rate`` for
``--seconds``. Then it does the same against a bare aiohttp WebSocket relay
(bench/bare_server.py) with the same connections, pairs, rates and frames, as
the ceiling, and prints both side by side with their ratio.

Everything listens and connects on 127.0.0.1 only. Results also go to
bench/results/chat_load-<timestamp>.json. See bench/README.md for what each
figure means.

    python bench/chat_load.py                  # 2000 customers, 20 agents x 50
    python bench/chat_load.py --customers 200 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import itertools
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PREFIX = "bench|"

_decode = msgspec.json.Decoder(dict).decode
_encode = msgspec.json.Encoder().encode
perf = time.perf_counter


# --------------------------------------------------------------------------- figures


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values`` (0 <= q <= 100); None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": max(values) if values else None,
        "mean": (sum(values) / len(values)) if values else None,
    }


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def proc_mem_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _child_setup(cpus: set[int] | None) -> Callable[[], None]:
    """Runs in the child before exec: die with the parent; optional CPU pinning."""

    def setup() -> None:
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    return setup


class Proc:
    """A server subprocess with its output in a log file; stopped on exit."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log: Path,
        cpus: set[int] | None,
    ) -> None:
        self.name = name
        self.log = log
        self._logf = open(log, "wb")  # closed in stop()
        self.p = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup(cpus),
        )
        self.pid = self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def tail(self, n: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        self._logf.close()


async def wait_http(http: aiohttp.ClientSession, url: str, proc: Proc, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer {url} within {wait_s:.0f}s:\n{proc.tail()}")


async def gather_limited(jobs: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run job factories with at most ``limit`` in flight; exceptions are returned."""
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            try:
                return await job()
            except Exception as exc:
                return exc

    return await asyncio.gather(*(one(j) for j in jobs))


# --------------------------------------------------------------------------- load generator


class Phase:
    """Everything measured against one server."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.measuring = False
        self.lat_ms: list[float] = []  # send -> partner receives the event
        self.lat_at: list[float] = []  # perf_counter() of each send, for the timeline
        self.ping_at: list[float] = []
        self.t_start = 0.0
        self.ack_ms: list[float] = []  # send -> sender receives its ok
        self.ping_ms: list[float] = []  # under load
        self.ping_idle_ms: list[float] = []  # before the chat starts
        self.lag_ms: list[float] = []  # load generator's own loop oversleep
        self.lag_at: list[float] = []
        self.sent = 0
        self.send_failed = 0
        self.delivered = 0
        self.late = 0  # delivered after the grace period (not counted as delivered)
        self.inflight: set[tuple[int, int]] = set()
        self.errors: Counter[str] = Counter()
        self.frames_in: Counter[str] = Counter()
        self.ping_lost = 0
        self.setup_errors: Counter[str] = Counter()
        self.fig: dict[str, Any] = {}

    def err(self, code: str) -> None:
        self.errors[code] += 1


class Conn:
    """A lean protocol client: one socket, replies matched by ``id``."""

    __slots__ = (
        "_ids",
        "closed",
        "name",
        "on_console",
        "phase",
        "reader",
        "replies",
        "side",
        "ws",
    )

    def __init__(
        self, phase: Phase, ws: aiohttp.ClientWebSocketResponse, side: str, name: str
    ) -> None:
        self.phase = phase
        self.ws = ws
        self.side = side  # "customer", "agent" or "probe"
        self.name = name
        self.closed = False
        self.replies: dict[int, Callable[[dict[str, Any], float], None]] = {}
        self.on_console: Callable[[dict[str, Any]], None] | None = None
        self._ids = itertools.count(1)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    self._on_frame(frame.data, perf())
        except Exception:
            self.phase.err("reader_exception")
        finally:
            self.closed = True
            for cb in list(self.replies.values()):
                with contextlib.suppress(Exception):
                    cb({"type": "error", "code": "connection_closed", "message": ""}, perf())
            self.replies.clear()

    def _on_frame(self, data: str, now: float) -> None:
        msg = _decode(data)
        kind = msg.get("type")
        ph = self.phase
        if kind == "event":
            ev = msg["event"]
            if ev["kind"] == "chat.message" and ev["actor_role"] != self.side:
                text = ev["data"].get("text", "")
                if text.startswith(PREFIX):
                    _, pair, k, t0, _pad = text.split("|", 4)
                    key = (int(pair), int(k))
                    if key in ph.inflight:
                        ph.inflight.discard(key)
                        ph.delivered += 1
                        ph.lat_ms.append((now - float(t0)) * 1000)
                        ph.lat_at.append(float(t0))
                    else:
                        ph.late += 1
            ph.frames_in["event"] += 1
            return
        ph.frames_in[str(kind)] += 1
        if kind in ("ok", "error"):
            cb = self.replies.pop(msg.get("id"), None)  # type: ignore[arg-type]
            if cb is not None:
                cb(msg, now)
            elif kind == "error":
                ph.err(f"unsolicited:{msg.get('code')}")
        elif kind == "console" and self.on_console is not None:
            self.on_console(msg)

    async def send(
        self, msg: dict[str, Any], on_reply: Callable[[dict[str, Any], float], None] | None = None
    ) -> int:
        rid = next(self._ids)
        msg["id"] = rid
        if on_reply is not None:
            self.replies[rid] = on_reply
        try:
            await self.ws.send_str(_encode(msg).decode())
        except Exception:
            self.replies.pop(rid, None)
            raise
        return rid

    async def request(self, type_: str, wait_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def done(msg: dict[str, Any], _now: float) -> None:
            if not fut.done():
                fut.set_result(msg)

        rid = await self.send({"type": type_, **fields}, done)
        try:
            reply = await asyncio.wait_for(fut, wait_s)
        finally:
            self.replies.pop(rid, None)
        if reply["type"] == "error":
            raise RuntimeError(f"{type_}: {reply.get('code')}: {reply.get('message')}")
        return reply

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader


class Pair:
    __slots__ = ("agent", "customer", "idx", "session")

    def __init__(self, idx: int, session: str, customer: Conn, agent: Conn) -> None:
        self.idx = idx
        self.session = session
        self.customer = customer
        self.agent = agent


class Target:
    """How to reach one kind of server; ``setup`` returns (pairs, all conns, probe)."""

    name = "?"

    def __init__(self, args: argparse.Namespace, base: str, phase: Phase) -> None:
        self.args = args
        self.base = base
        self.ws_url = base.replace("http", "ws", 1) + "/ws"
        self.phase = phase

    async def connect(
        self,
        http: aiohttp.ClientSession,
        side: str,
        name: str,
        *,
        path: str = "",
        headers: dict[str, str] | None = None,
    ) -> Conn:
        ws = await http.ws_connect(
            self.ws_url + path,
            headers=headers or {},
            heartbeat=None,
            compress=0 if self.args.no_compress else 15,
            max_msg_size=64 * 1024 * 1024,
            timeout=aiohttp.ClientWSTimeout(ws_close=5),
        )
        return Conn(self.phase, ws, side, name)

    async def setup(self, http: aiohttp.ClientSession) -> tuple[list[Pair], list[Conn], Conn]:
        raise NotImplementedError

    async def server_connections(self, http: aiohttp.ClientSession) -> int | None:
        raise NotImplementedError


class LivedeskTarget(Target):
    name = "livedesk"

    def __init__(self, args: argparse.Namespace, base: str, phase: Phase, password: str) -> None:
        super().__init__(args, base, phase)
        self.password = password
        self.accepted: dict[str, Conn] = {}  # session -> agent conn
        self.want = min(args.customers, args.agents * args.capacity)
        self.all_accepted = asyncio.Event()

    async def new_customer(
        self, http: aiohttp.ClientSession, i: int, side: str = "customer"
    ) -> tuple[str, Conn]:
        text = f"hello, I am bench customer {i}"
        async with http.post(
            self.base + "/api/sessions",
            json={"entry": "demo", "text": text, "name": f"bench {i}"},
            timeout=aiohttp.ClientTimeout(total=60),
        ) as r:
            body = await r.json(content_type=None)
            if r.status != 201:
                raise RuntimeError(f"POST /api/sessions {r.status}: {body}")
        conn = await self.connect(http, side, f"c{i}")
        await conn.request("hello", token=body["token"], resume={}, wait_s=60)
        return body["session"], conn

    async def new_agent(self, http: aiohttp.ClientSession, i: int) -> Conn:
        name = f"agent{i}"
        async with http.post(
            self.base + "/api/login",
            json={"username": name, "password": self.password},
            timeout=aiohttp.ClientTimeout(total=60),
        ) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"login {name}: HTTP {r.status}")
            morsel = r.cookies.get("livedesk_login")
        if morsel is None:
            raise RuntimeError(f"login {name}: no cookie")
        conn = await self.connect(
            http, "agent", name, headers={"Cookie": f"livedesk_login={morsel.value}"}
        )
        accepting: set[str] = set()
        tasks: set[asyncio.Task[None]] = set()

        async def accept(session: str) -> None:
            try:
                await conn.request("offer.accept", session=session, wait_s=60)
            except Exception as exc:
                self.phase.setup_errors[f"accept: {str(exc)[:60]}"] += 1
                accepting.discard(session)
                return
            self.accepted[session] = conn
            if len(self.accepted) >= self.want:
                self.all_accepted.set()

        def on_console(msg: dict[str, Any]) -> None:
            for s in msg.get("sessions", ()):
                sid = s["session"]
                if s["state"] == "offered" and s["offered_to"] == name and sid not in accepting:
                    accepting.add(sid)
                    task = asyncio.ensure_future(accept(sid))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

        conn.on_console = on_console
        await conn.request("hello", resume={}, wait_s=60)
        return conn

    async def setup(self, http: aiohttp.ClientSession) -> tuple[list[Pair], list[Conn], Conn]:
        a = self.args
        t0 = perf()
        results = await gather_limited(
            [lambda i=i: self.new_customer(http, i) for i in range(a.customers)], a.concurrency
        )
        customers: dict[str, Conn] = {}
        for r in results:
            if isinstance(r, BaseException):
                self.phase.setup_errors[f"customer: {str(r)[:80] or type(r).__name__}"] += 1
            else:
                customers[r[0]] = r[1]
        # the probe is the last customer in the queue, so it is never offered when
        # customers >= agents x capacity; it only ever sends ping
        _, probe = await self.new_customer(http, a.customers, side="probe")
        t_customers = perf() - t0
        log(f"  {len(customers)} customers connected in {t_customers:.1f}s; agents logging in")
        agent_res = await gather_limited(
            [lambda i=i: self.new_agent(http, i) for i in range(a.agents)], 4
        )
        agents: list[Conn] = []
        for r in agent_res:
            if isinstance(r, BaseException):
                self.phase.setup_errors[f"agent: {str(r)[:80]}"] += 1
            else:
                agents.append(r)
        await asyncio.gather(*(c.request("agent.status", status="available") for c in agents))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_accepted.wait(), a.setup_timeout)
        self.phase.fig["setup_customers_s"] = t_customers
        self.phase.fig["setup_accept_s"] = perf() - t0 - t_customers
        log(f"  {len(self.accepted)}/{self.want} sessions accepted after {perf() - t0:.1f}s")
        pairs = [
            Pair(i, sid, customers[sid], agent)
            for i, (sid, agent) in enumerate(sorted(self.accepted.items()))
            if sid in customers
        ]
        return pairs, [*customers.values(), *agents, probe], probe

    async def server_connections(self, http: aiohttp.ClientSession) -> int | None:
        async with http.get(self.base + "/metrics", timeout=aiohttp.ClientTimeout(total=30)) as r:
            text = await r.text()
        conns = None
        for line in text.splitlines():
            if line.startswith("livedesk_connections "):
                conns = int(float(line.split()[1]))
            elif line.startswith('livedesk_event_loop_lag_seconds{window="max_10s"}'):
                # the server's own view: oversleep of a 100 ms timer, worst of the last 10 s
                self.phase.fig["server_loop_lag_max_ms"] = float(line.split()[1]) * 1000
        return conns


class BareTarget(Target):
    name = "bare aiohttp"

    def __init__(self, args: argparse.Namespace, base: str, phase: Phase, n_pairs: int) -> None:
        super().__init__(args, base, phase)
        self.n_pairs = n_pairs

    async def new_conn(
        self, http: aiohttp.ClientSession, side: str, name: str, rooms: list[str]
    ) -> Conn:
        conn = await self.connect(
            http, side, name, path=f"?role={'agent' if side == 'agent' else 'customer'}"
        )
        await conn.request("hello", resume={}, wait_s=60)
        for room in rooms:
            await conn.request("join", session=room, wait_s=60)
        return conn

    async def setup(self, http: aiohttp.ClientSession) -> tuple[list[Pair], list[Conn], Conn]:
        a = self.args
        t0 = perf()
        sids = [f"s{i}" for i in range(a.customers)]
        res = await gather_limited(
            [
                lambda i=i: self.new_conn(http, "customer", f"c{i}", [sids[i]])
                for i in range(a.customers)
            ],
            a.concurrency,
        )
        probe = await self.new_conn(http, "probe", "probe", [])
        # the same shape as livedesk's result: pairs spread over the agents, each
        # agent socket in up to `capacity` rooms
        n = min(self.n_pairs, a.customers)
        by_agent = [[sids[p] for p in range(n) if p % a.agents == i] for i in range(a.agents)]
        t_customers = perf() - t0
        agent_res = await gather_limited(
            [
                lambda i=i: self.new_conn(http, "agent", f"agent{i}", by_agent[i])
                for i in range(a.agents)
            ],
            4,
        )
        customers: dict[str, Conn] = {}
        for sid, r in zip(sids, res, strict=True):
            if isinstance(r, BaseException):
                self.phase.setup_errors[f"customer: {str(r)[:80] or type(r).__name__}"] += 1
            else:
                customers[sid] = r
        agents: list[Conn] = []
        pairs: list[Pair] = []
        for i, r in enumerate(agent_res):
            if isinstance(r, BaseException):
                self.phase.setup_errors[f"agent: {str(r)[:80]}"] += 1
                continue
            agents.append(r)
            for sid in by_agent[i]:
                if sid in customers:
                    pairs.append(Pair(0, sid, customers[sid], r))
        pairs.sort(key=lambda p: p.session)
        for i, p in enumerate(pairs):
            p.idx = i
        self.phase.fig["setup_customers_s"] = t_customers
        self.phase.fig["setup_accept_s"] = perf() - t0 - t_customers
        return pairs, [*customers.values(), *agents, probe], probe

    async def server_connections(self, http: aiohttp.ClientSession) -> int | None:
        async with http.get(self.base + "/stats", timeout=aiohttp.ClientTimeout(total=30)) as r:
            return int((await r.json())["connections"])


# --------------------------------------------------------------------------- the run


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def lag_monitor(phase: Phase, stop: asyncio.Event, interval: float = 0.05) -> None:
    """This process's loop lag: how late a 50 ms sleep wakes up."""
    while not stop.is_set():
        t = perf()
        await asyncio.sleep(interval)
        if phase.measuring:
            phase.lag_ms.append(max(0.0, (perf() - t - interval) * 1000))
            phase.lag_at.append(t)


async def ping_monitor(
    phase: Phase, probe: Conn, stop: asyncio.Event, into: list[float], interval: float = 0.1
) -> None:
    """Server responsiveness: ping round trips on an otherwise idle socket."""
    outstanding = [0]
    while not stop.is_set() and not probe.closed:
        t0 = perf()

        def got(msg: dict[str, Any], now: float, t0: float = t0) -> None:
            outstanding[0] -= 1
            if msg["type"] == "ok":
                into.append((now - t0) * 1000)
                if into is phase.ping_ms:
                    phase.ping_at.append(t0)
            else:
                phase.err(f"ping:{msg.get('code')}")

        try:
            await probe.send({"type": "ping"}, got)
        except Exception:
            phase.err("ping_send_failed")
            return
        outstanding[0] += 1
        await asyncio.sleep(max(0.0, interval - (perf() - t0)))
    deadline = perf() + 2.0
    while outstanding[0] > 0 and perf() < deadline:  # noqa: ASYNC110 - bounded poll
        await asyncio.sleep(0.05)
    phase.ping_lost += max(0, outstanding[0])


async def drive_chat(
    phase: Phase, pairs: list[Pair], args: argparse.Namespace, *, tag: str = "b"
) -> float:
    """Each pair sends one message every 1/rate s, alternating sides, phases spread evenly.

    ``tag`` starts each ``client_msg_id``: a second window on the same sessions needs
    its own, or the server takes its messages for retries of the first window's.
    Returns the wall time the sends took.
    """
    n = len(pairs)
    if n == 0:
        return 0.0
    step = 1.0 / (args.rate * n)  # global spacing between two sends
    total = int(args.seconds * args.rate * n)
    pad = "x" * max(0, args.size - 40)
    tick = 0.005
    start = perf()
    j = 0
    while j < total:
        now = perf()
        due = min(total, int((now - start) / step) + 1)
        while j < due:
            pair = pairs[j % n]
            k = j // n
            conn = pair.customer if k % 2 == 0 else pair.agent
            t0 = perf()
            text = f"{PREFIX}{pair.idx}|{k}|{t0:.6f}|{pad}"
            key = (pair.idx, k)
            phase.inflight.add(key)

            def acked(msg: dict[str, Any], at: float, t0: float = t0) -> None:
                if msg["type"] == "ok":
                    phase.ack_ms.append((at - t0) * 1000)
                else:
                    phase.err(str(msg.get("code")))

            try:
                await conn.send(
                    {
                        "type": "chat.send",
                        "session": pair.session,
                        "text": text,
                        "client_msg_id": f"{tag}{pair.idx}-{k}",
                    },
                    acked,
                )
                phase.sent += 1
            except Exception:
                phase.inflight.discard(key)
                phase.send_failed += 1
            j += 1
        if j >= total:
            break
        next_due = start + j * step
        await asyncio.sleep(max(0.0, min(tick, next_due - perf())))
    return perf() - start


async def wait_idle(limit_s: float, pid: int, threshold: float = 15.0) -> float:
    """``--wait-idle``: wait (at most ``limit_s``) until other processes use < 15% CPU.

    Returns the other processes' CPU % in the last one-second sample.
    """
    deadline = perf() + limit_s
    calm = 0
    other = 0.0
    while True:
        m0, s0, o0, t0 = machine_cpu()[0], proc_cpu_s(pid), time.process_time(), perf()
        await asyncio.sleep(1.0)
        m1, s1, o1, t1 = machine_cpu()[0], proc_cpu_s(pid), time.process_time(), perf()
        other = max(0.0, (m1 - m0) - (s1 - s0) - (o1 - o0)) / (t1 - t0) * 100
        calm = calm + 1 if other < threshold else 0
        if calm >= 2 or perf() >= deadline:
            return other


async def settle(phase: Phase, probe: Conn, quiet_s: float, limit_s: float) -> float:
    """Wait until the server is done with setup (at most ``limit_s``).

    Done means: no frames for ``quiet_s`` and then three pings in a row answered
    within 20 ms (a busy server can be silent for a second while it works).
    """
    t0 = perf()
    last = sum(phase.frames_in.values())
    quiet_since = perf()
    fast = 0
    while perf() - t0 < limit_s and fast < 3:
        await asyncio.sleep(0.1)
        cur = sum(phase.frames_in.values())
        if cur != last:
            last, quiet_since, fast = cur, perf(), 0
        elif perf() - quiet_since >= quiet_s:
            p0 = perf()
            try:
                await probe.request("ping", wait_s=max(1.0, limit_s - (p0 - t0)))
            except Exception:
                return perf() - t0
            fast = fast + 1 if perf() - p0 < 0.02 else 0
            last = sum(phase.frames_in.values())
    return perf() - t0


async def run_phase(target: Target, proc: Proc, args: argparse.Namespace) -> dict[str, Any]:
    phase = target.phase
    fig = phase.fig
    conns: list[Conn] = []
    stop = asyncio.Event()
    monitors: list[asyncio.Task[Any]] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            log(f"[{target.name}] setting up {args.customers} customers, {args.agents} agents")
            t0 = perf()
            pairs, conns, probe = await target.setup(http)
            fig["setup_s"] = perf() - t0
            fig["settle_s"] = await settle(phase, probe, 1.0, 60.0)
            log(
                f"[{target.name}] setup {fig['setup_s']:.1f}s (+{fig['settle_s']:.1f}s settle); "
                f"{len(pairs)} active chats, {len(conns)} sockets; idle ping 2s"
            )
            fig["active_chats"] = len(pairs)
            fig["sockets_opened"] = len(conns)
            fig["frames_during_setup"] = dict(phase.frames_in)
            # keep this process's collector out of the window: freeze what setup
            # built now, and pause collection during the window (memory grows by
            # a few MiB at most)
            gc.collect()
            gc.freeze()
            if args.wait_idle > 0:
                log(f"[{target.name}] waiting up to {args.wait_idle:.0f}s for the machine to calm")
                fig["other_cpu_before_pct"] = await wait_idle(args.wait_idle, proc.pid)
            monitors.append(asyncio.create_task(lag_monitor(phase, stop)))
            idle_stop = asyncio.Event()
            idle = asyncio.create_task(ping_monitor(phase, probe, idle_stop, phase.ping_idle_ms))
            await asyncio.sleep(2.0)
            idle_stop.set()
            await idle
            # ---- measured window
            log(f"[{target.name}] chatting for {args.seconds:.0f}s at {args.rate}/s per chat")
            phase.frames_in.clear()
            monitors.append(asyncio.create_task(ping_monitor(phase, probe, stop, phase.ping_ms)))
            spy = start_profiler(args, proc, target.name)
            gc.disable()
            cpu0, own0, w0 = proc_cpu_s(proc.pid), time.process_time(), perf()
            mach0 = machine_cpu()
            phase.t_start = w0
            phase.measuring = True
            try:
                fig["send_wall_s"] = await drive_chat(phase, pairs, args)
            finally:
                gc.enable()
            wall = perf() - w0
            mach1 = machine_cpu()
            if spy is not None:
                fig["profile"] = await stop_profiler(spy)
            cpu1, own1 = proc_cpu_s(proc.pid), time.process_time()
            phase.measuring = False
            stop.set()
            # grace for in-flight deliveries (not part of the throughput window)
            g0 = perf()
            while phase.inflight and perf() - g0 < args.grace:  # noqa: ASYNC110 - bounded
                await asyncio.sleep(0.05)
            fig["grace_used_s"] = perf() - g0
            await asyncio.gather(*monitors, return_exceptions=True)
            rss, hwm = proc_mem_mb(proc.pid)
            fig.update(
                {
                    "window_s": wall,
                    "server_cpu_pct": (cpu1 - cpu0) / wall * 100,
                    "loadgen_cpu_pct": (own1 - own0) / wall * 100,
                    # everything else that ran on the machine meanwhile (other jobs,
                    # py-spy, the kernel's share not charged to us): noise indicator
                    "other_cpu_pct": max(0.0, (mach1[0] - mach0[0]) - (cpu1 - cpu0) - (own1 - own0))
                    / wall
                    * 100,
                    "steal_pct": (mach1[1] - mach0[1]) / wall * 100,
                    "server_rss_mb": rss,
                    "server_peak_rss_mb": hwm,
                    "sent": phase.sent,
                    "send_failed": phase.send_failed,
                    "delivered": phase.delivered,
                    "lost": len(phase.inflight),
                    "late": phase.late,
                    "delivered_per_s": phase.delivered / wall,
                    "offered_per_s": args.rate * len(pairs),
                    "server_cpu_ms_per_msg": ((cpu1 - cpu0) * 1000 / phase.delivered)
                    if phase.delivered
                    else None,
                    "latency_ms": summary(phase.lat_ms),
                    "ack_ms": summary(phase.ack_ms),
                    "ping_idle_ms": summary(phase.ping_idle_ms),
                    "ping_ms": summary(phase.ping_ms),
                    "ping_lost": phase.ping_lost,
                    "loadgen_lag_ms": summary(phase.lag_ms),
                    "errors": dict(phase.errors),
                    "setup_errors": dict(phase.setup_errors),
                    "frames_in_window": dict(phase.frames_in),
                    "timeline": timeline(phase),
                }
            )
            fig["client_open"] = sum(1 for c in conns if not c.closed and not c.ws.closed)
            try:
                fig["server_connections"] = await target.server_connections(http)
            except Exception as exc:
                fig["server_connections"] = None
                phase.err(f"metrics: {exc}")
            fig["server_alive"] = proc.alive()
        finally:
            gc.enable()
            gc.unfreeze()
            stop.set()
            for t in monitors:
                t.cancel()
            await gather_limited([c.close for c in conns], 200)
    return fig


def timeline(phase: Phase) -> list[dict[str, Any]]:
    """Per second of the window: messages, p99 and max latency, max ping RTT."""
    secs: dict[int, list[float]] = {}
    for at, ms in zip(phase.lat_at, phase.lat_ms, strict=True):
        secs.setdefault(int(at - phase.t_start), []).append(ms)
    pings: dict[int, float] = {}
    for at, ms in zip(phase.ping_at, phase.ping_ms, strict=True):
        k = int(at - phase.t_start)
        pings[k] = max(pings.get(k, 0.0), ms)
    lags: dict[int, float] = {}
    for at, ms in zip(phase.lag_at, phase.lag_ms, strict=True):
        k = int(at - phase.t_start)
        lags[k] = max(lags.get(k, 0.0), ms)
    return [
        {
            "s": k,
            "n": len(v),
            "p99_ms": round(pct(v, 99) or 0, 2),
            "max_ms": round(max(v), 2),
            "ping_max_ms": round(pings.get(k, 0.0), 2),
            "loadgen_lag_max_ms": round(lags.get(k, 0.0), 2),
        }
        for k, v in sorted(secs.items())
    ]


# --------------------------------------------------------------------------- servers


def start_profiler(args: argparse.Namespace, proc: Proc, name: str) -> tuple[Any, str] | None:
    """``--profile``: py-spy samples the server through the measured window."""
    if not args.profile:
        return None
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        log("note: --profile needs py-spy (pip install py-spy); not profiling")
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS_DIR / f"profile-{name.split()[0]}-{stamp}.txt"
    p = subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(proc.pid),
            "--nonblocking",
            "--rate",
            "200",
            "--format",
            "raw",
            "--duration",
            str(int(args.seconds) + 1),
            "--output",
            str(out),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_child_setup(None),
    )
    return p, str(out)


async def stop_profiler(spy: tuple[Any, str]) -> str:
    p, out = spy
    for _ in range(100):
        if p.poll() is not None:
            break
        await asyncio.sleep(0.1)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        await asyncio.sleep(1)
        if p.poll() is None:
            p.kill()
    return out


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDESK_")}
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["PYTHONUNBUFFERED"] = "1"
    # every load-generator socket comes from 127.0.0.1: the per-address limits, which
    # would stop a flood from one address, are off for benchmarks
    env["LIVEDESK_LIMITS_ATTEMPTS_PER_IP_PER_S"] = "0"
    env["LIVEDESK_LIMITS_WS_PER_IP"] = "0"
    return env


async def add_agents(args: argparse.Namespace, data: Path, password: str, work: Path) -> float:
    t0 = perf()
    env = {**base_env(), "LIVEDESK_NEW_PASSWORD": password}

    async def one(i: int) -> None:
        p = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "signaling",
            "user",
            "add",
            f"agent{i}",
            "--role",
            "agent",
            "--capacity",
            str(args.capacity),
            "--data-dir",
            str(data),
            env=env,
            cwd=work,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(p.communicate(), 120)
        except TimeoutError:
            p.kill()
            raise
        if p.returncode != 0:
            raise RuntimeError(f"user add agent{i} failed: {out.decode(errors='replace')}")

    # one at a time first (it creates and migrates the archive), then two at a time
    await one(0)
    res = await gather_limited([lambda i=i: one(i) for i in range(1, args.agents)], 2)
    for r in res:
        if isinstance(r, BaseException):
            raise r
    return perf() - t0


def livedesk_env(args: argparse.Namespace, data: Path, port: int) -> tuple[dict[str, str], str]:
    env = base_env()
    env.update(
        {
            "LIVEDESK_DATA_DIR": str(data),
            "LIVEDESK_HOST": HOST,
            "LIVEDESK_PORT": str(port),
            "LIVEDESK_SERVER_DEMO": "false",
            "LIVEDESK_SERVER_LOG_LEVEL": args.log_level,
            # set-up offers all 2,000 sessions within a second or two; with the default
            # 20 s a few of those offers expire before the load generator's accept is
            # served, which is routing working (the session goes back to the queue and
            # cools down for that agent) but leaves one customer unserved for the run
            "LIVEDESK_ROUTING_OFFER_TIMEOUT_S": "120",
        }
    )
    note = ""
    # an agent sends capacity x rate / 2 messages a second; keep it under the
    # per-connection limit (20/s by default) or the benchmark measures rate limiting
    per_agent = args.capacity * args.rate / 2
    if per_agent > 0.8 * 20:
        limit = math.ceil(per_agent * 2)
        env["LIVEDESK_LIMITS_MESSAGES_PER_S"] = str(limit)
        env["LIVEDESK_LIMITS_MESSAGE_BURST"] = str(max(60, limit * 3))
        note = f"raised limits.messages_per_s to {limit} (an agent sends {per_agent:g}/s)"
    if args.redis:
        env["LIVEDESK_REDIS_URL"] = args.redis
        env["LIVEDESK_STORE_KEY_PREFIX"] = "livedesk-bench-" + secrets.token_hex(4)
    return env, note


# --------------------------------------------------------------------------- report


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _ratio(a: Any, b: Any) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def table(res: dict[str, Any]) -> str:
    ld, bare = res.get("livedesk"), res.get("bare")
    rows: list[tuple[str, str, str, str]] = []

    def row(
        label: str, get: Callable[[dict[str, Any]], Any], fmt: str = "{:.1f}", ratio: bool = False
    ) -> None:
        a = get(ld) if ld else None
        b = get(bare) if bare else None
        rows.append((label, _f(a, fmt), _f(b, fmt), _ratio(a, b) if ratio else ""))

    def lat(key: str, q: str) -> Callable[[dict[str, Any]], Any]:
        return lambda d: d[key][q]

    rows.append(("", "livedesk", "bare aiohttp", "ratio"))
    row("connections held, client side", lambda d: d["client_open"], "{:d}")
    row("connections held, server side", lambda d: d["server_connections"], "{:d}")
    row("active chats (pairs)", lambda d: d["active_chats"], "{:d}")
    row("setup time, s", lambda d: d["setup_s"], "{:.1f}", True)
    row("chat messages sent", lambda d: d["sent"], "{:d}")
    row("delivered / s (offered)", lambda d: d["delivered_per_s"], "{:.1f}", True)
    row("lost / late", lambda d: d["lost"] + d["late"], "{:d}")
    for q in ("p50", "p95", "p99", "max"):
        row(f"chat latency {q}, ms", lat("latency_ms", q), "{:.2f}", q in ("p50", "p99"))
    row("send->ok ack p99, ms", lat("ack_ms", "p99"), "{:.2f}")
    row("server ping RTT idle p50, ms", lat("ping_idle_ms", "p50"), "{:.2f}")
    for q in ("p50", "p99", "max"):
        row(f"server ping RTT loaded {q}, ms", lat("ping_ms", q), "{:.2f}", q == "p99")
    row(
        "server event-loop lag, max of last 10 s, ms",
        lambda d: d.get("server_loop_lag_max_ms"),
        "{:.2f}",
    )
    row("loadgen loop lag p99, ms", lat("loadgen_lag_ms", "p99"), "{:.2f}")
    row("loadgen loop lag max, ms", lat("loadgen_lag_ms", "max"), "{:.2f}")
    row("loadgen CPU, %", lambda d: d["loadgen_cpu_pct"], "{:.0f}")
    row("other load on the machine, % CPU", lambda d: d["other_cpu_pct"], "{:.0f}")
    row("server CPU, %", lambda d: d["server_cpu_pct"], "{:.0f}", True)
    row("server CPU per message, ms", lambda d: d["server_cpu_ms_per_msg"], "{:.3f}", True)
    row("server RSS (peak), MiB", lambda d: d["server_peak_rss_mb"], "{:.0f}", True)
    row(
        "seconds of window with p99 > 50 ms",
        lambda d: sum(1 for t in d["timeline"] if t["p99_ms"] > 50),
        "{:d}",
    )
    row("errors (window)", lambda d: sum(d["errors"].values()) + d["send_failed"], "{:d}")
    row("setup errors", lambda d: sum(d["setup_errors"].values()), "{:d}")
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    lines = [f"{r[0]:<{w0}}  {r[1]:>{w1}}  {r[2]:>{w2}}  {r[3]:>6}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def verdict(res: dict[str, Any]) -> list[str]:
    ld = res.get("livedesk")
    if ld is None:
        return []
    a = res["args"]
    p99 = ld["latency_ms"]["p99"]
    out = [
        f"aim: {a['customers']} concurrent customer connections on one process, p99 < 50 ms",
        f"  connections held: {ld['server_connections']} on the server "
        f"({ld['client_open']} open on the client)",
        f"  p99 chat latency: {_f(p99, '{:.1f}')} ms -> "
        + (
            "MET"
            if p99 is not None
            and p99 < 50
            and ld["lost"] == 0
            and ld["client_open"] >= a["customers"]
            else "NOT MET"
        ),
    ]
    lag = ld["loadgen_lag_ms"]["p99"]
    other = ld["other_cpu_pct"]
    if other > 15:
        out.append(
            f"  caution: other processes used {other:.0f}% CPU during the livedesk window "
            "(of 100% per core); the figures are noisy, run again on a quiet machine"
        )
    if lag is not None and p99 is not None and lag > 5 and lag > 0.5 * p99:
        out.append(
            f"  caution: the load generator's own loop lag p99 was {lag:.1f} ms; "
            "the client may be part of the latency"
        )
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="livedesk chat load benchmark (prints figures; not a test)"
    )
    ap.add_argument("--customers", type=int, default=2000, help="customer sockets (2000)")
    ap.add_argument("--agents", type=int, default=20, help="agents (20)")
    ap.add_argument(
        "--capacity",
        type=int,
        default=50,
        help="sessions per agent, 1-100 (50): active chats = agents x capacity",
    )
    ap.add_argument("--seconds", type=float, default=20.0, help="measured chat window (20)")
    ap.add_argument(
        "--rate",
        type=float,
        default=0.5,
        help="messages per second per active chat, sides alternating (0.5)",
    )
    ap.add_argument("--size", type=int, default=100, help="chat text bytes (100)")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="customer sessions being opened at once during setup (50)",
    )
    ap.add_argument(
        "--setup-timeout",
        type=float,
        default=90.0,
        help="seconds to wait for agents to accept their offers (90)",
    )
    ap.add_argument(
        "--grace",
        type=float,
        default=3.0,
        help="seconds to wait for in-flight messages after the window (3)",
    )
    ap.add_argument("--redis", default="", help="redis://127.0.0.1:6379/N: use the Redis store")
    ap.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="livedesk server log level (info)",
    )
    ap.add_argument("--no-bare", action="store_true", help="skip the bare aiohttp ceiling")
    ap.add_argument("--only-bare", action="store_true", help="run only the bare aiohttp ceiling")
    ap.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin servers to CPU 0 and the load generator to CPU 1",
    )
    ap.add_argument(
        "--no-compress",
        action="store_true",
        help="do not offer permessage-deflate (browsers do; on by default)",
    )
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="before each window, wait up to this many seconds until other processes "
        "use under 15%% CPU (0: do not wait)",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the servers and the load generator at this nice value "
        "(negative needs root; for shared machines, say so when quoting figures)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="sample the servers with py-spy in the window (bench/results/profile-*)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    ap.add_argument("--json", default="", help="results file (bench/results/chat_load-<ts>.json)")
    args = ap.parse_args(argv)
    if not 1 <= args.capacity <= 100:
        ap.error("--capacity is 1-100")
    if args.customers < 1 or args.agents < 1 or args.rate <= 0 or args.seconds <= 0:
        ap.error("--customers, --agents, --rate and --seconds must be positive")
    if args.size < 48:
        ap.error("--size must be at least 48 (the text carries ids and a timestamp)")
    if args.redis and not args.redis.startswith(
        ("redis://127.0.0.1", "redis://localhost", "unix://")
    ):
        ap.error("--redis must point at 127.0.0.1/localhost or a unix socket")
    return args


async def clean_redis(url: str, prefix: str) -> int:
    """Delete this run's keys (its own random prefix) from Redis."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.delete(*batch)
                batch.clear()
        if batch:
            deleted += await client.delete(*batch)
    except Exception as exc:
        log(f"note: could not clean Redis keys {prefix}:*: {exc}")
    finally:
        await client.aclose()
    return deleted


async def livedesk_phase(
    args: argparse.Namespace,
    work: Path,
    procs: list[Proc],
    server_cpus: set[int] | None,
    res: dict[str, Any],
) -> None:
    password = secrets.token_urlsafe(12)
    data = work / "data"
    log(f"creating {args.agents} agents (capacity {args.capacity}) with `signaling user add`")
    t_users = await add_agents(args, data, password, work)
    port = free_port()
    env, note = livedesk_env(args, data, port)
    if note:
        log("note: " + note)
        res["notes"].append(note)
    base = f"http://{HOST}:{port}"
    res["user_add_s"] = t_users

    ld = Proc(
        "livedesk",
        [sys.executable, "-m", "signaling", "run"],
        env=env,
        cwd=work,
        log=work / "livedesk.log",
        cpus=server_cpus,
    )
    procs.append(ld)
    async with aiohttp.ClientSession() as http:
        await wait_http(http, base + "/healthz", ld, 60)
    target = LivedeskTarget(args, base, Phase("livedesk"), password)
    res["livedesk"] = await run_phase(target, ld, args)
    ld.stop()
    if args.redis:
        res["livedesk"]["redis_keys_deleted"] = await clean_redis(
            args.redis, env["LIVEDESK_STORE_KEY_PREFIX"]
        )
    res["livedesk"]["server_log_tail"] = ld.tail(5)
    res["livedesk"]["server_log_warnings"] = sum(
        1
        for line in ld.log.read_text(errors="replace").splitlines()
        if "warning" in line.lower() or "error" in line.lower()
    )


async def amain(
    args: argparse.Namespace,
    work: Path,
    procs: list[Proc],
    cpus: tuple[set[int] | None, set[int] | None],
    res: dict[str, Any],
) -> None:
    server_cpus, _ = cpus
    if not args.only_bare:
        await livedesk_phase(args, work, procs, server_cpus, res)

    if not args.no_bare:
        port = free_port()
        bare = Proc(
            "bare",
            [sys.executable, str(BENCH_DIR / "bare_server.py"), "--port", str(port)],
            env=base_env(),
            cwd=work,
            log=work / "bare.log",
            cpus=server_cpus,
        )
        procs.append(bare)
        base = f"http://{HOST}:{port}"
        async with aiohttp.ClientSession() as http:
            await wait_http(http, base + "/stats", bare, 30)
        n_pairs = (
            res["livedesk"]["active_chats"]
            if "livedesk" in res
            else min(args.customers, args.agents * args.capacity)
        )
        res["bare"] = await run_phase(BareTarget(args, base, Phase("bare"), n_pairs), bare, args)
        bare.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_nofile(max(65536, 4 * args.customers + 1024))
    ncpu = len(os.sched_getaffinity(0))
    if args.no_pin or ncpu < 2:
        cpus: tuple[set[int] | None, set[int] | None] = (None, None)
        cpu_note = f"not pinned; {ncpu} CPUs shared by the server and the load generator"
    else:
        allowed = sorted(os.sched_getaffinity(0))
        cpus = ({allowed[0]}, set(allowed[1:]))
        os.sched_setaffinity(0, cpus[1])
        cpu_note = (
            f"server pinned to CPU {allowed[0]}, load generator to CPU "
            f"{','.join(map(str, allowed[1:]))} ({ncpu} CPUs)"
        )
    if args.nice:
        # inherited by the servers started below
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        cpu_note += f"; all at nice {args.nice}"
    work = Path(tempfile.mkdtemp(prefix="livedesk-bench-"))
    procs: list[Proc] = []

    def on_term(_sig: int, _frm: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.time()
    res: dict[str, Any] = {"notes": []}
    status = 0
    try:
        asyncio.run(amain(args, work, procs, cpus, res))
    except KeyboardInterrupt:
        log("interrupted; stopping servers")
        return 130
    except Exception:
        traceback.print_exc()
        log("the run failed; reporting what was measured")
        status = 1
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    res["args"] = vars(args)
    res["env"] = {
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
        "msgspec": msgspec.__version__,
        "cpus": ncpu,
        "cpu_layout": cpu_note,
        "nofile": nofile,
        "store": "redis" if args.redis else "memory",
        "loop": "asyncio default (no uvloop)",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "total_s": time.time() - started,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = (
        Path(args.json)
        if args.json
        else (
            RESULTS_DIR
            / f"chat_load-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.json"
        )
    )
    out.write_text(json.dumps(res, indent=2, default=str))
    if "livedesk" not in res and "bare" not in res:
        log(f"no figures; partial results in {out}")
        return status or 1
    a = args
    print()
    print(
        f"livedesk chat load: {a.customers} customers, {a.agents} agents x capacity "
        f"{a.capacity}, {a.rate:g} msg/s per chat (sides alternating), {a.size}-byte texts, "
        f"{a.seconds:g}s window, store {res['env']['store']}"
    )
    print(
        f"cores: {cpu_note}; one load-generator process; permessage-deflate "
        f"{'off' if a.no_compress else 'offered'}"
    )
    for n in res["notes"]:
        print("note: " + n)
    print()
    print(table(res))
    print()
    for line in verdict(res):
        print(line)
    for name in ("livedesk", "bare"):
        d = res.get(name)
        if d and (d["errors"] or d["setup_errors"]):
            print(f"{name} errors: {d['errors']}  setup: {d['setup_errors']}")
    print(f"\nresults: {out}  (total {res['env']['total_s']:.0f}s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
