"""Cross-site protections through a real server: origins, CSRF and security headers.

- A WebSocket upgrade is accepted only from this server's own origin or an allowlisted
  one, compared exactly: another scheme, port or host, ``null``, and look-alikes such as
  ``http://127.0.0.1.evil.com`` get 403 before the socket opens.
- Every state-changing route (each POST, PUT, PATCH and DELETE the router holds) refuses
  a foreign ``Origin`` with 403 ``forbidden`` before it does anything, even for a caller
  the route would otherwise serve.
- A request without ``Origin`` is let through: the login cookie is ``SameSite=Strict``,
  so a browser never attaches it to a request another site starts, and browsers put
  ``Origin`` on every cross-origin unsafe request, so a request without one comes from a
  program (a company backend, curl) that no other site can drive.
- Every response carries a Content-Security-Policy and the usual security headers:
  pages, JSON, static files, redirects and errors (404, 405, 413, a refused upgrade).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from signaling.keys import NODE

from .conftest import StartDesk
from .test_auth_matrix import (
    ACCESS,
    PUBLIC,
    Access,
    World,
    app_routes,
    call,
    identity_headers,
    state,
    world,
)

pytestmark = pytest.mark.parametrize("store_kind", ["memory"])

SHOP = "https://shop.example"  # the demo entry's own site (widget callbacks come from it)
PARTNER = "https://partner.example"  # server.allowed_origins


def sections() -> dict[str, Any]:
    return {
        "server": {"allowed_origins": [PARTNER]},
        "entries": {"demo": {"site_origins": [SHOP]}},
    }


def own_origin(base: str) -> str:
    return base  # http://127.0.0.1:<port>


def foreign_origins(base: str) -> list[str]:
    """Origins a browser on another site could send, and look-alikes of allowed ones."""
    host, port = base.removeprefix("http://").split(":")
    other_port = str(int(port) + 1 if int(port) < 65535 else int(port) - 1)
    return [
        "https://evil.example",
        "null",  # sandboxed frames, data: and file: pages, some redirects
        "",
        f"https://{host}:{port}",  # another scheme
        f"ws://{host}:{port}",
        f"http://{host}:{other_port}",  # another port
        f"http://{host}",  # no port
        f"http://localhost:{port}",  # the same machine by another name
        f"http://{host}.evil.com:{port}",  # suffix tricks
        f"http://{host}:{port}.evil.com",
        f"http://{host}:{port}@evil.com",
        f"http://evil{host}:{port}",
        f"http://{host}:{port}/",  # a path: no browser sends one
        f"HTTP://{host.upper()}:{port}",  # browsers serialize origins in lower case
        f"{SHOP}.evil.com",
        "https://evilshop.example",
        "https://sub.shop.example",
        "http://shop.example",
        "https://shop.example:8443",
        f"{PARTNER}.evil.com",
        "http://partner.example",
        f"{SHOP}, https://evil.example",
    ]


UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def test_a_websocket_upgrade_from_any_origin_off_the_allowlist_is_403(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(**sections())
    http = await desk.http()
    for origin in foreign_origins(desk.base):
        async with http.get(desk.base + "/ws", headers={**UPGRADE, "Origin": origin}) as r:
            assert r.status == 403, origin
            assert "is not allowed" in await r.text(), origin
    assert not desk.app[NODE].connections  # refused before the upgrade: no socket at all
    for origin in (own_origin(desk.base), PARTNER):
        ws = await http.ws_connect(desk.base + "/ws", headers={"Origin": origin})
        await ws.send_json({"type": "ping", "id": 1})
        assert (await ws.receive_json(timeout=5))["type"] == "ok", origin
        await ws.close()


async def test_an_entry_site_may_post_its_forms_but_not_open_sockets(
    start_desk: StartDesk,
) -> None:
    """``site_origins`` lets the company's pages send callbacks; the socket stays ours."""
    desk = await start_desk(**sections())
    http = await desk.http()
    async with http.post(
        desk.base + "/api/entry/demo/callback",
        json={"name": "Kim", "contact": "kim@example.com"},
        headers={"Origin": SHOP},
    ) as r:
        assert r.status == 201
    async with http.get(desk.base + "/ws", headers={**UPGRADE, "Origin": SHOP}) as r:
        assert r.status == 403


# ------------------------------------------------------------------ CSRF on every route

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def unsafe_routes(app: Any) -> list[tuple[str, str]]:
    return sorted((m, p) for m, p in app_routes(app) if m in UNSAFE)


def permitted_identity(access: Access) -> tuple[str, str]:
    """A caller the route would serve, and whose session the path names."""
    if access.allowed == PUBLIC:
        return "anonymous", "other"
    if "participant-of-it" in access.allowed:
        return "participant", "own"
    for identity in ("supervisor", "admin", "qa"):
        if identity in access.allowed:
            return identity, "other"
    raise AssertionError(f"no identity serves {access}")


