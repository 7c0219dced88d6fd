"""An asyncio client for the livedesk protocol, as a customer or as staff.

Tests, benchmarks and demo bots use it::

    async with aiohttp.ClientSession() as http:
        customer = await CustomerClient.start(http, base, entry="demo", text="Hi")
        agent = await StaffClient.login(http, base, "agent", "secret")
        await agent.request("agent.status", status="available")

``request`` sends a message with a fresh ``id`` and waits for the ``ok`` or
``error`` that echoes it (raising :class:`RequestFailed` on ``error``). Every
other message lands in ``inbox``; ``wait_for`` pops the first one that matches.
The client tracks the last ``seq`` per session and resumes from it on
``reconnect()``, so a reconnect neither loses nor repeats events.

Media (peer connections, publishing clips, counting received frames) is in
:mod:`signaling.client_media`; ``media_client()`` returns its ``MediaClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

Message = dict[str, Any]


class RequestFailed(Exception):
    """The server answered a request with an ``error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class HttpError(Exception):
    """An HTTP API call failed; ``code`` is the stable error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


async def _json(resp: aiohttp.ClientResponse) -> Any:
    body = await resp.json(content_type=None)
    if resp.status >= 400:
        err = (body or {}).get("error", {})
        raise HttpError(resp.status, err.get("code", "?"), err.get("message", ""))
    return body


class _Client:
    """The shared WebSocket machinery."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, *, origin: str | None) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.origin = origin
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[Message] = []
        self.last_seq: dict[str, int] = {}
        self.events: dict[str, list[Message]] = {}
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._arrived = asyncio.Condition()
        self._notifiers: set[asyncio.Future[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self.welcome: Message = {}

    def _hello_token(self) -> str | None:
        return None

    def _headers(self) -> dict[str, str]:
        return {"Origin": self.origin} if self.origin else {}

    async def connect(self, *, heartbeat: float | None = None) -> Message:
        """Open the socket and say hello, resuming every session seen so far."""
        url = self.base_url.replace("http", "ws", 1) + "/ws"
        self.ws = await self.http.ws_connect(
            url, headers=self._headers(), heartbeat=heartbeat, max_msg_size=8 * 1024 * 1024
        )
        self.closed.clear()
        self._reader = asyncio.create_task(self._read())
        msg: dict[str, Any] = {"resume": dict(self.last_seq)}
        token = self._hello_token()
        if token:
            msg["token"] = token
        self.welcome = await self.request("hello", **msg)
        return self.welcome

    async def reconnect(self) -> Message:
        await self.disconnect()
        return await self.connect()

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.ws = None

    close = disconnect

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                msg = msgspec.json.decode(frame.data)
                self._on_message(msg)
        finally:
            self.close_code = ws.close_code
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
            self._pending.clear()

    def _on_message(self, msg: Message) -> None:
        rid = msg.get("id")
        if msg.get("type") in ("ok", "error") and isinstance(rid, int) and rid in self._pending:
            fut = self._pending.pop(rid)
            if not fut.done():  # a request that timed out or was cancelled has no reader
                fut.set_result(msg)
            return
        if msg.get("type") == "session.resync":
            # the server renumbered this session's log after ``from_seq`` (a store outage):
            # what we hold after it goes, and it is sent again
            sid, base = msg["session"], int(msg["from_seq"])
            self.events[sid] = [e for e in self.events.get(sid, []) if e["seq"] <= base]
            self.last_seq[sid] = min(self.last_seq.get(sid, 0), base)
        if msg.get("type") == "event":
            sid, seq = msg["session"], msg["seq"]
            if seq <= self.last_seq.get(sid, 0):
                return  # never happens with a correct server; kept for safety
            self.last_seq[sid] = seq
            self.events.setdefault(sid, []).append(msg)
        self.inbox.append(msg)
        task = asyncio.ensure_future(self._notify())
        self._notifiers.add(task)
        task.add_done_callback(self._notifiers.discard)

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def send(self, type_: str, **fields: Any) -> None:
        """Fire and forget (no ``id``)."""
        if self.ws is None:
            raise ConnectionError("not connected")
        await self.ws.send_str(msgspec.json.encode({"type": type_, **fields}).decode())

    async def send_raw(self, data: str | bytes) -> None:
        if self.ws is None:
            raise ConnectionError("not connected")
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def request(self, type_: str, *, timeout: float = 10.0, **fields: Any) -> Message:
        """Send with an ``id`` and wait for the reply; RequestFailed on ``error``."""
        rid = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.send(type_, id=rid, **fields)
        reply = await asyncio.wait_for(fut, timeout)
        if reply["type"] == "error":
            raise RequestFailed(reply["code"], reply["message"])
        return reply

    async def wait_for(
        self, predicate: Callable[[Message], bool], *, timeout: float = 10.0
    ) -> Message:
        """Pop and return the first inbox message matching ``predicate``."""

        async def find() -> Message:
            async with self._arrived:
                while True:
                    for i, msg in enumerate(self.inbox):
                        if predicate(msg):
                            return self.inbox.pop(i)
                    await self._arrived.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_event(self, session: str, kind: str, *, timeout: float = 10.0) -> Message:
        return await self.wait_for(
            lambda m: (
                m.get("type") == "event" and m["session"] == session and m["event"]["kind"] == kind
            ),
            timeout=timeout,
        )

    def chat_texts(self, session: str) -> list[str]:
        return [
            e["event"]["data"]["text"]
            for e in self.events.get(session, [])
            if e["event"]["kind"] == "chat.message"
        ]


class CustomerClient(_Client):
    """A customer: starts a session over HTTP, then follows it over the socket."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        origin: str | None,
        session: str,
        token: str,
        info: Message,
    ) -> None:
        super().__init__(http, base_url, origin=origin)
        self.session = session
        self.token = token
        self.info = info

    def _hello_token(self) -> str | None:
        return self.token

    @classmethod
    async def start(
        cls,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        entry: str,
        text: str,
        name: str = "",
        page: str = "",
        customer_token: str | None = None,
        origin: str | None = None,
        connect: bool = True,
    ) -> CustomerClient:
        headers = {"Authorization": f"Bearer {customer_token}"} if customer_token else {}
        if origin:
            headers["Origin"] = origin
        async with http.post(
            base_url.rstrip("/") + "/api/sessions",
            json={"entry": entry, "text": text, "name": name, "page": page},
            headers=headers,
        ) as resp:
            body = await _json(resp)
        client = cls(
            http, base_url, origin=origin, session=body["session"], token=body["token"], info=body
        )
        if connect:
            await client.connect()
        return client

    async def say(self, text: str, *, client_msg_id: str | None = None) -> Message:
        return await self.request(
            "chat.send",
            session=self.session,
            text=text,
            client_msg_id=client_msg_id or uuid.uuid4().hex,
        )

    async def send_cobrowse(
        self, events: list[Any], *, snapshot: bool = False, part_bytes: int = 48 * 1024
    ) -> list[Message]:
        """Send rrweb ``events`` as one batch (in parts when big); waits for every ack.

        The JSON text is cut on character boundaries so each part's UTF-8 stays under
        ``part_bytes``; the viewer joins the parts before parsing.
        """
        text = msgspec.json.encode(events).decode()
        parts = split_parts(text, part_bytes)
        self._cobrowse_batch += 1
        acks = []
        for i, data in enumerate(parts):
            acks.append(
                await self.request(
                    "cobrowse.events",
                    session=self.session,
                    batch=self._cobrowse_batch,
                    part=i,
                    parts=len(parts),
                    snapshot=snapshot,
                    data=data,
                )
            )
        return acks

    _cobrowse_batch = 0


class StaffClient(_Client):
    """An agent, supervisor, QA reviewer or admin, identified by the login cookie.

    The cookie is kept here rather than in aiohttp's jar, which ignores cookies
    from IP-address hosts such as 127.0.0.1.
    """

    cookie: str = ""

    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        if self.cookie:
            headers["Cookie"] = self.cookie
        return headers

    async def get(self, path: str) -> Any:
        """An authenticated ``GET`` on the HTTP API; HttpError on failure."""
        async with self.http.get(self.base_url + path, headers=self._headers()) as resp:
            return await _json(resp)

    @classmethod
    async def login(
        cls,
        http: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        *,
        origin: str | None = None,
        connect: bool = True,
    ) -> StaffClient:
        """Log in. Use one ``http`` session (cookie jar) per staff member."""
        async with http.post(
            base_url.rstrip("/") + "/api/login", json={"username": username, "password": password}
        ) as resp:
            await _json(resp)
            morsel = resp.cookies.get("livedesk_login")
        client = cls(http, base_url, origin=origin)
        client.cookie = f"livedesk_login={morsel.value}" if morsel else ""
        if connect:
            await client.connect()
        return client

    async def logout(self) -> None:
        async with self.http.post(self.base_url + "/api/logout", headers=self._headers()) as resp:
            await _json(resp)

    async def set_status(self, status: str) -> Message:
        return await self.request("agent.status", status=status)

    async def wait_offer(self, *, session: str | None = None, timeout: float = 10.0) -> str:
        """Wait for a console snapshot that offers this agent a session (``session``, when
        given); return its id."""
        me = self.welcome.get("user", {}).get("username")

        def offered(s: dict[str, Any]) -> bool:
            return (
                s["state"] == "offered"
                and s["offered_to"] == me
                and (session is None or s["session"] == session)
            )

        msg = await self.wait_for(
            lambda m: m.get("type") == "console" and any(offered(s) for s in m["sessions"]),
            timeout=timeout,
        )
        return next(s["session"] for s in msg["sessions"] if offered(s))

    async def say(self, session: str, text: str, *, client_msg_id: str | None = None) -> Message:
        return await self.request(
            "chat.send", session=session, text=text, client_msg_id=client_msg_id or uuid.uuid4().hex
        )


def split_parts(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` UTF-8 bytes, never inside a character."""
    parts: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + limit)
        while len(text[start:end].encode()) > limit:
            end = start + max(1, (end - start) * 3 // 4)
        parts.append(text[start:end])
        start = end
    return parts or [""]


def join_cobrowse(pushes: list[Message]) -> list[list[Any]]:
    """The event batches in ``cobrowse.events`` pushes (or recorded lines), parts joined."""
    batches: list[list[Any]] = []
    parts: dict[int, list[str]] = {}
    for push in pushes:
        got = parts.setdefault(push["batch"], [])
        if push["part"] != len(got):
            parts.pop(push["batch"])  # a batch with a gap cannot be parsed: skip it
            continue
        got.append(push["data"])
        if len(got) == push["parts"]:
            batches.append(msgspec.json.decode("".join(parts.pop(push["batch"]))))
    return batches


def media_client() -> type:
    """The media side of this client (``signaling.client_media.MediaClient``).

    It lives in its own module so that chat-only users do not import aiortc.
    """
    from signaling.client_media import MediaClient

    return MediaClient
