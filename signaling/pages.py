"""Page handlers: pick the language, render an autoescaped template. No logic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

import web as web_assets
from signaling import audit, i18n, link_api
from signaling.auth import PERMISSIONS, StaffRole
from signaling.headers import CSP, CSP_VIEWER
from signaling.http_api import current_staff
from signaling.keys import ARCHIVE, CONFIG, DESK, TEMPLATES
from signaling.links import LinkError


def render(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    lang = ctx.setdefault("lang", "en")
    strings = i18n.table(lang)
    ctx.setdefault("strings", strings)
    html = (
        request.app[TEMPLATES]
        .get_template(name)
        .render(t=lambda key, **v: i18n.t(key, lang, v), **ctx)
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


async def index(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    lang = i18n.pick_language("", request.headers.get("Accept-Language"))
    entries = [{"id": k, "title": v.title} for k, v in cfg.entries.items()]
    return render(request, "index.html", lang=lang, entries=entries)


async def customer_page(request: web.Request) -> web.Response:
    """``/l/{entry}``: the customer's chat page for one entry point."""
    cfg = request.app[CONFIG]
    entry_id = request.match_info["entry"]
    entry = cfg.entries.get(entry_id)
    lang = i18n.pick_language(
        entry.language if entry else "", request.headers.get("Accept-Language")
    )
    if entry is None:
        return render(request, "not_found.html", status=404, lang=lang)
    page_config: dict[str, Any] = {
        "entry": entry_id,
        "title": entry.title,
        "greeting": entry.greeting,
        "lang": lang,
    }
    token = request.query.get("t")
    if token:
        # a personal or invitation link: spent here, once; the page gets what it grants
        try:
            page_config.update(await link_api.redeem(request, entry_id, token))
        except LinkError as exc:
            return render(
                request, "link_error.html", status=exc.http_status, lang=lang, reason=exc.reason
            )
    resp = render(request, "customer.html", lang=lang, entry=page_config, page_config=page_config)
    # the widget opens this page in a panel on the company's own site
    ancestors = " ".join(["'self'", *entry.site_origins])
    resp.headers["Content-Security-Policy"] = CSP.replace(
        "frame-ancestors 'none'", f"frame-ancestors {ancestors}"
    )
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"  # ignored where frame-ancestors is understood
    resp.headers["Referrer-Policy"] = "no-referrer"  # a link token must not leak onward
    return resp


async def agent_console(request: web.Request) -> web.Response:
    """``/agent``: the console; the login form when there is no valid login."""
    lang = i18n.pick_language("", request.headers.get("Accept-Language"))
    user = await current_staff(request, required=False)
    me = None
    if user is not None:
        perms = PERMISSIONS[StaffRole(user.role)]
        if "console" not in perms and "recordings" in perms:
            raise web.HTTPFound("/qa")  # a QA reviewer's home is the recordings
        me = {
            "username": user.username,
            "name": user.display_name,
            "role": user.role,
            "capacity": user.capacity,
            "recordings": "recordings" in perms
            or (user.role == StaffRole.AGENT and request.app[CONFIG].recording.agent_access),
        }
    entries = [{"id": k, "title": v.title} for k, v in request.app[CONFIG].entries.items()]
    resp = render(
        request, "agent.html", lang=lang, entries=entries, page_config={"me": me, "lang": lang}
    )
    resp.headers["Content-Security-Policy"] = CSP_VIEWER  # the co-browse view
    return resp


VENDOR = {
    "rrweb.js": ("rrweb/dist/rrweb.umd.min.cjs", "text/javascript"),
    "rrweb.css": ("rrweb/dist/style.css", "text/css"),
}
"""Front-end packages from npm (web/package.json, pinned), served from web/node_modules."""


async def vendor(request: web.Request) -> web.StreamResponse:
    """``/vendor/{name}``: rrweb for the customer's page, the console and the QA review."""
    item = VENDOR.get(request.match_info["name"])
    if item is None:
        raise web.HTTPNotFound()
    rel, ctype = item
    path = web_assets.NODE_MODULES / rel
    if not path.is_file():
        return web.Response(
            status=503,
            text=f"{rel} is not installed: run `make setup` (npm ci in web/)",
            headers={"Retry-After": "60"},
        )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": ctype,
            "Cache-Control": "public, max-age=86400",
            # the widget loads it into company sites
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


SHOP_PAGES = ("product", "cart", "checkout")


async def demo_shop(request: web.Request) -> web.Response:
    """``/demo/shop[/cart|/checkout]``: a company site carrying the widget, for co-browsing."""
    page = request.match_info.get("page") or "product"
    if page not in SHOP_PAGES:
        raise web.HTTPNotFound()
    entry = request.query.get("entry", "demo")
    if entry not in request.app[CONFIG].entries:
        raise web.HTTPNotFound()
    html = request.app[TEMPLATES].get_template("shop.html").render(page=page, entry=entry)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def admin_page(request: web.Request) -> web.Response:
    """``/admin``: every entry's state right now, and the personal links issued and used."""
    lang = i18n.pick_language("", request.headers.get("Accept-Language"))
    user = await current_staff(request, required=False)
    if user is None:
        raise web.HTTPFound("/agent")
    if "admin" not in PERMISSIONS[StaffRole(user.role)]:
        return render(request, "forbidden.html", status=403, lang=lang)
    desk = request.app[DESK]
    cfg = request.app[CONFIG]
    now = desk.policy_now()
    entries = []
    for entry_id, entry in cfg.entries.items():
        staffing = await desk.staffing(entry_id)
        state = await desk.entry_state(entry_id, staffing)
        entries.append(
            {
                "id": entry_id,
                "title": entry.title,
                "open": state.open,
                "reason": state.reason,
                "why": i18n.t(state.message_key, lang, state.params),
                "next_change": _local(state.next_change, entry.timezone),
                "agents_online": staffing.agents_online,
                "agents_available": staffing.agents_available,
                "queue": staffing.queue_length,
                "channels": ", ".join(entry.channels),
            }
        )
    issued = await audit.links_issued(request.app[ARCHIVE], limit=100)
    link_rows = [
        {
            "entry": r.entry,
            "sub": r.sub,
            "tier": r.tier,
            "case": r.case_id,
            "issued_by": r.issued_by,
            "issued_at": _utc(r.issued_at),
            "expires_at": _utc(r.expires_at),
            "used_at": _utc(r.used_at) if r.used_at else "",
        }
        for r in issued
    ]
    return render(
        request,
        "admin.html",
        lang=lang,
        entries=entries,
        links=link_rows,
        now=now.strftime("%Y-%m-%d %H:%M UTC"),
        user=user.display_name,
    )


def _local(when: datetime | None, zone: str) -> str:
    if when is None:
        return ""
    return when.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M ") + zone


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
