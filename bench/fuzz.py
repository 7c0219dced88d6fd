"""The long fuzz run (issue 9, point 2): every inbound WebSocket message type, every
POST/PUT route of the HTTP API, and mutated real SDP offers, against one real
``livedesk run`` process.

    python bench/fuzz.py                        # 10,000 cases per message type and route
    python bench/fuzz.py --cases 500 --only chat.send,media.offer,login
    python bench/fuzz.py --shape redis          # Redis store + PostgreSQL archive

The strategies are in ``tests/fuzzing`` (the CI test ``tests/integration/test_fuzz.py``
draws the same ones, fewer of each). A message type's cases alternate between the
customer's socket and the staff member's (half each). The server under test has its
message-rate, abuse, per-address and login back-off limits raised
(``tests/fuzzing/server.py: FUZZ_LIMITS``): one client sending thousands of frames a
minute from one address is what those limits exist to stop.

Per message type and route it prints the cases, the outcomes (error codes, ``ok``,
close codes), the p50, p99 and max time from sending a case to the answer to the
``ping`` behind it (an upper bound on the server's handling time), and the server's
RSS before and after. The baselines, measured in the same run, are a plain ``ping``
round trip and one scrypt password check (``POST /api/login`` does one on purpose, off
the event loop; its cases get that much more time).

It exits non-zero when any case crashed the server, got an undocumented (or
``internal``) error code, an HTTP 500 or a non-JSON HTTP error, left an error record or
a traceback in the server's log, took more than ``--slow-ms`` (100 ms) in the median of
three more runs, or when RSS grew past a bound: ``--leak-bound-mib`` over the leak
probe (malformed cases only, which must leave nothing behind), and ``--rss-bound-mib``
over the whole run (which keeps what the valid cases created: sessions, chat, logins).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from signaling import protocol as p
from signaling.auth import hash_password, verify_password
from tests.fuzzing.arena import Arena, Tally
from tests.fuzzing.bodies import TARGETS, http_cases
from tests.fuzzing.frames import ws_cases
from tests.fuzzing.server import fuzz_server

BATCH = 10
"""Cases drawn per hypothesis example (the engine's own cost is per example)."""
REPLAY_AT_MOST = 200
"""The slowest cases over the limit that are run again (the rest count as slow)."""


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    strategy: st.SearchStrategy[Any], fn: Callable[[list[Any]], None], n: int, seed: int
) -> None:
    """Draw ``n`` cases, ``BATCH`` at a time, and hand them to ``fn`` (which tallies
    failures rather than raising them)."""
    batches = max(1, -(-n // BATCH))

    @settings(settings.get_profile("livedesk-fuzz-bench"), max_examples=batches)
    @hseed(seed)
    @given(st.lists(strategy, min_size=BATCH, max_size=BATCH))
    def run(cases: list[Any]) -> None:
        fn(cases)

    run()


def row(label: str, tally: Tally, rss: tuple[int, int]) -> str:
    t = tally.times_s
    codes = ", ".join(f"{k} {v}" for k, v in tally.outcomes.most_common(6))
    more = len(tally.outcomes) - 6
    if more > 0:
        codes += f", +{more} more"
    cells = [
        label,
        str(tally.cases),
        codes,
        *(f"{v * 1000:.1f}" for v in (pct(t, 0.5), pct(t, 0.99), max(t, default=0))),
        f"{rss[0] / 1024:.1f}",
        f"{rss[1] / 1024:.1f}",
        str(len(tally.failures)),
    ]
    return "| " + " | ".join(cells) + " |"


def label_of(key: tuple[str, str]) -> str:
    side, kind = key
    if side == "ws":
        return f"`{kind}`"
    t = TARGETS[kind]
    return f"{t.method} {t.path}" + (f" ({t.auth})" if t.auth != "none" else "")


def scrypt_ms() -> float:
    """One password check as the login handler does it, median of five, in ms."""
    encoded = hash_password("a password")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        verify_password("not the password", encoded)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def settled_rss(runner: asyncio.Runner, server: Any) -> int:
    """RSS after a moment's quiet (closing peers and sockets finish their work)."""
    runner.run(asyncio.sleep(2))
    return int(server.rss_kib())


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", type=int, default=10_000, help="per message type and route")
    ap.add_argument("--shape", choices=["memory", "redis"], default="memory")
    ap.add_argument("--only", default="", help="comma-separated message types / route names")
    ap.add_argument("--no-http", action="store_true", help="WebSocket messages only")
    ap.add_argument("--seed", type=int, default=20_261_201)
    ap.add_argument("--slow-ms", type=float, default=100.0)
    ap.add_argument("--warmup", type=int, default=40, help="cases per type before measuring")
    ap.add_argument("--leak-cases", type=int, default=1000, help="per type, in the leak probe")
    ap.add_argument("--leak-bound-mib", type=float, default=16.0)
    ap.add_argument("--rss-bound-mib", type=float, default=256.0)
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--keep", action="store_true", help="keep the server's directory and log")
    args = ap.parse_args()
    only = {x for x in args.only.split(",") if x}
    kinds = [k for k in p.INBOUND_TYPES if not only or k in only]
    routes = [] if args.no_http else [n for n in TARGETS if not only or n in only]
    hash_ms = scrypt_ms()

    with fuzz_server(args.shape, keep=args.keep) as server:
        runner = asyncio.Runner()
        arena = Arena(server, slow_s=args.slow_ms / 1000)
        runner.run(arena.start())
        if routes:
            runner.run(arena.prepare_http())
        print(f"server pid {server.pid} at {server.base} ({args.shape}); limits raised")
        if args.keep:
            print(f"server log: {server.log_path}")

        bucket = {"name": "ws"}

        async def ws_batch(cases: list[Any]) -> None:
            for case in cases:
                # alternate the sockets: each type gets half its cases on each side
                side = "customer" if arena.sent % 2 == 0 else "staff"
                arena.sent += 1
                await arena.ws_case(side, case, strict=False, bucket=bucket["name"])

        async def http_batch(cases: list[Any]) -> None:
            for case in cases:
                await arena.http_case(case, strict=False)

        def ws(cases: list[Any]) -> None:
            runner.run(ws_batch(cases))

        def http(cases: list[Any]) -> None:
            runner.run(http_batch(cases))

        # warm-up: every code path once, so first-use allocations do not count as growth
        t0 = time.monotonic()
        for kind in kinds:
            run_phase(ws_cases(kind), ws, args.warmup, args.seed + 1)
        for name in routes:
            run_phase(http_cases(name), http, args.warmup, args.seed + 1)
        warm_failures = [f for t in arena.tallies.values() for f in t.failures]
        arena.tallies.clear()
        baseline = [
            runner.run(arena.sockets["customer"].exchange("text", b'{"type":"ping"}')).elapsed_s
            for _ in range(2000)
        ]
        rss_start = settled_rss(runner, server)
        print(f"warm-up {time.monotonic() - t0:.0f} s; RSS after it {rss_start / 1024:.1f} MiB")

        rss: dict[tuple[str, str], tuple[int, int]] = {}
        started = time.monotonic()
        for kind in kinds:
            before, t1 = server.rss_kib(), time.monotonic()
            run_phase(ws_cases(kind), ws, args.cases, args.seed)
            rss[("ws", kind)] = (before, server.rss_kib())
            tally = arena.tally("ws", kind)
            print(
                f"  ws   {kind:22} {time.monotonic() - t1:6.1f} s  "
                + row(label_of(("ws", kind)), tally, rss[("ws", kind)]),
                flush=True,
            )
        for name in routes:
            before, t1 = server.rss_kib(), time.monotonic()
            run_phase(http_cases(name), http, args.cases, args.seed)
            rss[("http", name)] = (before, server.rss_kib())
            tally = arena.tally("http", name)
            print(
                f"  http {name:22} {time.monotonic() - t1:6.1f} s  "
                + row(label_of(("http", name)), tally, rss[("http", name)]),
                flush=True,
            )
        took = time.monotonic() - started
        rss_end = settled_rss(runner, server)

        # the leak probe: malformed frames of every type (and mutated SDP, which opens and
        # replaces peer connections) must leave nothing behind
        leak_before = settled_rss(runner, server)
        bucket["name"] = "leak"
        for kind in kinds:
            run_phase(ws_cases(kind, malformed_only=True), ws, args.leak_cases, args.seed + 2)
        gc.collect()
        leak_after = settled_rss(runner, server)
        leak_cases = sum(t.cases for (side, _), t in arena.tallies.items() if side == "leak")

        # a case over the time limit runs three more times: slow again (median) is a
        # finding, slow once is the machine (it is shared) and is reported as such
        def limit_s(case: Any) -> float:
            return args.slow_ms / 1000 + (hash_ms / 1000 if _hashes(case) else 0.0)

        slow = sorted(
            (s for t in arena.tallies.values() for s in t.slow_cases if s[0] > limit_s(s[2])),
            key=lambda s: -s[0],
        )
        slow_again: list[str] = []
        slow_once = 0
        for elapsed, side, case, what in slow[:REPLAY_AT_MOST]:
            limit = limit_s(case)
            if _hashes(case):  # the machine's speed now, not at the start
                limit = max(limit, (args.slow_ms + scrypt_ms()) / 1000)
            again = []
            for _ in range(3):
                if side == "http":
                    runner.run(arena.http_case(case, strict=False, record=False))
                else:
                    runner.run(arena.ws_case(side, case, strict=False, record=False))
                again.append(arena.last_elapsed)
            if statistics.median(again) > limit:
                slow_again.append(
                    f"{elapsed * 1000:.0f} ms, again {', '.join(f'{x * 1000:.0f}' for x in again)}"
                    f" ms: {what}"
                )
            else:
                slow_once += 1
        not_replayed = len(slow[REPLAY_AT_MOST:])
        runner.run(arena.close())
        runner.close()

    print()
    print(
        f"livedesk fuzz, {args.shape} shape, seed {args.seed}: {took:.0f} s,"
        f" {arena.rebuilds} world rebuilds"
    )
    print(
        f"baselines: a plain ping round trip p50 {pct(baseline, 0.5) * 1000:.2f} ms,"
        f" p99 {pct(baseline, 0.99) * 1000:.2f} ms, max {max(baseline) * 1000:.2f} ms;"
        f" one scrypt password check {hash_ms:.0f} ms"
    )
    print()
    heads = ["message type / route", "cases", "outcomes (most common)", "p50 ms", "p99 ms"]
    heads += ["max ms", "RSS before MiB", "RSS after MiB", "failures"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "---|" * len(heads))
    for key, (before, after) in rss.items():
        print(row(label_of(key), arena.tallies[key], (before, after)))
    measured = [t for k, t in arena.tallies.items() if k in rss]
    total = sum(t.cases for t in measured)
    failures = [f for t in arena.tallies.values() for f in t.failures]
    growth = (rss_end - rss_start) / 1024
    leak = (leak_after - leak_before) / 1024
    print()
    print(f"cases: {total} (+{leak_cases} in the leak probe); failures: {len(failures)};")
    print(f"  warm-up failures: {len(warm_failures)}")
    print(
        f"server RSS: {rss_start / 1024:.1f} MiB after warm-up, {rss_end / 1024:.1f} MiB at the"
        f" end: {growth:+.1f} MiB (bound {args.rss_bound_mib:g} MiB, what valid cases created)"
    )
    print(
        f"leak probe: {leak_before / 1024:.1f} -> {leak_after / 1024:.1f} MiB over {leak_cases}"
        f" malformed cases: {leak:+.1f} MiB (bound {args.leak_bound_mib:g} MiB)"
    )
    print(
        f"cases over {args.slow_ms:g} ms (login: + {hash_ms:.0f} ms): {len(slow_again)} slow"
        f" again in the median of 3, {slow_once} not (machine noise), {not_replayed} not rerun"
    )
    for line in slow_again[:20]:
        print("  SLOW", line[:1500])
    for line in (warm_failures + failures)[:40]:
        print("  FAIL", line[:2000])
    if args.json:
        figures = {
            "shape": args.shape,
            "seed": args.seed,
            "took_s": took,
            "baseline_ping_ms": {
                "p50": pct(baseline, 0.5) * 1000,
                "p99": pct(baseline, 0.99) * 1000,
            },
            "scrypt_ms": hash_ms,
            "rss_kib": {"start": rss_start, "end": rss_end, "leak_before": leak_before},
            "leak_after_kib": leak_after,
            "types": {
                f"{side}/{kind}": {
                    "cases": t.cases,
                    "outcomes": dict(t.outcomes),
                    "p50_ms": pct(t.times_s, 0.5) * 1000,
                    "p99_ms": pct(t.times_s, 0.99) * 1000,
                    "max_ms": max(t.times_s, default=0) * 1000,
                    "failures": t.failures[:200],
                }
                for (side, kind), t in arena.tallies.items()
            },
            "slow_again": slow_again,
        }
        Path(args.json).write_text(json.dumps(figures, indent=1))
    bad = bool(
        failures
        or warm_failures
        or slow_again
        or not_replayed
        or growth > args.rss_bound_mib
        or leak > args.leak_bound_mib
    )
    print("FAILED" if bad else "OK: no crash, no undocumented code, no slow input, memory bounded")
    return 1 if bad else 0


def _hashes(case: Any) -> bool:
    """Whether the case reaches the login handler's password check."""
    return getattr(case, "target", "") == "login"


if __name__ == "__main__":
    sys.exit(main())
