#!/usr/bin/env python
"""Flood isolation benchmark: do ordinary clients notice a client that floods?

It starts one livedesk server (``python -m signaling run``) in its own process,
opens ``--chats`` customer sessions with ``--agents`` agents from this
load-generator process (the same way bench/chat_load.py does, with its code), and
has every chat exchange messages at ``--rate`` while it measures chat delivery
latency, the sender's ``ok`` and a probe socket's ping round trip. It measures three
windows of ``--seconds`` each, in one run against the same server:

1. **before**: no flood (baseline);
2. **flood**: ``--flooders`` extra customers, each in its own process, send frames
   as fast as their socket takes them. Each is throttled (``rate_limited``), then
   closed with 1008 by the server, and (unless ``--no-reconnect``) connects again
   with its token straight away and floods again, for the whole window;
3. **after**: no flood again (a second baseline, to tell drift from effect).

The baseline figures are both quiet windows together; the table shows the flood
window's p50/p95/p99 next to them and the ratio. The run exits 1 when a target is
missed: the flood window's p99 chat latency above ``--max-p99-ratio`` x baseline
(plus ``--slack-ms``, because at ~1 ms a single scheduler tick moves a ratio), an
ordinary client saw an error or lost a message, or a flooder was not throttled and
closed with 1008.

Everything listens and connects on 127.0.0.1; the per-address limits are off (see
chat_load.base_env), so what is measured is the per-connection throttle alone.

    python bench/flood.py                       # 50 chats, 1 flooder, 3 x 20 s
    python bench/flood.py --flooders 4 --kind ping --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import (
    HOST,
    RESULTS_DIR,
    Conn,
    LivedeskTarget,
    Phase,
    Proc,
    _child_setup,
    add_agents,
    drive_chat,
    free_port,
    lag_monitor,
    livedesk_env,
    log,
    machine_cpu,
    ping_monitor,
    proc_cpu_s,
    proc_mem_mb,
    raise_nofile,
    settle,
    start_profiler,
    stop_profiler,
    summary,
    timeline,
    wait_http,
)

perf = time.perf_counter

# --------------------------------------------------------------------------- the flooder
# It runs in its own process (``flood.py --flooder URL``) so that its busy send loop
# shares neither this process's event loop nor, at a higher nice value, much of its CPU.

FLOOD_FRAMES = {
    # the costliest message a customer may send: each one that passes is a chat
    # message in its session (store, log, pushes, archive)
    "chat": lambda sid, i: f'{{"type":"chat.send","id":{i},"session":"{sid}","text":"flood {i}"}}',
    "ping": lambda sid, i: f'{{"type":"ping","id":{i}}}',
    # does not decode: must cost no more than a ping (the rate check comes first)
    "junk": lambda sid, i: "{not json " + str(i),
}


async def flood_cycle(
    http: aiohttp.ClientSession,
    ws_url: str,
    token: str,
    session: str,
    kind: str,
    compress: bool,
    deadline: float,
) -> dict[str, Any]:
    """One connection: hello, then frames as fast as the socket takes them until closed."""
    make = FLOOD_FRAMES[kind]
    t_connect = perf()
    ws = await http.ws_connect(
        ws_url,
        heartbeat=None,
        compress=15 if compress else 0,
        max_msg_size=64 * 1024 * 1024,
        timeout=aiohttp.ClientWSTimeout(ws_close=5),
    )
    replies: Counter[str] = Counter()
    first_limited: list[float] = []
    hello_ok = asyncio.Event()

    async def read() -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            msg = json.loads(frame.data)
            kind_ = msg.get("type")
            if kind_ == "error":
                code = str(msg.get("code"))
                replies["error:" + code] += 1
                if code == "rate_limited" and not first_limited:
                    first_limited.append(perf())
            else:
                replies[str(kind_)] += 1
                if kind_ == "ok" and msg.get("id") == "hello":
                    hello_ok.set()

    reader = asyncio.create_task(read())
    t_hello = perf()
    await ws.send_str(json.dumps({"type": "hello", "id": "hello", "token": token, "resume": {}}))
    # the flood starts once the server took hello (before it, the frames would only be
    # "send hello first"), but a server that never answers must not hang the flooder
    hello_wait = asyncio.ensure_future(hello_ok.wait())
    await asyncio.wait([hello_wait, reader], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    hello_wait.cancel()
    t0 = perf()
    sent = 0
    try:
        while not ws.closed and not reader.done() and perf() < deadline:
            await ws.send_str(make(session, sent))
            sent += 1
            if sent % 256 == 0:
                await asyncio.sleep(0)  # let the reader see the close
    except (aiohttp.ClientError, ConnectionError, RuntimeError):
        pass
    timed_out = False
    try:
        # cut short by the window's end: no close to wait for
        await asyncio.wait_for(asyncio.shield(reader), 10 if perf() < deadline else 0.5)
    except TimeoutError:
        timed_out = True
    except Exception:  # the socket's end is what is recorded
        pass
    t_end = perf()
    if not ws.closed:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)
    reader.cancel()
    with contextlib.suppress(BaseException):
        await reader
    return {
        "hello_ok": hello_ok.is_set(),
        "t_connect": t_connect,  # perf_counter: CLOCK_MONOTONIC, the same in every process
        "connect_s": t_hello - t_connect,
        "hello_s": t0 - t_hello,
        "sent": sent,
        "replies": dict(replies),
        "close_code": ws.close_code,
        # from sending hello
        "first_rate_limited_s": (first_limited[0] - t_hello) if first_limited else None,
        "close_s": t_end - t_hello,
        "timed_out": timed_out,
        "stopped_by_deadline": perf() >= deadline and ws.close_code != 1008,
    }


async def flooder_main(
    base: str, seconds: float, kind: str, reconnect: bool, compress: bool, address: str
) -> None:
    """``--flooder``: open a session, flood until ``seconds`` are up, print JSON stats."""
    ws_url = base.replace("http", "ws", 1) + "/ws"
    cycles: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    # its own source address (any 127.x.y.z is loopback on Linux): the per-address
    # limits count it apart from the ordinary clients
    connector = aiohttp.TCPConnector(limit=0, local_addr=(address, 0) if address else None)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(
            base + "/api/sessions",
            json={"entry": "demo", "text": "flooder", "name": "flooder"},
        ) as r:
            body = await r.json(content_type=None)
            if r.status != 201:
                raise SystemExit(f"POST /api/sessions {r.status}: {body}")
        # ready: the parent starts the window when every flooder has its session
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
        deadline = perf() + seconds
        while perf() < deadline:
            try:
                cycles.append(
                    await flood_cycle(
                        http, ws_url, body["token"], body["session"], kind, compress, deadline
                    )
                )
            except aiohttp.WSServerHandshakeError as exc:
                # refused before the upgrade (429 from the per-address limits): it
                # just tries again, as an attacker would
                errors[f"upgrade refused: HTTP {exc.status}"] += 1
                await asyncio.sleep(0)
            except Exception as exc:
                errors[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                await asyncio.sleep(0.05)
            if not reconnect:
                break
    out = {"cycles": cycles, "errors": dict(errors), "cpu_s": time.process_time()}
    print(json.dumps(out), flush=True)


class Flooder:
    """A flooder subprocess: started, released at the window's start, read at the end."""

    def __init__(self, args: argparse.Namespace, base: str, idx: int, cpus: set[int] | None):
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--flooder",
            base,
            "--seconds",
            str(args.seconds),
            "--kind",
            args.kind,
        ]
        if args.no_reconnect:
            argv.append("--no-reconnect")
        if args.flood_compress:
            argv.append("--flood-compress")
        argv += ["--flooder-address", args.flooder_address]
        setup = _child_setup(cpus)

        def preexec() -> None:
            setup()
            # the flooder's CPU goes to the load generator first when both want it
            os.nice(args.flooder_nice)

        self.idx = idx
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=preexec,
            text=True,
        )

    async def ready(self) -> None:
        assert self.p.stdout is not None
        line = await asyncio.to_thread(self.p.stdout.readline)
        if not line:
            err = self.p.stderr.read() if self.p.stderr else ""
            raise RuntimeError(f"flooder {self.idx} failed to start: {err[-500:]}")

    def go(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    async def result(self, wait_s: float) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            out, err = self.p.communicate(timeout=wait_s)
            lines = [ln for ln in out.splitlines() if ln.strip()]
            if self.p.returncode != 0 or not lines:
                raise RuntimeError(f"flooder {self.idx} exited {self.p.returncode}: {err[-800:]}")
            return dict(json.loads(lines[-1]))

        return await asyncio.to_thread(read)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=5)


