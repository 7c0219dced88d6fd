"""The world the fuzz cases run in, and the judge of every answer.

A supervisor (who serves the ``desk`` entry) and a customer hold an active session with
video and co-browsing agreed; a second session waits in a queue nobody serves (someone
else's session, for cross-session probes). Each side has a *fuzz socket*, separate from
the sockets that set the world up. A case is one frame on a fuzz socket followed by a
``ping`` probe: everything that arrives before the probe's reply is the answer to the
case (a connection handles its frames in order). The judge requires:

- the probe is answered (the server did not hang or die), or the socket was closed with
  a close code that docs/protocol.md names, and then a fresh socket works;
- every ``error`` carries a code from the error-code table of docs/protocol.md, and
  never ``internal`` nor ``unavailable`` (HTTP: JSON, that code's status, never 5xx);
- the server's log shows no error record and no traceback.

When a case moved the session out of ``active`` (wrap-up, leave, transfer...), the world
is rebuilt, at most every ``rebuild_every`` cases, so the states after it are fuzzed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from signaling.auth import mint_customer
from signaling.client import CustomerClient, RequestFailed, StaffClient
from tests.fuzzing.server import (
    PASSWORD,
    FuzzServer,
    documented_close_codes,
    documented_error_codes,
)
from tests.integration.conftest import CUSTOMER_SECRET

STAFF_USER = "sup_sam"
PROBE_TIMEOUT_S = 15.0
NEVER = frozenset({"internal", "unavailable"})
"""Documented codes no case may get: ``internal`` is a crash, and the store and the
archive are up throughout, so ``unavailable`` means an input reached one of them as
something it refused."""
ABNORMAL_CLOSURE = 1006

# events after which the world session is no longer the active one the cases expect
_UNSETTLING = frozenset(
    {
        "session.wrap_up",
        "session.ended",
        "session.queued",
        "session.offered",
        "session.transferred",
        "session.transfer_requested",
        "session.customer_left",
        "session.agent_left",
        "channel.stopped",
        "channel.declined",
    }
)


class CaseFailed(AssertionError):
    """The server answered a case in a way the protocol does not allow."""


@dataclass
class Answer:
    """What came back for one case."""

    messages: list[dict[str, Any]]
    elapsed_s: float
    closed: int | None = None
    """The close code, when the server closed the socket."""


@dataclass
class Tally:
    """Figures for one (side, message type)."""

    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    times_s: list[float] = field(default_factory=list)
    slow_cases: list[tuple[float, str, Any, str]] = field(default_factory=list)
    """(time, socket, case, description) of the cases over the time limit."""
    failures: list[str] = field(default_factory=list)

    def add(
        self, outcome: list[str], elapsed: float, side: str, case: Any, what: str, *, slow_s: float
    ) -> None:
        self.cases += 1
        self.outcomes.update(outcome)
        self.times_s.append(elapsed)
        if elapsed > slow_s:
            self.slow_cases.append((elapsed, side, case, what[:600]))


class FuzzSocket:
    """One raw WebSocket of a customer (token) or a staff member (cookie)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, *, cookie: str = "") -> None:
        self.http = http
        self.url = base.replace("http", "ws", 1) + "/ws"
        self.cookie = cookie
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._probes = 0

    async def open(self, token: str | None = None, *, hello: bool = True) -> dict[str, Any] | None:
        await self.close()
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.ws = await self.http.ws_connect(
            self.url, headers=headers, max_msg_size=64 * 1024 * 1024, autoping=True
        )
        if not hello:
            return None
        msg: dict[str, Any] = {"type": "hello", "id": "hello"}
        if token:
            msg["token"] = token
        answer = await self.exchange("text", json.dumps(msg).encode(), probe=False)
        reply = next((m for m in answer.messages if m.get("id") == "hello"), None)
        if reply is None or reply.get("type") != "ok":
            raise CaseFailed(f"hello on a fresh socket failed: {answer.messages[:3]}")
        return reply

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        self.ws = None

    async def exchange(self, opcode: str, data: bytes, *, probe: bool = True) -> Answer:
        """Send ``data``, then (``probe``) a ping; collect what comes before its reply.

        Without ``probe`` it waits for the reply whose id is ``hello``."""
        ws = self.ws
        assert ws is not None
        self._probes += 1
        probe_id = f"probe-{self._probes}"
        wanted = probe_id if probe else "hello"
        t0 = time.perf_counter()
        with contextlib.suppress(ConnectionError, RuntimeError):
            if opcode == "binary":
                await ws.send_bytes(data)
            else:
                try:
                    await ws.send_str(data.decode("utf-8"))
                except UnicodeDecodeError:
                    # a text frame whose payload is not UTF-8: past aiohttp's own checks
                    await ws._writer.send_frame(data, aiohttp.WSMsgType.TEXT)
            if probe:
                await ws.send_str(json.dumps({"type": "ping", "id": probe_id}))
        messages: list[dict[str, Any]] = []
        deadline = t0 + PROBE_TIMEOUT_S
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise CaseFailed(f"no answer within {PROBE_TIMEOUT_S:g} s")
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                continue
            except (ConnectionError, aiohttp.ClientError):  # reset while answering a ping
                return Answer(messages, time.perf_counter() - t0, closed=ws.close_code or 1006)
            if msg.type == aiohttp.WSMsgType.TEXT:
                m = json.loads(msg.data)
                if m.get("type") in ("ok", "error") and m.get("id") == wanted:
                    if not probe:
                        messages.append(m)
                    break
                messages.append(m)
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                return Answer(messages, time.perf_counter() - t0, closed=ws.close_code or -1)
        return Answer(messages, time.perf_counter() - t0)


