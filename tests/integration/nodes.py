"""Real ``livedesk run`` node processes on loopback, sharing one Redis and one data dir.

Used by the multi-node tests: each node is its own operating-system process, so a test
can SIGKILL or SIGTERM one and watch the others carry on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECRET = "cluster-test-secret-0123456789abcdef0123456789"

RUNNING: list[Nodes] = []
"""The deployments of the test under way; a failed test's report shows their logs."""
STOPPED_BY_ERROR: list[str] = []
"""Log tails of deployments a test's exception stopped before its report was made."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml(raw: dict[str, Any]) -> str:
    """Nested dicts of strings, numbers, booleans and lists as TOML tables."""
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any]) -> None:
        plain = {k: v for k, v in values.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        if prefix and (plain or not nested):
            lines.append(f"[{prefix}]")
        for k, v in plain.items():
            lines.append(f"{k} = {json.dumps(v)}")
        for k, v in nested.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", raw)
    return "\n".join(lines) + "\n"


@dataclass
class NodeProcess:
    """One node: its URL, its process, its log."""

    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def health(self, timeout: float = 2) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=timeout) as resp:
                return dict(json.loads(resp.read()))
        except OSError:
            return None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)


@dataclass
class Nodes:
    """A deployment of node processes started from one config."""

    config_path: Path
    data_dir: Path
    env: dict[str, str]
    nodes: list[NodeProcess] = field(default_factory=list)

    def __getitem__(self, i: int) -> NodeProcess:
        return self.nodes[i]

    def start(self, name: str, *, port: int | None = None) -> NodeProcess:
        node = NodeProcess(name, port or free_port(), self.data_dir.parent / f"{name}.log")
        log_file = node.log_path.open("ab")
        cmd = [sys.executable, "-m", "signaling", "run", "--config", str(self.config_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(node.port)]
        env = {**self.env, "LIVEDESK_CLUSTER_NODE_ID": name}
        node.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=log_file)
        log_file.close()
        deadline = time.monotonic() + 30
        while node.health() is None:
            if node.proc.poll() is not None:
                raise AssertionError(f"{name} exited with {node.proc.returncode}:\n{node.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not become healthy:\n{node.log()}")
            time.sleep(0.1)
        self.nodes.append(node)
        return node

    def stop_all(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=5)

    def log_tails(self, lines: int = 80) -> str:
        """The last ``lines`` of every node's log, for a failed test's report."""
        return "\n".join(
            f"--- {n.name} ({n.log_path})\n" + "\n".join(n.log().splitlines()[-lines:])
            for n in self.nodes
        )

    def tracebacks(self) -> str:
        return "\n".join(f"--- {n.name}\n{n.log()}" for n in self.nodes if "Traceback" in n.log())


@contextmanager
def node_processes(
    raw: dict[str, Any],
    *,
    count: int,
    prefix: str,
    before: Callable[[Any], None] | None = None,
) -> Iterator[Nodes]:
    """``count`` nodes on one Redis key prefix and one data dir, stopped afterwards.

    ``before`` gets the loaded config first (to add users to the shared archive).
    """
    tmp = Path(tempfile.mkdtemp(prefix="livedesk-nodes-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    raw = json.loads(json.dumps(raw))
    raw.setdefault("server", {}).update({"data_dir": str(data_dir), "secret": SECRET})
    raw.setdefault("store", {})["key_prefix"] = prefix
    config_path = tmp / "livedesk.toml"
    config_path.write_text(toml(raw))
    if before is not None:
        from signaling import config

        before(config.load(config_path))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update({"PYTHONUNBUFFERED": "1", "LIVEDESK_SERVER_LOG_LEVEL": "info"})
    for key in ("LIVEDESK_CONFIG", "LIVEDESK_PORT", "LIVEDESK_DATA_DIR"):
        env.pop(key, None)
    nodes = Nodes(config_path, data_dir, env)
    RUNNING.append(nodes)
    try:
        for i in range(count):
            nodes.start(f"node{i + 1}")
        yield nodes
    except BaseException:
        # the test's own `with` ended these nodes: keep their logs for its report
        STOPPED_BY_ERROR.append(nodes.log_tails())
        raise
    finally:
        RUNNING.remove(nodes)
        nodes.stop_all()
