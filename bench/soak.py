#!/usr/bin/env python
"""Soak benchmark: 2,000 WebSocket participants chatting on one process for 10 minutes.

It starts one livedesk server (``python -m signaling run``) in its own process and,
from this separate load-generator process, opens ``--customers`` customer sessions
and ``--agents`` agents with ``--capacity`` sessions each, built exactly as
bench/chat_load.py builds them (its code is imported). By default every customer is
in an active chat (40 agents x 50 = 2,000 chats; 2,041 sockets with the agents and
a probe). Every chat then exchanges ``--rate`` messages a second, sides alternating,
for ``--seconds`` (600), while the script samples the server every ``--sample``
seconds: RSS, open file descriptors, threads, asyncio tasks and sockets (``/metrics``),
CPU, and its own and the server's loop lag.

It prints one row per ``--bucket`` seconds (a minute by default) and compares the
first with the last: chat latency p50/p99 and RSS. For the memory store, whose
session logs are in the server process and grow with every message by design, the
RSS growth is also shown net of what the new log entries take (what the store's own
encoding of events like these allocates, measured here with tracemalloc, plus the slot);
with ``--redis`` the logs are in Redis and the raw RSS is what must stay flat.

Targets (exit 1 when one is missed): no errors, nothing lost, every socket still open
at the end on both sides; RSS growth from the end of the first bucket to the end of
the last (net of the logs, for the memory store) under ``--rss-mib`` MiB or
``--rss-pct`` percent, whichever is larger; file descriptors and asyncio tasks at the
end within ``--leak-slack`` of the first bucket's; the last bucket's p99 under
``--p99-growth`` x the first's + ``--slack-ms``; and p99 over the run under
``--max-p99-ms``.

Per-address limits are off (chat_load.base_env): every socket comes from 127.0.0.1.

    python bench/soak.py                                  # 2,000 customers, 600 s
    python bench/soak.py --seconds 90 --bucket 30         # a check that it works
    python bench/soak.py --redis redis://127.0.0.1:6379/0
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
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import (
    HOST,
    PREFIX,
    RESULTS_DIR,
    LivedeskTarget,
    Phase,
    Proc,
    add_agents,
    clean_redis,
    drive_chat,
    free_port,
    lag_monitor,
    livedesk_env,
    log,
    machine_cpu,
    pct,
    ping_monitor,
    proc_cpu_s,
    proc_mem_mb,
    raise_nofile,
    settle,
    summary,
    wait_http,
)

from signaling.interaction import Event
from signaling.store.base import StoredEvent
from signaling.store.memory import _encode as memory_store_encode

perf = time.perf_counter
MiB = 1024 * 1024


def log_entry_bytes(size: int) -> int:
    """What one chat message adds to a session's log in the memory store, in bytes.

    The store keeps each event encoded (signaling/store/memory.py): this encodes events
    like the benchmark's with the store's own function and measures what the allocator
    handed out for them (tracemalloc), plus the slot in the log's list.
    """
    events = []
    for i in range(1000):
        text = f"{PREFIX}{i % 2000}|{i}|{perf():.6f}|" + "x" * max(0, size - 40)
        events.append(
            StoredEvent(
                session="s_" + "x" * 16,
                seq=i + 1,
                event=Event(
                    kind="chat.message",
                    at=time.time(),
                    actor_role="customer",
                    actor_id="anon_" + "0" * 16,
                    data={"text": text, "name": f"bench {i}", "client_msg_id": f"b{i}-{i}"},
                ),
            )
        )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [memory_store_encode(e) for e in events]
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return round(allocated / len(kept)) + 9  # a list slot, with the list's spare room


# --------------------------------------------------------------------------- sampling


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The server's own gauges from ``/metrics`` (those it exports)."""
    wanted = {
        "livedesk_connections": "connections",
        "livedesk_asyncio_tasks": "tasks",
        "livedesk_open_fds": "fds_metric",
        "livedesk_threads": "threads",
    }
    out: dict[str, float] = {}
    async with http.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=20)) as r:
        text = await r.text()
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            out[wanted[name]] = float(value)
        elif name == 'livedesk_event_loop_lag_seconds{window="max_10s"}':
            out["server_lag_max_ms"] = float(value) * 1000
        elif name.startswith("livedesk_gc_pause_max_seconds{"):
            # the longest pause since the previous scrape, whichever generation
            out["gc_max_ms"] = max(out.get("gc_max_ms", 0.0), float(value) * 1000)
    return out


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def sampler(
    phase: Phase,
    ld: Proc,
    http: aiohttp.ClientSession,
    base: str,
    every_s: float,
    stop: asyncio.Event,
    into: list[dict[str, Any]],
    redis: int | None = None,
) -> None:
    """Every ``every_s``: server RSS, fds, CPU, gauges; errors so far; machine CPU (with
    a local redis-server's own share apart from the rest)."""

    def redis_cpu() -> float:
        return proc_cpu_s(redis) if redis is not None else 0.0

    cpu0, own0, mach0, t0 = proc_cpu_s(ld.pid), time.process_time(), machine_cpu()[0], perf()
    red0 = redis_cpu()
    k = 0
    while True:
        k += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, phase.t_start + k * every_s - perf()))
        rss, hwm = proc_mem_mb(ld.pid)
        cpu1, own1, mach1, t1 = proc_cpu_s(ld.pid), time.process_time(), machine_cpu()[0], perf()
        red1 = redis_cpu()
        row: dict[str, Any] = {
            "t": t1 - phase.t_start,
            "rss_mb": rss,
            "hwm_mb": hwm,
            "fds": fd_count(ld.pid),
            "server_cpu_pct": (cpu1 - cpu0) / (t1 - t0) * 100,
            "loadgen_cpu_pct": (own1 - own0) / (t1 - t0) * 100,
            "redis_cpu_pct": (red1 - red0) / (t1 - t0) * 100 if redis is not None else None,
            "other_cpu_pct": max(
                0.0, (mach1 - mach0) - (cpu1 - cpu0) - (own1 - own0) - (red1 - red0)
            )
            / (t1 - t0)
            * 100,
            "errors": sum(phase.errors.values()) + phase.send_failed,
            "sent": phase.sent,
            "delivered": phase.delivered,
        }
        try:
            row.update(await scrape(http, base))
        except Exception as exc:
            row["scrape_error"] = str(exc)[:100]
        into.append(row)
        cpu0, own0, mach0, t0, red0 = cpu1, own1, mach1, t1, red1
        if stop.is_set():
            return


# --------------------------------------------------------------------------- figures


def buckets(
    phase: Phase, samples: list[dict[str, Any]], width: float, seconds: float, every: float
) -> list[dict[str, Any]]:
    """One row per ``width`` seconds of the window (what comes after it, the grace, goes
    to the last row)."""
    n = max(1, int(-(-seconds // width)))

    def at(t: float) -> int:
        return max(0, min(n - 1, int(t // width)))

    lat: list[list[float]] = [[] for _ in range(n)]
    for t, ms in zip(phase.lat_at, phase.lat_ms, strict=True):
        lat[at(t - phase.t_start)].append(ms)
    ping: list[list[float]] = [[] for _ in range(n)]
    for t, ms in zip(phase.ping_at, phase.ping_ms, strict=True):
        ping[at(t - phase.t_start)].append(ms)
    lag: list[list[float]] = [[] for _ in range(n)]
    for t, ms in zip(phase.lag_at, phase.lag_ms, strict=True):
        lag[at(t - phase.t_start)].append(ms)
    # a sample closes the ``every`` seconds before it: the one taken just after a
    # bucket's end belongs to that bucket
    by_bucket: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for sample in samples:
        by_bucket[at(sample["t"] - every / 2)].append(sample)
    rows = []
    prev_errors = 0
    for i in range(n):
        inside = by_bucket[i]
        if not inside and not lat[i]:
            continue
        last = inside[-1] if inside else {}
        errors = last.get("errors", prev_errors)

        def mean(key: str, inside: list[dict[str, Any]] = inside) -> float | None:
            vals = [s[key] for s in inside if s.get(key) is not None]
            return sum(vals) / len(vals) if vals else None

        rows.append(
            {
                "bucket": i,
                "from_s": i * width,
                "to_s": (i + 1) * width,
                "delivered": len(lat[i]),
                "latency_ms": summary(lat[i]),
                "ping_p99_ms": pct(ping[i], 99),
                "loadgen_lag_p99_ms": pct(lag[i], 99),
                "rss_mb": last.get("rss_mb"),
                "fds": last.get("fds"),
                "tasks": last.get("tasks"),
                "threads": last.get("threads"),
                "connections": last.get("connections"),
                "server_lag_max_ms": max(
                    (s["server_lag_max_ms"] for s in inside if "server_lag_max_ms" in s),
                    default=None,
                ),
                "gc_max_ms": max(
                    (s["gc_max_ms"] for s in inside if "gc_max_ms" in s), default=None
                ),
                "server_cpu_pct": mean("server_cpu_pct"),
                "loadgen_cpu_pct": mean("loadgen_cpu_pct"),
                "redis_cpu_pct": mean("redis_cpu_pct"),
                "other_cpu_pct": mean("other_cpu_pct"),
                "errors": errors - prev_errors,
                "sent_total": last.get("sent"),
            }
        )
        prev_errors = errors
    return rows


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def table(rows: list[dict[str, Any]], width: float) -> str:
    head = (
        "from-to s",
        "delivered",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ping p99",
        "RSS MiB",
        "fds",
        "tasks",
        "sockets",
        "srv CPU%",
        "srv lag max",
        "gc max ms",
        "gen lag p99",
        "redis CPU%",
        "other CPU%",
        "errors",
    )
    out = [head]
    for r in rows:
        lat = r["latency_ms"]
        out.append(
            (
                f"{r['from_s']:.0f}-{r['to_s']:.0f}",
                f"{r['delivered']:d}",
                _f(lat["p50"], "{:.2f}"),
                _f(lat["p99"], "{:.2f}"),
                _f(lat["max"], "{:.1f}"),
                _f(r["ping_p99_ms"], "{:.2f}"),
                _f(r["rss_mb"]),
                _f(r["fds"], "{:.0f}"),
                _f(r["tasks"], "{:.0f}"),
                _f(r["connections"], "{:.0f}"),
                _f(r["server_cpu_pct"], "{:.0f}"),
                _f(r["server_lag_max_ms"], "{:.1f}"),
                _f(r["gc_max_ms"], "{:.1f}"),
                _f(r["loadgen_lag_p99_ms"], "{:.1f}"),
                _f(r.get("redis_cpu_pct"), "{:.0f}"),
                _f(r["other_cpu_pct"], "{:.0f}"),
                f"{r['errors']:d}",
            )
        )
    widths = [max(len(row[i]) for row in out) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in out]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def verdict(res: dict[str, Any], args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(comparison lines, missed targets)."""
    rows = res["buckets"]
    lines: list[str] = []
    missed: list[str] = []
    w = res["window"]
    bad = w["errors_total"] + w["send_failed"] + w["ping_lost"]
    if bad or sum(w["setup_errors"].values()):
        missed.append(
            f"errors: {w['errors']} send failures {w['send_failed']} ping lost {w['ping_lost']} "
            f"setup {w['setup_errors']}"
        )
    if w["lost"] or w["late"]:
        missed.append(f"messages lost {w['lost']}, late {w['late']}")
    if w["client_open"] < w["sockets"]:
        missed.append(f"sockets open at the end, client side: {w['client_open']} of {w['sockets']}")
    if w["server_connections"] is None or w["server_connections"] < w["sockets"]:
        missed.append(
            f"sockets open at the end, server side: {w['server_connections']} of {w['sockets']}"
        )
    if not w["server_alive"]:
        missed.append("the server process died")
    if len(rows) < 2:
        missed.append("fewer than two buckets: nothing to compare (use --bucket)")
        return lines, missed
    first, last = rows[0], rows[-1]
    f99, l99 = first["latency_ms"]["p99"], last["latency_ms"]["p99"]
    f50, l50 = first["latency_ms"]["p50"], last["latency_ms"]["p50"]
    lines.append(
        f"first {args.bucket:g}s vs last {args.bucket:g}s: chat latency p50 {_f(f50, '{:.2f}')} "
        f"-> {_f(l50, '{:.2f}')} ms, p99 {_f(f99, '{:.2f}')} -> {_f(l99, '{:.2f}')} ms"
    )
    if f99 is None or l99 is None or l99 > f99 * args.p99_growth + args.slack_ms:
        missed.append(
            f"last bucket p99 {_f(l99, '{:.2f}')} ms > {args.p99_growth:g} x first "
            f"{_f(f99, '{:.2f}')} + {args.slack_ms:g} ms"
        )
    p99 = w["latency_ms"]["p99"]
    lines.append(
        f"whole window: {w['delivered']} messages delivered, chat latency p50 "
        f"{_f(w['latency_ms']['p50'], '{:.2f}')} p99 {_f(p99, '{:.2f}')} max "
        f"{_f(w['latency_ms']['max'], '{:.1f}')} ms"
    )
    if p99 is None or p99 > args.max_p99_ms:
        missed.append(f"p99 over the window {_f(p99, '{:.2f}')} ms > {args.max_p99_ms:g} ms")
    r0, r1 = first["rss_mb"], last["rss_mb"]
    if r0 is None or r1 is None:
        missed.append("no RSS samples")
        return lines, missed
    growth = r1 - r0
    msgs = (last["sent_total"] or 0) - (first["sent_total"] or 0)
    log_mb = msgs * res["log_entry_bytes"] / MiB if res["store"] == "memory" else 0.0
    net = growth - log_mb
    bound = max(args.rss_mib, r0 * args.rss_pct / 100)
    lines.append(
        f"server RSS at the end of the first bucket {r0:.1f} MiB, of the last {r1:.1f} MiB: "
        f"+{growth:.1f} MiB ({growth / r0 * 100:+.1f}%) for {msgs} messages in between"
    )
    if res["store"] == "memory":
        lines.append(
            f"  of which the session logs (memory store, kept by design): {msgs} x "
            f"{res['log_entry_bytes']} B = {log_mb:.1f} MiB; net of them {net:+.1f} MiB "
            f"({net / r0 * 100:+.1f}%)"
        )
    lines.append(f"  bound: {bound:.1f} MiB (max of {args.rss_mib:g} MiB and {args.rss_pct:g}%)")
    if len(rows) >= 4:  # does it level off? growth per bucket, first half and second half
        half = len(rows) // 2
        mid = rows[half - 1]["rss_mb"] or r0
        lines.append(
            f"  RSS growth per {args.bucket:g}s: {(mid - r0) / (half - 1):.1f} MiB in the first "
            f"half, {(r1 - mid) / (len(rows) - half):.1f} MiB in the second"
        )
    if net > bound:
        missed.append(f"RSS grew {net:.1f} MiB (net of the logs) > {bound:.1f} MiB")
    for key in ("fds", "tasks"):
        a, b = first[key], last[key]
        lines.append(f"{key}: {_f(a, '{:.0f}')} -> {_f(b, '{:.0f}')}")
        if a is None or b is None:
            if key == "fds":
                missed.append(f"no {key} samples")
            continue
        if b - a > max(args.leak_slack, a * 0.01):
            missed.append(f"{key} grew from {a:.0f} to {b:.0f}")
    return lines, missed


# --------------------------------------------------------------------------- run


async def run(args: argparse.Namespace, work: Path, procs: list[Proc], res: dict[str, Any]) -> None:
    from cluster_load import redis_pid

    ncpu = len(os.sched_getaffinity(0))
    # a redis-server on this machine shares its cores (unpinned): its CPU is its own column
    redis = await redis_pid(args.redis) if args.redis else None
    server_cpus: set[int] | None = None
    if not args.no_pin and ncpu >= 2:
        allowed = sorted(os.sched_getaffinity(0))
        server_cpus = {allowed[0]}
        os.sched_setaffinity(0, set(allowed[1:]))
        res["cpu_layout"] = (
            f"server on CPU {allowed[0]}, load generator on {','.join(map(str, allowed[1:]))}"
        )
    else:
        res["cpu_layout"] = f"not pinned ({ncpu} CPUs)"
    # chat_load's options, which its helpers read
    args.concurrency = 50
    password = secrets.token_urlsafe(12)
    data = work / "data"
    log(f"creating {args.agents} agents (capacity {args.capacity})")
    await add_agents(args, data, password, work)
    port = free_port()
    env, note = livedesk_env(args, data, port)
    if note:
        res["notes"].append(note)
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
    phase = Phase("soak")
    samples: list[dict[str, Any]] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await wait_http(http, base + "/healthz", ld, 60)
        target = LivedeskTarget(args, base, phase, password)
        log(f"setting up {args.customers} customers and {args.agents} agents")
        t0 = perf()
        pairs, conns, probe = await target.setup(http)
        res["setup_s"] = perf() - t0
        res["settle_s"] = await settle(phase, probe, 1.0, 60.0)
        res["active_chats"] = len(pairs)
        log(
            f"{len(pairs)} chats over {len(conns)} sockets after {res['setup_s']:.0f}s; "
            f"chatting for {args.seconds:g}s at {args.rate:g}/s per chat"
        )
        stop = asyncio.Event()
        # what setup built stays out of this process's collector for the window
        gc.collect()
        gc.freeze()
        monitors = [
            asyncio.create_task(lag_monitor(phase, stop, 0.1)),
            asyncio.create_task(ping_monitor(phase, probe, stop, phase.ping_ms, 0.5)),
        ]
        phase.t_start = perf()
        phase.measuring = True
        samp = asyncio.create_task(
            sampler(phase, ld, http, base, args.sample, stop, samples, redis)
        )
        try:
            await drive_chat(phase, pairs, args)
            g0 = perf()
            while phase.inflight and perf() - g0 < args.grace:  # noqa: ASYNC110 - bounded
                await asyncio.sleep(0.05)
            phase.measuring = False
            stop.set()
            await asyncio.gather(*monitors, samp, return_exceptions=True)
            client_open = sum(1 for c in conns if not c.closed and not c.ws.closed)
            try:
                server_conns = (await scrape(http, base)).get("connections")
            except Exception:
                server_conns = None
            res["window"] = {
                "seconds": perf() - phase.t_start,
                "sockets": len(conns),
                "client_open": client_open,
                "server_connections": server_conns,
                "server_alive": ld.alive(),
                "sent": phase.sent,
                "send_failed": phase.send_failed,
                "delivered": phase.delivered,
                "lost": len(phase.inflight),
                "late": phase.late,
                "errors": dict(phase.errors),
                "errors_total": sum(phase.errors.values()),
                "setup_errors": dict(phase.setup_errors),
                "ping_lost": phase.ping_lost,
                "latency_ms": summary(phase.lat_ms),
                "ack_ms": summary(phase.ack_ms),
                "ping_ms": summary(phase.ping_ms),
                "loadgen_lag_ms": summary(phase.lag_ms),
            }
            res["buckets"] = buckets(phase, samples, args.bucket, args.seconds, args.sample)
            res["samples"] = samples
        finally:
            stop.set()
            for t in (*monitors, samp):
                t.cancel()
            gc.unfreeze()
            closers = [c.close() for c in conns]
            for i in range(0, len(closers), 200):
                await asyncio.gather(*closers[i : i + 200], return_exceptions=True)
    ld.stop()
    if args.redis:
        res["redis_keys_deleted"] = await clean_redis(args.redis, env["LIVEDESK_STORE_KEY_PREFIX"])
    res["server_log_warnings"] = [
        line
        for line in ld.log.read_text(errors="replace").splitlines()
        if "warning" in line.lower() or "error" in line.lower()
    ][:20]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="livedesk soak benchmark (prints figures)")
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the run (600)")
    ap.add_argument("--customers", type=int, default=2000, help="customer sockets (2000)")
    ap.add_argument("--agents", type=int, default=40, help="agents (40)")
    ap.add_argument("--capacity", type=int, default=50, help="sessions per agent (50)")
    ap.add_argument("--rate", type=float, default=0.25, help="messages/s per chat (0.25)")
    ap.add_argument("--size", type=int, default=100, help="chat text bytes (100)")
    ap.add_argument("--bucket", type=float, default=60.0, help="seconds per report row (60)")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between samples (10)")
    ap.add_argument("--grace", type=float, default=5.0, help="wait for in-flight messages (5)")
    ap.add_argument("--setup-timeout", type=float, default=300.0, help="accepting offers (300)")
    ap.add_argument("--rss-mib", type=float, default=20.0, help="RSS growth bound, MiB (20)")
    ap.add_argument("--rss-pct", type=float, default=5.0, help="RSS growth bound, %% (5)")
    ap.add_argument(
        "--leak-slack", type=float, default=20.0, help="fds/tasks growth allowed (20, or 1%%)"
    )
    ap.add_argument(
        "--p99-growth", type=float, default=1.5, help="last bucket p99 / first, at most (1.5)"
    )
    ap.add_argument("--slack-ms", type=float, default=5.0, help="absolute slack on that (5)")
    ap.add_argument("--max-p99-ms", type=float, default=50.0, help="p99 over the run (50)")
    ap.add_argument(
        "--no-compress",
        action="store_true",
        help="do not offer permessage-deflate (browsers do; on by default)",
    )
    ap.add_argument("--redis", default="", help="redis://...: the Redis store")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server log)")
    ap.add_argument("--json", default="", help="results file (bench/results/soak-<ts>.json)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile(max(65536, 4 * args.customers + 1024))
    work = Path(tempfile.mkdtemp(prefix="livedesk-soak-"))
    procs: list[Proc] = []

    def on_term(_sig: int, _frm: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    res: dict[str, Any] = {
        "notes": [],
        "store": "redis" if args.redis else "memory",
        "log_entry_bytes": log_entry_bytes(args.size),
    }
    started = time.time()
    status = 0
    try:
        asyncio.run(run(args, work, procs, res))
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
    res["args"] = vars(args)
    res["total_s"] = time.time() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = Path(args.json) if args.json else RESULTS_DIR / f"soak-{stamp}.json"
    if "buckets" not in res:
        out.write_text(json.dumps(res, indent=2, default=str))
        log(f"the run did not finish; partial results in {out}")
        return status or 1
    lines, missed = verdict(res, args)
    res["missed"] = missed
    out.write_text(json.dumps(res, indent=2, default=str))
    w = res["window"]
    print()
    print(
        f"livedesk soak: {args.customers} customers + {args.agents} agents "
        f"(capacity {args.capacity}) = {res['active_chats']} chats, {w['sockets']} sockets, "
        f"{args.rate:g} msg/s per chat ({res['active_chats'] * args.rate:.0f}/s), "
        f"{args.seconds:g}s, store {res['store']}; {res['cpu_layout']}; setup "
        f"{res['setup_s']:.0f}s"
    )
    for n in res["notes"]:
        print("note: " + n)
    print()
    print(table(res["buckets"], args.bucket))
    print()
    for line in lines:
        print(line)
    print(
        f"sockets at the end: {w['client_open']} open on the client, "
        f"{_f(w['server_connections'], '{:.0f}')} on the server (of {w['sockets']}); "
        f"errors {w['errors_total'] + w['send_failed']}, lost {w['lost']}, late {w['late']}"
    )
    reds = [r["redis_cpu_pct"] for r in res["buckets"] if r.get("redis_cpu_pct") is not None]
    if reds:
        print(
            f"redis-server (this machine, not pinned) used {min(reds):.0f}-{max(reds):.0f}% "
            "of a core per bucket, on the same two cores as the server and load generator"
        )
    others = [r["other_cpu_pct"] for r in res["buckets"] if r["other_cpu_pct"] is not None]
    if others and max(others) > 15:
        print(
            f"caution: other processes used up to {max(others):.0f}% CPU (per bucket mean): "
            "the machine was shared and the latency figures are noisy"
        )
    if missed:
        print("TARGETS MISSED:")
        for m in missed:
            print("  - " + m)
    else:
        print("all targets met")
    print(f"results: {out}  (total {res['total_s']:.0f}s)")
    return status or (1 if missed else 0)


if __name__ == "__main__":
    sys.exit(main())
