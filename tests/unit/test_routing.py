"""Queue order and agent selection."""

from __future__ import annotations

import pytest

from signaling.interaction import Interaction, SessionState
from signaling.routing import (
    AgentPresence,
    Presence,
    assignments,
    estimated_wait_s,
    queue_order,
    queue_position,
)

NOW = 10_000.0
TIERS = ("premium", "high_value", "loyalty", "standard")


def session(
    sid: str,
    *,
    queued_at: float = NOW - 60,
    tier: str = "standard",
    skill: str = "",
    skipped: dict[str, float] | None = None,
    state: SessionState = SessionState.QUEUED,
) -> Interaction:
    return Interaction(
        id=sid,
        entry="demo",
        state=state,
        created_at=queued_at,
        queued_at=queued_at,
        customer_id=f"cust-{sid}",
        tier=tier,
        skill=skill,
        skipped=skipped or {},
    )


def agent(aid: str, **kw: object) -> AgentPresence:
    kw.setdefault("status", Presence.AVAILABLE)
    return AgentPresence(id=aid, name=aid.title(), **kw)  # type: ignore[arg-type]


def assign(sessions: list[Interaction], agents: list[AgentPresence], now: float = NOW):
    """``[(session id, agent id), ...]`` as routing decides them."""
    return [(sid, a.id) for sid, a in assignments(sessions, agents, tier_priority=TIERS, now=now)]


# ---------------------------------------------------------------- queue order


def ids(sessions: list[Interaction]) -> list[str]:
    return [s.id for s in sessions]


def test_higher_tier_is_served_before_a_longer_wait():
    early = session("early", queued_at=NOW - 600, tier="standard")
    late = session("late", queued_at=NOW - 5, tier="premium")
    assert ids(queue_order([early, late], TIERS)) == ["late", "early"]


def test_within_a_tier_the_longest_wait_is_served_first():
    a = session("a", queued_at=NOW - 10, tier="loyalty")
    b = session("b", queued_at=NOW - 90, tier="loyalty")
    c = session("c", queued_at=NOW - 50, tier="loyalty")
    assert ids(queue_order([a, b, c], TIERS)) == ["b", "c", "a"]


def test_equal_tier_and_wait_are_ordered_by_id():
    sessions = [session(sid, queued_at=NOW - 10) for sid in ("s3", "s1", "s2")]
    assert ids(queue_order(sessions, TIERS)) == ["s1", "s2", "s3"]


def test_unknown_tier_is_served_after_every_listed_tier():
    odd = session("odd", queued_at=NOW - 900, tier="mystery")
    std = session("std", queued_at=NOW - 1, tier="standard")
    assert ids(queue_order([odd, std], TIERS)) == ["std", "odd"]


@pytest.mark.parametrize(
    "state",
    [SessionState.OFFERED, SessionState.ACTIVE, SessionState.WRAP_UP, SessionState.ENDED],
)
def test_only_queued_sessions_are_in_the_queue(state: SessionState):
    assert ids(queue_order([session("x", state=state), session("q")], TIERS)) == ["q"]


# ---------------------------------------------------------------- who may get a session


def test_session_needing_a_skill_goes_only_to_an_agent_with_it():
    billing = session("s1", skill="billing")
    assert assign([billing], [agent("ann", skills=("sales",))]) == []
    assert assign([billing], [agent("bob", skills=("sales", "billing"))]) == [("s1", "bob")]


def test_session_without_a_skill_goes_to_any_agent():
    assert assign([session("s1")], [agent("ann", skills=("sales",))]) == [("s1", "ann")]


def test_agent_with_listed_tiers_serves_only_those_tiers():
    vip_only = agent("ann", tiers=("premium",))
    assert assign([session("s1", tier="standard")], [vip_only]) == []
    assert assign([session("s2", tier="premium")], [vip_only]) == [("s2", "ann")]


def test_agent_without_listed_tiers_serves_every_tier():
    assert assign([session("s1", tier="mystery")], [agent("ann")]) == [("s1", "ann")]


@pytest.mark.parametrize("status", [Presence.BUSY, Presence.AWAY, Presence.OFFLINE])
def test_only_available_agents_are_offered_sessions(status: Presence):
    assert assign([session("s1")], [agent("ann", status=status)]) == []


def test_qa_staff_are_never_routed_sessions():
    assert assign([session("s1")], [agent("quinn", role="qa", capacity=5)]) == []


def test_agent_at_capacity_gets_nothing():
    assert assign([session("s1")], [agent("ann", capacity=2, load=2)]) == []


def test_agent_with_zero_capacity_gets_nothing():
    assert assign([session("s1")], [agent("ann", capacity=0)]) == []


def test_capacity_holds_within_one_call():
    sessions = [session(f"s{i}", queued_at=NOW - 100 + i) for i in range(4)]
    assert assign(sessions, [agent("ann", capacity=2, load=0)]) == [("s0", "ann"), ("s1", "ann")]


