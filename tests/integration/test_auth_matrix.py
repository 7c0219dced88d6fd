"""The authentication matrix through a real server (memory + SQLite, Redis + PostgreSQL).

Every HTTP route the router holds is classified below (``ACCESS``), so a route added
without a decision about who may call it fails ``test_every_route_is_classified``. Each
caller that may not use a route is refused with 401, 403 or 404 and a JSON error code
(pages: a redirect to the login form or the 403/404 page) before anything changes: the
live store's sessions, presence and keys and every archive table are compared before and
after. A refused caller learns nothing about other sessions: the answer for an existing
session and for one that does not exist are byte for byte the same, and no refusal
carries another session's id, name or text.

Tokens are checked at every door that takes one: customer tokens (the company's JWT) on
``POST /api/sessions``, the availability check and ``POST /api/links``; participant
tokens (the server's JWT) in the WebSocket ``hello``, ``GET /api/sessions/{id}`` and the
survey.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from signaling import config, protocol
from signaling.app import create_app
from signaling.auth import (
    GRANT_AUDIENCE,
    PARTICIPANT_AUDIENCE,
    PARTICIPANT_ISSUER,
    CustomerClaims,
    mint_customer,
    mint_grant,
)
from signaling.client import CustomerClient, RequestFailed, StaffClient
from signaling.interaction import SessionState
from signaling.keys import ARCHIVE, STORE

from .conftest import CUSTOMER_SECRET, PASSWORD, REDIS_URL, Desk, StartDesk

SERVER_SECRET = b"integration-test-server-secret-0123456789"  # what conftest gives the app
ISSUER = "shop.example"  # customer_tokens.issuer in the matrix desks

USERS = (
    ("agent_ann",),
    ("agent_bob",),
    ("sue_super", {"role": "supervisor"}),
    ("qa_quinn", {"role": "qa"}),
    ("ada_admin", {"role": "admin"}),
)

# forged HS384/HS512 tokens with short keys are the point of some cases
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

MEMORY_ONLY = pytest.mark.parametrize("store_kind", ["memory"])
"""The route matrix, the customer-token doors and logout run in both shapes (what they
refuse is looked up in the store and the archive); the rest do not depend on the shape."""

# the other customer's session: nothing of it may appear in a refusal
OTHER_NAME = "Oscar Otherperson"
OTHER_TEXT = "my order number is 8812-OTHER-7731"
MISSING_SESSION = "s_" + "0" * 22  # the shape of a session id, but no such session


# ------------------------------------------------------------------ the route table

PUBLIC = "public"
ANY_STAFF = frozenset({"agent", "supervisor", "qa", "admin"})
CONSOLE = frozenset({"agent", "supervisor", "admin"})
SERVE = frozenset({"agent", "supervisor"})
SUPERVISE = frozenset({"supervisor", "admin"})
RECORDINGS = frozenset({"supervisor", "qa", "admin"})
ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class Access:
    """Who may call a route, and a request that would succeed for them."""

    allowed: frozenset[str] | str
    body: dict[str, Any] | None = None
    page: bool = False
    """An HTML page: refusals redirect to the login form or show the 403/404 page."""
    why: str = ""


ACCESS: dict[tuple[str, str], Access] = {
    # --- public by design (stated here so that a new route is a decision)
    ("GET", "/healthz"): Access(PUBLIC, why="load balancer probe"),
    ("GET", "/metrics"): Access(PUBLIC, why="bind privately or filter at the proxy"),
    ("POST", "/api/sessions"): Access(PUBLIC, why="a customer starts a session"),
    ("POST", "/api/login"): Access(PUBLIC),
    ("POST", "/api/logout"): Access(PUBLIC, why="ends whatever login the cookie names"),
    ("GET", "/api/entry/{entry}/availability"): Access(PUBLIC, why="the widget asks"),
    ("POST", "/api/entry/{entry}/callback"): Access(PUBLIC, why="closed-hours fallback"),
    ("POST", "/api/entry/{entry}/message"): Access(PUBLIC, why="closed-hours fallback"),
    ("OPTIONS", "/api/entry/{entry}/{action}"): Access(PUBLIC, why="CORS preflight"),
    ("GET", "/ws"): Access(PUBLIC, why="authenticated by cookie or hello; see below"),
    ("GET", "/"): Access(PUBLIC),
    ("GET", "/l/{entry}"): Access(PUBLIC, why="the customer page"),
    ("GET", "/agent"): Access(PUBLIC, why="the login form without a login"),
    ("GET", "/vendor/{name}"): Access(PUBLIC),
    ("GET", "/demo/shop"): Access(PUBLIC),
    ("GET", "/demo/shop/{page}"): Access(PUBLIC),
    ("GET", "/static"): Access(PUBLIC),
    # --- staff and customers
    ("GET", "/api/sessions/{session}"): Access(
        frozenset({"supervisor", "qa", "admin", "participant-of-it", "agent-who-served-it"})
    ),
    ("GET", "/api/me"): Access(ANY_STAFF),
    ("GET", "/api/overview"): Access(SUPERVISE),
    ("GET", "/api/fallbacks"): Access(CONSOLE),
    ("POST", "/api/fallbacks/{id}/handled"): Access(CONSOLE),
    ("POST", "/api/links"): Access(
        SERVE | {"customer_token"}, body={"entry": "demo", "case": "{session}"}
    ),
    ("POST", "/api/cases"): Access(SERVE, body={"entry": "demo", "customer_name": "Phone"}),
    ("GET", "/api/jobs"): Access(RECORDINGS),
    ("POST", "/api/jobs/{job}/cancel"): Access(RECORDINGS),
    ("POST", "/api/jobs/{job}/retry"): Access(RECORDINGS),
    ("GET", "/api/recordings/search"): Access(RECORDINGS),
    ("GET", "/api/recordings"): Access(RECORDINGS),
    ("GET", "/api/recordings/{session}"): Access(RECORDINGS),
    ("GET", "/api/recordings/{session}/files/{name}"): Access(RECORDINGS),
    ("GET", "/api/recordings/{session}/review"): Access(RECORDINGS),
    ("PUT", "/api/recordings/{session}/score"): Access(RECORDINGS, body={"answers": {}}),
    ("POST", "/api/recordings/{session}/comments"): Access(
        RECORDINGS, body={"at": 1.0, "text": "a comment"}
    ),
    ("POST", "/api/sessions/{session}/csat"): Access(
        frozenset({"participant-of-it"}), body={"score": 5}
    ),
    ("GET", "/api/kpis"): Access(RECORDINGS | SUPERVISE),
    ("GET", "/api/kpis.csv"): Access(RECORDINGS | SUPERVISE),
    ("GET", "/qa/kpis"): Access(RECORDINGS | SUPERVISE, page=True),
    ("GET", "/qa/jobs"): Access(RECORDINGS, page=True),
    ("GET", "/qa"): Access(RECORDINGS, page=True),
    ("GET", "/qa/recordings/{session}"): Access(RECORDINGS, page=True),
    ("GET", "/admin"): Access(ADMIN, page=True),
}
"""Every route of the app. Agents read recordings only with ``recording.agent_access``
(off here; ``test_an_agent_cannot_read_a_recording_of_a_session_they_did_not_serve``)."""

PATH_PARAMS = {
    "entry": "demo",
    "action": "callback",
    "name": "timeline",
    "page": "cart",
    "job": "1",
}

MATRIX_CONFIG: dict[str, Any] = {
    "customer_tokens": {"secret": CUSTOMER_SECRET, "issuer": ISSUER},
    # hundreds of requests from one address in a few seconds are the test, not abuse
    "limits": {"attempts_per_ip_per_s": 10_000.0, "attempt_burst_per_ip": 10_000},
}


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path pattern) of every route; HEAD rides along with its GET."""
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        out.add((route.method, route.resource.canonical))
    return out


