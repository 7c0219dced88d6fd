"""One session's timeline for the review page: events and chat read back, and scrubber marks.

Everything is on the session clock (seconds since the session was created), the clock of
``timeline.jsonl``, the transcript, flags and comments. The review rendering starts at
``review_start_s`` on that clock; the page's script maps between the two.

``read_timeline`` does file I/O (run it in an executor); ``marks`` is pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MAX_LINES = 2000
MAX_MARKS = 600
"""A scrubber a phone can still draw; past this, chat marks are thinned (events stay)."""

CATEGORIES = ("chat", "join", "escalation", "consent", "pause", "flag", "comment")

_CATEGORY = {
    "chat.message": "chat",
    "session.accepted": "join",
    "session.transferred": "join",
    "session.customer_left": "join",
    "session.agent_left": "join",
    "participant.disconnected": "join",
    "participant.reconnected": "join",
    "session.ended": "join",
    "media.connected": "join",
    "bot.suggested": "escalation",
    "channel.offered": "escalation",
    "channel.active": "escalation",
    "channel.stopped": "escalation",
    "recording.requested": "consent",
    "recording.consented": "consent",
    "recording.declined": "consent",
    "recording.paused": "pause",
    "recording.resumed": "pause",
}


def clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def read_timeline(path: Path) -> list[dict[str, Any]]:
    """The events in ``timeline.jsonl``: time, kind, who, and the text of a chat message."""
    out: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n >= MAX_LINES:
                    break
                ev = json.loads(line)
                data = ev.get("data") or {}
                kind = str(ev["kind"])
                text = str(data.get("text", ""))[:500] if kind == "chat.message" else ""
                detail = data.get("channel") or data.get("side") or data.get("reason") or ""
                out.append(
                    {
                        "t": max(0.0, float(ev["t"])),
                        "clock": clock(ev["t"]),
                        "kind": kind,
                        "actor": str(ev.get("actor", "")),
                        "name": str(data.get("name", "")) if kind == "chat.message" else "",
                        "detail": str(detail)[:64],
                        "text": text,
                        "category": _CATEGORY.get(kind, ""),
                    }
                )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return out


def marks(
    timeline: Iterable[dict[str, Any]],
    flags: Iterable[dict[str, Any]],
    comments: Iterable[dict[str, Any]],
    labels: dict[str, str],
) -> list[dict[str, Any]]:
    """The scrubber's marks, in time order: ``{"t", "clock", "category", "label", "ref"}``.

    ``labels`` names each category and side in the page's language; ``ref`` is the id of
    the list item the mark stands for (timeline line, flag or comment), for the page to
    bring it into view.
    """
    out: list[dict[str, Any]] = []
    for n, ev in enumerate(timeline):
        cat = ev.get("category") or ""
        if not cat:
            continue
        if cat == "chat":
            who = ev.get("name") or labels.get(ev.get("actor", ""), ev.get("actor", ""))
            label = f"{who}: {ev['text'][:80]}"
        else:
            label = " · ".join(x for x in (ev["kind"], ev.get("detail", "")) if x)
        out.append(_mark(ev["t"], cat, label, f"ev-{n}"))
    for n, f in enumerate(flags):
        if f.get("at") is not None and not f.get("missing"):
            out.append(_mark(float(f["at"]), "flag", f"{labels['flag']}: {f['name']}", f"flag-{n}"))
    for c in comments:
        text = f"{c['author']}: {str(c['text'])[:80]}"
        out.append(_mark(float(c["at"]), "comment", text, f"comment-{c['id']}"))
    out.sort(key=lambda m: m["t"])
    if len(out) > MAX_MARKS:
        keep = [m for m in out if m["category"] != "chat"]
        chat = [m for m in out if m["category"] == "chat"]
        room = max(0, MAX_MARKS - len(keep))
        step = len(chat) / room if room else 0
        keep += [chat[int(i * step)] for i in range(room)]
        out = sorted(keep[:MAX_MARKS], key=lambda m: m["t"])
    return out


def _mark(t: float, category: str, label: str, ref: str) -> dict[str, Any]:
    return {"t": round(max(0.0, t), 3), "clock": clock(t), "category": category,
            "label": label, "ref": ref}  # fmt: skip


def span(
    timeline: Iterable[dict[str, Any]],
    *,
    session_s: float | None,
    review_start_s: float,
    review_s: float,
    transcript_end_s: float = 0.0,
) -> float:
    """How long the scrubber is: the session, or as far as anything on it reaches."""
    last = max((ev["t"] for ev in timeline), default=0.0)
    return round(max(1.0, session_s or 0.0, last, review_start_s + review_s, transcript_end_s), 3)