# --------------------------------------------------------------------------- windows


async def metrics_sample(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """A few of the server's own figures from ``/metrics``."""
    out: dict[str, float] = {}
    async with http.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('livedesk_event_loop_lag_seconds{window="max_10s"}'):
            out["loop_lag_max_10s_ms"] = float(line.split()[1]) * 1000
        elif line.startswith('livedesk_errors_total{code="rate_limited"}'):
            out["rate_limited_total"] = float(line.split()[1])
        elif line.startswith("livedesk_messages_in_total "):
            out["messages_in_total"] = float(line.split()[1])
        elif line.startswith("livedesk_connections "):
            out["connections"] = float(line.split()[1])
    return out


async def lag_watch(
    http: aiohttp.ClientSession, base: str, stop: asyncio.Event, into: list[float]
) -> None:
    """The server's own loop lag (max of 10 s), read every 5 s."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)
        with contextlib.suppress(Exception):
            into.append((await metrics_sample(http, base))["loop_lag_max_10s_ms"])


async def window(
    name: str,
    conns: list[Conn],
    pairs: list[Any],
    probe: Conn,
    ld: Proc,
    http: aiohttp.ClientSession,
    base: str,
    args: argparse.Namespace,
    flooders: list[Flooder],
) -> dict[str, Any]:
    """One measured window of chat, with or without the flooders."""
    phase = Phase(name)
    for c in conns:
        c.phase = phase
    stop = asyncio.Event()
    server_lag: list[float] = []
    m0 = await metrics_sample(http, base)
    monitors = [
        asyncio.create_task(lag_monitor(phase, stop)),
        asyncio.create_task(ping_monitor(phase, probe, stop, phase.ping_ms)),
        asyncio.create_task(lag_watch(http, base, stop, server_lag)),
    ]
    cpu0, own0, mach0, w0 = proc_cpu_s(ld.pid), time.process_time(), machine_cpu(), perf()
    spy = start_profiler(args, ld, "flood-" + name) if flooders else None
    for f in flooders:
        f.go()
    phase.t_start = w0
    phase.measuring = True
    await drive_chat(phase, pairs, args, tag=name[0])
    wall = perf() - w0
    if spy is not None:
        await stop_profiler(spy)
    phase.measuring = False
    cpu1, own1, mach1 = proc_cpu_s(ld.pid), time.process_time(), machine_cpu()
    stop.set()
    g0 = perf()
    while phase.inflight and perf() - g0 < args.grace:  # noqa: ASYNC110 - bounded
        await asyncio.sleep(0.05)
    await asyncio.gather(*monitors, return_exceptions=True)
    flood: list[dict[str, Any]] = []
    for f in flooders:
        try:
            flood.append(await f.result(args.seconds + 60))
        except Exception as exc:
            flood.append({"cycles": [], "errors": {f"flooder: {exc}"[:200]: 1}})
    m1 = await metrics_sample(http, base)
    return {
        "name": name,
        "window_s": wall,
        "sent": phase.sent,
        "send_failed": phase.send_failed,
        "delivered": phase.delivered,
        "lost": len(phase.inflight),
        "late": phase.late,
        "errors": dict(phase.errors),
        "latency_ms": summary(phase.lat_ms),
        "ack_ms": summary(phase.ack_ms),
        "ping_ms": summary(phase.ping_ms),
        "ping_lost": phase.ping_lost,
        "loadgen_lag_ms": summary(phase.lag_ms),
        "server_cpu_pct": (cpu1 - cpu0) / wall * 100,
        "loadgen_cpu_pct": (own1 - own0) / wall * 100,
        # everything that is neither the server nor the load generator: in the flood
        # window that includes the flooders themselves
        "other_cpu_pct": max(0.0, (mach1[0] - mach0[0]) - (cpu1 - cpu0) - (own1 - own0))
        / wall
        * 100,
        "server_loop_lag_max_ms": max(server_lag) if server_lag else None,
        "server_messages_in": m1.get("messages_in_total", 0) - m0.get("messages_in_total", 0),
        "server_rate_limited": m1.get("rate_limited_total", 0) - m0.get("rate_limited_total", 0),
        "server_rss_mb": proc_mem_mb(ld.pid)[0],
        "flood": flood,
        "flooder_cpu_pct": sum(f.get("cpu_s", 0.0) for f in flood) / wall * 100,
        "lat_raw": phase.lat_ms,
        "t_start": phase.t_start,
        "timeline": timeline(phase),
    }


def flood_figures(w: dict[str, Any]) -> dict[str, Any]:
    # a connection the window's end cut short is not counted
    cycles = [c for f in w["flood"] for c in f["cycles"] if not c["stopped_by_deadline"]]
    closed = [c for c in cycles if c["close_code"] == 1008]
    limited = [c for c in cycles if c["replies"].get("error:rate_limited")]
    sent = sum(c["sent"] for c in cycles)
    return {
        "connections": len(cycles),
        "closed_1008": len(closed),
        "throttled": len(limited),
        "other_close_codes": dict(
            Counter(str(c["close_code"]) for c in cycles if c["close_code"] != 1008)
        ),
        "frames_sent": sent,
        "frames_per_s": sent / w["window_s"] if w["window_s"] else 0,
        "refused_at_hello": sum(1 for c in cycles if not c["hello_ok"]),
        "passed_per_connection": statistics.median(
            [c["replies"].get("ok", 0) for c in cycles] or [0]
        ),
        "rate_limited_replies": sum(c["replies"].get("error:rate_limited", 0) for c in cycles),
        "first_rate_limited_ms": summary(
            [
                c["first_rate_limited_s"] * 1000
                for c in cycles
                if c["first_rate_limited_s"] is not None
            ]
        ),
        "close_ms": summary([c["close_s"] * 1000 for c in closed]),
        "connect_ms": summary([c["connect_s"] * 1000 for c in cycles]),
        "flooding_ms": summary([c["close_s"] * 1000 for c in closed if c["hello_ok"]]),
        "errors": dict(sum((Counter(f["errors"]) for f in w["flood"]), Counter())),
    }


# --------------------------------------------------------------------------- report


def _f(v: Any, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def report(res: dict[str, Any], args: argparse.Namespace) -> tuple[str, list[str]]:
    """The summary table and the list of missed targets."""
    before, flood, after = res["before"], res["flood"], res["after"]
    base = summary(before["lat_raw"] + after["lat_raw"])
    res["baseline_latency_ms"] = base
    ff = res["flood_figures"] = flood_figures(flood)
    rows: list[tuple[str, str, str, str, str]] = [
        ("", "before", "flood", "after", "flood / baseline"),
    ]

    def row(label: str, key: str, q: str | None = None, fmt: str = "{:.2f}", ratio_to: Any = None):
        vals = []
        for w in (before, flood, after):
            v = w[key][q] if q else w[key]
            vals.append(v)
        ratio = "-"
        if ratio_to is not None and vals[1] is not None and ratio_to:
            ratio = f"{vals[1] / ratio_to:.2f}x"
        rows.append((label, *(_f(v, fmt) for v in vals), ratio))

    for q in ("p50", "p95", "p99", "max"):
        row(f"chat latency {q}, ms", "latency_ms", q, ratio_to=base[q])
    for q in ("p50", "p99"):
        # ratio against the mean of the two quiet windows
        a, b = before["ack_ms"][q], after["ack_ms"][q]
        row(f"send->ok ack {q}, ms", "ack_ms", q, ratio_to=(a + b) / 2 if a and b else None)
    for q in ("p50", "p99"):
        a, b = before["ping_ms"][q], after["ping_ms"][q]
        row(f"probe ping RTT {q}, ms", "ping_ms", q, ratio_to=(a + b) / 2 if a and b else None)
    row("messages delivered", "delivered", fmt="{:d}")
    row("lost + late", "lost", fmt="{:d}")
    row("server CPU, %", "server_cpu_pct", fmt="{:.0f}")
    row("server loop lag, max, ms", "server_loop_lag_max_ms", fmt="{:.1f}")
    row("server frames in", "server_messages_in", fmt="{:.0f}")
    row("server rate_limited refusals", "server_rate_limited", fmt="{:.0f}")
    row("loadgen loop lag p99, ms", "loadgen_lag_ms", "p99", fmt="{:.2f}")
    row("loadgen CPU, %", "loadgen_cpu_pct", fmt="{:.0f}")
    row("flooders' CPU, %", "flooder_cpu_pct", fmt="{:.0f}")
    row("other CPU (incl. flooders), %", "other_cpu_pct", fmt="{:.0f}")
    w0 = max(len(r[0]) for r in rows)
    ws = [max(len(r[i]) for r in rows) for i in range(1, 5)]
    lines = [f"{r[0]:<{w0}}  " + "  ".join(f"{r[i + 1]:>{ws[i]}}" for i in range(4)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append(
        f"baseline (before + after) chat latency: p50 {_f(base['p50'])}  p95 {_f(base['p95'])}  "
        f"p99 {_f(base['p99'])} ms over {base['n']} messages"
    )
    lines.append("")
    lines.append(
        f"flooders: {args.flooders} x {args.kind!r} frames from {args.flooder_address}, "
        f"reconnecting: {'no' if args.no_reconnect else 'yes'}; per-address limits "
        f"{'on (defaults)' if res['ip_limits'] else 'off'}"
    )
    lines.append(
        f"  connections {ff['connections']} (refused at hello {ff['refused_at_hello']}), "
        f"throttled {ff['throttled']}, closed with 1008 "
        f"{ff['closed_1008']}, other closes {ff['other_close_codes'] or 'none'}"
    )
    lines.append(
        f"  frames sent {ff['frames_sent']} ({ff['frames_per_s']:.0f}/s), passed per "
        f"connection (median) {ff['passed_per_connection']:.0f}, rate_limited replies "
        f"{ff['rate_limited_replies']}"
    )
    lines.append(
        "  from hello: first rate_limited after p50 "
        f"{_f(ff['first_rate_limited_ms']['p50'])} ms, closed with 1008 after p50 "
        f"{_f(ff['close_ms']['p50'])} / max {_f(ff['close_ms']['max'])} ms (connections let in "
        f"at hello: p50 {_f(ff['flooding_ms']['p50'])} / max {_f(ff['flooding_ms']['max'])} ms); "
        f"connect p50 {_f(ff['connect_ms']['p50'])} ms"
    )
    if ff["errors"]:
        lines.append(f"  flooder errors: {ff['errors']}")

    missed: list[str] = []
    p99b, p99f = base["p99"], flood["latency_ms"]["p99"]
    bound = None if p99b is None else p99b * args.max_p99_ratio + args.slack_ms
    if p99f is None or bound is None or p99f > bound:
        missed.append(
            f"flood p99 chat latency {_f(p99f)} ms > {args.max_p99_ratio:g} x baseline "
            f"{_f(p99b)} + {args.slack_ms:g} ms = {_f(bound)} ms"
        )
    for w in (before, flood, after):
        bad = sum(w["errors"].values()) + w["send_failed"] + w["lost"] + w["late"] + w["ping_lost"]
        if bad:
            missed.append(
                f"{w['name']}: ordinary clients saw {bad} errors/losses ({w['errors']}, "
                f"lost {w['lost']}, late {w['late']}, send failures {w['send_failed']})"
            )
    if ff["connections"] == 0:
        missed.append("no flooder connected")
    if ff["throttled"] < ff["connections"]:
        missed.append(
            f"{ff['connections'] - ff['throttled']} flood connections never got rate_limited"
        )
    if ff["closed_1008"] < ff["connections"]:
        missed.append(
            f"{ff['connections'] - ff['closed_1008']} flood connections did not end with 1008"
        )
    if res.get("client_open", 0) < res.get("sockets", 0):
        missed.append(f"ordinary sockets open at the end: {res['client_open']} of {res['sockets']}")
    return "\n".join(lines), missed


# --------------------------------------------------------------------------- main


async def amain(
    args: argparse.Namespace, work: Path, procs: list[Proc], res: dict[str, Any]
) -> None:
    ncpu = len(os.sched_getaffinity(0))
    server_cpus: set[int] | None = None
    client_cpus: set[int] | None = None
    if not args.no_pin and ncpu >= 2:
        allowed = sorted(os.sched_getaffinity(0))
        server_cpus, client_cpus = {allowed[0]}, set(allowed[1:])
        os.sched_setaffinity(0, client_cpus)
        res["cpu_layout"] = (
            f"server on CPU {allowed[0]}; load generator and flooders (nice "
            f"{args.flooder_nice}) on CPU {','.join(map(str, allowed[1:]))}"
        )
    else:
        res["cpu_layout"] = f"not pinned ({ncpu} CPUs)"
    password = secrets.token_urlsafe(12)
    data = work / "data"
    # chat_load's options, which its helpers read
    args.customers = args.chats
    args.capacity = -(-args.chats // args.agents)
    args.size = 100
    args.concurrency = 25
    args.setup_timeout = 60.0
    args.no_compress = False
    args.redis = args.redis or ""
    log(f"creating {args.agents} agents (capacity {args.capacity})")
    await add_agents(args, data, password, work)
    port = free_port()
    env, note = livedesk_env(args, data, port)
    if note:
        res["notes"].append(note)
    if not args.no_ip_limits:
        # the defaults: the ordinary clients (about 120 attempts at setup, 61 sockets)
        # stay under them, and the flooders come from their own address
        env.pop("LIVEDESK_LIMITS_ATTEMPTS_PER_IP_PER_S", None)
        env.pop("LIVEDESK_LIMITS_WS_PER_IP", None)
    res["ip_limits"] = not args.no_ip_limits
    base = f"http://{HOST}:{port}"
    ld = Proc(
        "livedesk",
        [sys.executable, "-m", "signaling", "run"],
        env=env,
        cwd=work,
        log=work / "livedesk.log",
        cpus=server_cpus,
    )
    procs.append(ld)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await wait_http(http, base + "/healthz", ld, 60)
        target = LivedeskTarget(args, base, Phase("setup"), password)
        log(f"setting up {args.chats} chats")
        pairs, conns, probe = await target.setup(http)
        if target.phase.setup_errors:
            raise RuntimeError(f"setup errors: {dict(target.phase.setup_errors)}")
        await settle(target.phase, probe, 1.0, 30.0)
        res["active_chats"] = len(pairs)
        res["sockets"] = len(conns)
        log(f"{len(pairs)} chats over {len(conns)} sockets; windows of {args.seconds:g}s")
        try:
            res["before"] = await window("before", conns, pairs, probe, ld, http, base, args, [])
            flooders = [Flooder(args, base, i, client_cpus) for i in range(args.flooders)]
            try:
                await asyncio.gather(*(f.ready() for f in flooders))
                log(f"flood window: {args.flooders} flooder(s) sending {args.kind!r} frames")
                res["flood"] = await window(
                    "flood", conns, pairs, probe, ld, http, base, args, flooders
                )
            finally:
                for f in flooders:
                    f.stop()
            await asyncio.sleep(2.0)  # let what the flood left behind drain
            res["after"] = await window("after", conns, pairs, probe, ld, http, base, args, [])
            res["client_open"] = sum(1 for c in conns if not c.closed and not c.ws.closed)
            res["server_alive"] = ld.alive()
        finally:
            await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    ld.stop()
    res["server_log_warnings"] = [
        line
        for line in ld.log.read_text(errors="replace").splitlines()
        if "warning" in line.lower() or "error" in line.lower()
    ][:20]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="livedesk flood isolation benchmark (prints figures)")
    ap.add_argument("--chats", type=int, default=50, help="ordinary customer sessions (50)")
    ap.add_argument("--agents", type=int, default=10, help="agents sharing them (10)")
    ap.add_argument("--rate", type=float, default=1.0, help="messages/s per chat (1)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each window (20)")
    ap.add_argument("--grace", type=float, default=3.0, help="wait for in-flight messages (3)")
    ap.add_argument("--flooders", type=int, default=1, help="flooding clients (1)")
    ap.add_argument(
        "--kind", choices=sorted(FLOOD_FRAMES), default="chat", help="what they send (chat)"
    )
    ap.add_argument(
        "--no-reconnect", action="store_true", help="a flooder stops after its first close"
    )
    ap.add_argument("--flood-compress", action="store_true", help="flooders use permessage-deflate")
    ap.add_argument("--flooder-nice", type=int, default=10, help="flooders' nice value (10)")
    ap.add_argument(
        "--flooder-address",
        default="127.0.0.2",
        help="source address of the flooders (127.0.0.2; the others use 127.0.0.1)",
    )
    ap.add_argument(
        "--no-ip-limits",
        action="store_true",
        help="turn the per-address limits off, as the other benchmarks do: only the "
        "per-connection and per-participant throttle stands in the flooder's way",
    )
    ap.add_argument(
        "--max-p99-ratio", type=float, default=1.25, help="target: flood p99 / baseline (1.25)"
    )
    ap.add_argument(
        "--slack-ms", type=float, default=2.0, help="absolute slack on that target (2 ms)"
    )
    ap.add_argument("--redis", default="", help="redis://...: the Redis store")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy in the flood window (bench/results/profile-*)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server log)")
    ap.add_argument("--json", default="", help="results file (bench/results/flood-<ts>.json)")
    ap.add_argument("--flooder", metavar="URL", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.flooder:
        asyncio.run(
            flooder_main(
                args.flooder,
                args.seconds,
                args.kind,
                not args.no_reconnect,
                args.flood_compress,
                args.flooder_address,
            )
        )
        return 0
    raise_nofile(8192)
    work = Path(tempfile.mkdtemp(prefix="livedesk-flood-"))
    procs: list[Proc] = []

    def on_term(_sig: int, _frm: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    res: dict[str, Any] = {"notes": []}
    started = time.time()
    status = 0
    try:
        asyncio.run(amain(args, work, procs, res))
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not all(k in res for k in ("before", "flood", "after")):
        log("the run did not finish; no figures")
        return status or 1
    text, missed = report(res, args)
    for w in ("before", "flood", "after"):
        res[w].pop("lat_raw", None)
    res["args"] = {k: v for k, v in vars(args).items()}
    res["total_s"] = time.time() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = Path(args.json) if args.json else RESULTS_DIR / f"flood-{stamp}.json"
    res["missed"] = missed
    out.write_text(json.dumps(res, indent=2, default=str))
    print()
    print(
        f"livedesk flood isolation: {res['active_chats']} chats ({res['sockets']} sockets) at "
        f"{args.rate:g} msg/s each; three {args.seconds:g}s windows; {res['cpu_layout']}"
    )
    print()
    print(text)
    print()
    for n in res["notes"]:
        print("note: " + n)
    if res["before"]["other_cpu_pct"] > 15 or res["after"]["other_cpu_pct"] > 15:
        print(
            "caution: other processes used "
            f"{max(res['before']['other_cpu_pct'], res['after']['other_cpu_pct']):.0f}% CPU in "
            "a quiet window: the machine is busy and the figures are noisy"
        )
    if missed:
        print("TARGETS MISSED:")
        for m in missed:
            print("  - " + m)
    else:
        print(
            f"all targets met: flood p99 <= {args.max_p99_ratio:g} x baseline + "
            f"{args.slack_ms:g} ms, no errors or losses, every flood connection throttled "
            "and closed with 1008"
        )
    print(f"results: {out}  (total {res['total_s']:.0f}s)")
    return status or (1 if missed else 0)


if __name__ == "__main__":
    sys.exit(main())