def test_every_route_is_classified() -> None:
    """A route added to the app without an entry in ACCESS fails here."""
    cfg = config.from_dict({"server": {"data_dir": "/nonexistent-livedesk", "demo": False}})
    routes = app_routes(create_app(cfg, secret=SERVER_SECRET))
    assert routes - set(ACCESS) == set(), "classify these routes in ACCESS"
    assert set(ACCESS) - routes == set(), "ACCESS names routes the app no longer has"


# ------------------------------------------------------------------ state before and after


async def kv_keys(desk: Desk) -> list[str]:
    store = desk.app[STORE]
    if store.name == "memory":
        return sorted(store._kv)
    prefix = desk.cfg.store.key_prefix
    client = aioredis.from_url(REDIS_URL)
    try:
        return sorted([k.decode() async for k in client.scan_iter(match=f"{prefix}:kv:*")])
    finally:
        await client.aclose()


async def archive_counts(desk: Desk) -> dict[str, int]:
    archive = desk.app[ARCHIVE]
    await archive.flush()
    if archive.backend == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    tables = [str(r[0]) for r in await archive.fetch(sql)]
    counts = {}
    for table in sorted(tables):
        row = await archive.fetchone(f'SELECT count(*) FROM "{table}"')
        counts[table] = int(row[0]) if row else 0
    return counts


async def state(desk: Desk) -> dict[str, Any]:
    """What a refused request must leave as it was: sessions and their logs, presence,
    the store's keys (logins, link marks, login failures) and every archive table."""
    store = desk.app[STORE]
    sessions = []
    for s in await store.sessions_by_state(*SessionState):
        log = await store.events_since(s.id, 0)
        sessions.append(
            (s.id, s.state.value, s.last_seq, s.agent_id, s.offered_to, s.control, len(log))
        )
        sessions[-1] += (tuple(sorted((k, v.state.value) for k, v in s.channels.items())),)
    agents = sorted((a.id, str(a.status), a.load) for a in await store.list_agents())
    return {
        "sessions": sorted(sessions),
        "agents": agents,
        "kv": await kv_keys(desk),
        "archive": await archive_counts(desk),
    }


# ------------------------------------------------------------------ callers


