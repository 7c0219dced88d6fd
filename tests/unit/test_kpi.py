"""KPI aggregation: per day, agent and entry, from per-session facts (pure)."""

from __future__ import annotations

from signaling.kpi import SessionFacts, aggregate, to_csv


def facts(sid: str, agent: str, **kw) -> SessionFacts:
    base = dict(
        session_id=sid,
        day="2026-11-23",
        agent=agent,
        entry="demo",
        waited_s=10.0,
        handle_s=100.0,
        channels=frozenset(),
        origins=(),
        recording_asked=False,
        recording_agreed=False,
        qa_score=None,
        csat=None,
    )
    base.update(kw)
    return SessionFacts(**base)  # type: ignore[arg-type]


def test_figures_per_agent():
    rows = aggregate(
        [
            facts("s1", "ann", channels=frozenset({"video"}), origins=("bot",), waited_s=20.0,
                  recording_asked=True, recording_agreed=True, qa_score=80.0, csat=5),
            facts("s2", "ann", channels=frozenset({"voice", "screen"}), origins=("customer", "agent"),
                  recording_asked=True, qa_score=60.0, csat=3),
            facts("s3", "ann"),
            facts("s4", "bob", waited_s=None, handle_s=None),
        ],
        "agent",
    )  # fmt: skip
    ann, bob = rows
    assert ann["agent"] == "ann" and ann["sessions"] == 3
    assert ann["avg_wait_s"] == round((20 + 10 + 10) / 3, 2) and ann["avg_handle_s"] == 100.0
    assert ann["escalation_rate"] == round(2 / 3, 3)
    assert (ann["to_video"], ann["to_voice"], ann["to_screen"]) == (0.333, 0.333, 0.333)
    assert (ann["by_bot"], ann["by_customer"], ann["by_agent"]) == (1, 1, 1)
    assert ann["consent_rate"] == 0.5 and ann["avg_qa_score"] == 70.0
    assert ann["avg_csat"] == 4.0 and ann["csat_answers"] == 2
    assert bob["avg_wait_s"] is None and bob["consent_rate"] is None and bob["escalation_rate"] == 0


def test_csv_has_a_header_and_a_row_per_group():
    text = to_csv(aggregate([facts("s1", "ann"), facts("s2", "bob", day="2026-11-24")], "day"))
    lines = text.strip().splitlines()
    assert lines[0].startswith("day,sessions,avg_wait_s,avg_handle_s,escalation_rate")
    assert [x.split(",")[0] for x in lines[1:]] == ["2026-11-23", "2026-11-24"]
