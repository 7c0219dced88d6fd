"""HTTP handlers: authenticate, decode, call the desk, encode. Nothing more."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from signaling import __version__, audit, fallback
from signaling.abuse import wait_left
from signaling.archive import User
from signaling.auth import (
    PERMISSIONS,
    CustomerClaims,
    Participant,
    StaffLogin,
    StaffRole,
    mint_participant,
    new_login_id,
    read_customer,
    read_grant,
    read_participant,
    sign_cookie,
    unsign_cookie,
    verify_password,
)
from signaling.connection import customer_view
from signaling.errors import (
    AuthError,
    InteractionError,
    LivedeskError,
    ProtocolError,
    RateLimited,
)
from signaling.i18n import pick_language
from signaling.interaction import Actor, Role, SessionState
from signaling.keys import (
    ADDRESS_LIMITS,
    ARCHIVE,
    CONFIG,
    DESK,
    LOOP_LAG,
    MEDIA,
    METRICS,
    NODE,
    SECRET,
    STORE,
)
from signaling.policy import Claims

COOKIE = "livedesk_login"

# a dummy hash so unknown usernames cost the same time as wrong passwords
_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


class StartSession(msgspec.Struct, forbid_unknown_fields=True):
    entry: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]
    name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    page: Annotated[str, msgspec.Meta(max_length=2048)] = ""
    # the channel the customer asked for; the session starts in chat either way
    channel: Literal["chat", "voice", "video", "screen", "cobrowse"] = "chat"


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


async def decode_body(request: web.Request, typ: type[Any]) -> Any:
    raw = await request.read()
    try:
        return msgspec.json.decode(raw, type=typ)
    except msgspec.ValidationError as exc:
        raise ProtocolError("bad_message", str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # msgspec raises UnicodeDecodeError for bytes that are not UTF-8 inside a string,
        # and RecursionError for nesting deep enough to exhaust the stack
        raise ProtocolError("bad_json", "request body is not valid JSON") from None


# ------------------------------------------------------------------ origin


def allowed_origins(request: web.Request) -> set[str]:
    cfg = request.app[CONFIG]
    own = f"{request.scheme}://{request.host}"
    out = {own, *cfg.server.allowed_origins}
    entry = cfg.entries.get(request.match_info.get("entry", ""))
    if entry is not None and request.path.startswith("/api/entry/"):
        out.update(entry.site_origins)  # the company's pages post callbacks from there
    if cfg.server.public_url:
        parts = urlsplit(cfg.server.public_url)
        out.add(f"{parts.scheme}://{parts.netloc}")
    return out


def client_address(request: web.Request) -> str:
    """The client's address (behind ``server.trusted_proxies``, from X-Forwarded-For)."""
    from signaling.abuse import client_address as address

    trusted = request.app[CONFIG].server.trusted_proxies
    return address(request.remote, request.headers.get("X-Forwarded-For"), trusted)


def check_attempt(request: web.Request) -> str:
    """One connection attempt from the client's address; RateLimited past its budget.

    Returns the address. Called before anything else happens for the request.
    """
    address = client_address(request)
    wait = request.app[ADDRESS_LIMITS].attempt(address, time.monotonic())
    if wait > 0:
        request.app[METRICS].inc("livedesk_errors_total", "rate_limited")
        raise RateLimited("too many attempts from your address; slow down", wait)
    return address


def check_origin(request: web.Request) -> None:
    """Browsers always send Origin on WebSocket upgrades and unsafe methods.

    A request without one comes from a non-browser client (CSRF needs a browser),
    so it is let through; a foreign Origin is refused.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if origin not in allowed_origins(request):
        raise AuthError("forbidden", f"origin {origin[:100]!r} is not allowed")


# ------------------------------------------------------------------ staff identity


async def current_staff(request: web.Request, *, required: bool = True) -> User | None:
    cookie = request.cookies.get(COOKIE)
    try:
        if cookie is None:
            raise AuthError("unauthorized", "log in first")
        user = await staff_of_login(request.app, unsign_cookie(cookie, request.app[SECRET]))
    except AuthError:
        if required:
            raise
        return None
    return user


async def staff_of_login(app: web.Application, login_id: str) -> User:
    """The staff member a login belongs to, while it lasts and the account is enabled;
    AuthError (``unauthorized``) saying which of the two ended. Open staff sockets ask
    this again every ``auth.recheck_s``."""
    raw = await app[STORE].kv_get(f"login:{login_id}")
    if raw is None:
        raise AuthError("unauthorized", "your login has ended; log in again")
    login = msgspec.json.decode(raw, type=StaffLogin)
    user = await app[ARCHIVE].get_user(login.username)
    if user is None or user.disabled:
        raise AuthError("unauthorized", "this account is disabled")
    return user


def login_id(request: web.Request) -> str | None:
    """The login id in a validly signed cookie (whether or not the login still exists)."""
    cookie = request.cookies.get(COOKIE)
    if cookie is None:
        return None
    try:
        return unsign_cookie(cookie, request.app[SECRET])
    except AuthError:
        return None


def logout_topic(login: str) -> str:
    """The store topic on which a logout tells every node to close that login's sockets."""
    return f"logout:{login}"


