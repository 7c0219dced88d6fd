"""The customer's one-question survey (CSAT) and the KPI pages and CSV."""

from __future__ import annotations

import time
from typing import Annotated

import msgspec
from aiohttp import web

from signaling import i18n, kpi, kpi_charts
from signaling.auth import PERMISSIONS, StaffRole, read_participant
from signaling.errors import AuthError, InteractionError
from signaling.http_api import current_staff, decode_body
from signaling.keys import ARCHIVE, SECRET
from signaling.pages import render

GROUPS = ("day", "agent", "entry")


class CsatBody(msgspec.Struct, forbid_unknown_fields=True):
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]


async def csat(request: web.Request) -> web.Response:
    """``POST /api/sessions/{session}/csat`` with the customer's participant token: once."""
    session_id = request.match_info["session"]
    auth = request.headers.get("Authorization", "")
    if not auth.lower().startswith("bearer "):
        raise AuthError("unauthorized", "the survey needs the session's participant token")
    participant = read_participant(auth[7:].strip(), request.app[SECRET])
    if participant.session != session_id:
        raise AuthError("forbidden", "this token is for another session")
    body = await decode_body(request, CsatBody)
    archive = request.app[ARCHIVE]
    await archive.flush()
    record = await archive.interaction(session_id)
    if record is None or record["state"] not in ("wrap_up", "ended") or not record["agent_id"]:
        raise InteractionError("wrong_state", "the survey opens when the conversation ends")

    stored = await archive.execute(
        "INSERT INTO csat (session_id, score, at) VALUES (?,?,?) ON CONFLICT DO NOTHING",
        (session_id, body.score, time.time()),
    )
    if stored != 1:
        raise InteractionError("wrong_state", "this survey has been answered")
    return web.json_response({"score": body.score}, status=201)


async def _allowed(request: web.Request) -> None:
    user = await current_staff(request)
    assert user is not None
    if not {"recordings", "supervise"} & PERMISSIONS[StaffRole(user.role)]:
        raise AuthError("forbidden", "KPIs are for QA reviewers, supervisors and admins")


def _by(request: web.Request) -> str:
    by = request.query.get("by", "day")
    if by not in GROUPS:
        raise InteractionError("bad_message", f"by must be one of {', '.join(GROUPS)}")
    return by


async def kpis(request: web.Request) -> web.Response:
    """``GET /api/kpis?by=day|agent|entry&days=N`` as JSON."""
    await _allowed(request)
    by = _by(request)
    try:
        days = min(max(int(request.query.get("days", "30") or 30), 1), 366)
    except ValueError:
        raise InteractionError("bad_message", "days must be a whole number") from None
    facts = await kpi.load_facts(request.app[ARCHIVE], since=time.time() - days * 86400)
    return web.json_response({"by": by, "days": days, "rows": kpi.aggregate(facts, by)})


async def kpis_csv(request: web.Request) -> web.Response:
    await _allowed(request)
    by = _by(request)
    facts = await kpi.load_facts(request.app[ARCHIVE], since=0)
    return web.Response(
        text=kpi.to_csv(kpi.aggregate(facts, by)),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="livedesk-kpis-by-{by}.csv"'},
    )


async def kpi_page(request: web.Request) -> web.Response:
    lang = i18n.pick_language("", request.headers.get("Accept-Language"))
    if await current_staff(request, required=False) is None:
        raise web.HTTPFound("/agent")
    try:
        await _allowed(request)
    except AuthError:
        return render(request, "forbidden.html", status=403, lang=lang)
    facts = await kpi.load_facts(request.app[ARCHIVE], since=time.time() - 30 * 86400)
    tables = {by: kpi.aggregate(facts, by) for by in GROUPS}
    names = {k: i18n.t(f"qa.chart.{k}", lang) for k in ("voice", "video", "screen", "cobrowse")}
    names |= {k: i18n.t(f"qa.origin.{k}", lang) for k in ("bot", "customer", "agent")}
    names |= {
        "sessions": i18n.t("qa.kpi.sessions", lang),
        "qa": i18n.t("qa.kpi.qa", lang),
        "csat": i18n.t("qa.chart.csat_series", lang),
    }
    charts = kpi_charts.kpi_charts(tables, names)
    titles = {c.id: i18n.t(f"qa.chart.{c.id}", lang) for c in charts}
    return render(
        request, "qa_kpis.html", lang=lang, tables=tables, charts=charts, chart_titles=titles
    )


def routes(app: web.Application) -> None:
    app.router.add_post("/api/sessions/{session}/csat", csat)
    app.router.add_get("/api/kpis", kpis)
    app.router.add_get("/api/kpis.csv", kpis_csv)
    app.router.add_get("/qa/kpis", kpi_page)
