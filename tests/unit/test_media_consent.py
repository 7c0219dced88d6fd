"""Consent rules of the interaction core for media: who asks, who answers, who may send."""

from __future__ import annotations

import msgspec
import pytest

from signaling.errors import InteractionError
from signaling.interaction import (
    BOT,
    SYSTEM,
    Accept,
    Actor,
    Channel,
    ChannelState,
    Interaction,
    Note,
    Offer,
    RequestChannel,
    RespondChannel,
    Role,
    StopChannel,
    WrapUp,
    handle,
    may_send,
    new_interaction,
)

from .active_session import AGENT, CUSTOMER, NOW, active


def agreed(inter: Interaction, channel: Channel, asker: Actor, **kw: str) -> Interaction:
    inter, _ = handle(inter, RequestChannel(channel, **kw), asker, NOW + 2)
    answer = CUSTOMER if asker.role != Role.CUSTOMER else AGENT
    inter, _ = handle(inter, RespondChannel(channel, True), answer, NOW + 3)
    return inter


def test_a_bot_proposal_carries_its_reason_and_origin():
    inter, [ev] = handle(
        active(), RequestChannel(Channel.SCREEN, reason="stuck at checkout"), BOT, NOW + 2
    )
    assert ev.kind == "channel.offered"
    assert ev.actor_role == "bot"
    assert ev.data == {
        "channel": "screen",
        "origin": "bot",
        "reason": "stuck at checkout",
        "sharer": "customer",
    }
    assert inter.channels["screen"].origin == "bot"


@pytest.mark.parametrize("responder", [AGENT, BOT], ids=["agent", "bot"])
def test_only_the_customer_answers_a_bot_proposal(responder: Actor):
    inter, _ = handle(active(), RequestChannel(Channel.VIDEO, reason="r"), BOT, NOW + 2)
    with pytest.raises(InteractionError) as err:
        handle(inter, RespondChannel(Channel.VIDEO, True), responder, NOW + 3)
    assert err.value.code == "forbidden"


def test_the_customer_accepting_a_bot_proposal_agrees_the_channel():
    inter, _ = handle(active(), RequestChannel(Channel.VIDEO, reason="r"), BOT, NOW + 2)
    inter, [ev] = handle(inter, RespondChannel(Channel.VIDEO, True), CUSTOMER, NOW + 3)
    assert (ev.kind, ev.data) == ("channel.accepted", {"channel": "video", "origin": "bot"})
    assert may_send(inter, Role.CUSTOMER, "camera")


def test_the_bot_may_not_propose_the_agents_screen():
    with pytest.raises(InteractionError) as err:
        handle(active(), RequestChannel(Channel.SCREEN, sharer="agent"), BOT, NOW + 2)
    assert err.value.code == "forbidden"


def test_a_supervisor_cannot_answer_for_the_agent_side_that_asked():
    sup = Actor(Role.SUPERVISOR, "sue", "Sue")
    inter, _ = new_interaction(session_id="s1", entry="demo", customer=CUSTOMER, now=NOW)
    inter, _ = handle(inter, Offer("sue", "Sue", NOW + 20), SYSTEM, NOW)
    inter, _ = handle(inter, Accept(), sup, NOW + 1)
    inter, _ = handle(inter, RequestChannel(Channel.VIDEO), sup, NOW + 2)
    with pytest.raises(InteractionError):
        handle(inter, RespondChannel(Channel.VIDEO, True), sup, NOW + 3)


