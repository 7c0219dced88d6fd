"""The audit log: who was let in or refused, and which personal links were issued and used.

Rows live in the archive (tables ``audit`` and ``links``, migration 2). Writes
go through the archive's writer (``Archive.execute_later``), so callers on the
event loop never wait on the database and ``await archive.flush()`` covers them.
A link token is a bearer credential: only its claims are recorded, never the
token itself.

The ``query_*`` reads take any ``Db`` (the archive, or a transaction).
"""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec

from signaling.archive import Archive, Db
from signaling.links import LinkClaims

LINK_ISSUED = "link.issued"
LINK_USED = "link.used"
LINK_REFUSED = "link.refused"  # reason: a LinkError reason (expired, used, tampered, malformed)
ENTRY_REFUSED = "entry.refused"  # reason: the entry policy's reason code
FALLBACK_CALLBACK = "fallback.callback"
FALLBACK_MESSAGE = "fallback.message"
RECORDING_CONSENT = "recording.consent"  # reason: requested, consented, declined
RECORDING_ACCESS = "recording.access"  # who fetched which recording file
RECORDING_EXPIRED = "recording.expired"  # media deleted past retention
RECORDING_INTERRUPTED = "recording.interrupted"  # found unfinished at start-up, or disk_full
JOB_CANCELLED = "job.cancelled"  # a reviewer cancelled a render or transcription job
JOB_REQUEUED = "job.requeued"  # a job's worker (its node) is gone or crashed: it runs again
LOGIN_REFUSED = "login.refused"  # reason: credentials, or backoff (too many failures)

KINDS: frozenset[str] = frozenset(
    {
        LINK_ISSUED,
        LINK_USED,
        LINK_REFUSED,
        ENTRY_REFUSED,
        FALLBACK_CALLBACK,
        FALLBACK_MESSAGE,
        RECORDING_CONSENT,
        RECORDING_ACCESS,
        RECORDING_EXPIRED,
        RECORDING_INTERRUPTED,
        JOB_CANCELLED,
        JOB_REQUEUED,
        LOGIN_REFUSED,
    }
)

MAX_TEXT = 256
"""Longer entry, session, actor and reason values are cut to this many characters."""

MAX_DETAIL = 8192
"""A detail whose JSON is longer is replaced by ``{"truncated": true, "size": n}``."""

MAX_LIMIT = 1000


class AuditRecord(msgspec.Struct, frozen=True):
    id: int
    at: float
    kind: str
    entry: str
    session_id: str
    actor: str
    reason: str
    detail: dict[str, Any]


class LinkRecord(msgspec.Struct, frozen=True):
    """One personal link as the admin page lists it; ``used_at`` is None until redeemed."""

    jti: str
    entry: str
    sub: str
    tier: str
    case_id: str
    kid: str
    issued_at: float
    expires_at: float
    issued_by: str
    used_at: float | None


# ------------------------------------------------------------------ writes


def record(
    archive: Archive,
    kind: str,
    *,
    entry: str = "",
    session_id: str = "",
    actor: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
    at: float | None = None,
) -> None:
    """Queue one audit row. Never blocks; ValueError for a kind not in ``KINDS``."""
    if kind not in KINDS:  # programming error: add the kind above first
        raise ValueError(f"unknown audit kind {kind!r}")
    archive.execute_later(
        "INSERT INTO audit (at, kind, entry, session_id, actor, reason, detail)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            time.time() if at is None else float(at),
            kind,
            entry[:MAX_TEXT],
            session_id[:MAX_TEXT],
            actor[:MAX_TEXT],
            reason[:MAX_TEXT],
            _detail_json(detail),
        ),
    )


