"""Recording consent in the interaction core: nobody is recorded without agreeing."""

from __future__ import annotations

import pytest

from signaling.errors import InteractionError
from signaling.interaction import (
    SYSTEM,
    PauseRecording,
    RecordingState,
    RequestRecording,
    RespondRecording,
    ResumeRecording,
    StopRecording,
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