async def require(request: web.Request, permission: str) -> User:
    user = await current_staff(request)
    if user is None or permission not in PERMISSIONS[StaffRole(user.role)]:
        raise AuthError("forbidden", f"this needs the {permission!r} permission")
    return user


LOGIN_FAILURES_TTL_S = 24 * 3600.0
"""A count of failed logins is forgotten a day after it started."""


async def _login_wait(request: web.Request, username: str, address: str) -> int:
    """Seconds before this account, or this address, may try to log in again."""
    cfg, store = request.app[CONFIG].auth, request.app[STORE]
    now = time.time()
    waits = []
    for key, free in (
        (f"u:{username}", cfg.login_free_failures),
        (f"ip:{address}", cfg.login_free_failures_per_ip),
    ):
        failures = int(await store.kv_get(f"loginfail:{key}") or b"0")
        last = float(await store.kv_get(f"loginlast:{key}") or b"0")
        waits.append(wait_left(failures, last, now, free=free, cap=cfg.login_backoff_max_s))
    return max(waits)


async def _login_failed(request: web.Request, username: str, address: str) -> None:
    store, now = request.app[STORE], time.time()
    for key in (f"u:{username}", f"ip:{address}"):
        await store.kv_incr(f"loginfail:{key}", LOGIN_FAILURES_TTL_S)
        await store.kv_set(f"loginlast:{key}", str(now).encode(), LOGIN_FAILURES_TTL_S)


async def login(request: web.Request) -> web.Response:
    address = check_attempt(request)
    body = await decode_body(request, LoginBody)
    archive = request.app[ARCHIVE]
    # the wait is checked before the password: while it runs, no guess is even looked at
    wait = await _login_wait(request, body.username, address)
    if wait > 0:
        audit.record(
            archive,
            audit.LOGIN_REFUSED,
            actor=body.username,
            reason="backoff",
            detail={"address": address, "wait_s": wait},
        )
        raise RateLimited(f"too many failed logins; try again in {wait} s", wait)
    user = await archive.get_user(body.username)
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(
        None, verify_password, body.password, user.password_hash if user else _DUMMY_HASH
    )
    if user is None or not ok or user.disabled:
        await _login_failed(request, body.username, address)
        audit.record(
            archive,
            audit.LOGIN_REFUSED,
            actor=body.username,
            reason="credentials",
            detail={"address": address},
        )
        raise AuthError("unauthorized", "wrong username or password")
    await request.app[STORE].kv_delete(f"loginfail:u:{body.username}")
    cfg = request.app[CONFIG]
    login_id = new_login_id()
    record = StaffLogin(
        username=user.username,
        role=StaffRole(user.role),
        name=user.display_name,
        created_at=time.time(),
    )
    await request.app[STORE].kv_set(
        f"login:{login_id}", msgspec.json.encode(record), cfg.auth.cookie_ttl_s
    )
    resp = web.json_response(
        {"username": user.username, "name": user.display_name, "role": user.role}
    )
    resp.set_cookie(
        COOKIE,
        sign_cookie(login_id, request.app[SECRET]),
        httponly=True,
        samesite="Strict",
        secure=cfg.auth.cookie_secure,
        max_age=int(cfg.auth.cookie_ttl_s),
        path="/",
    )
    return resp


async def logout(request: web.Request) -> web.Response:
    login = login_id(request)
    if login is not None:
        await request.app[STORE].kv_delete(f"login:{login}")
        # the sockets this login opened end too, on whichever node holds them
        await request.app[STORE].publish(logout_topic(login), b"")
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.Response:
    user = await current_staff(request)
    assert_user = _must(user)
    return web.json_response(
        {
            "username": assert_user.username,
            "name": assert_user.display_name,
            "role": assert_user.role,
            "skills": list(assert_user.skills),
            "tiers": list(assert_user.tiers),
            "capacity": assert_user.capacity,
        }
    )


def _must(user: User | None) -> User:
    if user is None:
        raise AuthError("unauthorized", "log in first")
    return user