async def forged(
    w: World, method: str, path: str, origin: str | None
) -> tuple[int, dict[str, Any] | None]:
    access = ACCESS[(method, path)]
    identity, whose = permitted_identity(access)
    session = w.customer.session if whose == "own" else w.other.session
    headers = identity_headers(w, identity)
    if origin is not None:
        headers["Origin"] = origin
    if path == "/api/login":
        access = Access(PUBLIC, body={"username": "sue_super", "password": "x" * 8})
    answer = await call(w, method, path, access, headers, session)
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    return answer.status, body


async def test_every_state_changing_route_refuses_a_foreign_origin_before_acting(
    start_desk: StartDesk,
) -> None:
    """Each POST/PUT/PATCH/DELETE route, called as someone it would serve and with a body
    it would take, but from another site: 403 ``forbidden`` and nothing changes."""
    w = await world(start_desk, **sections())
    routes = unsafe_routes(w.desk.app)
    assert len(routes) >= 13, routes
    before = await state(w.desk)
    for method, path in routes:
        for origin in ("https://evil.example", "null", f"{SHOP}.evil.com"):
            status, body = await forged(w, method, path, origin)
            assert status == 403, (method, path, origin, body)
            assert body is not None and body["error"]["code"] == "forbidden", (path, body)
            assert "is not allowed" in body["error"]["message"], (path, body)
    assert await state(w.desk) == before
    # the control: the same calls from this server's own pages are not refused for it
    for method, path in routes:
        status, body = await forged(w, method, path, own_origin(w.desk.base))
        refused = body is not None and "is not allowed" in str(body.get("error", {}))
        assert not refused, (method, path, status, body)


async def test_logout_from_another_site_does_not_end_the_login(start_desk: StartDesk) -> None:
    """Logout CSRF: a foreign page posting to /api/logout leaves the login alive."""
    w = await world(start_desk, **sections())
    cookie = {"Cookie": w.cookies["supervisor"]}
    async with w.http.post(
        w.desk.base + "/api/logout", headers={**cookie, "Origin": "https://evil.example"}
    ) as r:
        assert r.status == 403
    async with w.http.get(w.desk.base + "/api/me", headers=cookie) as r:
        assert r.status == 200


async def test_the_login_cookie_is_http_only_and_same_site_strict(start_desk: StartDesk) -> None:
    """Why a request without Origin may pass: this cookie never rides a cross-site one."""
    desk = await start_desk(users=(("agent_ann",),), auth={"cookie_secure": True})
    http = await desk.http()
    from .conftest import PASSWORD

    async with http.post(
        desk.base + "/api/login", json={"username": "agent_ann", "password": PASSWORD}
    ) as r:
        assert r.status == 200
        raw = r.headers["Set-Cookie"]
    attributes = {a.strip().split("=")[0].lower(): a for a in raw.split(";")[1:]}
    assert "httponly" in attributes, raw
    assert attributes["samesite"].strip().lower() == "samesite=strict", raw
    assert "secure" in attributes, raw
    assert attributes["path"].strip() == "Path=/", raw


