"""HTTP handlers for recordings: list, detail, and the files, with role checks and Range.

Files are addressed by the session id and a name the server gave them (``review``,
``thumbs``, ``timeline``, ``cobrowse``, or a track id); the path on disk comes from the
archive, never from the request, and must resolve inside the recordings directory (a
symlink that leads out is refused). QA reviewers, supervisors and admins may read every
recording; an agent reads the recordings of their own sessions only when
``recording.agent_access`` is on.
Anyone else gets the same ``not_found`` whether or not the recording exists.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from recorder import cobrowse as cobrowse_log
from recorder import layout
from signaling import audit, qa_filter
from signaling import recording_index as idx
from signaling.archive import User
from signaling.auth import PERMISSIONS, StaffRole
from signaling.errors import AuthError, InteractionError, LivedeskError
from signaling.http_api import current_staff
from signaling.keys import ARCHIVE, CLUSTER, CONFIG, RECORDING, RECORDING_JOBS

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_CHUNK = 8 * 1024 * 1024
"""An open-ended range of a sealed file is answered with at most this much."""

_FILES = {
    "review": (layout.REVIEW, "video/mp4"),
    "thumbs": (layout.THUMBS, "image/jpeg"),
    "timeline": (layout.TIMELINE, "application/x-ndjson; charset=utf-8"),
    "transcript": ("transcript.json", "application/json"),
    "vtt": ("transcript.vtt", "text/vtt; charset=utf-8"),
    "txt": ("transcript.txt", "text/plain; charset=utf-8"),
}
_TRACK_TYPES = {"video": "video/webm", "audio": "audio/webm"}


class RangeError(LivedeskError):
    def __init__(self, size: int) -> None:
        super().__init__("bad_range", f"the file has {size} bytes")
        self.size = size


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions of a single ``bytes=`` range, or None for all.

    Raises :class:`RangeError` (416) when the range is malformed, has several parts, or
    starts past the end.
    """
    if header is None:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise RangeError(size)
    first_s, last_s = m.groups()
    if not first_s:  # the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeError(size)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size or last < first:
        raise RangeError(size)
    return first, min(last, size - 1)


def may_read(user: User, row: idx.RecordingRow, *, agent_access: bool) -> bool:
    if "recordings" in PERMISSIONS[StaffRole(user.role)]:
        return True
    return agent_access and user.role == StaffRole.AGENT and row.agent_id == user.username


async def reader(request: web.Request) -> User:
    """The logged-in user, if they may read recordings at all (else 401/403)."""
    user = await current_staff(request)
    assert user is not None
    perms = PERMISSIONS[StaffRole(user.role)]
    if "recordings" in perms:
        return user
    if user.role == StaffRole.AGENT and request.app[CONFIG].recording.agent_access:
        return user
    raise AuthError("forbidden", "recordings are for QA reviewers, supervisors and admins")


async def readable_row(request: web.Request, user: User) -> idx.RecordingRow:
    """The recording named in the path, if this user may read it (else not_found)."""
    session_id = request.match_info["session"]
    not_found = InteractionError("not_found", "no such recording")
    if not layout.SESSION_ID.match(session_id):
        raise not_found
    row = await idx.get_recording(request.app[ARCHIVE], session_id)
    agent_access = request.app[CONFIG].recording.agent_access
    if row is None or not may_read(user, row, agent_access=agent_access):
        raise not_found
    return row


def public(row: idx.RecordingRow, progress: float | None) -> dict[str, Any]:
    base = f"/api/recordings/{row.session_id}/files"
    media = row.state != "expired"
    return {
        "session_id": row.session_id,
        "entry": row.entry,
        "tier": row.tier,
        "agent_id": row.agent_id,
        "agent_name": row.agent_name,
        "customer_name": row.customer_name,
        "state": row.state,
        "interrupted": row.interrupted,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "duration_s": row.duration_s,
        "paused_s": row.paused_s,
        "bytes": row.bytes,
        "tracks": row.tracks,
        "dropped": row.dropped,
        "sealed": row.sealed,
        "retention_until": row.retention_until,
        "expired_at": row.expired_at,
        "render_error": row.render_error,
        "render_progress": progress,
        "review": f"{base}/review" if media and row.review_bytes else None,
        "review_duration_s": row.review_duration_s,
        "review_start_s": row.review_start_s,
        "thumbs": f"{base}/thumbs" if media and row.review_bytes else None,
        "timeline": f"{base}/timeline",
        "transcript": f"{base}/transcript" if media else None,
        "transcript_vtt": f"{base}/vtt" if media else None,
        "transcript_txt": f"{base}/txt" if media else None,
        "cobrowse": None,  # set by recording_detail when the session has a co-browse stream
    }