# ------------------------------------------------------------------ sessions


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without the header.

    A header of any other form is refused rather than ignored: the caller meant
    to identify the customer, and silently treating them as anonymous would hide it.
    """
    auth = request.headers.get("Authorization", "")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("unauthorized", "Authorization must be 'Bearer <customer token>'")
    return token.strip()


def customer_or_grant(request: web.Request, token: str, entry: str) -> CustomerClaims:
    """A company's customer token, or the grant a redeemed personal link left in the page."""
    ct = request.app[CONFIG].customer_tokens
    try:
        claims, granted_entry = read_grant(token, request.app[SECRET])
    except AuthError:
        return read_customer(token, ct.secret, algorithm=ct.algorithm, issuer=ct.issuer)
    if granted_entry != entry:
        raise AuthError("forbidden", "this link was issued for another entry")
    return claims


async def start_session(request: web.Request) -> web.Response:
    """``POST /api/sessions``: a customer asks a first question and is queued."""
    check_attempt(request)
    cfg = request.app[CONFIG]
    body: StartSession = await decode_body(request, StartSession)
    if len(body.text.encode()) > 16 * 1024:
        raise ProtocolError("too_large", "the question is over 16 KiB")
    if not body.text.strip():
        raise ProtocolError("bad_message", "the question is empty")
    entry = cfg.entries.get(body.entry)
    if entry is None:
        raise InteractionError("not_found", f"no entry {body.entry!r}")
    token = bearer_token(request)
    ct = cfg.customer_tokens
    if token is not None:
        claims = customer_or_grant(request, token, body.entry)
        customer_id, tier, name = claims.sub, claims.tier, claims.name or body.name
    else:
        customer_id, tier, name = "anon_" + secrets.token_hex(8), ct.default_tier, body.name
    name = name.strip()[:100]
    language = pick_language(entry.language, request.headers.get("Accept-Language"))
    # the entry's rules, checked here and not only in the page: a forged page gains nothing
    await request.app[DESK].require_open(
        body.entry,
        body.channel,
        body.page,
        Claims(tier=tier, authenticated=token is not None),
        language=language,
        actor=customer_id,
    )
    actor = Actor(Role.CUSTOMER, customer_id, name)
    inter = await request.app[DESK].start_session(
        entry=body.entry,
        customer=actor,
        tier=tier,
        page=body.page,
        first_text=body.text,
        language=language,
    )
    token = mint_participant(
        Participant(session=inter.id, customer_id=customer_id, name=name, tier=tier),
        request.app[SECRET],
        ttl_s=cfg.auth.participant_token_ttl_s,
    )
    return web.json_response(
        {
            "session": inter.id,
            "token": token,
            "ws": "/ws",
            "customer": {"id": customer_id, "name": name, "tier": tier},
            "language": language,
        },
        status=201,
    )