async def test_a_program_without_origin_is_not_refused(start_desk: StartDesk) -> None:
    """A company backend (no browser, no Origin) asks for a personal link."""
    from signaling.auth import mint_customer

    from .conftest import CUSTOMER_SECRET

    desk = await start_desk()
    http = await desk.http()
    token = mint_customer("cust-1", "premium", CUSTOMER_SECRET)
    async with http.post(
        desk.base + "/api/links",
        json={"entry": "demo"},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        assert r.status == 201


# ------------------------------------------------------------------ security headers


def check_headers(r: aiohttp.ClientResponse, what: str, *, https: bool = False) -> None:
    h = r.headers
    csp = h.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    for name in ("default-src", "script-src", "object-src", "base-uri", "frame-ancestors"):
        assert name in directives, (what, r.status, csp)
    assert directives["object-src"] == "object-src 'none'", what
    assert directives["base-uri"] == "base-uri 'none'", what
    script = directives["script-src"]
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, (what, script)
    assert "*" not in script and "http:" not in script, (what, script)
    assert h.get("X-Content-Type-Options") == "nosniff", (what, r.status)
    assert h.get("Referrer-Policy") in ("strict-origin-when-cross-origin", "no-referrer"), what
    if directives["frame-ancestors"] == "frame-ancestors 'none'":
        assert h.get("X-Frame-Options") == "DENY", (what, r.status)
    else:
        assert h.get("X-Frame-Options") == "SAMEORIGIN", (what, r.status)
    features = dict(
        f.strip().split("=", 1) for f in h.get("Permissions-Policy", "").split(",") if f.strip()
    )
    for feature in ("camera", "microphone", "display-capture"):
        assert features.get(feature) == "(self)", (what, r.status, features)
    for feature in ("geolocation", "payment", "usb"):
        assert features.get(feature) == "()", (what, r.status, features)
    if https:
        assert h.get("Strict-Transport-Security") == "max-age=31536000", (what, r.status)
    else:  # over plain HTTP it would mean nothing, and it would pin a host wrongly
        assert "Strict-Transport-Security" not in h, (what, r.status)


async def test_a_deployment_behind_https_sends_hsts_on_every_kind_of_response(
    start_desk: StartDesk,
) -> None:
    """With ``server.public_url`` on HTTPS (TLS terminated in front), pages, API answers,
    errors, static files and aiohttp's own refusals all carry Strict-Transport-Security."""
    desk = await start_desk(server={"public_url": "https://desk.example"})
    http = await desk.http()
    for method, path, status in (
        ("GET", "/", 200),
        ("GET", "/agent", 200),
        ("GET", "/api/me", 401),
        ("GET", "/static/common.js", 200),
        ("GET", "/nope", 404),
        ("DELETE", "/api/sessions", 405),
    ):
        async with http.request(method, desk.base + path, allow_redirects=False) as r:
            assert r.status == status, (path, r.status)
            check_headers(r, path, https=True)


API_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
"""What aiohttp's own refusals under /api/ become: JSON with these documented codes."""


async def test_every_kind_of_response_carries_the_security_headers(start_desk: StartDesk) -> None:
    w = await world(start_desk, **sections())
    admin = identity_headers(w, "admin")
    qa = identity_headers(w, "qa")
    big = json.dumps({"entry": "demo", "text": "x" * 300_000})
    cases: list[tuple[str, str, dict[str, str], str | None, int]] = [
        ("GET", "/", {}, None, 200),
        ("GET", "/l/demo", {}, None, 200),
        ("GET", "/l/nope", {}, None, 404),
        ("GET", "/agent", {}, None, 200),
        ("GET", "/admin", admin, None, 200),
        ("GET", "/admin", qa, None, 403),
        ("GET", "/admin", {}, None, 302),
        ("GET", "/qa", {}, None, 302),
        ("GET", "/qa", qa, None, 200),
        ("GET", "/demo/shop", {}, None, 200),
        ("GET", "/demo/shop/nope", {}, None, 404),
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/metrics", {}, None, 200),
        ("GET", "/api/me", admin, None, 200),
        ("GET", "/api/me", {}, None, 401),
        ("GET", "/api/overview", qa, None, 403),
        ("GET", "/api/entry/demo/availability", {"Origin": SHOP}, None, 200),
        ("GET", "/static/common.js", {}, None, 200),
        ("GET", "/static/livedesk.css", {}, None, 200),
        ("GET", "/static/nope.js", {}, None, 404),
        ("GET", "/static/", {}, None, 403),
        ("GET", "/vendor/rrweb.js", {}, None, 200),
        ("GET", "/vendor/nope.js", {}, None, 404),
        ("GET", "/nope", {}, None, 404),
        ("GET", "/api/nope", {}, None, 404),
        ("DELETE", "/api/sessions", {}, None, 405),
        ("POST", "/api/sessions", {"Content-Type": "application/json"}, big, 413),
        ("POST", "/api/login", {"Origin": "https://evil.example"}, "{}", 403),
        ("GET", "/ws", {**UPGRADE, "Origin": "https://evil.example"}, None, 403),
        ("GET", "/ws", {}, None, 400),
    ]
    for method, path, headers, data, status in cases:
        what = f"{method} {path} {sorted(headers)}"
        async with w.http.request(
            method, w.desk.base + path, headers=headers, data=data, allow_redirects=False
        ) as r:
            assert r.status == status, (what, r.status)
            check_headers(r, what)
            if path.startswith("/api/") and status >= 400:
                body = await r.json()
                assert body["error"]["code"] == API_CODES.get(status, body["error"]["code"])
                if status == 405:
                    assert "POST" in r.headers["Allow"], what


async def test_pages_allow_no_inline_script_and_only_the_customer_page_may_be_framed(
    start_desk: StartDesk,
) -> None:
    w = await world(start_desk, **sections())
    for path, headers in (
        ("/", {}),
        ("/agent", {}),
        ("/agent", identity_headers(w, "agent")),
        ("/qa", identity_headers(w, "qa")),
        ("/admin", identity_headers(w, "admin")),
        ("/l/demo", {}),
    ):
        async with w.http.get(w.desk.base + path, headers=headers) as r:
            assert r.status == 200, path
            csp = r.headers["Content-Security-Policy"]
            html = await r.text()
        script = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert script.strip() == "script-src 'self'", (path, csp)
        assert "<script>" not in html and " onload=" not in html and " onclick=" not in html
        framing = next(d for d in csp.split(";") if "frame-ancestors" in d).strip()
        if path == "/l/demo":
            assert framing == f"frame-ancestors 'self' {SHOP}", csp
        else:
            assert framing == "frame-ancestors 'none'", (path, csp)
