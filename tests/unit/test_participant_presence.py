"""The interaction core keeps who lost their socket, so each loss and return is noted once;
a recording the system stops carries its reason."""

from __future__ import annotations

import pytest

from signaling.errors import InteractionError
from signaling.interaction import (
    SYSTEM,
    Accept,
    Actor,
    Interaction,
    Note,
    RecordingState,
    RequestRecording,
    RespondRecording,
    Role,
    StopRecording,
    Transfer,
    handle,
)

from .active_session import AGENT, CUSTOMER, NOW, active

OTHER_AGENT = Actor(Role.AGENT, "agent-b", "Bob")


def lost(side: str, reason: str = "timeout") -> Note:
    return Note("participant.disconnected", {"side": side, "reason": reason})


def back(side: str) -> Note:
    return Note("participant.reconnected", {"side": side})


def test_a_lost_socket_is_noted_once_and_its_return_once():
    inter, events = handle(active(), lost("customer"), SYSTEM, NOW + 5)
    assert inter.away == ("customer",)
    assert [(e.kind, e.actor_role, e.data) for e in events] == [
        ("participant.disconnected", "system", {"side": "customer", "reason": "timeout"})
    ]
    again, events = handle(inter, lost("customer", "closed"), SYSTEM, NOW + 6)
    assert events == [] and again.away == ("customer",)
    inter, events = handle(inter, back("customer"), SYSTEM, NOW + 7)
    assert inter.away == () and [e.kind for e in events] == ["participant.reconnected"]
    _, events = handle(inter, back("customer"), SYSTEM, NOW + 8)
    assert events == [], "a return without a loss is not noted"


def test_both_sides_can_be_away_at_once():
    inter, _ = handle(active(), lost("customer"), SYSTEM, NOW + 5)
    inter, _ = handle(inter, lost("agent", "lost"), SYSTEM, NOW + 6)
    assert inter.away == ("customer", "agent")
    inter, _ = handle(inter, back("agent"), SYSTEM, NOW + 7)
    assert inter.away == ("customer",)


@pytest.mark.parametrize("actor", [CUSTOMER, AGENT])
def test_only_the_system_notes_presence(actor: Actor):
    with pytest.raises(InteractionError) as err:
        handle(active(), lost("customer"), actor, NOW + 5)
    assert err.value.code == "forbidden"


def test_a_presence_note_names_a_side():
    with pytest.raises(InteractionError) as err:
        handle(active(), Note("participant.disconnected", {"side": "bot"}), SYSTEM, NOW + 5)
    assert err.value.code == "bad_message"
    assert err.value.message == "participant.disconnected needs side customer or agent"


def test_a_new_agent_taking_the_session_is_not_away():
    inter, _ = handle(active(), lost("agent"), SYSTEM, NOW + 5)
    transfer = Transfer(to_agent="agent-b", to_agent_name="Bob", expires_at=NOW + 30)
    inter, _ = handle(inter, transfer, AGENT, NOW + 6)
    inter, _ = handle(inter, Accept(), OTHER_AGENT, NOW + 7)
    assert inter.agent_id == "agent-b" and inter.away == ()


def recording() -> Interaction:
    inter, _ = handle(active(), RequestRecording(), AGENT, NOW + 2)
    inter, _ = handle(inter, RespondRecording(accept=True), CUSTOMER, NOW + 3)
    assert inter.recording is not None and inter.recording.state == RecordingState.RECORDING
    return inter


def test_the_system_stops_a_recording_with_its_reason():
    inter, events = handle(recording(), StopRecording(reason="disk_full"), SYSTEM, NOW + 4)
    assert inter.recording is not None and inter.recording.state == RecordingState.STOPPED
    assert [(e.kind, e.data) for e in events] == [("recording.stopped", {"reason": "disk_full"})]


def test_an_agent_s_stop_carries_no_reason():
    _, events = handle(recording(), StopRecording(reason="disk_full"), AGENT, NOW + 4)
    assert [(e.kind, e.data) for e in events] == [("recording.stopped", {})]