async def list_recordings(request: web.Request) -> web.Response:
    user = await reader(request)
    own = None if "recordings" in PERMISSIONS[StaffRole(user.role)] else user.username
    try:
        limit = int(request.query.get("limit", "100"))
        before = float(request.query.get("before", "0"))
    except ValueError:
        raise InteractionError("bad_message", "limit and before must be numbers") from None
    where = qa_filter.parse(request.query)
    rows = await idx.list_recordings(
        request.app[ARCHIVE], agent_id=own, limit=limit, before=before, where=where
    )
    progress = request.app[RECORDING_JOBS].progress
    return web.json_response({"recordings": [public(r, progress.get(r.session_id)) for r in rows]})


async def recording_detail(request: web.Request) -> web.Response:
    user = await reader(request)
    row = await readable_row(request, user)
    archive = request.app[ARCHIVE]
    tracks = await idx.tracks_of(archive, row.session_id)
    job = await idx.get_job(archive, "render", row.session_id)
    body = public(row, request.app[RECORDING_JOBS].progress.get(row.session_id))
    base = f"/api/recordings/{row.session_id}/files"
    body["track_list"] = [
        {
            "id": t.id,
            "side": t.side,
            "name": t.name,
            "source": t.source,
            "kind": t.kind,
            "codec": t.codec,
            "state": t.state,
            "frames": t.frames,
            "bytes": t.bytes,
            "dropped": t.dropped,
            "start_s": t.first_ms / 1000 if t.first_ms is not None else None,
            "duration_s": t.duration_s,
            "url": f"{base}/{t.id}" if row.state != "expired" else None,
        }
        for t in tracks
    ]
    body["flags"] = await idx.flags_of(archive, row.session_id)
    directory = layout.session_dir(request.app[CONFIG].data_path, row.session_id)
    has_cobrowse = await asyncio.get_running_loop().run_in_executor(
        None, lambda: bool(cobrowse_log.files(directory))
    )
    if has_cobrowse and row.state != "expired":
        body["cobrowse"] = f"{base}/cobrowse"
    body["render_job"] = (
        {"state": job.state, "progress": job.progress, "attempts": job.attempts, "error": job.error}
        if job
        else None
    )
    return web.json_response(body)


async def recording_file(request: web.Request) -> web.StreamResponse:
    user = await reader(request)
    row = await readable_row(request, user)
    name = request.match_info["name"]
    not_found = InteractionError("not_found", "no such file in this recording")
    directory = layout.session_dir(request.app[CONFIG].data_path, row.session_id)
    if name == "cobrowse":
        return await _cobrowse_response(request, user, row, directory)
    if name in _FILES:
        if row.state == "expired" and name != "timeline":
            raise not_found
        rel, ctype = _FILES[name]
        candidates = [rel + ".sealed", rel] if row.sealed and name != "timeline" else [rel]
    elif layout.TRACK_ID.match(name):
        if row.state == "expired":
            raise not_found
        tracks = await idx.tracks_of(request.app[ARCHIVE], row.session_id)
        track = next((t for t in tracks if t.id == name), None)
        if track is None:
            raise not_found
        candidates, ctype = [track.file], _TRACK_TYPES.get(track.kind, "video/webm")
    else:
        raise not_found
    path = inside(directory, candidates, request.app[CONFIG].data_path)
    if path is None:
        raise not_found
    try:
        first = request.http_range.start
    except ValueError:
        first = None  # a malformed Range: FileResponse answers 416
    if first in (None, 0):
        _audited(request, user, row, name, reason=name if name in _FILES else "track")
    headers = {"Content-Type": ctype, "Cache-Control": "private, no-store"}
    if request.query.get("download") == "1":
        ext = path.name.removesuffix(".sealed").rsplit(".", 1)[-1]
        headers["Content-Disposition"] = f'attachment; filename="{row.session_id}-{name}.{ext}"'
    if path.name.endswith(".sealed"):
        return await _sealed_response(request, path, headers)
    return web.FileResponse(path, headers=headers)