@pytest.mark.parametrize(
    ("channels", "role", "source", "allowed"),
    [
        ([], "customer", "mic", False),
        ([], "customer", "camera", False),
        ([("voice", {})], "customer", "mic", True),
        ([("voice", {})], "customer", "camera", False),
        ([("voice", {})], "agent", "mic", True),
        ([("video", {})], "customer", "camera", True),
        ([("video", {})], "customer", "mic", True),
        ([("video", {})], "agent", "camera", True),
        ([("video", {})], "customer", "screen", False),
        ([("screen", {})], "customer", "screen", True),
        ([("screen", {})], "agent", "screen", False),
        ([("screen", {"sharer": "agent"})], "agent", "screen", True),
        ([("screen", {"sharer": "agent"})], "supervisor", "screen", True),
        ([("screen", {"sharer": "agent"})], "customer", "screen", False),
        ([("screen", {})], "customer", "camera", False),
        ([("voice", {}), ("video", {})], "customer", "camera", True),
    ],
)
def test_what_a_participant_may_send_follows_the_agreed_channels(
    channels: list[tuple[str, dict[str, str]]], role: str, source: str, allowed: bool
):
    inter = active()
    for name, kw in channels:
        inter = agreed(inter, Channel(name), AGENT, **kw)
    assert may_send(inter, role, source) is allowed


def test_an_offered_but_unanswered_channel_allows_nothing():
    inter, _ = handle(active(), RequestChannel(Channel.VIDEO), AGENT, NOW + 2)
    assert not may_send(inter, "customer", "camera")
    assert not may_send(inter, "agent", "camera")


def test_a_declined_channel_allows_nothing_and_says_who_asked():
    inter, _ = handle(active(), RequestChannel(Channel.VIDEO), AGENT, NOW + 2)
    inter, [ev] = handle(inter, RespondChannel(Channel.VIDEO, False), CUSTOMER, NOW + 3)
    assert (ev.kind, ev.data) == ("channel.declined", {"channel": "video", "origin": "agent"})
    assert not may_send(inter, "customer", "camera")


def test_stopping_a_channel_withdraws_permission():
    inter = agreed(active(), Channel.VIDEO, AGENT)
    inter, _ = handle(inter, StopChannel(Channel.VIDEO), CUSTOMER, NOW + 4)
    assert not may_send(inter, "customer", "camera")


def test_wrap_up_withdraws_every_permission_and_keeps_the_reason():
    inter = agreed(active(), Channel.SCREEN, BOT, reason="can you see this")
    inter, _ = handle(inter, WrapUp(), AGENT, NOW + 4)
    st = inter.channels["screen"]
    assert (st.state, st.reason, st.sharer) == (
        ChannelState.STOPPED,
        "can you see this",
        "customer",
    )
    assert not may_send(inter, "customer", "screen")


def test_the_first_published_track_makes_an_accepted_channel_active():
    inter = agreed(active(), Channel.VIDEO, AGENT)
    inter, events = handle(
        inter, Note("media.published", {"pub": "p1", "source": "camera"}), CUSTOMER, NOW + 5
    )
    assert [e.kind for e in events] == ["media.published", "channel.active"]
    assert inter.channels["video"].state == ChannelState.ACTIVE
    inter, events = handle(
        inter, Note("media.published", {"pub": "p2", "source": "camera"}), AGENT, NOW + 6
    )
    assert [e.kind for e in events] == ["media.published"]


def test_the_mic_activates_video_when_video_is_agreed_else_voice():
    inter = agreed(active(), Channel.VOICE, CUSTOMER)
    inter, events = handle(inter, Note("media.published", {"source": "mic"}), CUSTOMER, NOW + 5)
    assert events[-1].data["channel"] == "voice"


@pytest.mark.parametrize(
    ("kind", "actor", "code"),
    [
        ("bot.answer", CUSTOMER, "forbidden"),
        ("media.published", BOT, "forbidden"),
        ("chat.message", SYSTEM, "bad_message"),
        ("media.failed", Actor(Role.CUSTOMER, "someone-else", "X"), "forbidden"),
    ],
)
def test_notes_are_limited_to_their_authors(kind: str, actor: Actor, code: str):
    with pytest.raises(InteractionError) as err:
        handle(active(), Note(kind, {}), actor, NOW + 5)
    assert err.value.code == code


def test_the_bot_answers_with_a_note_that_changes_no_state():
    before = active()
    after, [ev] = handle(before, Note("bot.answer", {"text": "9-18"}), BOT, NOW + 5)
    assert (ev.kind, ev.actor_role, ev.data) == ("bot.answer", "bot", {"text": "9-18"})
    assert msgspec.structs.replace(after, last_seq=0) == msgspec.structs.replace(before, last_seq=0)
