"""The WebSocket endpoint: origin and cookie checks, then hand over to a Connection."""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog
from aiohttp import WSCloseCode, web

from signaling import http_api
from signaling.connection import Connection
from signaling.errors import AuthError, LivedeskError, RateLimited
from signaling.keys import ADDRESS_LIMITS, CONFIG, METRICS, NODE

log = structlog.get_logger("livedesk.ws")


async def ws_handler(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: staff are identified by their login cookie, customers by ``hello``."""
    try:
        http_api.check_origin(request)
    except LivedeskError as exc:
        raise web.HTTPForbidden(text=exc.message) from None
    address = http_api.check_attempt(request)  # 429 with Retry-After, before the upgrade
    limits = request.app[ADDRESS_LIMITS]
    if not limits.open(address):
        request.app[METRICS].inc("livedesk_errors_total", "rate_limited")
        raise RateLimited("too many connections from your address", 5.0)
    try:
        return await _serve(request, address)
    finally:
        limits.close(address)


async def _serve(request: web.Request, address: str) -> web.StreamResponse:
    cfg = request.app[CONFIG]
    staff = await http_api.current_staff(request, required=False)
    ws = web.WebSocketResponse(
        heartbeat=cfg.limits.ws_heartbeat_s,
        max_msg_size=cfg.limits.ws_max_frame_bytes,
        compress=cfg.limits.ws_compress,
    )
    await ws.prepare(request)
    # every log line from this socket's task carries who it is
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(remote=address, user=staff.username if staff else None)
    conn = Connection(ws, request.app[NODE], staff=staff, remote=address)
    store = request.app[NODE].desk.store
    login = http_api.login_id(request) if staff is not None else None
    closing: set[asyncio.Task[None]] = set()

    def logged_out(_payload: bytes) -> None:
        task = asyncio.ensure_future(conn.close(WSCloseCode.POLICY_VIOLATION, "logged out"))
        closing.add(task)
        task.add_done_callback(closing.discard)

    if login is not None:
        try:
            await store.subscribe(http_api.logout_topic(login), logged_out)
            gone = await store.kv_get(f"login:{login}") is None  # logged out meanwhile
        except LivedeskError:
            with contextlib.suppress(LivedeskError):
                await store.unsubscribe(http_api.logout_topic(login), logged_out)
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"store unavailable")
            return ws
        if gone:
            logged_out(b"")

    async def recheck() -> None:
        """Close the socket once its login has expired or its account is disabled."""
        assert login is not None
        while True:
            await asyncio.sleep(cfg.auth.recheck_s * random.uniform(0.8, 1.2))
            try:
                await http_api.staff_of_login(request.app, login)
            except AuthError as exc:
                log.info("staff socket closed", reason=exc.message)
                await conn.close(WSCloseCode.POLICY_VIOLATION, exc.message)
                return
            except LivedeskError:
                continue  # the store or archive is out: a logout could not happen either

    async def hello_deadline() -> None:
        await asyncio.sleep(cfg.limits.hello_timeout_s)
        if not conn.ready:
            await conn.close(WSCloseCode.POLICY_VIOLATION, "no hello in time")

    timers = [asyncio.create_task(hello_deadline())]
    if login is not None:
        timers.append(asyncio.create_task(recheck()))
    try:
        await conn.run()
    finally:
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        if login is not None:
            with contextlib.suppress(LivedeskError):
                await store.unsubscribe(http_api.logout_topic(login), logged_out)
    return ws