def _audited(
    request: web.Request, user: User, row: idx.RecordingRow, name: str, *, reason: str
) -> None:
    """Each read of a recording's file goes to the audit log (once per file, not per range)."""
    audit.record(
        request.app[ARCHIVE],
        audit.RECORDING_ACCESS,
        entry=row.entry,
        session_id=row.session_id,
        actor=f"{user.role}:{user.username}",
        reason=reason,
        detail={"file": name},
    )


async def _cobrowse_response(
    request: web.Request, user: User, row: idx.RecordingRow, directory: Path
) -> web.Response:
    """Every recorded co-browse run as one JSON-lines body (decrypted when sealed)."""
    data_path = request.app[CONFIG].data_path
    if row.state == "expired":
        raise InteractionError("not_found", "no such file in this recording")
    kek = request.app[RECORDING].kek

    def read() -> bytes | None:
        names = [p.name for p in cobrowse_log.files(directory)]
        if not names or any(inside(directory, [n], data_path) is None for n in names):
            return None
        return cobrowse_log.read_all(directory, kek=kek)

    body = await asyncio.get_running_loop().run_in_executor(None, read)
    if body is None:
        raise InteractionError("not_found", "this recording has no co-browse stream")
    _audited(request, user, row, "cobrowse", reason="cobrowse")
    headers = {"Cache-Control": "private, no-store"}
    if request.query.get("download") == "1":
        headers["Content-Disposition"] = f'attachment; filename="{row.session_id}-cobrowse.jsonl"'
    return web.Response(
        body=body, content_type="application/x-ndjson", charset="utf-8", headers=headers
    )


def inside(directory: Path, names: list[str], data_path: Path) -> Path | None:
    """The first existing file among ``names`` that really lies under the recordings dir.

    Everything that reads a recording's files for a request goes through this (the
    file endpoints and the QA pages), so a symlink that leads out is never followed."""
    top = (data_path / "recordings").resolve()
    for rel in names:
        path = directory / rel
        try:
            real = path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            continue
        if real.is_file() and real.is_relative_to(top):
            return real
    return None


async def _sealed_response(
    request: web.Request, path: Path, headers: dict[str, str]
) -> web.Response:
    service = request.app[RECORDING]
    loop = asyncio.get_running_loop()
    size = await loop.run_in_executor(None, service.plain_size, path)
    try:
        span = parse_range(request.headers.get("Range"), size)
    except RangeError:
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Accept-Ranges"] = "bytes"
    if request.method == "HEAD":
        return web.Response(status=200, headers={**headers, "Content-Length": str(size)})
    if span is None:
        if size > MAX_CHUNK:
            span = (0, MAX_CHUNK - 1)
            status = 206
        else:
            span, status = (0, size - 1), 200
    else:
        status = 206
        if span[1] - span[0] + 1 > MAX_CHUNK:
            span = (span[0], span[0] + MAX_CHUNK - 1)
    body = (
        await loop.run_in_executor(None, service.read_range, path, span[0], span[1])
        if size
        else b""
    )
    if status == 206:
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    return web.Response(body=body, status=status, headers=headers)


async def search(request: web.Request) -> web.Response:
    """Full-text search over transcripts and chat: each hit in context, linked to its moment.

    Takes the list's filters too, so a search can be narrowed to, say, one agent's week.
    """
    user = await reader(request)
    own = None if "recordings" in PERMISSIONS[StaffRole(user.role)] else user.username
    query = request.query.get("q", "")[:200]
    where = qa_filter.parse(request.query)
    hits = await idx.search_text(request.app[ARCHIVE], query, agent_id=own, where=where)
    return web.json_response(
        {
            "q": query,
            "hits": [
                {
                    "session_id": h.session_id,
                    "source": h.source,
                    "speaker": h.speaker,
                    "start": h.start,
                    "snippet": h.snippet,
                    "url": f"/qa/recordings/{h.session_id}?t={h.start:.1f}",
                }
                for h in hits
            ],
        }
    )


def _eta(job: idx.JobRow, now: float) -> float | None:
    """Seconds left, from the progress made so far (None until there is some)."""
    if job.state != "running" or job.started_at is None or job.progress <= 0.02:
        return None
    spent = now - job.started_at
    return round(spent * (1 - job.progress) / job.progress, 1)


