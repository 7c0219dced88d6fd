"""Recording consent in the interaction core: nobody is recorded without agreeing."""

from __future__ import annotations

import pytest

from signaling.errors import InteractionError
from signaling.interaction import (
    SYSTEM,
    Channel,
    ChannelState,
    Complete,
    Leave,
    Note,
    PauseRecording,
    RecordingState,
    RequestChannel,
    RequestRecording,
    RespondChannel,
    RespondRecording,
    ResumeRecording,
    StopRecording,
    Transfer,
    WrapUp,
    handle,
)

from .active_session import AGENT, CUSTOMER, NOW, active


def test_an_agents_request_waits_for_the_customer_then_records():
    inter, [ev] = handle(active(), RequestRecording(), AGENT, NOW + 2)
    assert ev.kind == "recording.requested"
    assert inter.recording is not None and inter.recording.state == RecordingState.ASKING
    inter, events = handle(inter, RespondRecording(True), CUSTOMER, NOW + 3)
    assert [e.kind for e in events] == ["recording.consented", "recording.started"]
    assert inter.recording is not None and inter.recording.state == RecordingState.RECORDING


def test_a_system_request_needs_both_sides():
    inter, _ = handle(active(), RequestRecording(), SYSTEM, NOW + 2)
    inter, events = handle(inter, RespondRecording(True), CUSTOMER, NOW + 3)
    assert [e.kind for e in events] == ["recording.consented"]
    assert inter.recording is not None and inter.recording.state == RecordingState.ASKING
    inter, events = handle(inter, RespondRecording(True), AGENT, NOW + 4)
    assert [e.kind for e in events] == ["recording.consented", "recording.started"]


def test_a_customer_who_declines_is_not_recorded_and_the_decline_is_logged():
    inter, _ = handle(active(), RequestRecording(), AGENT, NOW + 2)
    inter, [ev] = handle(inter, RespondRecording(False), CUSTOMER, NOW + 3)
    assert (ev.kind, ev.data) == ("recording.declined", {"side": "customer"})
    assert inter.recording is not None and inter.recording.state == RecordingState.DECLINED
    with pytest.raises(InteractionError) as err:
        handle(inter, PauseRecording(), AGENT, NOW + 4)
    assert err.value.code == "recording_state"


def test_nobody_answers_twice_and_the_customer_cannot_start_it():
    inter, _ = handle(active(), RequestRecording(), AGENT, NOW + 2)
    with pytest.raises(InteractionError) as err:
        handle(inter, RespondRecording(True), AGENT, NOW + 3)
    assert err.value.code == "recording_state"
    with pytest.raises(InteractionError) as err:
        handle(active(), RequestRecording(), CUSTOMER, NOW + 3)
    assert err.value.code == "forbidden"


def test_pause_and_resume_log_the_length_of_the_gap():
    inter, _ = handle(active(), RequestRecording(), AGENT, NOW + 2)
    inter, _ = handle(inter, RespondRecording(True), CUSTOMER, NOW + 3)
    inter, [paused] = handle(inter, PauseRecording(), AGENT, NOW + 10)
    assert paused.kind == "recording.paused"
    with pytest.raises(InteractionError):
        handle(inter, PauseRecording(), CUSTOMER, NOW + 11)  # only the agent pauses
    inter, [resumed] = handle(inter, ResumeRecording(), AGENT, NOW + 25.5)
    assert (resumed.kind, resumed.data) == ("recording.resumed", {"paused_s": 15.5})
    assert inter.recording is not None and inter.recording.state == RecordingState.RECORDING


def test_a_stopped_recording_can_be_asked_for_again():
    inter, _ = handle(active(), RequestRecording(), AGENT, NOW + 2)
    inter, _ = handle(inter, RespondRecording(True), CUSTOMER, NOW + 3)
    inter, [ev] = handle(inter, StopRecording(), AGENT, NOW + 4)
    assert ev.kind == "recording.stopped"
    inter, [again] = handle(inter, RequestRecording(), AGENT, NOW + 5)
    assert again.kind == "recording.requested"
    with pytest.raises(InteractionError) as err:
        handle(inter, RequestRecording(), AGENT, NOW + 6)
    assert err.value.code == "recording_state"