async def session_record(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}``: the archived record and timeline.

    Staff who may supervise see any session, an agent the sessions they served,
    and a customer (Bearer participant token) their own, filtered.
    """
    session_id = request.match_info["session"]
    archive = request.app[ARCHIVE]
    await archive.flush()
    record = await archive.interaction(session_id)
    auth = request.headers.get("Authorization", "")
    customer = False
    if auth.lower().startswith("bearer "):
        participant = read_participant(auth[7:].strip(), request.app[SECRET])
        if participant.session != session_id:
            raise AuthError("forbidden", "this token is for another session")
        customer = True
    else:
        user = _must(await current_staff(request))
        perms = PERMISSIONS[StaffRole(user.role)]
        served = record is not None and user.username in _agents_of(
            await archive.events(session_id)
        )
        if not ({"supervise", "review"} & perms) and not served:
            raise AuthError("forbidden", "you did not serve this session")
    if record is None:
        raise InteractionError("not_found", f"no session {session_id}")
    events = [
        {
            "seq": e.seq,
            "kind": e.kind,
            "at": e.at,
            "actor_role": e.actor_role,
            "actor_id": e.actor_id,
            "data": e.data,
        }
        for e in await archive.events(session_id)
    ]
    if customer:
        events = [v for v in (customer_view(e) for e in events) if v is not None]
        record = {k: record[k] for k in ("id", "entry", "state", "created_at", "ended_at")}
    else:
        record = {k: v for k, v in record.items() if k != "record"}
    return web.json_response({"session": record, "events": events})


def _agents_of(events: list[Any]) -> set[str]:
    out: set[str] = set()
    for e in events:
        if e.kind in ("session.offered", "session.accepted"):
            out.add(str(e.data.get("agent_id")))
    return out


async def overview(request: web.Request) -> web.Response:
    """``GET /api/overview``: every queue and agent, for supervisors."""
    user = await require(request, "supervise")
    view = await request.app[DESK].console_view(user.username, supervise=True)
    return web.json_response(view)


# ------------------------------------------------------------------ operations


async def healthz(request: web.Request) -> web.Response:
    store, archive, node = request.app[STORE], request.app[ARCHIVE], request.app[NODE]
    store_ok = await store.ping()
    archive_ok = await archive.ping() and archive.status == "ok"
    body = {
        "status": "ok" if store_ok and archive_ok else "degraded",
        "version": __version__,
        "store": {"backend": store.name, "ok": store_ok},
        "archive": {
            "backend": archive.backend,
            "ok": archive_ok,
            "status": archive.status,
            "refused_writes": archive.refused,
        },
        "node": {
            "connections": len(node.connections),
            "uptime_s": round(time.time() - node.started_at, 1),
        },
    }
    cluster = node.cluster
    if cluster is not None:
        node_body: dict[str, Any] = body["node"]  # type: ignore[assignment]
        node_body.update(
            {
                "id": cluster.id,
                "sessions_owned": len(cluster.owned),
                "draining": cluster.draining,
                "journaled_sessions": cluster.journal_size,
                "peers": [
                    {
                        "id": n.id,
                        "pid": n.pid,
                        "alive": n.alive,
                        "draining": n.draining,
                        "sessions": n.sessions,
                    }
                    for n in cluster.peers
                ],
            }
        )
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


async def metrics(request: web.Request) -> web.Response:
    reg = request.app[METRICS]
    node = request.app[NODE]
    lag = request.app[LOOP_LAG]
    counts = {s.value: 0.0 for s in SessionState if s != SessionState.ENDED}
    queue = 0.0
    try:
        for s in await request.app[STORE].sessions_by_state(*(SessionState(k) for k in counts)):
            counts[s.state.value] += 1
        queue = counts[SessionState.QUEUED.value]
    except LivedeskError:
        pass  # the store is down: report what this node knows
    extra = (
        "# HELP livedesk_connections Open WebSocket connections on this node\n"
        "# TYPE livedesk_connections gauge\n"
        f"livedesk_connections {len(node.connections)}\n"
        "# HELP livedesk_sessions Open sessions by state\n"
        "# TYPE livedesk_sessions gauge\n"
        + "".join(f'livedesk_sessions{{state="{k}"}} {int(v)}\n' for k, v in counts.items())
        + "# HELP livedesk_queue_length Sessions waiting for an agent\n"
        "# TYPE livedesk_queue_length gauge\n"
        f"livedesk_queue_length {int(queue)}\n"
        "# HELP livedesk_event_loop_lag_seconds Oversleep of a 100 ms timer"
        " (last; p99 and max of 10 s)\n"
        "# TYPE livedesk_event_loop_lag_seconds gauge\n"
        f'livedesk_event_loop_lag_seconds{{window="last"}} {lag.last_s:.6f}\n'
        f'livedesk_event_loop_lag_seconds{{window="max_10s"}} {lag.max_s:.6f}\n'
        f'livedesk_event_loop_lag_seconds{{window="p99_10s"}} {lag.p99_s:.6f}\n'
        + "".join(
            f"# HELP livedesk_media_{k} Media {k} held by this node\n"
            f"# TYPE livedesk_media_{k} gauge\n"
            f"livedesk_media_{k} {v}\n"
            for k, v in request.app[MEDIA].plane.stats().items()
        )
    )
    labels = {
        "livedesk_errors_total": "code",
        "livedesk_commands_total": "kind",
        "livedesk_command_errors_total": "code",
        "livedesk_gc_pause_max_seconds": "generation",
        "livedesk_gc_pause_seconds_total": "generation",
    }
    return web.Response(
        text=reg.render(labels) + extra,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


__all__ = ["LivedeskError"]


async def fallbacks(request: web.Request) -> web.Response:
    """``GET /api/fallbacks``: open callback requests and messages, newest first."""
    await require(request, "console")
    items = await fallback.open_items(request.app[ARCHIVE])
    return web.json_response({"items": items})


async def fallback_handled(request: web.Request) -> web.Response:
    """``POST /api/fallbacks/{id}/handled``: an agent took care of it."""
    user = await require(request, "console")
    try:
        item_id = int(request.match_info["id"])
    except ValueError:
        raise InteractionError("not_found", "no such item") from None
    if not 0 <= item_id < 2**63:  # past a SQL integer: no such row (and no OverflowError)
        raise InteractionError("not_found", "no such item")
    if not await fallback.mark_handled(request.app[ARCHIVE], item_id, user.username):
        raise InteractionError("not_found", f"no open item {item_id}")
    await request.app[DESK].fallbacks_changed()
    return web.json_response({"ok": True})
