"""Charts for the KPI page: stacked columns laid out as numbers for an SVG template.

Pure: rows in (``kpi.aggregate``'s), geometry out. The page draws each column as
``<rect>``s with a ``<title>`` (the figure on hover and for screen readers); the tables
below the charts hold the same figures. Drawing server-side keeps the page free of
scripts and of inline styles, which its Content-Security-Policy forbids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

WIDTH = 600.0
HEIGHT = 160.0
MAX_LABELS = 10
MAX_BAR = 48.0


class Segment(NamedTuple):
    series: str
    y: float
    h: float
    title: str


class Column(NamedTuple):
    label: str
    x: float
    w: float
    show_label: bool
    segments: list[Segment]


class Chart(NamedTuple):
    id: str
    width: float
    height: float
    columns: list[Column]
    ticks: list[tuple[float, str]]
    """(y, text) of each horizontal grid line."""
    series: list[tuple[str, str]]
    """(key, name) in stacking order, bottom first: the legend."""


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value - 1e-9:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def stacked_columns(
    chart_id: str,
    rows: Sequence[dict[str, Any]],
    *,
    key: str,
    series: Sequence[tuple[str, str]],
    scale: float = 1.0,
    unit: str = "",
    top: float | None = None,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> Chart:
    """One column per row, one stacked segment per series (``None`` counts as nothing).

    ``scale`` multiplies each value (100 turns a rate into a percentage); ``top`` fixes
    the axis (a 0-100 score), else it is the next round number above the tallest column.
    """
    values = [[float(r.get(k) or 0) * scale for k, _ in series] for r in rows]
    axis = top if top is not None else _nice_top(max((sum(v) for v in values), default=0))
    n = max(1, len(rows))
    slot = width / n
    bar = min(slot - min(slot * 0.2, 6.0), MAX_BAR)  # a lone column is a bar, not a wall
    every = max(1, math.ceil(len(rows) / MAX_LABELS))
    columns = []
    for i, (row, vals) in enumerate(zip(rows, values, strict=True)):
        base = height
        segments = []
        for (k, name), v in zip(series, vals, strict=True):
            if v <= 0:
                continue
            h = height * min(v, axis) / axis
            base -= h
            title = f"{row[key]} · {name}: {_fmt(v, unit)}"
            segments.append(Segment(k, round(base, 2), round(h, 2), title))
        columns.append(
            Column(str(row[key]), round(i * slot + (slot - bar) / 2, 2), round(bar, 2),
                   i % every == 0, segments)
        )  # fmt: skip
    ticks = [(round(height - height * f, 2), _fmt(axis * f, unit)) for f in (0, 0.5, 1)]
    return Chart(chart_id, width, height, columns, ticks, list(series))


def kpi_charts(tables: dict[str, list[dict[str, Any]]], names: dict[str, str]) -> list[Chart]:
    """The KPI page's charts: sessions and escalation by channel per day; who started the
    escalations, the QA score and CSAT per agent. ``names`` label the series."""
    day, agent = tables.get("day", []), tables.get("agent", [])
    return [
        stacked_columns("sessions", day, key="day", series=[("sessions", names["sessions"])]),
        stacked_columns(
            "escalation",
            day,
            key="day",
            series=[(f"to_{c}", names[c]) for c in ("voice", "video", "screen", "cobrowse")],
            scale=100,
            unit="%",
        ),
        stacked_columns(
            "origin",
            agent,
            key="agent",
            series=[(f"by_{o}", names[o]) for o in ("bot", "customer", "agent")],
        ),
        stacked_columns("qa", agent, key="agent", series=[("avg_qa_score", names["qa"])], top=100),
        stacked_columns("csat", agent, key="agent", series=[("avg_csat", names["csat"])], top=5),
    ]
