"""The QA list's filters: parsed from a query string, turned into one SQL condition.

A reviewer narrows the recorded sessions by date range, agent, entry, the channels the
session used (chat only, or escalated to voice, video, screen or co-browse), who started
the escalation (bot, customer or agent), a transcript flag, session length, QA score and
review state. ``parse`` checks every field and raises ``bad_filter`` naming the bad one;
``condition`` builds a parameterised ``WHERE`` fragment over ``recordings r`` that the
list and the full-text search share, so a hit is only shown from a session the filter
keeps.

Pure: no I/O. Dates are UTC calendar days, as the QA pages show times in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from signaling.archive.base import SQLITE, Dialect
from signaling.errors import InteractionError

CHANNELS = ("chat_only", "voice", "video", "screen", "cobrowse")
ORIGINS = ("bot", "customer", "agent")
REVIEW_STATES = ("unreviewed", "reviewed", "commented")
_UPGRADES = ("voice", "video", "screen", "cobrowse")
_MAX_TEXT = 64


class QaFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What the reviewer asked for; an empty field does not filter."""

    flag: str = ""
    date_from: date | None = None
    date_to: date | None = None
    """Inclusive: the whole of that day (UTC)."""
    agent: str = ""
    entry: str = ""
    channel: str = ""
    origin: str = ""
    min_minutes: float | None = None
    max_minutes: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    review: str = ""

    @property
    def active(self) -> bool:
        return self != QaFilter()

    def query(self) -> dict[str, str]:
        """The filter as query-string fields (for links that keep it)."""
        out: dict[str, str] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None or value == "":
                continue
            out[name] = value.isoformat() if isinstance(value, date) else _plain(value)
        return out


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bad(field: str, why: str) -> InteractionError:
    return InteractionError("bad_filter", f"{field}: {why}")


def _text(query: Mapping[str, str], field: str) -> str:
    value = query.get(field, "").strip()
    if len(value) > _MAX_TEXT:
        raise _bad(field, f"at most {_MAX_TEXT} characters")
    return value


def _choice(query: Mapping[str, str], field: str, allowed: tuple[str, ...]) -> str:
    value = query.get(field, "").strip()
    if value and value not in allowed:
        raise _bad(field, f"one of {', '.join(allowed)}")
    return value


def _day(query: Mapping[str, str], field: str) -> date | None:
    value = query.get(field, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(field, "a date as YYYY-MM-DD") from None


def _number(query: Mapping[str, str], field: str, top: float) -> float | None:
    value = query.get(field, "").strip()
    if not value:
        return None
    try:
        n = float(value)
    except ValueError:
        raise _bad(field, "a number") from None
    if not 0 <= n <= top:  # also refuses nan
        raise _bad(field, f"between 0 and {_plain(top)}")
    return n


def parse(query: Mapping[str, str]) -> QaFilter:
    """The filter in a query string; ``bad_filter`` names the first field that is wrong."""
    f = QaFilter(
        flag=_text(query, "flag"),
        date_from=_day(query, "date_from"),
        date_to=_day(query, "date_to"),
        agent=_text(query, "agent"),
        entry=_text(query, "entry"),
        channel=_choice(query, "channel", CHANNELS),
        origin=_choice(query, "origin", ORIGINS),
        min_minutes=_number(query, "min_minutes", 24 * 60),
        max_minutes=_number(query, "max_minutes", 24 * 60),
        min_score=_number(query, "min_score", 100),
        max_score=_number(query, "max_score", 100),
        review=_choice(query, "review", REVIEW_STATES),
    )
    for low, high in (
        ("date_from", "date_to"),
        ("min_minutes", "max_minutes"),
        ("min_score", "max_score"),
    ):
        a, b = getattr(f, low), getattr(f, high)
        if a is not None and b is not None and a > b:
            raise _bad(high, f"must not be before {low}")
    return f


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def condition(
    f: QaFilter, *, agent_id: str | None = None, dialect: Dialect = SQLITE
) -> tuple[str, list[Any]]:
    """A ``WHERE`` fragment over ``recordings r`` and its parameters.

    ``agent_id`` is the access rule (an agent sees only their own sessions), applied on
    top of whatever the filter says.
    """
    where: list[str] = []
    params: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        where.append(sql)
        params.extend(values)

    if agent_id is not None:
        add("r.agent_id = ?", agent_id)
    if f.agent:
        add("r.agent_id = ?", f.agent)
    if f.entry:
        add("r.entry = ?", f.entry)
    if f.date_from is not None:
        add("r.started_at >= ?", _midnight(f.date_from))
    if f.date_to is not None:
        add("r.started_at < ?", _midnight(f.date_to + timedelta(days=1)))
    if f.flag:
        # a flag is a phrase said, or one that had to be said and never was
        add("r.session_id IN (SELECT session_id FROM transcript_flags WHERE name = ?)", f.flag)
    live = "SELECT 1 FROM events e WHERE e.session_id = r.session_id AND e.kind = 'channel.active'"
    channel, origin = dialect.json_text("e.data", "channel"), dialect.json_text("e.data", "origin")
    if f.channel == "chat_only":
        marks = ",".join("?" * len(_UPGRADES))
        add(
            f"NOT EXISTS ({live} AND {channel} IN ({marks}))",
            *_UPGRADES,
        )
    elif f.channel:
        add(f"EXISTS ({live} AND {channel} = ?)", f.channel)
    if f.origin:
        marks = ",".join("?" * len(_UPGRADES))
        add(
            f"EXISTS ({live} AND {channel} IN ({marks}) AND {origin} = ?)",
            *_UPGRADES,
            f.origin,
        )
    length = (
        "(SELECT COALESCE(i.ended_at, r.ended_at, r.started_at) - i.created_at"
        " FROM interactions i WHERE i.id = r.session_id)"
    )
    if f.min_minutes is not None:
        add(f"{length} >= ?", f.min_minutes * 60)
    if f.max_minutes is not None:
        add(f"{length} <= ?", f.max_minutes * 60)
    score = "(SELECT avg(total) FROM scores s WHERE s.session_id = r.session_id)"
    if f.min_score is not None:
        add(f"{score} >= ?", f.min_score)
    if f.max_score is not None:
        add(f"{score} <= ?", f.max_score)
    scored = "EXISTS (SELECT 1 FROM scores s WHERE s.session_id = r.session_id)"
    if f.review == "reviewed":
        add(scored)
    elif f.review == "unreviewed":
        add(f"NOT {scored}")
    elif f.review == "commented":
        add("EXISTS (SELECT 1 FROM review_comments c WHERE c.session_id = r.session_id)")
    return (" AND ".join(where) or "1=1"), params