async def job_views(request: web.Request) -> list[tuple[idx.JobRow, float | None]]:
    """The newest jobs with the live progress of running ones, and the seconds each has
    left (None until there is progress to go by). The caller checks the role."""
    rows = await idx.list_jobs(request.app[ARCHIVE], limit=200)
    live = request.app[RECORDING_JOBS]
    now = time.time()
    out = []
    for j in rows:
        running = live.progress if j.kind == "render" else live.transcribing
        progress = running.get(j.session_id, j.progress) if j.state == "running" else j.progress
        job = msgspec.structs.replace(j, progress=progress)
        out.append((job, _eta(job, now)))
    return out


async def jobs(request: web.Request) -> web.Response:
    """Rendering and transcription jobs: progress, time left, failures and their reason."""
    user = await reader(request)
    if "recordings" not in PERMISSIONS[StaffRole(user.role)]:
        raise AuthError("forbidden", "the job list is for QA reviewers, supervisors and admins")
    views = await job_views(request)
    return web.json_response(
        {"jobs": [{**msgspec.to_builtins(job), "eta_s": eta} for job, eta in views]}
    )


async def _job_action(request: web.Request, what: str) -> tuple[User, int]:
    """Who acts on which job: QA reviewers, supervisors and admins only."""
    user = await reader(request)
    if "recordings" not in PERMISSIONS[StaffRole(user.role)]:
        raise AuthError("forbidden", f"{what} jobs is for QA reviewers, supervisors and admins")
    try:
        job_id = int(request.match_info["job"])
    except ValueError:
        raise InteractionError("not_found", "no such job") from None
    if not 0 <= job_id < 2**63:  # past a SQL integer: no such row (and no OverflowError)
        raise InteractionError("not_found", "no such job")
    return user, job_id


async def retry(request: web.Request) -> web.Response:
    """Queue a failed job again (it keeps its attempts count)."""
    _, job_id = await _job_action(request, "retrying")
    job = await idx.retry_job(request.app[ARCHIVE], job_id, time.time())
    if job is None:
        raise InteractionError("wrong_state", "only a failed or finished job can be run again")
    await request.app[RECORDING_JOBS].push(job)
    if request.headers.get("Accept", "").startswith("text/html"):
        raise web.HTTPSeeOther("/qa/jobs")
    return web.json_response({"job": msgspec.to_builtins(job)})


async def cancel(request: web.Request) -> web.Response:
    """Cancel a queued job, or stop a running one (its worker process is killed)."""
    user, job_id = await _job_action(request, "cancelling")
    archive = request.app[ARCHIVE]
    job = await idx.cancel_queued(archive, job_id, time.time())
    if job is None:
        if not request.app[RECORDING_JOBS].cancel_running(job_id, user.username):
            found = await idx.get_job_by_id(archive, job_id)
            if found is None:
                raise InteractionError("not_found", "no such job")
            # running on another node: that node stops its worker
            node = found.worker.split("/", 1)[0]
            elsewhere = found.state == "running" and await request.app[CLUSTER].cancel_job(
                node, job_id, user.username
            )
            if not elsewhere:
                raise InteractionError(
                    "wrong_state", f"the job is {found.state}, not queued or running"
                )
        job = await idx.get_job_by_id(archive, job_id)
    assert job is not None
    audit.record(
        archive,
        audit.JOB_CANCELLED,
        session_id=job.session_id,
        actor=user.username,
        detail={"job": job.id, "kind": job.kind},
    )
    if request.headers.get("Accept", "").startswith("text/html"):
        raise web.HTTPSeeOther("/qa/jobs")
    return web.json_response({"job": msgspec.to_builtins(job)})


def routes(app: web.Application) -> None:
    app.router.add_get("/api/jobs", jobs)
    app.router.add_post("/api/jobs/{job}/cancel", cancel)
    app.router.add_post("/api/jobs/{job}/retry", retry)
    app.router.add_get("/api/recordings/search", search)
    app.router.add_get("/api/recordings", list_recordings)
    app.router.add_get("/api/recordings/{session}", recording_detail)
    app.router.add_get("/api/recordings/{session}/files/{name}", recording_file)
