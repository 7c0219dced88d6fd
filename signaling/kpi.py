"""Contact-center figures per day, agent and entry, from the archive.

``load_facts`` reads one row of facts per session from the archive; ``aggregate`` is pure:
sessions, average wait in queue and handle time, how often chat moved up to voice, video,
screen or co-browse and who started it, the recording consent rate, the average QA score
and CSAT.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from signaling.archive import Db

UPGRADES = ("voice", "video", "screen", "cobrowse")
ORIGINS = ("bot", "customer", "agent")
_COUNTED = (
    "session.accepted",
    "session.wrap_up",
    "session.ended",
    "channel.offered",
    "channel.active",
    "recording.requested",
    "recording.consented",
)


class SessionFacts(NamedTuple):
    session_id: str
    day: str
    agent: str
    entry: str
    waited_s: float | None
    handle_s: float | None
    channels: frozenset[str]
    """Upgrade channels that went live."""
    origins: tuple[str, ...]
    """Who started each upgrade that went live."""
    recording_asked: bool
    recording_agreed: bool
    qa_score: float | None
    csat: int | None


async def load_facts(db: Db, *, since: float = 0.0) -> list[SessionFacts]:
    """One row of facts per session created since ``since``."""
    sessions = await db.fetch(
        "SELECT id, entry, COALESCE(agent_id, ''), created_at FROM interactions"
        " WHERE created_at >= ? ORDER BY created_at",
        (since,),
    )
    scores = {
        r[0]: r[1]
        for r in await db.fetch("SELECT session_id, avg(total) FROM scores GROUP BY session_id")
    }
    csats = {r[0]: r[1] for r in await db.fetch("SELECT session_id, score FROM csat")}
    # one query for every session's events that count, not one per session
    marks = ",".join("?" * len(_COUNTED))
    events: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
    for sid, kind, at, data_text in await db.fetch(
        "SELECT e.session_id, e.kind, e.at, e.data FROM events e"  # noqa: S608
        " JOIN interactions i ON i.id = e.session_id"
        f" WHERE i.created_at >= ? AND e.kind IN ({marks}) ORDER BY e.session_id, e.seq",
        (since, *_COUNTED),
    ):
        events[sid].append((kind, at, data_text))
    out = []
    for sid, entry, agent, created in sessions:
        waited = accepted = ended = None
        live: set[str] = set()
        offered_by: dict[str, str] = {}
        origins: list[str] = []
        asked = agreed = False
        for kind, at, data_text in events.get(sid, ()):
            data = json.loads(data_text)
            if kind == "session.accepted" and accepted is None:
                accepted, waited = at, data.get("waited_s")
            elif kind in ("session.wrap_up", "session.ended") and ended is None and accepted:
                ended = at
            elif kind == "channel.offered":
                offered_by[data.get("channel", "")] = data.get("origin", "")
            elif kind == "channel.active" and data.get("channel") in UPGRADES:
                if data["channel"] not in live:
                    live.add(data["channel"])
                    origins.append(data.get("origin") or offered_by.get(data["channel"], ""))
            elif kind == "recording.requested":
                asked = True
            elif kind == "recording.consented" and data.get("side") == "customer":
                agreed = True
        day = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d")
        out.append(
            SessionFacts(
                sid,
                day,
                agent,
                entry,
                float(waited) if waited is not None else None,
                (ended - accepted) if ended is not None and accepted is not None else None,
                frozenset(live),
                tuple(origins),
                asked,
                agreed,
                scores.get(sid),
                csats.get(sid),
            )
        )
    return out


def _avg(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 2) if vals else None


def aggregate(facts: Iterable[SessionFacts], by: str) -> list[dict[str, Any]]:
    """Figures per ``by`` (``day``, ``agent`` or ``entry``), in order of the key."""
    groups: dict[str, list[SessionFacts]] = defaultdict(list)
    for f in facts:
        groups[getattr(f, by) or "-"].append(f)
    rows = []
    for key in sorted(groups):
        g = groups[key]
        n = len(g)
        escalated = [f for f in g if f.channels]
        asked = [f for f in g if f.recording_asked]
        origins = [o for f in g for o in f.origins]
        rows.append(
            {
                by: key,
                "sessions": n,
                "avg_wait_s": _avg(f.waited_s for f in g),
                "avg_handle_s": _avg(f.handle_s for f in g),
                "escalation_rate": round(len(escalated) / n, 3),
                **{f"to_{ch}": round(sum(ch in f.channels for f in g) / n, 3) for ch in UPGRADES},
                **{f"by_{o}": origins.count(o) for o in ORIGINS},
                "consent_rate": (
                    round(sum(f.recording_agreed for f in asked) / len(asked), 3) if asked else None
                ),
                "avg_qa_score": _avg(f.qa_score for f in g),
                "avg_csat": _avg(float(f.csat) for f in g if f.csat is not None),
                "csat_answers": sum(f.csat is not None for f in g),
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
