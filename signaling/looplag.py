"""Event-loop lag: how late a short sleep wakes up, sampled continuously.

A loop blocked by a slow callback shows up here before users notice it in chat
latency. ``/metrics`` exports the last sample, the recent p99 and the recent maximum.
"""

from __future__ import annotations

import asyncio
import collections
import time


class LoopLag:
    """Samples every ``interval_s``; keeps the last ``window`` samples."""

    def __init__(self, *, interval_s: float = 0.1, window: int = 100) -> None:
        self.interval_s = interval_s
        self.samples: collections.deque[float] = collections.deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.samples.append(max(0.0, time.perf_counter() - start - self.interval_s))

    @property
    def last_s(self) -> float:
        return self.samples[-1] if self.samples else 0.0

    @property
    def max_s(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def p99_s(self) -> float:
        """The 99th percentile of the window (nearest rank)."""
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
