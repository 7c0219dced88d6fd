"""An active session (customer Kim with agent Ann) for the unit tests of the interaction core."""

from __future__ import annotations

from signaling.interaction import (
    SYSTEM,
    Accept,
    Actor,
    Interaction,
    Offer,
    Role,
    handle,
    new_interaction,
)

NOW = 1_700_000_000.0
CUSTOMER = Actor(Role.CUSTOMER, "cust-1", "Kim")
AGENT = Actor(Role.AGENT, "agent-a", "Ann")


def active() -> Interaction:
    inter, _ = new_interaction(session_id="s1", entry="demo", customer=CUSTOMER, now=NOW)
    inter, _ = handle(inter, Offer("agent-a", "Ann", NOW + 20), SYSTEM, NOW)
    inter, _ = handle(inter, Accept(), AGENT, NOW + 1)
    return inter
