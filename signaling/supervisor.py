"""``livedesk run --workers N``: N node processes on one machine, kept running.

One Python process uses one core, so a machine with N cores runs N nodes. They share
the listening port (``SO_REUSEPORT``: the kernel spreads new connections over them),
the data directory and the Redis store; each is a full node of the deployment
(signaling.cluster). The supervisor does no serving itself. It:

- prepares what the workers would otherwise race for: the server secret, the archive
  schema and the demo users;
- starts the workers and starts again any that exits on its own (with a growing pause,
  so a worker that cannot start does not spin);
- on SIGTERM or SIGINT passes SIGTERM to every worker, which drains (finishes its
  sessions up to ``cluster.drain_timeout_s``), and waits for them; a worker still there
  long after that is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from signaling.config import Config

log = structlog.get_logger("livedesk.supervisor")

WORKER_ENV = "LIVEDESK_WORKER"
"""Set in a worker's environment (its index): it skips what the supervisor prepared."""

RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
STOP_GRACE_S = 20.0
"""How long past the drain timeout a worker may take to exit before it is killed."""


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Starts ``count`` workers running ``argv`` and keeps them up until told to stop."""

    def __init__(self, cfg: Config, argv: Sequence[str], count: int) -> None:
        self.cfg = cfg
        self.argv = list(argv)
        self.workers = [Worker(i) for i in range(count)]
        self.stopping = False

    def _spawn(self, w: Worker) -> None:
        env = {**os.environ, WORKER_ENV: str(w.index)}
        if self.cfg.cluster.node_id:
            env["LIVEDESK_CLUSTER_NODE_ID"] = f"{self.cfg.cluster.node_id}-w{w.index}"
        # our own interpreter and module, with the operator's own run options
        w.proc = subprocess.Popen([sys.executable, "-m", "signaling", *self.argv], env=env)  # noqa: S603
        w.started_at = time.monotonic()
        log.info("worker started", worker=w.index, pid=w.proc.pid)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        log.info("stopping workers", signal=signal.Signals(signum).name)
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for w in self.workers:
            self._spawn(w)
        due: dict[int, float] = {}
        while not self.stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for w in self.workers:
                if w.proc is None or self.stopping:
                    continue
                code = w.proc.poll()
                if code is None:
                    if now - w.started_at > 60:
                        w.restarts = 0  # it ran a good while: a later exit starts afresh
                    continue
                if w.index not in due:
                    pause = RESTART_BACKOFF_S[min(w.restarts, len(RESTART_BACKOFF_S) - 1)]
                    w.exits.append(code)
                    log.warning("worker exited; starting it again", worker=w.index, code=code,
                                pid=w.proc.pid, in_s=pause)  # fmt: skip
                    due[w.index] = now + pause
                elif now >= due[w.index]:
                    del due[w.index]
                    w.restarts += 1
                    self._spawn(w)
        return self._wait_stopped()

    def _wait_stopped(self) -> int:
        deadline = time.monotonic() + self.cfg.cluster.drain_timeout_s + STOP_GRACE_S
        worst = 0
        for w in self.workers:
            if w.proc is None:
                continue
            try:
                code = w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker did not stop; killing it", worker=w.index, pid=w.proc.pid)
                w.proc.kill()
                code = w.proc.wait()
            if code not in (0, -signal.SIGTERM):
                worst = worst or 1
        log.info("workers stopped")
        return worst


def worker_argv(args: Any) -> list[str]:
    """The ``run`` command line a worker gets: the same options, one shared port."""
    argv = ["run", "--reuse-port"]
    for flag, value in (
        ("--config", args.config),
        ("--data-dir", args.data_dir),
        ("--host", args.host),
        ("--port", args.port),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv
