"""When the cyclic garbage collector makes its full passes in a server process.

CPython starts a full collection by itself once the objects promoted into the oldest
generation since the last full pass reach a quarter of those that survived it. A busy
server promotes many objects that are only briefly alive (coroutines, futures and
buffers waiting on a Redis reply), so with 2,041 sockets on the Redis store it ran a
full pass about once a second, each stopping the event loop for ~190 ms: that was the
p99 of every chat message (bench/soak.py, docs/THREAT_MODEL.md).

A full pass costs the same whenever it runs, so here it runs on a timer instead: the
automatic full passes are switched off (the oldest generation's threshold is set out of
reach) and one runs every ``full_every_s`` seconds. The young generations keep
CPython's schedule; they collect most cycles, and what reaches the oldest generation
waits at most ``full_every_s`` to be freed. This is process-wide state, so only the
server process installs it (``create_app(freeze_gc=True)``), and stopping restores the
thresholds it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

import structlog

log = structlog.get_logger(__name__)

#: The oldest generation's threshold while the schedule runs: a count of young passes
#: that a process never reaches.
OUT_OF_REACH = 2**31 - 1


class GcSchedule:
    """Full garbage collections every ``full_every_s`` seconds instead of CPython's."""

    def __init__(self, *, full_every_s: float) -> None:
        if full_every_s <= 0:
            raise ValueError("full_every_s must be > 0")
        self.full_every_s = full_every_s
        self.passes = 0
        self.last_pause_s = 0.0
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            return
        young0, young1, _ = self._saved = gc.get_threshold()
        gc.set_threshold(young0, young1, OUT_OF_REACH)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gc-schedule")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def collect(self) -> int:
        """One full pass now; returns what it found unreachable."""
        started = time.perf_counter()
        found = gc.collect(2)
        self.last_pause_s = time.perf_counter() - started
        self.passes += 1
        return found

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.full_every_s)
            found = self.collect()
            log.debug("gc full pass", pause_ms=round(self.last_pause_s * 1000, 1), found=found)