def test_a_required_recording_declined_by_the_customer_keeps_the_session_in_chat():
    inter, _ = handle(active(), RequestChannel(Channel.VIDEO), AGENT, NOW + 2)
    inter, _ = handle(inter, RespondChannel(Channel.VIDEO, True), CUSTOMER, NOW + 3)
    inter, [asked] = handle(inter, RequestRecording(required=True), SYSTEM, NOW + 4)
    assert asked.data == {"required": True}
    inter, _ = handle(inter, RespondRecording(True), AGENT, NOW + 5)
    inter, events = handle(inter, RespondRecording(False), CUSTOMER, NOW + 6)
    assert [(e.kind, e.data.get("channel")) for e in events] == [
        ("recording.declined", None),
        ("channel.stopped", "video"),
    ]
    assert events[0].data == {"side": "customer", "chat_only": True}
    assert inter.channels["video"].state == ChannelState.STOPPED
    assert inter.recording is not None and inter.recording.chat_only
    for channel in (Channel.VOICE, Channel.VIDEO, Channel.SCREEN, Channel.COBROWSE):
        with pytest.raises(InteractionError) as err:
            handle(inter, RequestChannel(channel), AGENT, NOW + 7)
        assert err.value.code == "recording_required"
    # asked again and agreed this time: media may come back
    inter, _ = handle(inter, RequestRecording(required=True), AGENT, NOW + 8)
    inter, _ = handle(inter, RespondRecording(True), CUSTOMER, NOW + 9)
    inter, [offered] = handle(inter, RequestChannel(Channel.VIDEO), AGENT, NOW + 10)
    assert offered.kind == "channel.offered"


def test_an_agent_who_declines_a_required_recording_does_not_cut_the_customer_to_chat():
    inter, _ = handle(active(), RequestRecording(required=True), SYSTEM, NOW + 2)
    inter, [ev] = handle(inter, RespondRecording(False), AGENT, NOW + 3)
    assert ev.data == {"side": "agent"}
    assert inter.recording is not None and not inter.recording.chat_only
    handle(inter, RequestChannel(Channel.VIDEO), AGENT, NOW + 4)


@pytest.mark.parametrize("ending", ["wrapup", "leave", "queue"])
def test_recording_stops_when_the_session_leaves_its_active_state(ending: str):
    inter, _ = handle(active(), RequestRecording(), AGENT, NOW + 2)
    inter, _ = handle(inter, RespondRecording(True), CUSTOMER, NOW + 3)
    cmd, actor = {
        "wrapup": (WrapUp(), AGENT),
        "leave": (Leave(), CUSTOMER),
        "queue": (Transfer(to_skill="billing"), AGENT),
    }[ending]
    inter, events = handle(inter, cmd, actor, NOW + 9)
    assert events[-1].kind == "recording.stopped"
    assert events[-1].data["reason"].startswith("session ")
    assert inter.recording is not None and inter.recording.state == RecordingState.STOPPED


def test_only_the_system_notes_what_the_recorder_did_even_after_the_end():
    inter, _ = handle(active(), WrapUp(), AGENT, NOW + 2)
    inter, _ = handle(inter, Complete("solved"), AGENT, NOW + 3)
    _, [ev] = handle(inter, Note("recording.rendered", {"duration_s": 12.0}), SYSTEM, NOW + 60)
    assert ev.kind == "recording.rendered"
    with pytest.raises(InteractionError) as err:
        handle(inter, Note("recording.rendered", {}), AGENT, NOW + 61)
    assert err.value.code == "wrong_state"
    with pytest.raises(InteractionError) as err:
        handle(inter, Note("media.published", {}), SYSTEM, NOW + 61)
    assert err.value.code == "wrong_state"
