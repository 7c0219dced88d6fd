"""The server under test: one ``livedesk run`` process, its log and its memory.

The fuzzer must not be throttled, so the per-connection message rate, the abuse
threshold, the per-address attempt and socket limits and the per-address login
back-off are raised (see ``FUZZ_LIMITS``); everything else is the shipped default.
Its log is JSON lines (``server.log_format = "json"``) in a file, scanned for error
records and tracebacks after every batch of cases.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signaling import config
from tests.integration.conftest import (
    CUSTOMER_SECRET,
    PASSWORD,
    REDIS_URL,
    _fail_or_skip,
    add_user,
    pg_schema,
    redis_available,
    require_postgres,
)
from tests.integration.nodes import REPO, free_port, toml

PROTOCOL_DOC = REPO / "docs" / "protocol.md"

FUZZ_LIMITS: dict[str, dict[str, Any]] = {
    # the fuzzer sends two frames per case, thousands a minute, from one address
    "limits": {
        "messages_per_s": 10_000.0,
        "message_burst": 100_000,
        "abuse_close_after": 100_000,
        "attempts_per_ip_per_s": 0.0,
        "ws_per_ip": 0,
    },
    # random usernames and passwords fail on purpose; keep the password check reachable
    "auth": {"login_free_failures": 1000, "login_free_failures_per_ip": 100_000},
}
"""Config sections that lift the limits which would throttle the fuzzer."""

STAFF = (
    # serves the ``desk`` entry over the fuzzed staff socket; a supervisor may also watch
    ("sup_sam", {"role": "supervisor", "skills": ("desk",), "capacity": 100}),
    # holds the phone cases the HTTP fuzzer opens (never online, never routed to)
    ("agent_hal", {"role": "agent", "skills": ("desk",), "capacity": 100}),
    ("qa_quinn", {"role": "qa"}),
)

ALL_CHANNELS = ["chat", "voice", "video", "screen", "cobrowse"]


def fuzz_config(data_dir: Path, *, redis_prefix: str = "", archive_url: str = "") -> dict[str, Any]:
    """The config of the server under test (as a dict for ``config.from_dict``)."""
    raw: dict[str, Any] = {
        "server": {
            "data_dir": str(data_dir),
            "demo": False,
            "secret": "fuzz-server-secret-0123456789abcdef0123456789",
            "log_format": "json",
            "log_level": "info",
        },
        # a routing tick scans every session the memory store holds (ended ones for an
        # hour): at 0.05 s, the thousands a long run creates cost the server half a core
        "routing": {"tick_s": 0.25, "offer_timeout_s": 30.0, "presence_grace_s": 0.5},
        "customer_tokens": {"secret": CUSTOMER_SECRET},
        "media": {"host_addresses": ["127.0.0.1"]},
        # renders and transcriptions would only add CPU load from empty recordings
        "recording": {"render": False, "transcribe": False},
        "entries": {
            # the fuzzed sessions: the staff member serves this skill
            "desk": {"title": "Fuzz desk", "skill": "desk", "channels": ALL_CHANNELS},
            # sessions the HTTP fuzzer starts queue here, where nobody is routed them
            "fuzz": {"title": "Fuzz queue", "skill": "nobody", "channels": ALL_CHANNELS},
        },
    }
    for name, values in FUZZ_LIMITS.items():
        raw[name] = dict(values)
    if redis_prefix:
        raw["store"] = {"redis_url": REDIS_URL, "key_prefix": redis_prefix}
    if archive_url:
        raw["archive"] = {"url": archive_url}
    return raw


# ---------------------------------------------------------------- what the docs allow


def documented_error_codes(doc: Path = PROTOCOL_DOC) -> dict[str, int]:
    """The error-code table of docs/protocol.md: code -> HTTP status."""
    text = doc.read_text()
    section = text.split("## Error codes", 1)[1]
    codes: dict[str, int] = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|", line)
        if m:
            codes[m.group(1)] = int(m.group(2))
        elif codes and not line.startswith("|"):
            break
    if not codes:
        raise AssertionError(f"no error-code table in {doc}")
    return codes


def documented_close_codes(doc: Path = PROTOCOL_DOC) -> set[int]:
    """WebSocket close codes docs/protocol.md names (in bold: **1009**)."""
    return {int(c) for c in re.findall(r"\*\*(1\d{3})\*\*", doc.read_text())}


# ---------------------------------------------------------------- the process

_FAILURE_TEXT = (
    "Traceback (most recent call last)",
    "Error handling request",
    "Task exception was never retrieved",
    "Unhandled exception",
    "Exception in callback",
)


def log_failures(lines: list[str]) -> list[str]:
    """Log lines that show an unhandled error: error/critical records, tracebacks."""
    bad: list[str] = []
    for line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if record.get("level") in ("error", "critical") or "exception" in record:
                bad.append(text[:4000])
            continue
        if any(marker in text for marker in _FAILURE_TEXT) or text.startswith(("ERROR", "CRIT")):
            bad.append(text[:4000])
    return bad


@dataclass
class FuzzServer:
    """A running ``livedesk run`` with the fuzz config."""

    base: str
    cfg: config.Config
    proc: subprocess.Popen[bytes]
    log_path: Path
    shape: str = "memory"
    _offset: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def new_log_lines(self) -> list[str]:
        """The log written since the last call."""
        with self.log_path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        # only whole lines: a record being written is read next time
        cut = data.rfind(b"\n") + 1
        self._offset += cut
        return data[:cut].decode("utf-8", "replace").splitlines()

    def check_log(self) -> list[str]:
        """New failure lines in the log (also kept in ``failures``)."""
        bad = log_failures(self.new_log_lines())
        self.failures.extend(bad)
        return bad

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def rss_kib(self) -> int:
        """Resident set size of the server process, KiB (from /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def metrics(self) -> str:
        with urllib.request.urlopen(self.base + "/metrics", timeout=5) as resp:
            return str(resp.read().decode())


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextmanager
def fuzz_server(shape: str = "memory", *, keep: bool = False) -> Iterator[FuzzServer]:
    """Start the server under test (``memory``: memory store + SQLite; ``redis``: Redis +
    PostgreSQL), with its users; stop it afterwards. Its directory (config, data, log)
    is removed unless ``keep``."""
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="livedesk-fuzz-"))
        if not keep:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        data_dir = tmp / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        prefix = archive_url = ""
        if shape == "redis":
            if not asyncio.run(redis_available()):
                _fail_or_skip(f"no Redis at {REDIS_URL} (run scripts/ensure-test-deps.sh)")
            require_postgres()
            prefix = f"ldfuzz:{uuid.uuid4().hex[:12]}"
            archive_url = stack.enter_context(pg_schema())
            stack.callback(_drop_redis_prefix, prefix)
        raw = fuzz_config(data_dir, redis_prefix=prefix, archive_url=archive_url)
        cfg = config.from_dict(raw)
        for username, opts in STAFF:
            add_user(cfg, username, **opts)
        config_path = tmp / "livedesk.toml"
        config_path.write_text(toml(raw))
        port = free_port()
        log_path = tmp / "server.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        for key in [k for k in env if k.startswith("LIVEDESK_")]:
            env.pop(key)
        cmd = [sys.executable, "-m", "signaling", "run", "--config", str(config_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(port)]
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=log_file)
        server = FuzzServer(f"http://127.0.0.1:{port}", cfg, proc, log_path, shape)
        stack.callback(_stop, proc)
        deadline = time.monotonic() + 60
        while not _healthy(server.base):
            if proc.poll() is not None:
                raise AssertionError(
                    f"the server exited with {proc.returncode}:\n{server.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not become healthy:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: sessions end at once
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _drop_redis_prefix(prefix: str) -> None:
    from tests.integration.conftest import drop_prefix

    asyncio.run(drop_prefix(prefix))


__all__ = ["PASSWORD", "FuzzServer", "documented_close_codes", "documented_error_codes"]
