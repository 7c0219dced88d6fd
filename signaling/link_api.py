"""Personal links and phone cases over HTTP.

- ``POST /api/links``: a company backend (Bearer customer token) gets a single-use
  link for that customer; an agent (login cookie) gets an invitation link that joins
  a case they hold, e.g. during a phone call.
- ``POST /api/cases``: an agent on the phone opens a case to invite the caller into.
- ``GET /l/{entry}?t=...`` redeems a link (see ``pages.customer_page``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated, Any

import msgspec
from aiohttp import web

from signaling import audit, links
from signaling.auth import CustomerClaims, Participant, mint_grant, mint_participant
from signaling.config import Config
from signaling.errors import AuthError, InteractionError
from signaling.http_api import customer_or_grant, decode_body, require
from signaling.interaction import SessionState
from signaling.keys import ARCHIVE, CONFIG, DESK, LINK_KEYS, SECRET, STORE


def link_keys(cfg: Config, server_secret: bytes) -> links.LinkKeys:
    """The configured keys, or one derived from the server secret (zero config)."""
    if cfg.links.keys:
        return links.LinkKeys.from_config(
            [{"kid": k.kid, "secret": k.secret} for k in cfg.links.keys]
        )
    derived = hmac.new(server_secret, b"livedesk personal links", hashlib.sha256).hexdigest()
    return links.LinkKeys(("auto", derived))


class NewLink(msgspec.Struct, forbid_unknown_fields=True):
    entry: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    case: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    ttl_s: Annotated[float, msgspec.Meta(ge=60, le=30 * 86400)] | None = None


class NewCase(msgspec.Struct, forbid_unknown_fields=True):
    entry: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    customer_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    tier: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "standard"


def link_url(request: web.Request, entry: str, token: str) -> str:
    base = request.app[CONFIG].server.public_url or f"{request.scheme}://{request.host}"
    return f"{base.rstrip('/')}/l/{entry}?t={token}"


async def create_link(request: web.Request) -> web.Response:
    body: NewLink = await decode_body(request, NewLink)
    cfg = request.app[CONFIG]
    if body.entry not in cfg.entries:
        raise InteractionError("not_found", f"no entry {body.entry!r}")
    archive = request.app[ARCHIVE]
    auth = request.headers.get("Authorization", "")
    issued_by: str
    if auth.lower().startswith("bearer "):
        if body.case is not None:
            raise AuthError("forbidden", "only an agent may invite into a case")
        who: CustomerClaims = customer_or_grant(request, auth[7:].strip(), body.entry)
        sub, tier, name, case, issued_by = who.sub, who.tier, who.name, None, "backend"
    else:
        user = await require(request, "serve")
        if body.case is None:
            raise InteractionError("bad_message", "an agent's link invites into a case")
        inter = await request.app[STORE].get_session(body.case)
        # whether someone else's case exists is not the caller's to learn: one answer
        if inter is None or inter.entry != body.entry or inter.agent_id != user.username:
            raise InteractionError("not_found", f"you hold no case {body.case} on {body.entry}")
        if inter.state != SessionState.ACTIVE:
            raise AuthError("forbidden", "you can invite only into an active case you hold")
        sub, tier, name, case = inter.customer_id, inter.tier, inter.customer_name, inter.id
        issued_by = user.username
    token, claims = links.issue(
        request.app[LINK_KEYS],
        entry=body.entry,
        sub=sub,
        tier=tier,
        name=name,
        case=case,
        ttl_s=body.ttl_s or cfg.links.ttl_s,
        now=time.time(),
    )
    audit.note_link_issued(archive, claims, issued_by)
    return web.json_response(
        {
            "url": link_url(request, body.entry, token),
            "token": token,
            "jti": claims.jti,
            "expires_at": claims.exp,
            "case": case,
        },
        status=201,
    )


async def open_case(request: web.Request) -> web.Response:
    """An agent on a phone call opens a case, then sends the caller an invitation link."""
    user = await require(request, "serve")
    body: NewCase = await decode_body(request, NewCase)
    if body.entry not in request.app[CONFIG].entries:
        raise InteractionError("not_found", f"no entry {body.entry!r}")
    inter = await request.app[DESK].open_case(
        entry=body.entry,
        agent_id=user.username,
        agent_name=user.display_name,
        customer_name=body.customer_name.strip(),
        tier=body.tier,
    )
    return web.json_response({"session": inter.id, "state": inter.state.value}, status=201)


async def redeem(request: web.Request, entry: str, token: str) -> dict[str, Any]:
    """Spend a link; return what the customer page needs to start or join the session.

    Raises ``links.LinkError`` (with its HTTP status) for expired, used or bad links;
    every outcome is in the audit log.
    """
    archive = request.app[ARCHIVE]
    now = time.time()
    try:
        claims = await links.redeem(request.app[STORE], request.app[LINK_KEYS], token, now=now)
        if claims.entry != entry:
            raise links.LinkError("tampered")
    except links.LinkError as exc:
        audit.note_link_refused(archive, exc.reason, entry=entry, actor=request.remote or "")
        raise
    if claims.case:
        inter = await request.app[STORE].get_session(claims.case)
        if inter is None or inter.state == SessionState.ENDED:
            audit.note_link_refused(archive, "expired", entry=entry, actor=claims.sub)
            raise links.LinkError("expired")
        participant = Participant(
            session=inter.id,
            customer_id=inter.customer_id,
            name=inter.customer_name,
            tier=inter.tier,
        )
        ttl = request.app[CONFIG].auth.participant_token_ttl_s
        audit.note_link_used(
            archive, claims.jti, now, entry=entry, session_id=inter.id, actor=claims.sub
        )
        return {
            "join": {
                "session": inter.id,
                "token": mint_participant(participant, request.app[SECRET], ttl_s=ttl),
            }
        }
    audit.note_link_used(archive, claims.jti, now, entry=entry, actor=claims.sub)
    who = CustomerClaims(sub=claims.sub, tier=claims.tier, name=claims.name)
    return {
        "grant": mint_grant(who, request.app[SECRET], entry=entry),
        "customer_name": claims.name,
    }
