"""Remote control of the co-browsed page: asked by the agent, given and taken back by the customer."""

from __future__ import annotations

import pytest

from signaling.errors import InteractionError
from signaling.interaction import (
    SYSTEM,
    Accept,
    ActivateChannel,
    Actor,
    Channel,
    EndControl,
    Interaction,
    Note,
    Offer,
    RequestChannel,
    RequestControl,
    RespondChannel,
    RespondControl,
    Role,
    StopChannel,
    Transfer,
    WrapUp,
    handle,
    new_interaction,
)

CUSTOMER = Actor(Role.CUSTOMER, "cust-1", "Dana")
AGENT = Actor(Role.AGENT, "agent-a", "Ann")
OTHER = Actor(Role.AGENT, "agent-b", "Bob")
T = 1000.0


def step(inter: Interaction, cmd: object, actor: Actor) -> tuple[Interaction, list[str]]:
    new, events = handle(inter, cmd, actor, T)  # type: ignore[arg-type]
    return new, [e.kind for e in events]


def cobrowsing(active: bool = True) -> Interaction:
    inter, _ = new_interaction(session_id="s1", entry="shop", customer=CUSTOMER, now=T)
    inter, _ = step(inter, Offer("agent-a", "Ann", T + 20), SYSTEM)
    inter, _ = step(inter, Accept(), AGENT)
    inter, _ = step(inter, RequestChannel(Channel.COBROWSE), AGENT)
    inter, _ = step(inter, RespondChannel(Channel.COBROWSE, True), CUSTOMER)
    if active:
        inter, _ = step(inter, ActivateChannel(Channel.COBROWSE), SYSTEM)
    return inter


def test_agent_asks_customer_grants():
    inter, kinds = step(cobrowsing(), RequestControl(), AGENT)
    assert (inter.control, kinds) == ("asked", ["cobrowse.control_requested"])
    inter, kinds = step(inter, RespondControl(True), CUSTOMER)
    assert (inter.control, kinds) == ("granted", ["cobrowse.control_granted"])


def test_customer_declines():
    inter, _ = step(cobrowsing(), RequestControl(), AGENT)
    inter, kinds = step(inter, RespondControl(False), CUSTOMER)
    assert (inter.control, kinds) == ("", ["cobrowse.control_declined"])


@pytest.mark.parametrize(("who", "side"), [(CUSTOMER, "customer"), (AGENT, "agent")])
def test_either_side_ends_control(who: Actor, side: str):
    inter, _ = step(cobrowsing(), RequestControl(), AGENT)
    inter, _ = step(inter, RespondControl(True), CUSTOMER)
    new, events = handle(inter, EndControl("escape key"), who, T)
    assert new.control == ""
    assert [(e.kind, e.data) for e in events] == [
        ("cobrowse.control_ended", {"by": side, "reason": "escape key"})
    ]


def test_control_needs_a_running_cobrowse_channel():
    inter, _ = new_interaction(session_id="s1", entry="shop", customer=CUSTOMER, now=T)
    inter, _ = step(inter, Offer("agent-a", "Ann", T + 20), SYSTEM)
    inter, _ = step(inter, Accept(), AGENT)
    with pytest.raises(InteractionError) as err:
        step(inter, RequestControl(), AGENT)
    assert (err.value.code, err.value.message) == ("channel_state", "co-browsing is not running")


@pytest.mark.parametrize(
    ("cmd", "actor", "code"),
    [
        (RequestControl(), CUSTOMER, "forbidden"),
        (RequestControl(), OTHER, "not_assigned"),
        (RespondControl(True), CUSTOMER, "control_state"),
        (EndControl(), CUSTOMER, "control_state"),
    ],
)
def test_refusals(cmd: object, actor: Actor, code: str):
    with pytest.raises(InteractionError) as err:
        step(cobrowsing(), cmd, actor)
    assert err.value.code == code


def test_only_the_customer_grants_control():
    inter, _ = step(cobrowsing(), RequestControl(), AGENT)
    with pytest.raises(InteractionError) as err:
        step(inter, RespondControl(True), AGENT)
    assert err.value.code == "forbidden"
    with pytest.raises(InteractionError) as err:
        step(inter, RequestControl(), AGENT)
    assert (err.value.code, err.value.message) == ("control_state", "control is already asked")


@pytest.mark.parametrize(
    ("cmd", "actor", "reason"),
    [
        (StopChannel(Channel.COBROWSE), CUSTOMER, "co-browse stopped"),
        (StopChannel(Channel.COBROWSE, reason="over its cap"), SYSTEM, "co-browse stopped"),
        (WrapUp(), AGENT, "session wrap_up"),
        (Transfer(to_skill="billing"), AGENT, "session queued"),
    ],
)
def test_control_ends_with_the_channel_or_the_session(cmd: object, actor: Actor, reason: str):
    inter, _ = step(cobrowsing(), RequestControl(), AGENT)
    inter, _ = step(inter, RespondControl(True), CUSTOMER)
    new, events = handle(inter, cmd, actor, T)  # type: ignore[arg-type]
    assert new.control == ""
    ended = [e for e in events if e.kind == "cobrowse.control_ended"]
    assert [(e.actor_role, e.data) for e in ended] == [("system", {"reason": reason})]


def test_system_stop_carries_its_reason():
    new, events = handle(
        cobrowsing(), StopChannel(Channel.COBROWSE, reason="stream over 256 MiB"), SYSTEM, T
    )
    assert events[0].kind == "channel.stopped"
    assert events[0].data["reason"] == "stream over 256 MiB"


def test_action_reports_are_the_assigned_agent_s_or_the_system_s():
    inter = cobrowsing()
    _, events = handle(inter, Note("cobrowse.action", {"action": "click"}), AGENT, T)
    assert events[0].actor_id == "agent-a"
    with pytest.raises(InteractionError):
        handle(inter, Note("cobrowse.action", {"action": "click"}), CUSTOMER, T)
    with pytest.raises(InteractionError):
        handle(inter, Note("cobrowse.action", {"action": "click"}), OTHER, T)
