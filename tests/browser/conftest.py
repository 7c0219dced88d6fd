"""Fixtures for the browser tests: a real ``livedesk run`` process and headless Chromium.

Chromium is the system one at /usr/bin/chromium (Playwright's own browser
download is never used). Without it the tests are skipped, except on CI
(``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# For WebRTC: fake camera (a moving test pattern at 30 fps), microphone (a beep) and screen,
# every permission prompt answered yes, and ICE over loopback, where the test server's host
# candidates are (``[media] host_addresses = ["127.0.0.1"]``). With the fake UI,
# getDisplayMedia picks a fake 1280x720 screen by itself; no capture-source flag is needed.
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

AGENT_USER = "alex"
AGENT_NAME = "Alex Kim"
AGENT_PASSWORD = "browser-test-pw-1"


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if _on_ci():
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    data_dir: Path
    log_path: Path
    agent_user: str = AGENT_USER
    agent_name: str = AGENT_NAME
    agent_password: str = AGENT_PASSWORD

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "LIVEDESK_LIMITS_WS_HEARTBEAT_S": "5",
            # generous, so a slow machine does not see the offer expire mid-test
            "LIVEDESK_ROUTING_OFFER_TIMEOUT_S": "60",
            "LIVEDESK_ROUTING_TICK_S": "0.5",
            "LIVEDESK_SERVER_LOG_LEVEL": "info",
            # stopping the server (SIGTERM) drains: sessions a test left open end at once
            "LIVEDESK_CLUSTER_DRAIN_TIMEOUT_S": "0",
        }
    )
    for key in ("LIVEDESK_CONFIG", "LIVEDESK_REDIS_URL", "LIVEDESK_PORT", "LIVEDESK_DATA_DIR"):
        env.pop(key, None)
    return env


@pytest.fixture
def livedesk_server() -> Iterator[Server]:
    """``python -m signaling run`` on a free loopback port with a fresh data dir.

    An explicit (almost empty) config, so a livedesk.toml in the checkout cannot leak in.
    """
    with run_livedesk("[server]\ndemo = true\n") as server:
        yield server


NewContext = Callable[[], Awaitable[object]]


@pytest.fixture
async def browser() -> AsyncIterator[NewContext]:
    """A factory of separate persistent Chromium contexts (own profile dir each).

    Each context is its own browser profile, so cookies and storage differ.
    All of them are closed at the end of the test.
    """
    async with _contexts(CHROMIUM_ARGS) as new_context:
        yield new_context


@pytest.fixture
async def media_browser() -> AsyncIterator[NewContext]:
    """Like ``browser``, with fake camera, microphone and screen and WebRTC over loopback."""
    async with _contexts([*CHROMIUM_ARGS, *MEDIA_ARGS]) as new_context:
        yield new_context


@contextlib.asynccontextmanager
async def _contexts(args: list[str]) -> AsyncIterator[NewContext]:
    _need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed")
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - depends on the environment
        _need(False, "playwright for Python is not installed")
        raise

    dirs: list[str] = []
    contexts: list[object] = []
    async with async_playwright() as p:

        async def new_context() -> object:
            profile = tempfile.mkdtemp(prefix="livedesk-chromium-")
            dirs.append(profile)
            ctx = await p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=args,
            )
            contexts.append(ctx)
            return ctx

        try:
            yield new_context
        finally:
            for ctx in contexts:
                with contextlib.suppress(Exception):
                    await ctx.close()  # type: ignore[attr-defined]
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def screenshot_dir() -> Iterator[Path]:
    """Where the test writes its screenshots; LIVEDESK_SCREENSHOTS keeps them."""
    keep = os.environ.get("LIVEDESK_SCREENSHOTS")
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="livedesk-shots-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- servers with their own config


@contextlib.contextmanager
def run_livedesk(config_text: str) -> Iterator[Server]:
    """``python -m signaling run`` with ``config_text`` as its TOML file, plus the test agent.

    The same checks as ``livedesk_server``: it must become healthy, must not die, and
    must not log a traceback.
    """
    tmp = Path(tempfile.mkdtemp(prefix="livedesk-browser-"))
    data_dir = tmp / "data"
    config = tmp / "livedesk.toml"
    config.write_text(config_text)
    env = _server_env()
    cli = [sys.executable, "-m", "signaling"]
    where = ["--config", str(config), "--data-dir", str(data_dir)]
    who = ["--role", "agent", "--display-name", AGENT_NAME, "--capacity", "3"]
    add = subprocess.run(
        [*cli, "user", "add", AGENT_USER, *who, "--password", AGENT_PASSWORD, *where],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert add.returncode == 0, f"user add failed:\n{add.stdout}\n{add.stderr}"

    port = _free_port()
    log_path = tmp / "server.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [*cli, "run", *where, "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", data_dir, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the server exited with {proc.returncode}:\n{server.log()}", pytrace=False
                )
            try:
                with urllib.request.urlopen(server.base_url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not become healthy:\n{server.log()}", pytrace=False)
            time.sleep(0.1)
        yield server
    finally:
        crashed = proc.poll()
        if crashed is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log_file.close()
        output = server.log()
        shutil.rmtree(tmp, ignore_errors=True)
    if crashed is not None:
        pytest.fail(f"the server died during the test (exit {crashed}):\n{output}", pytrace=False)
    if proc.returncode not in (0, -15):
        pytest.fail(f"the server exited with {proc.returncode}:\n{output}", pytrace=False)
    if "Traceback" in output:
        pytest.fail(f"the server logged an exception:\n{output}", pytrace=False)


StartServer = Callable[[str], Server]


@pytest.fixture
def livedesk_factory() -> Iterator[StartServer]:
    """Start livedesk servers, each with its own TOML config; all stop at the end of the test.

    For what only a restart changes, such as ``[testing] fixed_now``.
    """
    with contextlib.ExitStack() as stack:

        def start(config_text: str) -> Server:
            return stack.enter_context(run_livedesk(config_text))

        yield start


@dataclass
class StaticSite:
    """A company's web site: HTML pages on a second loopback port.

    One server answers under two origins: ``origin`` (``http://localhost:<port>``, the
    company's site) and ``foreign_origin`` (``http://127.0.0.1:<port>``, anybody else).
    """

    port: int
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def foreign_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path``; returns its URL on the company's origin."""
        self.pages[path] = html
        return self.origin + path


@pytest.fixture
def static_site() -> Iterator[StaticSite]:
    """A tiny static HTTP server (another origin than livedesk) for host pages."""
    site = StaticSite(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = site.pages.get(urlsplit(self.path).path)
            if html is None:
                self.send_error(404)
                return
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    site.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------- recordings and QA

RECORDING_CONFIG = """
[server]
demo = true

[media]
host_addresses = ["127.0.0.1"]

[recording]
render_fps = 10
render_width = 640
render_height = 360
"""
QA_USER, QA_PASSWORD = "quinn", "qa-browser-pw-1"


def add_qa_user(server: Server) -> None:
    """The QA reviewer QA_USER on a running test server."""
    add = subprocess.run(
        [sys.executable, "-m", "signaling", "user", "add", QA_USER, "--role", "qa",
         "--display-name", "Quinn Reviewer", "--password", QA_PASSWORD,
         "--data-dir", str(server.data_dir)],
        cwd=REPO, env=_server_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr


@pytest.fixture(scope="module")
def recording_server() -> Iterator[Server]:
    """A server that records (small, quick review renderings), with a QA reviewer."""
    with run_livedesk(RECORDING_CONFIG) as server:
        add_qa_user(server)
        yield server


async def first_page(ctx: Any) -> Any:
    """The page a fresh persistent context opens with (or a new one)."""
    return ctx.pages[0] if ctx.pages else await ctx.new_page()


async def staff_login(page: Any, server: Server, username: str, password: str) -> None:
    """Log in through the console's form; returns once the page has reloaded signed in.

    The console reloads itself after a good login, so a caller's next goto() would race
    that reload (Chromium aborts one of them: net::ERR_ABORTED) if this did not wait.
    """
    await page.goto(server.base_url + "/agent")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    async with page.expect_navigation(wait_until="load"):
        async with page.expect_response(lambda r: r.url.endswith("/api/login")) as answer:
            await page.get_by_test_id("login-submit").click()
        assert (await answer.value).status == 200