@dataclass
class World:
    desk: Desk
    http: aiohttp.ClientSession
    customer: CustomerClient
    """The caller's own session (a customer with a participant token)."""
    other: CustomerClient
    """Somebody else's session, which a refused caller must learn nothing about."""
    fallback_id: int
    cookies: dict[str, str]
    """A login cookie per identity: live ones per role, and ones that were logged out."""


async def login_cookie(desk: Desk, http: aiohttp.ClientSession, username: str) -> str:
    async with http.post(
        f"{desk.base}/api/login", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
        return f"livedesk_login={r.cookies['livedesk_login'].value}"


async def world(start_desk: StartDesk, *, logins: bool = True, **sections: Any) -> World:
    desk = await start_desk(users=USERS, **{**MATRIX_CONFIG, **sections})
    http = await desk.http()
    other = await desk.customer(OTHER_TEXT, name=OTHER_NAME)
    customer = await desk.customer("I need help with my own order", name="Carla Caller")
    async with http.post(
        f"{desk.base}/api/entry/demo/callback",
        json={"name": OTHER_NAME, "contact": "oscar@example.com"},
    ) as r:
        assert r.status == 201, await r.text()
        fallback_id = (await r.json())["id"]
    cookies: dict[str, str] = {}
    if not logins:
        return World(desk, http, customer, other, fallback_id, cookies)
    cookies = {
        role: await login_cookie(desk, http, username)
        for role, username in (
            ("agent", "agent_ann"),
            ("supervisor", "sue_super"),
            ("qa", "qa_quinn"),
            ("admin", "ada_admin"),
        )
    }
    for role, username in (("supervisor", "sue_super"), ("admin", "ada_admin")):
        stale = await login_cookie(desk, http, username)
        async with http.post(f"{desk.base}/api/logout", headers={"Cookie": stale}) as r:
            assert r.status == 200
        cookies[f"logged-out {role}"] = stale
    value = cookies["admin"].split("=", 1)[1]
    login_id, _, mac = value.rpartition(".")
    cookies["tampered admin"] = f"livedesk_login={login_id}.{mac[::-1]}"
    return World(desk, http, customer, other, fallback_id, cookies)


def identity_headers(w: World, identity: str) -> dict[str, str]:
    if identity == "anonymous":
        return {}
    if identity == "participant":
        return {"Authorization": f"Bearer {w.customer.token}"}
    if identity == "customer_token":
        token = mint_customer("cust-1", "premium", CUSTOMER_SECRET, issuer=ISSUER)
        return {"Authorization": f"Bearer {token}"}
    return {"Cookie": w.cookies[identity]}


IDENTITIES = [
    "anonymous",
    "participant",
    "customer_token",
    "logged-out supervisor",
    "logged-out admin",
    "tampered admin",
    "agent",
    "supervisor",
    "qa",
    "admin",
]


def refused_for(identity: str) -> list[tuple[str, str, Access]]:
    """The routes ``identity`` may not use: all but the public ones and its own."""
    role = identity if identity in ANY_STAFF or identity == "customer_token" else None
    out = []
    for (method, path), access in sorted(ACCESS.items()):
        if access.allowed == PUBLIC:
            continue
        if role is not None and role in access.allowed:
            continue
        out.append((method, path, access))
    return out


def fill(path: str, session: str, w: World) -> str:
    params = {**PATH_PARAMS, "session": session, "id": str(w.fallback_id)}
    return path.format(**params)


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    body: bytes

    def code(self) -> str | None:
        try:
            return str(json.loads(self.body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


async def call(
    w: World, method: str, path: str, access: Access, headers: dict[str, str], session: str
) -> Answer:
    body = access.body
    if body is not None:
        body = json.loads(json.dumps(body).replace("{session}", session))
    async with w.http.request(
        method,
        w.desk.base + fill(path, session, w),
        headers=headers,
        json=body if method != "HEAD" else None,
        allow_redirects=False,
    ) as r:
        return Answer(r.status, r.headers.get("Location", ""), await r.read())


def assert_refused(answer: Answer, method: str, path: str, access: Access, where: str) -> None:
    if access.page:
        assert answer.status in (302, 403, 404), (where, answer)
        if answer.status == 302:
            assert answer.location == "/agent", (where, answer)
        return
    assert answer.status in (401, 403, 404), (where, answer)
    if method != "HEAD":
        assert answer.code() in ("unauthorized", "forbidden", "not_found"), (where, answer)


def assert_tells_nothing_of(answer: Answer, other: CustomerClient, where: str) -> None:
    text = answer.body.decode("utf-8", "replace") + answer.location
    for secret in (other.session, OTHER_NAME, "Otherperson", OTHER_TEXT, "8812-OTHER"):
        assert secret not in text, (where, secret, text[:300])


async def test_every_staff_route_refuses_callers_without_its_permission(
    start_desk: StartDesk,
) -> None:
    """Each route an identity may not use refuses it (401/403/404 and a JSON code; pages:
    the login form or the 403 page), changes nothing, and answers the same for another
    customer's session as for a session that does not exist."""
    w = await world(start_desk)
    for identity in IDENTITIES:
        headers = identity_headers(w, identity)
        routes = refused_for(identity)
        assert routes, identity
        before = await state(w.desk)
        for route_method, path, access in routes:
            methods = ("GET", "HEAD") if route_method == "GET" else (route_method,)
            for method in methods:
                where = f"{identity}: {method} {path}"
                answer = await call(w, method, path, access, headers, w.other.session)
                assert_refused(answer, method, path, access, where)
                assert_tells_nothing_of(answer, w.other, where)
                if "{session}" in path:
                    missing = await call(w, method, path, access, headers, MISSING_SESSION)
                    assert missing == answer, (where, answer, missing)
        assert await state(w.desk) == before, identity


@MEMORY_ONLY
async def test_the_matrix_sees_a_route_that_forgets_its_permission_check(
    start_desk: StartDesk,
) -> None:
    """The harness itself: the same calls with a permitted login do get through, so a
    route whose check went missing would show up as not refused above."""
    w = await world(start_desk)
    got = {}
    for identity in ("admin", "supervisor"):
        for path in ("/api/overview", "/api/me", "/api/kpis", "/api/fallbacks"):
            answer = await call(
                w, "GET", path, ACCESS[("GET", path)], identity_headers(w, identity), ""
            )
            got[(identity, path)] = answer.status
    assert set(got.values()) == {200}, got
    answer = await call(
        w,
        "GET",
        "/api/sessions/{session}",
        ACCESS[("GET", "/api/sessions/{session}")],
        identity_headers(w, "participant"),
        w.customer.session,
    )
    assert answer.status == 200  # the participant reads their own session, not the other


# ------------------------------------------------------------------ customer tokens


def b64url(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    return b64url({"alg": alg, "typ": "JWT"}) + "." + b64url(claims) + "."


def rs256(claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256")


def customer_claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "cust-42", "tier": "premium", "iss": ISSUER, "iat": now, "exp": now + 600}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def hs(claims: dict[str, Any], secret: str = CUSTOMER_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


BAD_CUSTOMER_TOKENS: list[Any] = [
    pytest.param(
        lambda: hs(customer_claims(), "another-backend-secret-" + "w" * 32),
        "customer token signature is invalid",
        id="bad-signature",
    ),
    pytest.param(
        lambda: hs(customer_claims())[:-3] + "AAA",
        "customer token signature is invalid",
        id="signature-edited",
    ),
    pytest.param(
        lambda: (lambda t: t[0] + "." + b64url(customer_claims(tier="platinum")) + "." + t[2])(
            hs(customer_claims()).split(".")
        ),
        "customer token signature is invalid",
        id="payload-edited",
    ),
    pytest.param(
        lambda: hs(customer_claims(iss="evil.example")),
        "customer token has the wrong issuer",
        id="wrong-issuer",
    ),
    pytest.param(
        lambda: hs(customer_claims(iss=None)),
        "customer token is malformed",
        id="no-issuer",
    ),
    pytest.param(
        lambda: unsigned(customer_claims()),
        "customer token uses an algorithm that is not allowed",
        id="alg-none",
    ),
    pytest.param(
        lambda: unsigned(customer_claims(), alg="None"),
        "customer token uses an algorithm that is not allowed",
        id="alg-None",
    ),
    pytest.param(
        lambda: hs(customer_claims(), alg="HS512"),
        "customer token uses an algorithm that is not allowed",
        id="HS512-when-HS256-is-configured",
    ),
    pytest.param(
        lambda: hs(customer_claims(), alg="HS384"),
        "customer token uses an algorithm that is not allowed",
        id="HS384-when-HS256-is-configured",
    ),
    pytest.param(
        lambda: rs256(customer_claims()),
        "customer token uses an algorithm that is not allowed",
        id="RS256",
    ),
    pytest.param(
        lambda: hs(customer_claims(exp=int(time.time()) - 1)),
        "customer token has expired",
        id="expired-a-second-ago-leeway-0",
    ),
    pytest.param(
        lambda: hs(customer_claims(nbf=int(time.time()) + 5)),
        "customer token is not valid yet",
        id="nbf-in-5-s",
    ),
    pytest.param(
        lambda: hs(customer_claims(exp=None)),
        "customer token is malformed",
        id="no-exp",
    ),
    pytest.param(
        lambda: mint_grant(
            CustomerClaims(sub="c", tier="premium"), b"not-this-server-" + b"k" * 32, entry="demo"
        ),
        "customer token signature is invalid",
        id="grant-from-another-server",
    ),
    pytest.param(lambda: "not.a.jwt", "customer token is malformed", id="garbage"),
]


async def test_a_bad_customer_token_is_refused_at_every_door_before_anything_changes(
    start_desk: StartDesk,
) -> None:
    """Starting a session, asking availability and issuing a personal link with a bad
    customer token: 401 with the reason, and no session, link or audit row appears. A
    good token (the configured issuer and algorithm) then gets through the same doors."""
    w = await world(start_desk, logins=False)
    doors = (
        ("POST", "/api/sessions", {"entry": "demo", "text": "Hi, premium here"}),
        ("GET", "/api/entry/demo/availability", None),
        ("POST", "/api/links", {"entry": "demo"}),
    )
    before = await state(w.desk)
    for case in BAD_CUSTOMER_TOKENS:
        make, message = case.values
        bearer = {"Authorization": f"Bearer {make()}"}
        for method, path, body in doors:
            async with w.http.request(method, w.desk.base + path, json=body, headers=bearer) as r:
                got = (r.status, await r.json())
            want = (401, {"error": {"code": "unauthorized", "message": message}})
            assert got == want, (case.id, path)
    assert await state(w.desk) == before
    bearer = {"Authorization": f"Bearer {hs(customer_claims())}"}
    statuses = []
    for method, path, body in doors:
        async with w.http.request(method, w.desk.base + path, json=body, headers=bearer) as r:
            statuses.append(r.status)
    assert statuses == [201, 200, 201]


@MEMORY_ONLY
async def test_a_customer_token_is_required_where_nothing_else_identifies_the_caller(
    start_desk: StartDesk,
) -> None:
    """No token: a personal link, the survey and the session record are refused; a
    socket's hello without a token opens nothing."""
    w = await world(start_desk, logins=False)
    before = await state(w.desk)
    for method, path, body in (
        ("POST", "/api/links", {"entry": "demo"}),
        ("POST", f"/api/sessions/{w.customer.session}/csat", {"score": 5}),
        ("GET", f"/api/sessions/{w.customer.session}", None),
    ):
        async with w.http.request(method, w.desk.base + path, json=body) as r:
            assert r.status == 401, path
            assert (await r.json())["error"]["code"] == "unauthorized", path
    for hello in ({"type": "hello", "id": 1}, {"type": "hello", "id": 1, "token": ""}):
        ws = await w.http.ws_connect(w.desk.base + "/ws")
        await ws.send_json(hello)
        reply = await ws.receive_json(timeout=5)
        assert (reply["type"], reply["code"]) == ("error", "unauthorized"), hello
        await ws.send_json(
            {"type": "chat.send", "id": 2, "session": w.customer.session, "text": "x"}
        )
        assert (await ws.receive_json(timeout=5))["message"] == "send hello first"
        await ws.close()
    assert await state(w.desk) == before


# ------------------------------------------------------------------ participant tokens


def participant_claims(session: str, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": PARTICIPANT_ISSUER,
        "aud": PARTICIPANT_AUDIENCE,
        "sub": "cust-forged",
        "sid": session,
        "name": "Forger",
        "tier": "premium",
        "role": "customer",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def server_signed(claims: dict[str, Any], alg: str = "HS256") -> str:
    return jwt.encode(claims, SERVER_SECRET, algorithm=alg)


BAD_PARTICIPANT_TOKENS: list[Any] = [
    pytest.param(
        lambda sid: jwt.encode(participant_claims(sid), b"x" * 41, algorithm="HS256"),
        "participant token signature is invalid",
        id="bad-signature",
    ),
    pytest.param(
        lambda sid: hs(participant_claims(sid)),
        "participant token signature is invalid",
        id="signed-with-the-customer-token-secret",
    ),
    pytest.param(
        lambda sid: unsigned(participant_claims(sid)),
        "participant token uses an algorithm that is not allowed",
        id="alg-none",
    ),
    pytest.param(
        lambda sid: server_signed(participant_claims(sid), alg="HS512"),
        "participant token uses an algorithm that is not allowed",
        id="HS512-with-the-server-secret",
    ),
    pytest.param(
        lambda sid: rs256(participant_claims(sid)),
        "participant token uses an algorithm that is not allowed",
        id="RS256",
    ),
    pytest.param(
        lambda sid: server_signed(participant_claims(sid, iss="shop.example")),
        "participant token has the wrong issuer",
        id="wrong-issuer",
    ),
    pytest.param(
        lambda sid: server_signed(participant_claims(sid, aud=GRANT_AUDIENCE)),
        "participant token has the wrong audience",
        id="a-link-grant-is-not-a-participant-token",
    ),
    pytest.param(
        lambda sid: server_signed(participant_claims(sid, exp=int(time.time()) - 1)),
        "participant token has expired",
        id="expired-a-second-ago-leeway-0",
    ),
    pytest.param(
        lambda sid: server_signed(participant_claims(sid, nbf=int(time.time()) + 5)),
        "participant token is not valid yet",
        id="nbf-in-5-s",
    ),
    pytest.param(
        lambda sid: server_signed(participant_claims(sid, exp=None)),
        "participant token is malformed",
        id="no-exp",
    ),
]


@MEMORY_ONLY
async def test_a_forged_participant_token_for_a_real_session_opens_nothing(
    start_desk: StartDesk,
) -> None:
    """A token naming another customer's live session but not made by this server (or
    expired, or not yet valid) is refused in ``hello``, on the session record and on the
    survey; the socket stays unauthenticated and the session hears nothing."""
    w = await world(start_desk, logins=False)
    before = await state(w.desk)
    for case in BAD_PARTICIPANT_TOKENS:
        make, message = case.values
        token = make(w.other.session)
        ws = await w.http.ws_connect(w.desk.base + "/ws")
        await ws.send_json({"type": "hello", "id": 1, "token": token})
        reply = await ws.receive_json(timeout=5)
        assert (reply["type"], reply["code"], reply["message"]) == (
            "error",
            "unauthorized",
            message,
        ), case.id
        await ws.send_json(
            {"type": "chat.send", "id": 2, "session": w.other.session, "text": "let me in"}
        )
        reply = await ws.receive_json(timeout=5)
        assert (reply["code"], reply["message"]) == ("unauthorized", "send hello first"), case.id
        await ws.close()
        bearer = {"Authorization": f"Bearer {token}"}
        for method, path, body in (
            ("GET", f"/api/sessions/{w.other.session}", None),
            ("POST", f"/api/sessions/{w.other.session}/csat", {"score": 1}),
        ):
            async with w.http.request(method, w.desk.base + path, json=body, headers=bearer) as r:
                got = (r.status, await r.json())
            want = (401, {"error": {"code": "unauthorized", "message": message}})
            assert got == want, (case.id, path)
    assert await state(w.desk) == before
    assert w.other.chat_texts(w.other.session) == [OTHER_TEXT]


# ------------------------------------------------------------------ the socket, by role

STAFF_ONLY: dict[str, dict[str, Any]] = {
    "agent.status": {"status": "available"},
    "offer.accept": {"session": "{session}"},
    "offer.decline": {"session": "{session}"},
    "session.transfer": {"session": "{session}", "to_queue": "billing"},
    "session.wrapup": {"session": "{session}"},
    "session.complete": {"session": "{session}", "disposition": "resolved"},
    "session.watch": {"session": "{session}"},
    "cobrowse.snapshot": {"session": "{session}"},
    "cobrowse.pointer": {"session": "{session}", "node": 1},
    "cobrowse.command": {"session": "{session}", "cmd": "c1", "action": "click", "node": 1},
}

EVERY_MESSAGE: dict[str, dict[str, Any]] = {
    **STAFF_ONLY,
    "chat.send": {"session": "{session}", "text": "peek", "client_msg_id": "m1"},
    "chat.typing": {"session": "{session}", "typing": True},
    "chat.receipt": {"session": "{session}", "seq": 1, "state": "read"},
    "session.leave": {"session": "{session}"},
    "channel.request": {"session": "{session}", "channel": "video"},
    "channel.respond": {"session": "{session}", "channel": "video", "accept": True},
    "channel.stop": {"session": "{session}", "channel": "video"},
    "media.config": {"session": "{session}"},
    "media.offer": {"session": "{session}", "sdp": "v=0\r\n"},
    "media.mute": {"session": "{session}", "source": "mic", "muted": True},
    "media.hangup": {"session": "{session}"},
    "recording.request": {"session": "{session}"},
    "recording.respond": {"session": "{session}", "accept": True},
    "recording.pause": {"session": "{session}"},
    "recording.resume": {"session": "{session}"},
    "recording.stop": {"session": "{session}"},
    "cobrowse.events": {"session": "{session}", "batch": 1, "data": "[]"},
    "cobrowse.result": {"session": "{session}", "cmd": "c1", "ok": True},
    "cobrowse.control": {"session": "{session}", "action": "grant"},
}
"""A valid message of every inbound type but ``hello`` and ``ping``."""


def test_every_inbound_message_type_is_in_the_socket_matrix() -> None:
    assert set(EVERY_MESSAGE) == set(protocol.INBOUND_TYPES) - {"hello", "ping"}


def message(type_: str, session: str) -> dict[str, Any]:
    fields = json.loads(json.dumps(EVERY_MESSAGE[type_]).replace("{session}", session))
    return {"type": type_, **fields}


async def ask(client: CustomerClient | StaffClient, msg: dict[str, Any]) -> dict[str, Any]:
    """Send ``msg`` as a request and return the error it gets (RequestFailed's fields)."""
    fields = {k: v for k, v in msg.items() if k != "type"}
    with pytest.raises(RequestFailed) as err:
        await client.request(msg["type"], **fields)
    return {"code": err.value.code, "message": err.value.message}


@MEMORY_ONLY
async def test_a_customer_cannot_send_staff_messages_in_their_own_session(
    start_desk: StartDesk,
) -> None:
    w = await world(start_desk, logins=False)
    before = await state(w.desk)
    for type_ in STAFF_ONLY:
        err = await ask(w.customer, message(type_, w.customer.session))
        assert err["code"] == "forbidden", (type_, err)
    assert await state(w.desk) == before


@MEMORY_ONLY
async def test_a_customer_learns_nothing_about_another_session_from_any_message(
    start_desk: StartDesk,
) -> None:
    """Naming another customer's live session, or one that does not exist, in any
    message: the same refusal, with nothing of that session in it, and nothing changes."""
    w = await world(start_desk, logins=False)
    before = await state(w.desk)
    for type_ in sorted(EVERY_MESSAGE):
        existing = await ask(w.customer, message(type_, w.other.session))
        missing = await ask(w.customer, message(type_, MISSING_SESSION))
        assert existing == missing, type_
        assert existing["code"] == "forbidden", (type_, existing)
        text = json.dumps(existing)
        assert w.other.session not in text and "Otherperson" not in text, type_
    assert await state(w.desk) == before


async def test_an_agent_learns_nothing_about_a_session_they_do_not_serve(
    start_desk: StartDesk,
) -> None:
    """An agent naming a session that is not theirs (another agent's, and not waiting in a
    queue they serve) gets, for every message, the same refusal as for a session that
    does not exist: whether a session id is live is not theirs to learn (ids are random,
    but they travel in links and logs). Nothing changes."""
    w = await world(start_desk, logins=False)
    ann = await w.desk.staff("agent_ann")
    await ann.wait_for(
        lambda m: (
            m.get("type") == "console"
            and any(
                s["session"] == w.other.session and s["state"] == "offered" for s in m["sessions"]
            )
        ),
        timeout=10,
    )
    await ann.request("offer.accept", session=w.other.session)
    await ann.set_status("away")
    bob = await w.desk.staff("agent_bob", status=None)  # away: offered nothing
    before = await state(w.desk)
    for type_ in sorted(set(EVERY_MESSAGE) - {"agent.status"}):
        existing = await ask(bob, message(type_, w.other.session))
        missing = await ask(bob, message(type_, MISSING_SESSION))
        assert existing == {
            **missing,
            "message": missing["message"].replace(MISSING_SESSION, w.other.session),
        }, type_
        text = json.dumps(existing).replace(w.other.session, "")
        assert "Otherperson" not in text and OTHER_TEXT not in text, type_
    http = await w.desk.http()
    replies = []
    for case in (w.other.session, MISSING_SESSION):
        async with http.post(
            w.desk.base + "/api/links",
            json={"entry": "demo", "case": case},
            headers={"Cookie": bob.cookie},
        ) as r:
            replies.append((r.status, (await r.json())["error"]["code"]))
    assert replies == [(404, "not_found")] * 2
    assert await state(w.desk) == before


async def test_a_logged_out_cookie_opens_no_socket_and_the_agent_stays_offline(
    start_desk: StartDesk,
) -> None:
    w = await world(start_desk)
    store = w.desk.app[STORE]
    stale = w.cookies["logged-out supervisor"]
    before = await state(w.desk)
    ws = await w.http.ws_connect(w.desk.base + "/ws", headers={"Cookie": stale})
    await ws.send_json({"type": "hello", "id": 1})
    reply = await ws.receive_json(timeout=5)
    assert (reply["code"], reply["message"]) == (
        "unauthorized",
        "a customer must present its participant token",
    )
    for msg in (message("agent.status", ""), message("session.watch", w.other.session)):
        await ws.send_json({**msg, "id": 2})
        reply = await ws.receive_json(timeout=5)
        assert (reply["code"], reply["message"]) == ("unauthorized", "send hello first")
    await ws.close()
    assert await state(w.desk) == before
    sue = await store.get_agent("sue_super")
    assert sue is None or str(sue.status) == "offline"


async def test_logout_closes_the_sockets_that_login_opened(start_desk: StartDesk) -> None:
    """Logout ends the login everywhere: its open console socket is closed with 1008 and
    takes no further command; another login of the same person keeps its socket."""
    desk = await start_desk(users=USERS, **MATRIX_CONFIG)
    ann = await desk.staff("agent_ann", status="away")
    ann_elsewhere = await desk.staff("agent_ann", status=None)
    await ann.logout()
    await asyncio.wait_for(ann.closed.wait(), 5)
    assert ann.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    with pytest.raises(ConnectionError):
        await ann.set_status("available")
    assert (await ann_elsewhere.request("ping"))["type"] == "ok"
    agent = await desk.app[STORE].get_agent("agent_ann")
    assert agent is not None and str(agent.status) == "away"


async def test_an_expired_login_s_open_socket_closes_and_takes_no_command(
    start_desk: StartDesk,
) -> None:
    """A login that runs out (its cookie's time to live) ends its open console too,
    within ``auth.recheck_s``; a fresh login of the same person goes on working."""
    desk = await start_desk(
        users=USERS, **MATRIX_CONFIG, auth={"cookie_ttl_s": 1.5, "recheck_s": 0.2}
    )
    ann = await desk.staff("agent_ann", status="away")
    await asyncio.wait_for(ann.closed.wait(), 5)
    assert ann.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    with pytest.raises(ConnectionError):
        await ann.set_status("available")
    again = await desk.staff("agent_ann", status=None)
    assert (await again.request("ping"))["type"] == "ok"


async def test_disabling_an_account_closes_its_open_sockets(start_desk: StartDesk) -> None:
    """An account disabled while logged in (``livedesk user disable``, which writes the
    archive) loses its open consoles within ``auth.recheck_s``, and cannot log in."""
    desk = await start_desk(users=USERS, **MATRIX_CONFIG, auth={"recheck_s": 0.2})
    ann = await desk.staff("agent_ann", status="away")
    bob = await desk.staff("agent_bob", status="away")
    db = desk.app[ARCHIVE]
    user = await db.get_user("agent_ann")
    assert user is not None
    await db.put_user(msgspec.structs.replace(user, disabled=True), now=time.time())
    await asyncio.wait_for(ann.closed.wait(), 5)
    assert ann.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    await asyncio.sleep(0.6)  # three rechecks: the other account is untouched
    assert not bob.closed.is_set()
    assert (await bob.request("ping"))["type"] == "ok"
    http = await desk.http()
    async with http.post(
        desk.base + "/api/login", json={"username": "agent_ann", "password": PASSWORD}
    ) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("store_kind", ["redis"])
async def test_logout_on_one_node_closes_the_login_s_socket_on_another(
    start_desk: StartDesk,
) -> None:
    """Two nodes of one deployment (one Redis, one PostgreSQL): the console socket is on
    the second node, the logout goes to the first; the socket still closes."""
    desk = await start_desk(users=USERS, **MATRIX_CONFIG)
    cfg = msgspec.structs.replace(
        desk.cfg, cluster=msgspec.structs.replace(desk.cfg.cluster, node_id="second-node")
    )
    second = TestServer(create_app(cfg, secret=SERVER_SECRET), host="127.0.0.1")
    await second.start_server()
    try:
        http = await desk.http()
        ann = await StaffClient.login(
            http, str(second.make_url("")).rstrip("/"), "agent_ann", PASSWORD
        )
        desk.clients.append(ann)
        async with http.post(desk.base + "/api/logout", headers={"Cookie": ann.cookie}) as r:
            assert r.status == 200
        await asyncio.wait_for(ann.closed.wait(), 5)
        assert ann.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    finally:
        await second.close()


@MEMORY_ONLY
async def test_a_qa_reviewer_cannot_serve_watch_or_administer(start_desk: StartDesk) -> None:
    """QA reviews recordings: on the socket, serving and watching are refused; admin
    pages and supervisor endpoints are covered by the route matrix."""
    w = await world(start_desk)
    qa = await w.desk.staff("qa_quinn", status=None)
    before = await state(w.desk)
    for type_ in ("agent.status", "offer.accept", "session.watch", "cobrowse.snapshot"):
        err = await ask(qa, message(type_, w.other.session))
        assert err["code"] == "forbidden", (type_, err)
    assert await state(w.desk) == before
    async with w.http.get(
        w.desk.base + "/admin", headers={"Cookie": w.cookies["qa"]}, allow_redirects=False
    ) as r:
        assert r.status == 403
        assert 'data-testid="entries"' not in await r.text()
    async with w.http.get(
        w.desk.base + "/admin", headers={"Cookie": w.cookies["admin"]}, allow_redirects=False
    ) as r:
        assert r.status == 200 and 'data-testid="entries"' in await r.text()  # the control


# ------------------------------------------------------------------ recordings


@MEMORY_ONLY
@pytest.mark.parametrize("agent_access", [False, True])
async def test_an_agent_cannot_read_a_recording_of_a_session_they_did_not_serve(
    start_desk: StartDesk, agent_access: bool
) -> None:
    """Without ``recording.agent_access`` no agent reads recordings; with it, the agent
    who served a session reads its recording. Whoever may not gets exactly the answer
    for a session that does not exist, on every recording route and the QA page; lists
    and searches leave it out, and none of it is audited as a recording access."""
    from .test_recording import login, recorded_session

    desk, sid = await recorded_session(start_desk, recording={"agent_access": agent_access})
    ann, bob, qa = [await login(desk, u) for u in ("agent_ann", "agent_bob", "qa_quinn")]
    reader = ann if agent_access else qa  # the control: someone who may read it
    async with reader.get(f"{desk.base}/api/recordings/{sid}") as r:
        assert r.status == 200
        tracks = [t["id"] for t in (await r.json())["track_list"]]
    async with reader.get(f"{desk.base}/api/recordings/search?q=parcel") as r:
        assert [h["session_id"] for h in (await r.json())["hits"]] == [sid]
    assert tracks
    paths = [
        ("GET", "/api/recordings/{s}", None),
        ("GET", "/api/recordings/{s}/review", None),
        ("PUT", "/api/recordings/{s}/score", {"answers": {}}),
        ("POST", "/api/recordings/{s}/comments", {"at": 1.0, "text": "hm"}),
        ("GET", "/qa/recordings/{s}", None),
        *(
            ("GET", "/api/recordings/{s}/files/" + name, None)
            for name in ("review", "thumbs", "timeline", "cobrowse", "transcript", "vtt", "txt")
        ),
        *(("GET", "/api/recordings/{s}/files/" + t, None) for t in tracks),
    ]
    refused = [bob] if agent_access else [ann, bob]
    before = await state(desk)
    for agent in refused:
        for method, path, body in paths:
            got = []
            for session in (sid, MISSING_SESSION):
                async with agent.request(
                    method, desk.base + path.format(s=session), json=body, allow_redirects=False
                ) as r:
                    got.append((r.status, await r.read()))
            assert got[0] == got[1], (path, got)
            assert got[0][0] in (403, 404), (path, got[0])
            assert sid.encode() not in got[0][1] and b"parcel" not in got[0][1], path
        for path in ("/api/recordings", "/api/recordings/search?q=parcel"):
            async with agent.get(desk.base + path) as r:
                listed = await r.read()
            assert r.status in (200, 403) and sid.encode() not in listed, (path, listed)
    assert await state(desk) == before