class Arena:
    """The people, sessions and sockets the cases run against (one event loop)."""

    def __init__(self, server: FuzzServer, *, rebuild_every: int = 25, slow_s: float = 0.1) -> None:
        self.server = server
        self.base = server.base
        self.codes = documented_error_codes()
        self.close_codes = documented_close_codes()
        self.rebuild_every = rebuild_every
        self.slow_s = slow_s
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.ctx: dict[str, Any] = {}
        self.http: aiohttp.ClientSession | None = None
        self.staff: StaffClient | None = None
        self.customer: CustomerClient | None = None
        self.sockets: dict[str, FuzzSocket] = {}
        self.dirty = False
        self.since_rebuild = 0
        self.rebuilds = 0
        self.retired: tuple[str, str] | None = None
        """An ended session an agent served, and its participant token (CSAT answers)."""
        self.cookies: dict[str, str] = {}
        self.recorded: str = ""
        """A session with a recording (QA scores and comments)."""
        self.hal_case: str = ""
        self.last_elapsed = 0.0
        """How long the last case took."""
        self.sent = 0
        """WebSocket cases sent (the bench alternates sockets by it)."""

    # ------------------------------------------------------------ set-up
    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        self.staff = await StaffClient.login(self.http, self.base, STAFF_USER, PASSWORD)
        self.cookies[STAFF_USER] = self.staff.cookie
        await self.staff.set_status("available")
        other = await CustomerClient.start(
            self.http, self.base, entry="fuzz", text="someone else's question", connect=False
        )
        self.ctx["other_session"] = other.session
        self.ctx["other_token"] = other.token
        self.sockets["staff"] = FuzzSocket(self.http, self.base, cookie=self.staff.cookie)
        self.sockets["customer"] = FuzzSocket(self.http, self.base)
        await self.rebuild(first=True)

    async def close(self) -> None:
        for sock in self.sockets.values():
            await sock.close()
        for c in (self.customer, self.staff):
            if c is not None:
                with contextlib.suppress(Exception):
                    await c.close()
        if self.http is not None:
            await self.http.close()

    async def _end(self) -> None:
        """End the world session, whatever state the cases left it in."""
        sid = self.ctx.get("session")
        if sid is None or self.customer is None or self.staff is None:
            return
        for who, kind, fields in (
            (self.customer, "session.leave", {}),
            (self.staff, "session.wrapup", {}),
            (self.staff, "session.complete", {"disposition": "fuzzed"}),
        ):
            with contextlib.suppress(RequestFailed, ConnectionError, TimeoutError):
                await who.request(kind, session=sid, timeout=10, **fields)
        self.retired = (sid, self.ctx["token"])
        with contextlib.suppress(Exception):
            await self.customer.close()

    async def rebuild(self, *, first: bool = False) -> None:
        """A fresh active session with video and co-browsing agreed, and fuzz sockets on it."""
        assert self.http is not None and self.staff is not None
        await self._end()
        staff = self.staff
        if staff.closed.is_set():
            await staff.connect()
        await staff.set_status("available")  # a fuzzed agent.status may have changed it
        customer = await CustomerClient.start(
            self.http, self.base, entry="desk", text="fuzz me", name="Fuzz Customer"
        )
        self.customer = customer
        sid = customer.session
        me = STAFF_USER
        await staff.wait_for(
            lambda m: (
                m.get("type") == "console"
                and any(
                    s["session"] == sid and s["state"] == "offered" and s["offered_to"] == me
                    for s in m["sessions"]
                )
            ),
            timeout=30,
        )
        await staff.request("offer.accept", session=sid)
        await customer.wait_event(sid, "session.accepted")
        await customer.request("channel.request", session=sid, channel="video")
        await staff.wait_event(sid, "channel.offered")
        await staff.request("channel.respond", session=sid, channel="video", accept=True)
        await staff.request("channel.request", session=sid, channel="cobrowse")
        await customer.wait_event(sid, "channel.offered")
        await customer.request("channel.respond", session=sid, channel="cobrowse", accept=True)
        if first:
            await self._record(sid)
        self.ctx.update({"session": sid, "token": customer.token})
        await self.sockets["customer"].open(customer.token)
        await self.sockets["staff"].open()
        self.dirty = False
        self.since_rebuild = 0
        self.rebuilds += 1
        self._drain()

    async def _record(self, sid: str) -> None:
        """Record the first session a moment, so QA reviews have a recording to score."""
        assert self.staff is not None and self.customer is not None
        await self.staff.request("recording.request", session=sid)
        await self.customer.wait_event(sid, "recording.requested")
        await self.customer.request("recording.respond", session=sid, accept=True)
        await self.staff.wait_event(sid, "recording.started")
        await self.staff.request("recording.stop", session=sid)
        await self.staff.wait_event(sid, "recording.finished", timeout=20)
        self.recorded = sid

    def _drain(self) -> None:
        """Forget what the set-up clients received (they would grow for ever)."""
        for c in (self.staff, self.customer):
            if c is not None:
                c.inbox.clear()
                c.events.clear()

    async def login(self, username: str) -> str:
        if username not in self.cookies:
            assert self.http is not None
            c = await StaffClient.login(self.http, self.base, username, PASSWORD, connect=False)
            self.cookies[username] = c.cookie
        return self.cookies[username]

    def customer_token(self, tier: str = "standard") -> str:
        return mint_customer("fuzz-cust-1", tier, CUSTOMER_SECRET, name="Fuzzy", ttl_s=86400)

    # ------------------------------------------------------------ one WebSocket case
    def tally(self, side: str, kind: str) -> Tally:
        return self.tallies.setdefault((side, kind), Tally())

    async def ws_case(
        self,
        side: str,
        case: Any,
        *,
        strict: bool = True,
        record: bool = True,
        bucket: str = "",
    ) -> list[str]:
        """Run one case on ``side``'s fuzz socket; returns the problems found (raises
        CaseFailed with them when ``strict``). ``record``: count it in the tally of
        (``bucket`` or ``side``, message type)."""
        if self.dirty and self.since_rebuild >= self.rebuild_every:
            await self.rebuild()
        self.since_rebuild += 1
        sock = self.sockets[side]
        fresh = case.kind == "hello"
        if fresh:
            # hello is fuzzed on a socket that has not said it yet
            await sock.open(hello=False)
        data = case.render(self.ctx)
        problems: list[str] = []
        try:
            answer = await sock.exchange(case.opcode, data)
        except CaseFailed as exc:
            answer = Answer([], PROBE_TIMEOUT_S)
            problems.append(str(exc))
        outcome = self._judge_ws(answer, problems, len(data))
        if answer.closed is not None or fresh or problems:
            await self._reopen(side, problems)
        self._drain()
        if not self.server.alive():
            problems.append(f"the server exited with {self.server.proc.returncode}")
        problems += [f"log: {line}" for line in self.server.check_log()]
        what = f"{side} {case!r} -> {data[:300]!r}"
        self.last_elapsed = answer.elapsed_s
        tally = self.tally(bucket or side, case.kind) if record else Tally()
        tally.add(outcome, answer.elapsed_s, side, case, what, slow_s=self.slow_s)
        if problems:
            tally.failures.append(f"{what}: {'; '.join(problems)}")
            if strict:
                raise CaseFailed(f"{what}\n" + "\n".join(problems))
        return problems

    def _judge_ws(self, answer: Answer, problems: list[str], size: int) -> list[str]:
        outcome: list[str] = []
        for m in answer.messages:
            kind = m.get("type")
            if kind == "error":
                code = m.get("code")
                outcome.append(str(code))
                if code not in self.codes:
                    problems.append(f"undocumented error code {code!r}: {m}")
                elif code in NEVER:
                    problems.append(f"{code} error: {m}")
                if not isinstance(m.get("message"), str) or not m["message"]:
                    problems.append(f"an error without a message: {m}")
            elif kind == "ok":
                outcome.append("ok")
            elif kind == "event" and m["event"]["kind"] in _UNSETTLING:
                self.dirty = True
        if answer.closed is not None:
            code = answer.closed
            if code == ABNORMAL_CLOSURE and size > self.server.cfg.limits.ws_max_frame_bytes:
                # the server closes a frame over the limit with 1009 before reading its
                # payload; the unread bytes make the kernel reset the connection, which can
                # reach the client before the close frame
                code = 1009
            outcome.append(f"close:{code}")
            if code not in self.close_codes:
                problems.append(f"closed with undocumented code {answer.closed}")
        return outcome or ["none"]

    async def _reopen(self, side: str, problems: list[str]) -> None:
        """A fresh socket after a closed (or fresh-hello) one must work at once."""
        sock = self.sockets[side]
        try:
            await sock.open(self.ctx["token"] if side == "customer" else None)
            pong = await sock.exchange("text", b'{"type":"ping"}')
            if pong.closed is not None:
                problems.append(f"a fresh socket was closed at once ({pong.closed})")
        except CaseFailed as exc:
            problems.append(f"a fresh socket does not work: {exc}")
        except aiohttp.ClientError as exc:
            problems.append(f"a fresh socket cannot connect: {exc!r}")

    # ------------------------------------------------------------ one HTTP case
    async def prepare_http(self) -> None:
        """What the HTTP targets point at: a served and ended session, a phone case."""
        assert self.http is not None
        if self.retired is None:
            await self.rebuild()
        assert self.retired is not None
        hal = await self.login("agent_hal")
        await self.login("qa_quinn")
        async with self.http.post(
            self.base + "/api/cases",
            json={"entry": "desk", "customer_name": "Caller"},
            headers={"Cookie": hal},
        ) as resp:
            assert resp.status == 201, await resp.text()
            self.hal_case = (await resp.json())["session"]
        self.ctx.update(
            {
                "retired": self.retired[0],
                "retired_token": self.retired[1],
                "recorded": self.recorded,
                "hal_case": self.hal_case,
            }
        )

    async def _headers(self, auth: str) -> dict[str, str]:
        if auth == "customer":
            return {"Authorization": f"Bearer {self.customer_token()}"}
        if auth == "participant":
            return {"Authorization": f"Bearer {self.ctx['retired_token']}"}
        if auth.startswith("staff:"):
            return {"Cookie": await self.login(auth.split(":", 1)[1])}
        if auth == "garbage_bearer":
            return {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
        if auth == "garbage_cookie":
            return {"Cookie": "livedesk_login=bm90IGEgbG9naW4.c2lnbmF0dXJl"}
        if auth == "basic":
            return {"Authorization": "Basic dXNlcjpwYXNz"}
        return {}

    async def http_case(self, case: Any, *, strict: bool = True, record: bool = True) -> list[str]:
        """Send one request; every error must be JSON with a documented code and its
        documented status, and nothing may be a 500."""
        from tests.fuzzing.bodies import TARGETS

        assert self.http is not None
        target = TARGETS[case.target]
        auth = case.auth or target.auth
        if target.path == "/api/logout" and auth.startswith("staff:"):
            # a login of its own: logging out the arena's logins would end its sockets
            assert self.http is not None
            user = auth.split(":", 1)[1]
            c = await StaffClient.login(self.http, self.base, user, PASSWORD, connect=False)
            headers = {"Cookie": c.cookie}
        else:
            headers = await self._headers(auth)
        if case.content_type:
            headers["Content-Type"] = case.content_type
        if case.origin:
            headers["Origin"] = case.origin
        path = case.path(self.ctx)
        data = case.data(self.ctx)
        url = URL(self.base + path, encoded=True)
        problems: list[str] = []
        t0 = time.perf_counter()
        status, ctype, body = 0, "", b""
        try:
            async with self.http.request(
                target.method, url, data=data, headers=headers, allow_redirects=False
            ) as resp:
                status, ctype, body = resp.status, resp.content_type, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            problems.append(f"no answer: {exc!r}")
        elapsed = time.perf_counter() - t0
        outcome = "no answer"
        if status:
            outcome, found = self._judge_http(status, ctype, body)
            problems += found
        if not self.server.alive():
            problems.append(f"the server exited with {self.server.proc.returncode}")
        problems += [f"log: {line}" for line in self.server.check_log()]
        what = f"{target.method} {path} {case!r} -> {data[:300]!r}"
        self.last_elapsed = elapsed
        tally = self.tally("http", case.target) if record else Tally()
        tally.add([outcome], elapsed, "http", case, what, slow_s=self.slow_s)
        if problems:
            tally.failures.append(f"{what}: {'; '.join(problems)}")
            if strict:
                raise CaseFailed(f"{what}\n" + "\n".join(problems))
        return problems

    def _judge_http(self, status: int, ctype: str, body: bytes) -> tuple[str, list[str]]:
        problems: list[str] = []
        if status >= 500:
            problems.append(f"HTTP {status}: {body[:500]!r}")
        if 300 <= status < 400:
            problems.append(f"an unexpected redirect ({status})")
        if status in (204, 304):
            return str(status), problems
        if ctype != "application/json":
            problems.append(f"HTTP {status} answered with {ctype or 'no type'}: {body[:300]!r}")
            return str(status), problems
        try:
            parsed = json.loads(body)
        except ValueError:
            problems.append(f"HTTP {status} body is not JSON: {body[:300]!r}")
            return str(status), problems
        if status < 400:
            return str(status), problems
        err = parsed.get("error") if isinstance(parsed, dict) else None
        code = err.get("code") if isinstance(err, dict) else None
        if code not in self.codes:
            problems.append(f"HTTP {status} with undocumented error {parsed!r:.300}")
        elif self.codes[code] != status:
            problems.append(
                f"{code} came with HTTP {status}; docs/protocol.md says {self.codes[code]}"
            )
        if code in NEVER:
            problems.append(f"{code} error: {parsed!r:.300}")
        if not isinstance(err, dict) or not isinstance(err.get("message"), str):
            problems.append(f"an error without a message: {parsed!r:.300}")
        return str(code), problems