def note_link_issued(
    archive: Archive, claims: LinkClaims, issued_by: str, *, at: float | None = None
) -> None:
    """Record a newly minted link (``links.issue`` returns its claims) and audit it."""
    issued_at = float(claims.iat) if at is None else float(at)
    archive.execute_later(
        "INSERT INTO links (jti, entry, sub, tier, case_id, kid, issued_at,"
        " expires_at, issued_by, used_at) VALUES (?,?,?,?,?,?,?,?,?,NULL)"
        " ON CONFLICT DO NOTHING",
        (
            claims.jti,
            claims.entry,
            claims.sub,
            claims.tier,
            claims.case or "",
            claims.kid,
            issued_at,
            float(claims.exp),
            issued_by[:MAX_TEXT],
        ),
    )
    record(
        archive,
        LINK_ISSUED,
        entry=claims.entry,
        session_id=claims.case or "",
        actor=issued_by,
        detail={
            "jti": claims.jti,
            "sub": claims.sub,
            "tier": claims.tier,
            "kid": claims.kid,
            "exp": claims.exp,
        },
        at=issued_at,
    )


def note_link_used(
    archive: Archive,
    jti: str,
    at: float,
    *,
    entry: str = "",
    session_id: str = "",
    actor: str = "",
) -> None:
    """Mark a redeemed link as used (the first mark wins) and audit it.

    ``session_id`` is the session the link led to; ``actor`` the customer id.
    """
    archive.execute_later(
        "UPDATE links SET used_at=? WHERE jti=? AND used_at IS NULL", (float(at), jti)
    )
    record(
        archive,
        LINK_USED,
        entry=entry,
        session_id=session_id,
        actor=actor,
        detail={"jti": jti},
        at=at,
    )


def note_link_refused(
    archive: Archive,
    reason: str,
    *,
    at: float | None = None,
    entry: str = "",
    actor: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a refused link; ``reason`` is ``LinkError.reason``. Do not pass the token."""
    record(archive, LINK_REFUSED, entry=entry, actor=actor, reason=reason, detail=detail, at=at)


def _detail_json(detail: dict[str, Any] | None) -> str:
    text = json.dumps(detail or {}, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > MAX_DETAIL:
        return json.dumps({"truncated": True, "size": len(text)})
    return text


# ------------------------------------------------------------------ reads


async def recent(archive: Archive, kind: str | None = None, limit: int = 100) -> list[AuditRecord]:
    """The newest audit rows (of one kind, if given), newest first."""
    return await query_recent(archive, kind, limit)


async def links_issued(
    archive: Archive, *, entry: str | None = None, limit: int = 100
) -> list[LinkRecord]:
    """The most recently issued personal links (for one entry, if given), newest first."""
    return await query_links(archive, entry=entry, limit=limit)


async def query_recent(db: Db, kind: str | None, limit: int = 100) -> list[AuditRecord]:
    n = _limit(limit)
    cols = "id, at, kind, entry, session_id, actor, reason, detail"
    if kind is None:
        rows = await db.fetch(
            f"SELECT {cols} FROM audit ORDER BY at DESC, id DESC LIMIT ?",  # noqa: S608 - constant
            (n,),
        )
    else:
        rows = await db.fetch(
            f"SELECT {cols} FROM audit WHERE kind=? ORDER BY at DESC, id DESC LIMIT ?",  # noqa: S608
            (kind, n),
        )
    return [
        AuditRecord(
            id=r[0],
            at=r[1],
            kind=r[2],
            entry=r[3],
            session_id=r[4],
            actor=r[5],
            reason=r[6],
            detail=_load_detail(r[7]),
        )
        for r in rows
    ]


async def query_links(db: Db, *, entry: str | None = None, limit: int = 100) -> list[LinkRecord]:
    n = _limit(limit)
    cols = "jti, entry, sub, tier, case_id, kid, issued_at, expires_at, issued_by, used_at"
    if entry is None:
        rows = await db.fetch(
            f"SELECT {cols} FROM links ORDER BY issued_at DESC, jti LIMIT ?",  # noqa: S608
            (n,),
        )
    else:
        rows = await db.fetch(
            f"SELECT {cols} FROM links WHERE entry=? ORDER BY issued_at DESC, jti LIMIT ?",  # noqa: S608
            (entry, n),
        )
    return [
        LinkRecord(
            jti=r[0],
            entry=r[1],
            sub=r[2],
            tier=r[3],
            case_id=r[4],
            kid=r[5],
            issued_at=r[6],
            expires_at=r[7],
            issued_by=r[8],
            used_at=r[9],
        )
        for r in rows
    ]


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _load_detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
