"""QA reviews of a recording: scorecards and comments pinned to a moment.

A reviewer (QA, supervisor, admin) scores a session against the configured scorecard;
each reviewer has one score per session, stored with who and when. Only its author, or
an admin, may change it. Comments carry a time on the session clock.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import msgspec
from aiohttp import web

from signaling.archive import Db, User
from signaling.auth import PERMISSIONS, StaffRole
from signaling.errors import AuthError, InteractionError
from signaling.http_api import decode_body
from signaling.keys import ARCHIVE, CONFIG
from signaling.recording_api import readable_row, reader
from signaling.scorecard import Answer, Criterion, score


class ScoreBody(msgspec.Struct, forbid_unknown_fields=True):
    answers: dict[Annotated[str, msgspec.Meta(max_length=40)], Answer]
    reviewer: Annotated[str, msgspec.Meta(max_length=64)] = ""
    """An admin correcting someone else's score names them; empty: your own."""


class CommentBody(msgspec.Struct, forbid_unknown_fields=True):
    at: Annotated[float, msgspec.Meta(ge=0, le=7 * 86400)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


def criteria(request: web.Request) -> list[Criterion]:
    return [
        Criterion(c.id, c.label, c.kind, c.weight, c.comment_on_fail)
        for c in request.app[CONFIG].qa.scorecard
    ]


async def _reviewer(request: web.Request) -> User:
    user = await reader(request)
    if "recordings" not in PERMISSIONS[StaffRole(user.role)]:
        raise AuthError("forbidden", "reviews are for QA reviewers, supervisors and admins")
    return user


async def scores_of(db: Db, session_id: str) -> list[dict[str, Any]]:
    """Every reviewer's score of a session, oldest first."""
    rows = await db.fetch(
        "SELECT reviewer, answers, total, created_at, updated_at, updated_by FROM scores"
        " WHERE session_id=? ORDER BY created_at",
        (session_id,),
    )
    return [
        {
            "reviewer": r[0],
            "answers": json.loads(r[1]),
            "total": r[2],
            "created_at": r[3],
            "updated_at": r[4],
            "updated_by": r[5],
        }
        for r in rows
    ]


async def comments_of(db: Db, session_id: str) -> list[dict[str, Any]]:
    """A session's review comments in time order."""
    rows = await db.fetch(
        "SELECT id, author, at, text, created_at FROM review_comments WHERE session_id=?"
        " ORDER BY at, id",
        (session_id,),
    )
    return [
        {"id": r[0], "author": r[1], "at": r[2], "text": r[3], "created_at": r[4]} for r in rows
    ]


async def review(request: web.Request) -> web.Response:
    """The scorecard, every reviewer's score, and the comments."""
    user = await _reviewer(request)
    row = await readable_row(request, user)
    archive = request.app[ARCHIVE]
    scores = await scores_of(archive, row.session_id)
    comments = await comments_of(archive, row.session_id)
    return web.json_response(
        {
            "scorecard": [msgspec.to_builtins(c) for c in criteria(request)],
            "scores": scores,
            "comments": comments,
        }
    )


async def put_score(request: web.Request) -> web.Response:
    user = await _reviewer(request)
    row = await readable_row(request, user)
    body = await decode_body(request, ScoreBody)
    reviewer = body.reviewer or user.username
    if reviewer != user.username and user.role != StaffRole.ADMIN:
        raise AuthError("forbidden", "only its author or an admin may change a score")
    total = score(criteria(request), body.answers)
    answers = json.dumps({k: msgspec.to_builtins(v) for k, v in body.answers.items()})
    now = time.time()

    async with request.app[ARCHIVE].transaction() as db:
        exists = await db.fetchone(
            "SELECT 1 FROM scores WHERE session_id=? AND reviewer=?", (row.session_id, reviewer)
        )
        if reviewer != user.username and not exists:
            # an admin corrects a score; nobody scores in someone else's name
            raise InteractionError("not_found", f"{reviewer} has not scored this session")
        await db.execute(
            "INSERT INTO scores (session_id, reviewer, answers, total, created_at, updated_at,"
            " updated_by) VALUES (?,?,?,?,?,?,?) ON CONFLICT(session_id, reviewer) DO"
            " UPDATE SET answers=excluded.answers, total=excluded.total,"
            " updated_at=excluded.updated_at, updated_by=excluded.updated_by",
            (row.session_id, reviewer, answers, total, now, now, user.username),
        )
    return web.json_response({"reviewer": reviewer, "total": total, "updated_at": now})


async def add_comment(request: web.Request) -> web.Response:
    user = await _reviewer(request)
    row = await readable_row(request, user)
    body = await decode_body(request, CommentBody)
    now = time.time()

    inserted = await request.app[ARCHIVE].fetchone(
        "INSERT INTO review_comments (session_id, author, at, text, created_at)"
        " VALUES (?,?,?,?,?) RETURNING id",
        (row.session_id, user.username, body.at, body.text, now),
    )
    comment_id = int(inserted[0]) if inserted else 0
    return web.json_response(
        {"id": comment_id, "author": user.username, "at": body.at, "text": body.text},
        status=201,
    )


def routes(app: web.Application) -> None:
    app.router.add_get("/api/recordings/{session}/review", review)
    app.router.add_put("/api/recordings/{session}/score", put_score)
    app.router.add_post("/api/recordings/{session}/comments", add_comment)
