"""The WebSocket endpoint: origin and cookie checks, then hand over to a Connection."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiohttp import WSCloseCode, web

from signaling import http_api
from signaling.connection import Connection
from signaling.errors import LivedeskError
from signaling.keys import CONFIG, NODE


async def ws_handler(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: staff are identified by their login cookie, customers by ``hello``."""
    cfg = request.app[CONFIG]
    try:
        http_api.check_origin(request)
    except LivedeskError as exc:
        raise web.HTTPForbidden(text=exc.message) from None
    staff = await http_api.current_staff(request, required=False)
    ws = web.WebSocketResponse(
        heartbeat=cfg.limits.ws_heartbeat_s,
        max_msg_size=cfg.limits.ws_max_frame_bytes,
    )
    await ws.prepare(request)
    # every log line from this socket's task carries who it is
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        remote=request.remote or "?", user=staff.username if staff else None
    )
    conn = Connection(ws, request.app[NODE], staff=staff, remote=request.remote or "?")

    async def hello_deadline() -> None:
        await asyncio.sleep(cfg.limits.hello_timeout_s)
        if not conn.ready:
            await conn.close(WSCloseCode.POLICY_VIOLATION, "no hello in time")

    timer = asyncio.create_task(hello_deadline())
    try:
        await conn.run()
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
    return ws