def test_load_grows_as_offers_are_made_within_one_call():
    """Each offer raises the agent's load and idle time, so offers spread then fill up."""
    sessions = [session(f"s{i}", queued_at=NOW - 100 + i) for i in range(4)]
    ann = agent("ann", capacity=2, load=0, last_assigned_at=NOW - 50)
    bob = agent("bob", capacity=2, load=1, last_assigned_at=NOW - 500)
    # s0: ann is less loaded; s1: both half full, bob idle longer; s2: only ann has room
    assert assign(sessions, [ann, bob]) == [("s0", "ann"), ("s1", "bob"), ("s2", "ann")]


def test_skipped_agent_is_passed_over_until_their_skip_ends():
    skipping = session("s1", skipped={"ann": NOW + 30})
    agents = [agent("ann"), agent("bob", status=Presence.BUSY)]
    assert assign([skipping], agents, now=NOW) == []
    assert assign([skipping], agents, now=NOW + 29.9) == []
    assert assign([skipping], agents, now=NOW + 30) == [("s1", "ann")]


def test_skipped_agent_does_not_block_another_agent():
    skipping = session("s1", skipped={"ann": NOW + 30})
    assert assign([skipping], [agent("ann"), agent("bob")]) == [("s1", "bob")]


# ---------------------------------------------------------------- which agent


def test_least_loaded_agent_is_chosen():
    agents = [agent("ann", capacity=3, load=2), agent("bob", capacity=3, load=1)]
    assert assign([session("s1")], agents) == [("s1", "bob")]


def test_load_is_measured_against_capacity():
    agents = [agent("ann", capacity=10, load=2), agent("bob", capacity=2, load=1)]
    assert assign([session("s1")], agents) == [("s1", "ann")]


def test_equally_loaded_agents_go_by_longest_idle():
    agents = [
        agent("ann", capacity=2, load=1, last_assigned_at=NOW - 10),
        agent("bob", capacity=2, load=1, last_assigned_at=NOW - 300),
    ]
    assert assign([session("s1")], agents) == [("s1", "bob")]


def test_ties_are_broken_by_agent_id():
    assert assign([session("s1")], [agent("bob"), agent("ann")]) == [("s1", "ann")]


def test_sessions_are_offered_in_queue_order():
    standard = session("std", queued_at=NOW - 600, tier="standard")
    premium = session("vip", queued_at=NOW - 1, tier="premium")
    assert assign([standard, premium], [agent("ann")]) == [("vip", "ann")]


def test_a_session_nobody_can_serve_does_not_block_those_behind_it():
    stuck = session("stuck", queued_at=NOW - 600, skill="klingon")
    behind = session("behind", queued_at=NOW - 1)
    assert assign([stuck, behind], [agent("ann")]) == [("behind", "ann")]


def test_assignment_names_the_agent_as_given():
    ann = agent("ann", capacity=3, load=1)
    [(_, chosen)] = assignments([session("s1")], [ann], tier_priority=TIERS, now=NOW)
    assert chosen == ann


# ---------------------------------------------------------------- queue position and wait


def test_queue_position_counts_only_sessions_with_the_same_skill():
    ordered = queue_order(
        [
            session("b1", queued_at=NOW - 50, skill="billing"),
            session("g1", queued_at=NOW - 40),
            session("b2", queued_at=NOW - 30, skill="billing"),
            session("g2", queued_at=NOW - 20),
            session("b3", queued_at=NOW - 10, skill="billing"),
        ],
        TIERS,
    )
    positions = {s.id: queue_position(s.id, ordered) for s in ordered}
    assert positions == {"b1": 1, "g1": 1, "b2": 2, "g2": 2, "b3": 3}


def test_queue_position_follows_tier_priority():
    ordered = queue_order(
        [session("std", queued_at=NOW - 60), session("vip", queued_at=NOW - 1, tier="premium")],
        TIERS,
    )
    assert (queue_position("vip", ordered), queue_position("std", ordered)) == (1, 2)


def test_queue_position_of_a_session_not_in_the_queue_is_none():
    assert queue_position("gone", queue_order([session("s1")], TIERS)) is None


@pytest.mark.parametrize(
    ("position", "agents", "capacity_each", "expected"),
    [
        (1, 1, 1, 240.0),
        (2, 1, 1, 480.0),
        (3, 2, 1, 480.0),  # two seats: positions 3 and 4 wait for the second round
        (4, 2, 1, 480.0),
        (5, 2, 1, 720.0),
        (4, 1, 4, 240.0),
        (5, 1, 4, 480.0),
        (3, 1, 0, 720.0),  # a capacity below one counts as one seat
    ],
)
def test_estimated_wait_is_rounds_of_parallel_seats_times_handle_time(
    position: int, agents: int, capacity_each: int, expected: float
):
    assert (
        estimated_wait_s(position, agents, avg_handle_s=240.0, capacity_each=capacity_each)
        == expected
    )


@pytest.mark.parametrize("agents", [0, -1])
def test_estimated_wait_is_unknown_when_no_agent_serves_the_session(agents: int):
    assert estimated_wait_s(1, agents, avg_handle_s=240.0) is None
