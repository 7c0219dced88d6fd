"""The aiohttp application factory: state in typed AppKeys, resources in cleanup_ctx."""

from __future__ import annotations

import asyncio
import gc
import math
import secrets
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import jinja2
import structlog
from aiohttp import web

import web as web_assets
from signaling import (
    __version__,
    entry_api,
    http_api,
    kpi_api,
    link_api,
    pages,
    qa_pages,
    recording_api,
    review_api,
)
from signaling.abuse import AddressLimits
from signaling.archive import open_archive
from signaling.cluster import Cluster
from signaling.cobrowse import CobrowseService
from signaling.config import Config
from signaling.connection import UNAVAILABLE_MESSAGE
from signaling.desk import Desk
from signaling.errors import LivedeskError
from signaling.gcschedule import GcSchedule
from signaling.headers import CSP, HSTS, PERMISSIONS_POLICY, served_over_https
from signaling.keys import (
    ADDRESS_LIMITS,
    ARCHIVE,
    CLUSTER,
    COBROWSE,
    CONFIG,
    DESK,
    LINK_KEYS,
    LOOP_LAG,
    MEDIA,
    METRICS,
    NODE,
    RECORDING,
    RECORDING_JOBS,
    SECRET,
    SHUTDOWN_PROBLEMS,
    STORE,
    TEMPLATES,
)
from signaling.looplag import LoopLag
from signaling.media import MediaService
from signaling.metrics import Metrics, add_process_gauges
from signaling.node import Node
from signaling.recording import RecordingService, load_recording_key
from signaling.recording_jobs import RecordingJobs
from signaling.store import open_store
from signaling.ws import ws_handler

log = structlog.get_logger("livedesk.app")

STATUS_BY_CODE = {
    "bad_json": 400,
    "bad_message": 400,
    "unknown_type": 400,
    "too_large": 413,
    "unauthorized": 401,
    "forbidden": 403,
    "origin": 403,
    "policy": 403,
    "not_found": 404,
    "wrong_state": 409,
    "not_assigned": 409,
    "channel_state": 409,
    "recording_state": 409,
    "recording_off": 409,
    "recording_required": 409,
    "consent": 409,
    "bad_range": 416,
    "bad_filter": 400,
    "control_state": 409,
    "cobrowse_limit": 413,
    "capacity": 409,
    "conflict": 409,
    "rate_limited": 429,
    "method_not_allowed": 405,
    "unavailable": 503,
    "internal": 500,
}


def load_secret(cfg: Config) -> bytes:
    """The configured secret, or one generated once into ``<data_dir>/secret.key``."""
    if cfg.server.secret:
        return cfg.server.secret.encode()
    path = cfg.data_path / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def error_response(exc: LivedeskError) -> web.Response:
    status = STATUS_BY_CODE.get(exc.code, 400)
    retry = getattr(exc, "retry_after_s", None)
    wait = str(max(1, math.ceil(retry))) if retry is not None else "5"
    headers = {"Retry-After": wait} if status in (429, 503) else None
    message = exc.message
    if exc.code == "unavailable":
        # what failed inside (a Redis or database address) is for the log, not the client
        log.warning("request refused: unavailable", detail=exc.message)
        message = UNAVAILABLE_MESSAGE
    err: dict[str, str] = {"code": exc.code, "message": message}
    reason = getattr(exc, "reason", None)
    if reason:
        err["reason"] = reason
    return web.json_response({"error": err}, status=status, headers=headers)


@web.middleware
async def errors_and_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            http_api.check_origin(request)
        resp = await handler(request)
    except LivedeskError as exc:
        resp = error_response(exc)
    except web.HTTPException as exc:
        # aiohttp's own answers (no such route, wrong method, body too big, redirects):
        # under /api/ a JSON error with a stable code, elsewhere as they are; both secured
        if not (request.path.startswith("/api/") and exc.status >= 400):
            _secure(exc, request)
            raise
        resp = _api_error(exc)
    if request.path.startswith("/api/entry/"):
        entry = request.app[CONFIG].entries.get(request.match_info.get("entry", ""))
        if entry is not None and not resp.prepared:
            entry_api.cors(request, resp, entry.site_origins)  # errors readable cross-site too
    if not resp.prepared:
        _secure(resp, request)
    return resp


