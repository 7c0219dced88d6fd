"""A small Prometheus text-format registry, owned by the application (no globals)."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable


class Metrics:
    """Counters and gauges with at most one label each."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], dict[str, float]]] = {}

    def counter(self, name: str, help_text: str) -> None:
        self._help[name] = ("counter", help_text)
        self._counters[name]

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[str, float]]) -> None:
        """``read`` returns ``{label_value: value}``; the empty label means no label."""
        self._help[name] = ("gauge", help_text)
        self._gauges[name] = read

    def inc(self, name: str, label: str = "", by: float = 1.0) -> None:
        self._counters[name][label] += by

    def value(self, name: str, label: str = "") -> float:
        return self._counters[name].get(label, 0.0)

    def render(self, label_names: dict[str, str] | None = None) -> str:
        label_names = label_names or {}
        out: list[str] = []
        for name, (kind, help_text) in self._help.items():
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            values = self._gauges[name]() if kind == "gauge" else dict(self._counters[name])
            if not values and kind == "counter":
                values = {"": 0.0}
            for label, v in sorted(values.items()):
                key = label_names.get(name, "label")
                lbl = f'{{{key}="{_escape(label)}"}}' if label else ""
                out.append(f"{name}{lbl} {_num(v)}")
        return "\n".join(out) + "\n"


def add_process_gauges(metrics: Metrics) -> None:
    """Gauges of what the process holds, for spotting leaks: a figure that keeps rising
    while the load stays the same (bench/media_cycles.py, tests/integration/test_leaks.py).
    """
    metrics.gauge(
        "livedesk_asyncio_tasks",
        "Unfinished asyncio tasks on the event loop (the scrape's own included)",
        lambda: {"": float(_task_count())},
    )
    metrics.gauge(
        "livedesk_threads", "Threads of this process", lambda: {"": float(_thread_count())}
    )
    metrics.gauge("livedesk_open_fds", "Open file descriptors of this process", _fd_count)
    pauses = GC_PAUSES.install()
    metrics.gauge(
        "livedesk_gc_pause_max_seconds",
        "Longest garbage-collector pause per generation since the last scrape",
        pauses.take_max,
    )
    metrics.gauge(
        "livedesk_gc_pause_seconds_total",
        "Time spent in garbage-collector pauses per generation",
        lambda: {str(g): t for g, t in enumerate(pauses.total)},
    )


class GcPauses:
    """Times the cyclic collector's pauses (``gc.callbacks``): a full collection over a
    large heap stops the event loop for all of it, which the loop-lag probe sees only
    as lag. Process-wide, installed once however many apps the process makes."""

    def __init__(self) -> None:
        self.total = [0.0, 0.0, 0.0]
        self.max = [0.0, 0.0, 0.0]
        self._started = 0.0
        self._installed = False

    def install(self) -> GcPauses:
        if not self._installed:
            gc.callbacks.append(self._on_gc)
            self._installed = True
        return self

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        gen = min(2, max(0, info.get("generation", 0)))
        self.total[gen] += took
        self.max[gen] = max(self.max[gen], took)

    def take_max(self) -> dict[str, float]:
        """The longest pause per generation since the previous call; then reset."""
        out = {str(g): m for g, m in enumerate(self.max)}
        self.max = [0.0, 0.0, 0.0]
        return out


GC_PAUSES = GcPauses()


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # rendered off the loop
        return 0


def _thread_count() -> int:
    # the kernel's count includes threads Python did not start (codec and OpenSSL pools)
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _fd_count() -> dict[str, float]:
    try:
        return {"": float(len(os.listdir("/proc/self/fd")))}
    except OSError:  # not Linux: leave the gauge empty rather than guess
        return {}


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)
