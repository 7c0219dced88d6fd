"""KPI charts: column geometry from aggregated rows (pure)."""

from __future__ import annotations

import pytest

from signaling.kpi_charts import HEIGHT, MAX_LABELS, WIDTH, _nice_top, kpi_charts, stacked_columns


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (0.4, 0.5), (250, 500)]
)
def test_the_axis_ends_on_a_round_number_at_or_above_the_tallest(value, top):
    assert _nice_top(value) == top


def test_segments_stack_bottom_up_in_series_order_and_scale_to_the_axis():
    rows = [{"day": "2026-11-20", "a": 2, "b": 3}, {"day": "2026-11-21", "a": 1, "b": None}]
    chart = stacked_columns("x", rows, key="day", series=[("a", "A"), ("b", "B")])
    first, second = chart.columns
    assert chart.ticks[-1] == (0.0, "5")  # 2 + 3: the axis ends at 5
    a, b = first.segments
    assert (a.series, a.h, a.y) == ("a", HEIGHT * 2 / 5, HEIGHT - HEIGHT * 2 / 5)
    assert (b.series, b.h, b.y) == ("b", HEIGHT * 3 / 5, 0.0)
    assert a.title == "2026-11-20 · A: 2" and b.title == "2026-11-20 · B: 3"
    assert [s.series for s in second.segments] == ["a"]  # None draws nothing
    assert second.x > first.x + first.w and second.x + second.w <= WIDTH


def test_a_rate_shows_as_a_percentage_and_a_fixed_axis_caps_the_column():
    rows = [{"agent": "ann", "r": 0.25, "s": 140.0}]
    (col,) = stacked_columns(
        "r", rows, key="agent", series=[("r", "R")], scale=100, unit="%"
    ).columns
    assert col.segments[0].title == "ann · R: 25%"
    (col,) = stacked_columns("s", rows, key="agent", series=[("s", "S")], top=100).columns
    assert col.segments[0].h == HEIGHT  # over the axis: drawn to the top, titled with the value
    assert col.segments[0].title == "ann · S: 140"


def test_thirty_days_keep_their_labels_legible():
    rows = [{"day": f"2026-11-{d:02d}", "n": d} for d in range(1, 31)]
    chart = stacked_columns("n", rows, key="day", series=[("n", "N")])
    assert sum(c.show_label for c in chart.columns) <= MAX_LABELS and chart.columns[0].show_label


def test_no_rows_make_an_empty_chart_with_an_axis():
    chart = stacked_columns("e", [], key="day", series=[("n", "N")])
    assert chart.columns == [] and chart.ticks[-1][1] == "1"


def test_the_page_has_five_charts_from_the_day_and_agent_tables():
    names = {k: k for k in ("voice", "video", "screen", "cobrowse", "bot", "customer", "agent",
                            "sessions", "qa", "csat")}  # fmt: skip
    day = [{"day": "2026-11-20", "sessions": 3, "to_voice": 0.5, "to_video": 0.25,
            "to_screen": 0, "to_cobrowse": 0}]  # fmt: skip
    agent = [{"agent": "ann", "by_bot": 1, "by_customer": 2, "by_agent": 0,
              "avg_qa_score": 80.0, "avg_csat": 4.5}]  # fmt: skip
    charts = kpi_charts({"day": day, "agent": agent}, names)
    assert [c.id for c in charts] == ["sessions", "escalation", "origin", "qa", "csat"]
    esc = charts[1].columns[0].segments
    assert [(s.series, s.title) for s in esc] == [
        ("to_voice", "2026-11-20 · voice: 50%"),
        ("to_video", "2026-11-20 · video: 25%"),
    ]
    assert charts[4].ticks[-1][1] == "5" and charts[4].columns[0].segments[0].h == HEIGHT * 4.5 / 5


def test_a_lone_column_stays_a_bar_in_the_middle():
    (col,) = stacked_columns("one", [{"day": "d", "n": 1}], key="day", series=[("n", "N")]).columns
    assert col.w <= 48 and abs(col.x + col.w / 2 - WIDTH / 2) < 0.01
