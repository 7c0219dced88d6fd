"""Queue order and agent selection, as pure functions.

A session goes only to an agent who has its skill (if it needs one), serves its
tier, is available, and has free capacity. The queue is ordered by tier priority
(earlier in ``tier_priority`` first), then by longest wait. Among eligible agents,
the least loaded one gets the offer, then the one idle longest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from enum import StrEnum

import msgspec

from signaling.interaction import Interaction, SessionState


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class AgentPresence(msgspec.Struct, frozen=True):
    """An agent as routing sees them. ``load`` is sessions offered, active or in wrap-up."""

    id: str
    name: str
    status: Presence = Presence.OFFLINE
    skills: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()  # empty: serves every tier
    capacity: int = 1
    load: int = 0
    last_assigned_at: float = 0.0
    role: str = "agent"


def serves(agent: AgentPresence, inter: Interaction) -> bool:
    """Skill and tier match, regardless of presence or load."""
    if inter.skill and inter.skill not in agent.skills:
        return False
    return not agent.tiers or inter.tier in agent.tiers


def tier_rank(tier: str, tier_priority: Sequence[str]) -> int:
    try:
        return tier_priority.index(tier)
    except ValueError:
        return len(tier_priority)


def queue_order(sessions: Iterable[Interaction], tier_priority: Sequence[str]) -> list[Interaction]:
    """Queued sessions in the order routing serves them."""
    queued = [s for s in sessions if s.state == SessionState.QUEUED]
    return sorted(queued, key=lambda s: (tier_rank(s.tier, tier_priority), s.queued_at, s.id))


def assignments(
    sessions: Iterable[Interaction],
    agents: Iterable[AgentPresence],
    *,
    tier_priority: Sequence[str],
    now: float,
) -> list[tuple[str, AgentPresence]]:
    """Which queued session to offer to which agent now, in queue order.

    Load grows as offers are made within one call, so capacity holds.
    """
    pool = {a.id: a for a in agents if a.status == Presence.AVAILABLE and a.role != "qa"}
    out: list[tuple[str, AgentPresence]] = []
    for inter in queue_order(sessions, tier_priority):
        candidates = [
            a
            for a in pool.values()
            if a.load < a.capacity and serves(a, inter) and inter.skipped.get(a.id, 0) <= now
        ]
        if not candidates:
            continue
        best = min(
            candidates, key=lambda a: (a.load / max(a.capacity, 1), a.last_assigned_at, a.id)
        )
        out.append((inter.id, best))
        pool[best.id] = msgspec.structs.replace(best, load=best.load + 1, last_assigned_at=now)
    return out


def queue_positions(ordered: Sequence[Interaction]) -> dict[str, int]:
    """Every session's 1-based position among those needing the same skill, in one pass."""
    seen: dict[str, int] = {}
    out: dict[str, int] = {}
    for s in ordered:
        seen[s.skill] = seen.get(s.skill, 0) + 1
        out[s.id] = seen[s.skill]
    return out


def queue_position(session_id: str, ordered: Sequence[Interaction]) -> int | None:
    """1-based position among sessions competing for the same agents, or None."""
    target = next((s for s in ordered if s.id == session_id), None)
    if target is None:
        return None
    ahead = [s for s in ordered if s.skill == target.skill]
    return ahead.index(target) + 1


def estimated_wait_s(
    position: int, agents_serving: int, *, avg_handle_s: float, capacity_each: int = 1
) -> float | None:
    """A plain estimate: position over parallel seats, times the average handle time.

    None when no agent serving this session is online: the wait is unknown.
    """
    if agents_serving <= 0:
        return None
    seats = agents_serving * max(capacity_each, 1)
    return math.ceil(position / seats) * avg_handle_s
