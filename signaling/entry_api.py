"""Entry points over HTTP: availability for the widget, and the rule check at every start.

``GET /api/entry/{entry}/availability`` answers which channels are open right now to
this visitor on this page, each with a reason and a localized message. The same
evaluation guards ``POST /api/sessions`` and every channel upgrade, so a page edited
in the browser gains nothing: the server decides.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from signaling import audit, fallback
from signaling.auth import read_customer
from signaling.errors import InteractionError
from signaling.http_api import bearer_token, check_attempt, decode_body
from signaling.i18n import pick_language, t
from signaling.keys import ARCHIVE, CONFIG, DESK
from signaling.policy import CHANNELS, Claims, Decision

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


def entry_or_404(request: web.Request) -> tuple[str, Any]:
    entry_id = request.match_info["entry"]
    entry = request.app[CONFIG].entries.get(entry_id)
    if entry is None:
        raise InteractionError("not_found", f"no entry {entry_id!r}")
    return entry_id, entry


def cors(request: web.Request, resp: web.StreamResponse, site_origins: list[str]) -> None:
    """Allow the entry's own sites, and no one else, to read the answer."""
    origin = request.headers.get("Origin")
    resp.headers["Vary"] = "Origin"
    if origin and origin in site_origins:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers.update(CORS_HEADERS)


async def preflight(request: web.Request) -> web.Response:
    """``OPTIONS /api/entry/{entry}/...``: the browser asks before a cross-site call."""
    _, entry = entry_or_404(request)
    resp = web.Response(status=204)
    cors(request, resp, entry.site_origins)
    return resp


def customer_claims(request: web.Request) -> Claims:
    """The tier comes only from a verified customer token; anonymous gets the default."""
    ct = request.app[CONFIG].customer_tokens
    token = bearer_token(request)
    if token is None:
        return Claims(tier=ct.default_tier, authenticated=False)
    claims = read_customer(token, ct.secret, algorithm=ct.algorithm, issuer=ct.issuer)
    return Claims(tier=claims.tier, authenticated=True)


def explain(decision: Decision, lang: str) -> str:
    return t(decision.message_key, lang, decision.params)


async def availability(request: web.Request) -> web.Response:
    entry_id, entry = entry_or_404(request)
    page = request.query.get("page", "")[:2048]
    claims = customer_claims(request)
    decisions = await request.app[DESK].decide(entry_id, page, claims)
    lang = pick_language(entry.language, request.headers.get("Accept-Language"))
    now = request.app[DESK].policy_now()
    body = {
        "entry": entry_id,
        "title": entry.title,
        "language": lang,
        "evaluated_at": now.isoformat(),
        "tier": claims.tier,
        "channels": {
            ch: {
                "open": d.open,
                "reason": d.reason,
                "message": explain(d, lang),
                "label": t(f"entry.channel.{ch}", lang),
                "next_change": d.next_change.isoformat() if d.next_change else None,
            }
            for ch, d in decisions.items()
        },
        "offered": [ch for ch in CHANNELS if ch in entry.channels],
        "fallback": {"callback": True, "message": True},
    }
    resp = web.json_response(body)
    cors(request, resp, entry.site_origins)
    return resp


async def _capture(request: web.Request, kind: str, typ: type[Any]) -> web.Response:
    check_attempt(request)
    entry_id, entry = entry_or_404(request)
    record = await decode_body(request, typ)
    fallback.check(record)
    archive = request.app[ARCHIVE]
    item_id = await fallback.store(archive, kind, entry_id, record)  # type: ignore[arg-type]
    audit.record(
        archive,
        f"fallback.{kind}",
        entry=entry_id,
        actor=record.contact[:200],
        detail={"id": item_id},
    )
    await request.app[DESK].fallbacks_changed()
    resp = web.json_response({"id": item_id, "kind": kind}, status=201)
    cors(request, resp, entry.site_origins)
    return resp


async def callback(request: web.Request) -> web.Response:
    """``POST /api/entry/{entry}/callback``: name, contact, preferred time."""
    return await _capture(request, "callback", fallback.CallbackRequest)


async def leave_message(request: web.Request) -> web.Response:
    """``POST /api/entry/{entry}/message``: a message left for the team."""
    return await _capture(request, "message", fallback.LeftMessage)
