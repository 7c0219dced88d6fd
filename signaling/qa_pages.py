"""QA pages: the list of recorded sessions and one recording's page (server-rendered).

Access is the recordings API's: QA reviewers, supervisors and admins see every recording,
an agent only their own and only with ``recording.agent_access``. Media is played from
the role-checked file endpoints; nothing here reads a path a browser sent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from recorder import cobrowse as cobrowse_log
from recorder import layout
from recorder.sealed import SealedError
from signaling import i18n, qa_filter, qa_timeline, review_api
from signaling import recording_index as idx
from signaling.auth import PERMISSIONS, StaffRole
from signaling.errors import AuthError, LivedeskError
from signaling.headers import CSP_VIEWER
from signaling.http_api import current_staff
from signaling.keys import ARCHIVE, CONFIG, RECORDING, RECORDING_JOBS
from signaling.pages import render
from signaling.recording_api import inside, job_views, public, readable_row, reader

MAX_TIMELINE_LINES = qa_timeline.MAX_LINES


async def _language_and_login(request: web.Request) -> str:
    """The page's language; without a login, off to the login form."""
    if await current_staff(request, required=False) is None:
        raise web.HTTPFound("/agent")
    return i18n.pick_language("", request.headers.get("Accept-Language"))


async def qa_list(request: web.Request) -> web.Response:
    """The recorded sessions, filtered, and what was said or written that matches ``q``."""
    lang = await _language_and_login(request)
    try:
        user = await reader(request)
    except AuthError:
        return render(request, "forbidden.html", status=403, lang=lang)
    own = None if "recordings" in PERMISSIONS[StaffRole(user.role)] else user.username
    query = request.query.get("q", "")[:200].strip()
    archive = request.app[ARCHIVE]
    error = ""
    try:
        where = qa_filter.parse(request.query)
    except LivedeskError as exc:
        error, where = exc.message, qa_filter.QaFilter()
    rows = await idx.list_recordings(archive, agent_id=own, limit=200, where=where)
    hits = await idx.search_text(archive, query, agent_id=own, where=where)
    agents = await idx.agents_recorded(archive) if own is None else []
    progress = request.app[RECORDING_JOBS].progress
    items = [_item(public(r, progress.get(r.session_id)), lang) for r in rows]
    entries = request.app[CONFIG].entries
    flag_names = sorted({f.name for e in entries.values() for f in e.transcription.flags})
    found = [
        {
            "session_id": h.session_id,
            "source": i18n.t(f"qa.hit.{h.source}", lang),
            "speaker": i18n.t(f"qa.side.{h.speaker}", lang)
            if f"qa.side.{h.speaker}" in i18n.STRINGS
            else h.speaker,
            "clock": _clock(h.start),
            "snippet": h.snippet,
            "href": f"/qa/recordings/{h.session_id}?t={h.start:.1f}",
        }
        for h in hits
    ]
    return render(
        request,
        "qa.html",
        status=400 if error else 200,
        lang=lang,
        items=items,
        user=user.display_name,
        q=query,
        f=_form(request, where, bool(error)),
        filtered=where.active,
        error=error,
        flags=[(n, n) for n in flag_names],
        agents=agents,
        entries=[(e, e) for e in sorted(entries)],
        channels=[(c, i18n.t(f"qa.channel.{c}", lang)) for c in qa_filter.CHANNELS],
        origins=[(o, i18n.t(f"qa.origin.{o}", lang)) for o in qa_filter.ORIGINS],
        reviews=[(r, i18n.t(f"qa.review.{r}", lang)) for r in qa_filter.REVIEW_STATES],
        hits=found,
    )


def _form(request: web.Request, where: qa_filter.QaFilter, refused: bool) -> dict[str, str]:
    """The filter form's values: as parsed, or as typed when they were refused."""
    fields = qa_filter.QaFilter.__struct_fields__
    if refused:
        return {k: request.query.get(k, "")[:64] for k in fields}
    return {**dict.fromkeys(fields, ""), **where.query()}