def _secure(resp: web.StreamResponse, request: web.Request) -> None:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if served_over_https(request.app[CONFIG]):
        resp.headers.setdefault("Strict-Transport-Security", HSTS)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Cache-Control", "no-store")


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}


def _api_error(exc: web.HTTPException) -> web.Response:
    code = _HTTP_CODES.get(exc.status, "bad_message")
    message = exc.text if exc.status == 413 and exc.text else exc.reason.lower()
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=exc.status, headers=headers)


def create_app(
    cfg: Config, *, secret: bytes | None = None, freeze_gc: bool = False
) -> web.Application:
    """Build the application. Resources open when it starts and close when it stops.

    ``freeze_gc`` (for a server process, not tests) moves everything alive after
    start-up out of the cyclic collector's reach, so full collections stay short, and
    runs those every ``server.gc_full_every_s`` (signaling/gcschedule.py). Both are
    process-wide, which is why tests leave them alone.
    """
    app = web.Application(middlewares=[errors_and_headers], client_max_size=256 * 1024)
    app[CONFIG] = cfg
    app[SECRET] = secret if secret is not None else load_secret(cfg)
    app[LINK_KEYS] = link_api.link_keys(cfg, app[SECRET])
    app[METRICS] = Metrics()
    app[SHUTDOWN_PROBLEMS] = []
    add_process_gauges(app[METRICS])
    app[ADDRESS_LIMITS] = AddressLimits(
        attempts_per_s=cfg.limits.attempts_per_ip_per_s,
        attempt_burst=cfg.limits.attempt_burst_per_ip,
        sockets=cfg.limits.ws_per_ip,
        now=time.monotonic(),
    )
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(web_assets.TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.append(_resources)
    if freeze_gc:
        app.cleanup_ctx.append(_server_gc)
    app.router.add_get("/healthz", http_api.healthz)
    app.router.add_get("/metrics", http_api.metrics)
    app.router.add_post("/api/sessions", http_api.start_session)
    app.router.add_get("/api/sessions/{session}", http_api.session_record)
    app.router.add_post("/api/login", http_api.login)
    app.router.add_post("/api/logout", http_api.logout)
    app.router.add_get("/api/me", http_api.me)
    app.router.add_get("/api/overview", http_api.overview)
    app.router.add_get("/api/entry/{entry}/availability", entry_api.availability)
    app.router.add_post("/api/entry/{entry}/callback", entry_api.callback)
    app.router.add_post("/api/entry/{entry}/message", entry_api.leave_message)
    app.router.add_route("OPTIONS", "/api/entry/{entry}/{action}", entry_api.preflight)
    app.router.add_get("/api/fallbacks", http_api.fallbacks)
    app.router.add_post("/api/links", link_api.create_link)
    app.router.add_post("/api/cases", link_api.open_case)
    app.router.add_post("/api/fallbacks/{id}/handled", http_api.fallback_handled)
    recording_api.routes(app)
    review_api.routes(app)
    kpi_api.routes(app)
    qa_pages.routes(app)
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/", pages.index)
    app.router.add_get("/l/{entry}", pages.customer_page)
    app.router.add_get("/agent", pages.agent_console)
    app.router.add_get("/admin", pages.admin_page)
    app.router.add_get("/vendor/{name}", pages.vendor)
    app.router.add_get("/demo/shop", pages.demo_shop)
    app.router.add_get("/demo/shop/{page}", pages.demo_shop)
    app.router.add_static("/static/", Path(web_assets.STATIC), append_version=True)
    return app


async def _server_gc(app: web.Application) -> AsyncIterator[None]:
    gc.collect()
    gc.freeze()
    every = app[CONFIG].server.gc_full_every_s
    if not every:
        yield
        return
    schedule = GcSchedule(full_every_s=every)
    app[METRICS].gauge(
        "livedesk_gc_scheduled_passes_total",
        "Full garbage-collector passes run on server.gc_full_every_s",
        lambda: {"": float(schedule.passes)},
    )
    schedule.start()
    yield
    await schedule.stop()


async def _resources(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    metrics = app[METRICS]
    store = open_store(cfg.store.redis_url, key_prefix=cfg.store.key_prefix)
    await store.start()
    archive = open_archive(cfg)
    try:
        await archive.start()
    except BaseException:
        await store.close()
        raise
    desk = Desk(cfg, store, archive, metrics, secret=app[SECRET])
    node = Node(desk)
    app[STORE], app[ARCHIVE], app[DESK], app[NODE] = store, archive, desk, node
    for name, text in (
        ("livedesk_connections_total", "WebSocket connections accepted"),
        ("livedesk_messages_in_total", "WebSocket messages received"),
        ("livedesk_messages_out_total", "WebSocket messages sent"),
        ("livedesk_errors_total", "Error replies sent, by code"),
    ):
        metrics.counter(name, text)
    lag = app[LOOP_LAG] = LoopLag()
    lag.start()
    media = app[MEDIA] = node.media = MediaService(desk, cfg.media)
    await media.start()
    kek = load_recording_key(cfg)
    recording = RecordingService(desk, media, cfg, kek=kek)
    app[RECORDING] = node.recording = recording
    await recording.start()
    cobrowse = app[COBROWSE] = node.cobrowse = CobrowseService(
        desk, cfg, kek=kek, on_write_failed=recording.write_failed
    )
    await cobrowse.start()
    base = cfg.server.public_url or f"http://{cfg.server.host}:{cfg.server.port}"
    cluster = app[CLUSTER] = node.cluster = desk.cluster = Cluster(
        desk, node, cfg.cluster, url=base, secret=app[SECRET]
    )
    jobs = app[RECORDING_JOBS] = RecordingJobs(
        recording, node_id=cluster.id, settling=cluster.settling
    )
    cluster.recordings = jobs
    await cluster.start()
    await jobs.start()
    await node.start()
    await desk.start()
    try:
        yield
    finally:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("loop lag probe", lag.close),
            ("recording jobs", jobs.close),
            ("co-browse", cobrowse.close),
            ("recording", recording.close),
            ("media", media.close),
            ("node", node.close),
            ("desk", desk.close),
            ("cluster", cluster.close),
            ("archive", archive.close),
            ("store", store.close),
        ]
        app[SHUTDOWN_PROBLEMS].extend(await close_all(steps, SHUTDOWN_STEP_S))


SHUTDOWN_STEP_S = 30.0
"""How long one part may take to close before shutdown gives up on it and goes on."""


async def close_all(
    steps: list[tuple[str, Callable[[], Awaitable[None]]]], limit_s: float
) -> list[str]:
    """Close each part in order, every one of them even when an earlier one fails or
    hangs: a part that raises is logged, one that takes over ``limit_s`` is logged with
    where it was stuck and cancelled. Returns what went wrong, one line per part."""
    problems: list[str] = []
    for name, close in steps:
        task = asyncio.ensure_future(close())
        done, _ = await asyncio.wait([task], timeout=limit_s)
        if not done:
            frames = task.get_stack()
            where = traceback.format_stack(frames[-1], limit=1)[0].strip() if frames else "?"
            log.error("shutdown step hung", step=name, limit_s=limit_s, where=where)
            problems.append(f"{name}: did not close in {limit_s:g} s, stuck at {where}")
            task.cancel()
            await asyncio.wait([task], timeout=1.0)
            continue
        exc = task.exception()
        if exc is not None:
            log.error("shutdown step failed", step=name, exc_info=exc)
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    return problems


__all__ = ["__version__", "create_app"]