async def qa_recording(request: web.Request) -> web.Response:
    lang = await _language_and_login(request)
    try:
        user = await reader(request)
        row = await readable_row(request, user)
    except AuthError:
        return render(request, "forbidden.html", status=403, lang=lang)
    except LivedeskError:
        return render(request, "not_found.html", status=404, lang=lang)
    archive = request.app[ARCHIVE]
    tracks = await idx.tracks_of(archive, row.session_id)
    item = _item(public(row, request.app[RECORDING_JOBS].progress.get(row.session_id)), lang)
    base = f"/api/recordings/{row.session_id}/files"
    track_items = [
        {
            "label": f"{i18n.t('qa.side.' + t.side, lang)} · {t.name} · "
            f"{i18n.t('qa.source.' + t.source, lang)}",
            "kind": t.kind,
            "url": f"{base}/{t.id}" if row.state != "expired" else "",
            "duration": _duration(t.duration_s),
            "start": _clock(t.first_ms / 1000 if t.first_ms is not None else 0),
            "size": _size(t.bytes),
            "dropped": t.dropped,
        }
        for t in tracks
    ]
    data_path = request.app[CONFIG].data_path
    directory = layout.session_dir(data_path, row.session_id)
    loop = asyncio.get_running_loop()

    def read_timeline() -> list[dict[str, Any]]:
        path = inside(directory, [layout.TIMELINE], data_path)
        return qa_timeline.read_timeline(path) if path is not None else []

    timeline = await loop.run_in_executor(None, read_timeline)
    opener = request.app[RECORDING].open_input
    lines = await loop.run_in_executor(None, _transcript, directory, data_path, opener, lang)
    flags = await idx.flags_of(archive, row.session_id)
    scores = await review_api.scores_of(archive, row.session_id)
    comments = await review_api.comments_of(archive, row.session_id)
    mine: dict[str, Any] = next(
        (x["answers"] for x in scores if x["reviewer"] == user.username), {}
    )
    card = []
    for c in review_api.criteria(request):
        given = mine.get(c.id) or {}
        value = given.get("value")
        card.append(
            {
                **msgspec.to_builtins(c),
                "yes": value is True,
                "no": value is False,
                "scale": value if isinstance(value, int) and not isinstance(value, bool) else 0,
                "comment": given.get("comment", ""),
            }
        )
    reviewing = "recordings" in PERMISSIONS[StaffRole(user.role)]
    for x in scores:
        x["when"] = _utc(x["updated_at"])
    for cm in comments:
        cm["clock"] = _clock(cm["at"])
    record = await archive.interaction(row.session_id)
    session_s = (
        float(record["ended_at"]) - float(record["created_at"])
        if record and record.get("ended_at")
        else None
    )
    labels = {k: i18n.t(f"qa.side.{k}", lang) for k in ("customer", "agent", "bot", "system")}
    labels["flag"] = i18n.t("qa.mark.flag", lang)
    scrubber = qa_timeline.marks(timeline, flags, comments, labels)
    span = qa_timeline.span(
        timeline,
        session_s=session_s,
        review_start_s=row.review_start_s,
        review_s=row.review_duration_s if item["review"] else 0.0,
        transcript_end_s=max((x["start"] for x in lines), default=0.0),
    )
    flag_items = [
        {
            "name": f["name"],
            "clock": _clock(f["at"]) if f["at"] is not None else "",
            "at": f["at"],
            "missing": f["missing"],
        }
        for f in flags
    ]
    has_cobrowse = await loop.run_in_executor(None, lambda: bool(cobrowse_log.files(directory)))
    resp = render(
        request,
        "qa_recording.html",
        lang=lang,
        item=item,
        tracks=track_items,
        timeline=timeline,
        marks=scrubber,
        span=span,
        categories=[(c, i18n.t(f"qa.mark.{c}", lang)) for c in qa_timeline.CATEGORIES],
        transcript=lines,
        flags=flag_items,
        scorecard=card,
        scores=scores,
        comments=comments,
        reviewing=reviewing,
        me=user.username,
        user=user.display_name,
        cobrowse=f"{base}/cobrowse" if has_cobrowse and row.state != "expired" else "",
        session_s=session_s or 0.0,
    )
    resp.headers["Content-Security-Policy"] = CSP_VIEWER  # the recorded co-browsed page
    return resp


def _item(rec: dict[str, Any], lang: str) -> dict[str, Any]:
    pct = f"{round((rec['render_progress'] or 0) * 100)}%" if rec["render_progress"] else ""
    why = rec["render_error"] or i18n.t(f"qa.state.{rec['state']}", lang, {"pct": pct})
    return {
        **rec,
        "when": _utc(rec["started_at"]),
        "duration": _duration(rec["review_duration_s"] or rec["duration_s"]),
        "state_text": i18n.t(f"qa.state.{rec['state']}", lang, {"pct": pct}).strip(),
        "size": _size(rec["bytes"]),
        "paused": round(rec["paused_s"]),
        "retention": _utc(rec["retention_until"]) if rec["retention_until"] else "",
        "expired": _utc(rec["expired_at"]) if rec["expired_at"] else "",
        "why_no_review": why,
    }


def _transcript(directory: Path, data_path: Path, opener: Any, lang: str) -> list[dict[str, Any]]:
    """The transcript's lines for the page (plain or sealed file), or none yet."""
    for name in ("transcript.json.sealed", "transcript.json"):
        path = inside(directory, [name], data_path)
        if path is None:
            continue
        try:
            src = opener(path)
            if hasattr(src, "read"):
                with src:
                    raw = src.read()
            else:
                raw = Path(src).read_bytes()
            segments = json.loads(raw).get("segments", [])
        except (OSError, ValueError, LivedeskError, SealedError):
            return []
        return [
            {
                "start": float(seg["start"]),
                "clock": _clock(seg["start"]),
                "speaker": i18n.t(f"qa.side.{seg['speaker']}", lang),
                "side": seg["speaker"],
                "text": seg["text"],
            }
            for seg in segments[:MAX_TIMELINE_LINES]
        ]
    return []


_clock = qa_timeline.clock


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MB"
    return f"{max(1, round(n / 1024))} KB" if n else "0 KB"


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def qa_jobs(request: web.Request) -> web.Response:
    """The rendering and transcription jobs: progress, time left, failures, retry."""
    lang = await _language_and_login(request)
    try:
        user = await reader(request)
        if "recordings" not in PERMISSIONS[StaffRole(user.role)]:
            raise AuthError("forbidden", "QA, supervisors and admins only")
    except AuthError:
        return render(request, "forbidden.html", status=403, lang=lang)
    items = [
        {
            "id": j.id,
            "kind": i18n.t(f"qa.job.{j.kind}", lang),
            "session_id": j.session_id,
            "state": j.state,
            "state_text": i18n.t(f"qa.job_state.{j.state}", lang),
            "pct": round(j.progress * 100),
            "eta": f"{round(eta)} s" if eta is not None else "",
            "attempts": j.attempts,
            "worker": j.worker,
            "error": j.error,
            "when": _utc(j.created_at),
        }
        for j, eta in await job_views(request)
    ]
    return render(request, "qa_jobs.html", lang=lang, jobs=items, user=user.display_name)


def routes(app: web.Application) -> None:
    app.router.add_get("/qa/jobs", qa_jobs)
    app.router.add_get("/qa", qa_list)
    app.router.add_get("/qa/recordings/{session}", qa_recording)
