"""The session state machine: which command each actor may give in each state, and what follows.

Two tables carry the contract. ``LEGAL`` lists every command an actor may give in each state,
with the resulting session state and timeline event kinds. Every other (state, command, actor)
triple of the same grid is refused with an InteractionError; ``REFUSALS`` pins the exact code
and message for representative ones. Focused tests below cover what the tables cannot show.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import pytest

from signaling.errors import InteractionError
from signaling.interaction import (
    RECENT_CLIENT_IDS,
    SYSTEM,
    UPGRADE_CHANNELS,
    Accept,
    ActivateChannel,
    Actor,
    Channel,
    ChannelState,
    Command,
    Complete,
    Decline,
    ExpireOffer,
    ForceEnd,
    Interaction,
    Leave,
    Offer,
    RequestChannel,
    RespondChannel,
    Role,
    SendChat,
    SessionState,
    StopChannel,
    Transfer,
    WrapUp,
    handle,
    new_interaction,
)

T0 = 1_000.0
NOW = T0 + 100.0  # every offer made while building a start state has expired by now
OFFER_TTL = 20.0

CUSTOMER = Actor(Role.CUSTOMER, "cust-1", "Dana")
OTHER_CUSTOMER = Actor(Role.CUSTOMER, "cust-2", "Eve")
AGENT = Actor(Role.AGENT, "agent-a", "Ann")
OTHER_AGENT = Actor(Role.AGENT, "agent-b", "Bob")
SUPERVISOR = Actor(Role.SUPERVISOR, "sup-1", "Sam")

ACTORS: dict[str, Actor] = {
    "customer": CUSTOMER,
    "other_customer": OTHER_CUSTOMER,
    "agent": AGENT,  # offered the session from the queue, then its assigned agent
    "other_agent": OTHER_AGENT,  # a stranger, except as the target of a transfer
    "supervisor": SUPERVISOR,
    "system": SYSTEM,
}

ALL_CHANNELS = sorted(UPGRADE_CHANNELS)


# ---------------------------------------------------------------- start states


def step(inter: Interaction, cmd: Command, actor: Actor, now: float) -> Interaction:
    return handle(inter, cmd, actor, now)[0]


def queued() -> Interaction:
    inter, _ = new_interaction(
        session_id="s1",
        entry="demo",
        customer=CUSTOMER,
        now=T0,
        tier="premium",
        page="/pricing",
        skill="billing",
    )
    return inter


def offered() -> Interaction:
    return step(queued(), Offer("agent-a", "Ann", T0 + 1 + OFFER_TTL), SYSTEM, T0 + 1)


def active() -> Interaction:
    return step(offered(), Accept(), AGENT, T0 + 2)


def transfer_offered() -> Interaction:
    """Active with agent-a, who asked to hand it over to agent-b."""
    cmd = Transfer(to_agent="agent-b", to_agent_name="Bob", expires_at=T0 + 3 + OFFER_TTL)
    return step(active(), cmd, AGENT, T0 + 3)


def wrap_up() -> Interaction:
    return step(active(), WrapUp(), AGENT, T0 + 4)


def ended() -> Interaction:
    return step(wrap_up(), Complete(disposition="resolved"), AGENT, T0 + 5)


def with_channel(channel: Channel, how: str) -> Interaction:
    """An active session whose ``channel`` went through ``how``."""
    if how == "offered_by_customer":
        return step(active(), RequestChannel(channel), CUSTOMER, T0 + 10)
    if how == "offered_by_agent":
        return step(active(), RequestChannel(channel), AGENT, T0 + 10)
    if how == "accepted":
        inter = with_channel(channel, "offered_by_customer")
        return step(inter, RespondChannel(channel, accept=True), AGENT, T0 + 11)
    if how == "active":
        return step(with_channel(channel, "accepted"), ActivateChannel(channel), SYSTEM, T0 + 12)
    if how == "declined":
        inter = with_channel(channel, "offered_by_customer")
        return step(inter, RespondChannel(channel, accept=False), AGENT, T0 + 11)
    if how == "stopped":
        return step(with_channel(channel, "active"), StopChannel(channel), CUSTOMER, T0 + 13)
    raise AssertionError(how)


CHANNEL_HOWS = (
    "offered_by_customer",
    "offered_by_agent",
    "accepted",
    "active",
    "declined",
    "stopped",
)

SESSION_STARTS: dict[str, Callable[[], Interaction]] = {
    "queued": queued,
    "offered": offered,
    "transfer_offered": transfer_offered,
    "active": active,
    "wrap_up": wrap_up,
    "ended": ended,
}
CHANNEL_STARTS: dict[str, Callable[[], Interaction]] = {
    f"{ch}:{how}": (lambda ch=ch, how=how: with_channel(ch, how))
    for ch in ALL_CHANNELS
    for how in CHANNEL_HOWS
}
STARTS = {**SESSION_STARTS, **CHANNEL_STARTS}


# ---------------------------------------------------------------- commands

SESSION_COMMANDS: dict[str, Command] = {
    "offer": Offer("agent-a", "Ann", NOW + OFFER_TTL),
    "expire_offer": ExpireOffer(cooldown_s=30.0),
    "accept": Accept(),
    "decline": Decline(cooldown_s=30.0),
    "chat": SendChat("hello", client_msg_id="m-1"),
    "transfer_to_agent": Transfer(to_agent="agent-c", to_agent_name="Cy", expires_at=NOW + 20),
    "transfer_to_queue": Transfer(to_skill="returns"),
    "wrap_up": WrapUp(),
    "leave": Leave(),
    "complete": Complete(disposition="resolved", notes="refunded"),
    "force_end": ForceEnd(reason="spam"),
    "request_voice": RequestChannel(Channel.VOICE),
    "respond_voice": RespondChannel(Channel.VOICE, accept=True),
    "activate_voice": ActivateChannel(Channel.VOICE),
    "stop_voice": StopChannel(Channel.VOICE),
    "request_chat": RequestChannel(Channel.CHAT),
    "stop_chat": StopChannel(Channel.CHAT),
}


def channel_commands(channel: Channel) -> dict[str, Command]:
    return {
        "request": RequestChannel(channel),
        "accept_request": RespondChannel(channel, accept=True),
        "decline_request": RespondChannel(channel, accept=False),
        "activate": ActivateChannel(channel),
        "stop": StopChannel(channel),
    }


def command(start: str, name: str) -> Command:
    if start in CHANNEL_STARTS:
        return channel_commands(Channel(start.split(":")[0]))[name]
    return SESSION_COMMANDS[name]


def grid() -> list[tuple[str, str, str]]:
    """Every (start, command, actor) triple the tables speak about."""
    triples = list(itertools.product(SESSION_STARTS, SESSION_COMMANDS, ACTORS))
    triples += itertools.product(CHANNEL_STARTS, channel_commands(Channel.VOICE), ACTORS)
    return triples


# ---------------------------------------------------------------- the legal table


class Legal(NamedTuple):
    start: str
    command: str
    actor: str
    state: SessionState
    events: tuple[str, ...]
    channel: ChannelState | None = None  # the command's channel afterwards, when it has one


Q, OF, A, W, E = (
    SessionState.QUEUED,
    SessionState.OFFERED,
    SessionState.ACTIVE,
    SessionState.WRAP_UP,
    SessionState.ENDED,
)
ENDED_BY_FORCE = ("session.ended",)
ABANDONED = ("session.customer_left", "session.ended")

LEGAL: list[Legal] = [
    # queued
    Legal("queued", "offer", "system", OF, ("session.offered",)),
    Legal("queued", "chat", "customer", Q, ("chat.message",)),
    Legal("queued", "leave", "customer", E, ABANDONED),
    Legal("queued", "force_end", "system", E, ENDED_BY_FORCE),
    Legal("queued", "force_end", "supervisor", E, ENDED_BY_FORCE),
    # offered from the queue to agent-a
    Legal("offered", "expire_offer", "system", Q, ("session.offer_expired",)),
    Legal("offered", "accept", "agent", A, ("session.accepted",)),
    Legal("offered", "decline", "agent", Q, ("session.declined",)),
    Legal("offered", "chat", "customer", OF, ("chat.message",)),
    Legal("offered", "leave", "customer", E, ABANDONED),
    Legal("offered", "force_end", "system", E, ENDED_BY_FORCE),
    Legal("offered", "force_end", "supervisor", E, ENDED_BY_FORCE),
    # offered to agent-b by a transfer from agent-a
    Legal("transfer_offered", "expire_offer", "system", A, ("session.offer_expired",)),
    Legal(
        "transfer_offered",
        "accept",
        "other_agent",
        A,
        ("session.accepted", "session.transferred"),
    ),
    Legal("transfer_offered", "decline", "other_agent", A, ("session.declined",)),
    Legal("transfer_offered", "chat", "customer", OF, ("chat.message",)),
    # mid-transfer, the agent who served the customer still owns the wrap-up
    Legal("transfer_offered", "leave", "customer", W, ("session.customer_left", "session.wrap_up")),
    Legal("transfer_offered", "force_end", "system", E, ENDED_BY_FORCE),
    Legal("transfer_offered", "force_end", "supervisor", E, ENDED_BY_FORCE),
    # active with agent-a
    Legal("active", "chat", "customer", A, ("chat.message",)),
    Legal("active", "chat", "agent", A, ("chat.message",)),
    Legal("active", "transfer_to_agent", "agent", OF, ("session.transfer_requested",)),
    Legal("active", "transfer_to_agent", "supervisor", OF, ("session.transfer_requested",)),
    Legal("active", "transfer_to_queue", "agent", Q, ("session.transferred", "session.queued")),
    Legal(
        "active", "transfer_to_queue", "supervisor", Q, ("session.transferred", "session.queued")
    ),
    Legal("active", "wrap_up", "agent", W, ("session.agent_left", "session.wrap_up")),
    Legal("active", "leave", "customer", W, ("session.customer_left", "session.wrap_up")),
    Legal("active", "force_end", "system", E, ENDED_BY_FORCE),
    Legal("active", "force_end", "supervisor", E, ENDED_BY_FORCE),
    Legal("active", "request_voice", "customer", A, ("channel.offered",), ChannelState.OFFERED),
    Legal("active", "request_voice", "agent", A, ("channel.offered",), ChannelState.OFFERED),
    # wrap-up
    Legal("wrap_up", "leave", "customer", W, ("session.customer_left",)),
    Legal("wrap_up", "complete", "agent", E, ("session.ended",)),
    Legal("wrap_up", "force_end", "system", E, ENDED_BY_FORCE),
    Legal("wrap_up", "force_end", "supervisor", E, ENDED_BY_FORCE),
    # ended: nothing
]


def channel_rows(ch: Channel) -> list[Legal]:
    """The channel upgrade rows, the same for voice, video, screen and co-browse."""
    cs = ChannelState
    offered_ev, accepted_ev, declined_ev = (
        ("channel.offered",),
        ("channel.accepted",),
        ("channel.declined",),
    )
    rows = [
        Legal(f"{ch}:offered_by_customer", "accept_request", "agent", A, accepted_ev, cs.ACCEPTED),
        Legal(f"{ch}:offered_by_customer", "decline_request", "agent", A, declined_ev, cs.DECLINED),
        Legal(f"{ch}:offered_by_agent", "accept_request", "customer", A, accepted_ev, cs.ACCEPTED),
        Legal(f"{ch}:offered_by_agent", "decline_request", "customer", A, declined_ev, cs.DECLINED),
        Legal(f"{ch}:accepted", "activate", "system", A, ("channel.active",), cs.ACTIVE),
    ]
    for how in ("declined", "stopped"):  # asking again after a no or a stop
        rows += [
            Legal(f"{ch}:{how}", "request", "customer", A, offered_ev, cs.OFFERED),
            Legal(f"{ch}:{how}", "request", "agent", A, offered_ev, cs.OFFERED),
        ]
    for how in ("offered_by_customer", "offered_by_agent", "accepted", "active"):
        rows += [
            Legal(f"{ch}:{how}", "stop", "customer", A, ("channel.stopped",), cs.STOPPED),
            Legal(f"{ch}:{how}", "stop", "agent", A, ("channel.stopped",), cs.STOPPED),
            # the system stops a channel too: a co-browse stream past its size cap
            Legal(f"{ch}:{how}", "stop", "system", A, ("channel.stopped",), cs.STOPPED),
        ]
    return rows


LEGAL += [row for ch in ALL_CHANNELS for row in channel_rows(ch)]

LEGAL_KEYS = {(row.start, row.command, row.actor) for row in LEGAL}
ILLEGAL = [triple for triple in grid() if triple not in LEGAL_KEYS]


def test_the_legal_table_lies_inside_the_grid_and_has_no_duplicates():
    assert len(LEGAL_KEYS) == len(LEGAL)
    assert LEGAL_KEYS <= set(grid())


@pytest.mark.parametrize("row", [pytest.param(r, id="-".join(r[:3])) for r in LEGAL])
def test_legal_command_moves_the_session_and_records_events(row: Legal):
    actor = ACTORS[row.actor]
    cmd = command(row.start, row.command)
    new, events = handle(STARTS[row.start](), cmd, actor, NOW)
    assert new.state == row.state
    assert tuple(e.kind for e in events) == row.events
    assert all(e.at == NOW for e in events)
    assert (events[0].actor_role, events[0].actor_id) == (actor.role.value, actor.id)
    if row.channel is not None:
        assert new.channels[cmd.channel.value].state == row.channel  # type: ignore[union-attr]


ILLEGAL_BY_COMMAND: dict[tuple[str, str], list[str]] = {}
for _start, _name, _actor in ILLEGAL:
    ILLEGAL_BY_COMMAND.setdefault((_start, _name), []).append(_actor)


@pytest.mark.parametrize(
    ("start", "command_name"),
    [pytest.param(*key, id="-".join(key)) for key in ILLEGAL_BY_COMMAND],
)
def test_every_other_combination_is_refused(start: str, command_name: str):
    """Each actor not in LEGAL for this state and command gets an InteractionError."""
    outcomes = {}
    for actor in ILLEGAL_BY_COMMAND[(start, command_name)]:
        try:
            handle(STARTS[start](), command(start, command_name), ACTORS[actor], NOW)
        except InteractionError as exc:
            outcomes[actor] = exc.code
        else:
            outcomes[actor] = "ACCEPTED"
    refused = {"wrong_state", "forbidden", "not_assigned", "channel_state"}
    assert {actor: code for actor, code in outcomes.items() if code not in refused} == {}


# ---------------------------------------------------------------- refusals, exactly

REFUSALS = [
    # ended sessions refuse everything, even a supervisor's force-end
    ("ended", "force_end", "supervisor", "wrong_state", "the session has ended"),
    ("ended", "chat", "customer", "wrong_state", "the session has ended"),
    # system-only commands given by a person
    ("queued", "offer", "agent", "forbidden", "only system may do this, not agent"),
    ("queued", "offer", "supervisor", "forbidden", "only system may do this, not supervisor"),
    (
        "offered",
        "expire_offer",
        "supervisor",
        "forbidden",
        "only system may do this, not supervisor",
    ),
    (
        "voice:accepted",
        "activate",
        "customer",
        "forbidden",
        "only system may do this, not customer",
    ),
    # wrong state
    (
        "active",
        "offer",
        "system",
        "wrong_state",
        "not allowed while the session is active (needs queued)",
    ),
    (
        "queued",
        "expire_offer",
        "system",
        "wrong_state",
        "not allowed while the session is queued (needs offered)",
    ),
    (
        "queued",
        "accept",
        "agent",
        "wrong_state",
        "not allowed while the session is queued (needs offered)",
    ),
    (
        "active",
        "decline",
        "agent",
        "wrong_state",
        "not allowed while the session is active (needs offered)",
    ),
    (
        "wrap_up",
        "chat",
        "customer",
        "wrong_state",
        "not allowed while the session is wrap_up (needs queued, offered, active)",
    ),
    (
        "wrap_up",
        "chat",
        "agent",
        "wrong_state",
        "not allowed while the session is wrap_up (needs active)",
    ),
    (
        "transfer_offered",
        "chat",
        "agent",
        "wrong_state",
        "not allowed while the session is offered (needs active)",
    ),
    (
        "queued",
        "transfer_to_queue",
        "supervisor",
        "wrong_state",
        "not allowed while the session is queued (needs active)",
    ),
    (
        "wrap_up",
        "wrap_up",
        "agent",
        "wrong_state",
        "not allowed while the session is wrap_up (needs active)",
    ),
    (
        "active",
        "complete",
        "agent",
        "wrong_state",
        "not allowed while the session is active (needs wrap_up)",
    ),
    (
        "queued",
        "request_voice",
        "customer",
        "wrong_state",
        "not allowed while the session is queued (needs active)",
    ),
    # a customer doing agent things, and other roles out of place
    (
        "offered",
        "accept",
        "customer",
        "forbidden",
        "only agent or supervisor may do this, not customer",
    ),
    ("offered", "accept", "supervisor", "not_assigned", "this session was not offered to you"),
    (
        "offered",
        "decline",
        "customer",
        "forbidden",
        "only agent or supervisor may do this, not customer",
    ),
    (
        "active",
        "transfer_to_agent",
        "customer",
        "forbidden",
        "only agent or supervisor may do this, not customer",
    ),
    (
        "active",
        "wrap_up",
        "customer",
        "forbidden",
        "only agent or supervisor may do this, not customer",
    ),
    ("active", "wrap_up", "supervisor", "not_assigned", "this session is not assigned to you"),
    (
        "wrap_up",
        "complete",
        "customer",
        "forbidden",
        "only agent or supervisor may do this, not customer",
    ),
    ("wrap_up", "complete", "supervisor", "not_assigned", "this session is not assigned to you"),
    ("active", "leave", "agent", "forbidden", "only customer may do this, not agent"),
    (
        "active",
        "force_end",
        "agent",
        "forbidden",
        "only system or supervisor may do this, not agent",
    ),
    (
        "active",
        "force_end",
        "customer",
        "forbidden",
        "only system or supervisor may do this, not customer",
    ),
    (
        "active",
        "chat",
        "supervisor",
        "not_assigned",
        "this session is not assigned to you",
    ),
    (
        "active",
        "chat",
        "system",
        "forbidden",
        "only customer or agent or supervisor may do this, not system",
    ),
    (
        "active",
        "request_voice",
        "supervisor",
        "not_assigned",
        "this session is not assigned to you",
    ),
    (
        "active",
        "request_voice",
        "system",
        "forbidden",
        "only customer or agent or supervisor or bot may do this, not system",
    ),
    # another customer is not a participant
    ("active", "chat", "other_customer", "forbidden", "you are not a participant of this session"),
    ("active", "leave", "other_customer", "forbidden", "you are not a participant of this session"),
    (
        "active",
        "request_voice",
        "other_customer",
        "forbidden",
        "you are not a participant of this session",
    ),
    # an agent the session is not assigned or offered to
    ("offered", "accept", "other_agent", "not_assigned", "this session was not offered to you"),
    ("offered", "decline", "other_agent", "not_assigned", "this session was not offered to you"),
    ("transfer_offered", "accept", "agent", "not_assigned", "this session was not offered to you"),
    ("offered", "chat", "agent", "not_assigned", "this session is not assigned to you"),
    ("active", "chat", "other_agent", "not_assigned", "this session is not assigned to you"),
    (
        "active",
        "transfer_to_queue",
        "other_agent",
        "not_assigned",
        "this session is not assigned to you",
    ),
    ("active", "wrap_up", "other_agent", "not_assigned", "this session is not assigned to you"),
    ("wrap_up", "complete", "other_agent", "not_assigned", "this session is not assigned to you"),
    ("active", "stop_voice", "other_agent", "not_assigned", "this session is not assigned to you"),
    # channels
    ("active", "request_chat", "customer", "channel_state", "chat is always on for the session"),
    ("active", "respond_voice", "agent", "channel_state", "voice has not been offered"),
    ("active", "activate_voice", "system", "channel_state", "voice has not been accepted"),
    ("active", "stop_voice", "customer", "channel_state", "voice is not running"),
    ("voice:offered_by_customer", "request", "agent", "channel_state", "voice is already offered"),
    ("voice:accepted", "request", "customer", "channel_state", "voice is already accepted"),
    ("video:active", "request", "customer", "channel_state", "video is already active"),
    ("voice:accepted", "accept_request", "customer", "channel_state", "voice has not been offered"),
    (
        "video:offered_by_customer",
        "activate",
        "system",
        "channel_state",
        "video has not been accepted",
    ),
    ("screen:declined", "stop", "customer", "channel_state", "screen is not running"),
    ("cobrowse:stopped", "stop", "agent", "channel_state", "cobrowse is not running"),
    # the requester cannot answer their own request
    (
        "screen:offered_by_customer",
        "accept_request",
        "customer",
        "forbidden",
        "the other side must answer this request",
    ),
    (
        "cobrowse:offered_by_agent",
        "decline_request",
        "agent",
        "forbidden",
        "the other side must answer this request",
    ),
]


@pytest.mark.parametrize(
    ("start", "command_name", "actor", "code", "message"),
    [pytest.param(*r, id="-".join(r[:3])) for r in REFUSALS],
)
def test_refusal_has_its_code_and_message(
    start: str, command_name: str, actor: str, code: str, message: str
):
    assert (start, command_name, actor) in ILLEGAL
    with pytest.raises(InteractionError) as err:
        handle(STARTS[start](), command(start, command_name), ACTORS[actor], NOW)
    assert (err.value.code, err.value.message) == (code, message)


@pytest.mark.parametrize("name", sorted(SESSION_COMMANDS))
def test_an_ended_session_refuses_every_command(name: str):
    for actor in ACTORS.values():
        with pytest.raises(InteractionError, match=r"^the session has ended$") as err:
            handle(ended(), SESSION_COMMANDS[name], actor, NOW)
        assert err.value.code == "wrong_state"


# ---------------------------------------------------------------- creation and holder


def test_new_interaction_is_queued_with_an_active_chat_channel():
    inter, _ = new_interaction(
        session_id="s9", entry="shop", customer=CUSTOMER, now=T0, tier="loyalty", skill="returns"
    )
    assert inter.state == SessionState.QUEUED
    assert (inter.created_at, inter.queued_at) == (T0, T0)
    assert (inter.customer_id, inter.customer_name) == ("cust-1", "Dana")
    assert (inter.tier, inter.skill, inter.entry, inter.language) == (
        "loyalty",
        "returns",
        "shop",
        "en",
    )
    assert inter.agent_id is None and inter.offered_to is None
    assert list(inter.channels) == ["chat"]
    assert inter.channels["chat"].state == ChannelState.ACTIVE
    assert inter.channels["chat"].requested_by == Role.CUSTOMER


def test_new_interaction_events_are_created_by_the_customer_then_queued_by_the_system():
    _, events = new_interaction(
        session_id="s9", entry="shop", customer=CUSTOMER, now=T0, page="/cart", skill="returns"
    )
    created, queued_ev = events
    assert (created.kind, created.actor_role, created.actor_id, created.at) == (
        "session.created",
        "customer",
        "cust-1",
        T0,
    )
    assert created.data == {
        "entry": "shop",
        "tier": "standard",
        "page": "/cart",
        "skill": "returns",
        "customer_name": "Dana",
    }
    assert (queued_ev.kind, queued_ev.actor_role, queued_ev.data) == (
        "session.queued",
        "system",
        {"skill": "returns"},
    )


@pytest.mark.parametrize(
    ("start", "holder"),
    [
        ("queued", None),
        ("offered", "agent-a"),
        ("transfer_offered", "agent-b"),
        ("active", "agent-a"),
        ("wrap_up", "agent-a"),
        ("ended", None),
    ],
)
def test_holder_is_the_agent_whose_capacity_the_session_takes(start: str, holder: str | None):
    assert STARTS[start]().holder == holder


# ---------------------------------------------------------------- events carry the actor


def test_chat_event_records_the_actor_time_text_and_client_id():
    _, [ev] = handle(active(), SendChat("where is my order?", client_msg_id="c-7"), AGENT, NOW)
    assert (ev.kind, ev.at, ev.actor_role, ev.actor_id) == ("chat.message", NOW, "agent", "agent-a")
    assert ev.data == {"text": "where is my order?", "name": "Ann", "client_msg_id": "c-7"}


def test_follow_up_events_of_a_person_s_command_are_recorded_as_the_system():
    _, events = handle(active(), Leave(), CUSTOMER, NOW)
    assert [(e.kind, e.actor_role) for e in events] == [
        ("session.customer_left", "customer"),
        ("session.wrap_up", "system"),
    ]


def test_handle_never_changes_the_interaction_it_was_given():
    before = active()
    snapshot = before
    handle(before, WrapUp(), AGENT, NOW)
    assert before == snapshot and before.state == SessionState.ACTIVE


# ---------------------------------------------------------------- chat dedupe


def test_chat_resent_with_the_same_client_id_adds_nothing():
    once, _ = handle(active(), SendChat("hi", client_msg_id="c-1"), CUSTOMER, NOW)
    again, events = handle(once, SendChat("hi", client_msg_id="c-1"), CUSTOMER, NOW + 5)
    assert events == []
    assert again is once


def test_chat_without_a_client_id_is_never_deduplicated():
    once, _ = handle(active(), SendChat("hi"), CUSTOMER, NOW)
    again, events = handle(once, SendChat("hi"), CUSTOMER, NOW)
    assert [e.kind for e in events] == ["chat.message"]
    assert again.recent_client_ids == ()


def test_remembered_client_ids_are_bounded_and_the_oldest_is_forgotten_first():
    inter = active()
    for i in range(RECENT_CLIENT_IDS + 1):
        inter, _ = handle(inter, SendChat(f"m{i}", client_msg_id=f"c-{i}"), CUSTOMER, NOW)
    assert len(inter.recent_client_ids) == RECENT_CLIENT_IDS
    assert inter.recent_client_ids[0] == "c-1"
    assert inter.recent_client_ids[-1] == f"c-{RECENT_CLIENT_IDS}"
    _, forgotten = handle(inter, SendChat("m0", client_msg_id="c-0"), CUSTOMER, NOW)
    _, remembered = handle(inter, SendChat("m1", client_msg_id="c-1"), CUSTOMER, NOW)
    assert [e.kind for e in forgotten] == ["chat.message"]
    assert remembered == []


# ---------------------------------------------------------------- offers


def test_offer_records_the_agent_and_expiry():
    new, [ev] = handle(queued(), Offer("agent-a", "Ann", NOW + 20), SYSTEM, NOW)
    assert (new.offered_to, new.offered_to_name, new.offer_expires_at) == (
        "agent-a",
        "Ann",
        NOW + 20,
    )
    assert ev.data == {"agent_id": "agent-a", "agent_name": "Ann", "expires_at": NOW + 20}


def test_accept_assigns_the_agent_and_reports_the_wait():
    new, [ev] = handle(offered(), Accept(), AGENT, T0 + 12.5)
    assert (new.agent_id, new.agent_name) == ("agent-a", "Ann")
    assert (new.offered_to, new.offered_to_name, new.offer_expires_at) == (None, "", None)
    assert ev.data == {"agent_id": "agent-a", "agent_name": "Ann", "waited_s": 12.5}


def test_accept_uses_the_agent_s_own_name_when_the_offer_had_none():
    inter = step(queued(), Offer("agent-a", "", NOW + 20), SYSTEM, NOW)
    new, _ = handle(inter, Accept(), AGENT, NOW)
    assert new.agent_name == "Ann"


def test_decline_skips_the_agent_until_the_cooldown_ends():
    new, [ev] = handle(offered(), Decline(cooldown_s=45.0), AGENT, NOW)
    assert new.state == SessionState.QUEUED
    assert new.skipped == {"agent-a": NOW + 45.0}
    assert (new.offered_to, new.offer_expires_at) == (None, None)
    assert ev.data == {"agent_id": "agent-a", "returned_to": None}


def test_expired_offer_skips_the_agent_until_the_cooldown_ends():
    new, [ev] = handle(offered(), ExpireOffer(cooldown_s=30.0), SYSTEM, NOW)
    assert new.state == SessionState.QUEUED
    assert new.skipped == {"agent-a": NOW + 30.0}
    assert (new.offered_to, new.offer_expires_at) == (None, None)
    assert ev.data == {"agent_id": "agent-a", "returned_to": None}


def test_offer_cannot_expire_before_its_expiry_time():
    inter = offered()
    assert inter.offer_expires_at is not None
    with pytest.raises(InteractionError) as err:
        handle(inter, ExpireOffer(), SYSTEM, inter.offer_expires_at - 0.001)
    assert (err.value.code, err.value.message) == ("wrong_state", "the offer has not expired yet")


def test_offer_can_expire_exactly_at_its_expiry_time():
    inter = offered()
    assert inter.offer_expires_at is not None
    new, _ = handle(inter, ExpireOffer(), SYSTEM, inter.offer_expires_at)
    assert new.state == SessionState.QUEUED


def test_skips_accumulate_across_declines_by_different_agents():
    inter = step(offered(), Decline(cooldown_s=30.0), AGENT, NOW)
    inter = step(inter, Offer("agent-b", "Bob", NOW + 20), SYSTEM, NOW + 1)
    inter = step(inter, Decline(cooldown_s=30.0), OTHER_AGENT, NOW + 2)
    assert inter.skipped == {"agent-a": NOW + 30.0, "agent-b": NOW + 32.0}


def test_accept_clears_the_skip_list():
    inter = step(offered(), Decline(), AGENT, NOW)
    inter = step(inter, Offer("agent-b", "Bob", NOW + 20), SYSTEM, NOW + 1)
    new, _ = handle(inter, Accept(), OTHER_AGENT, NOW + 2)
    assert new.skipped == {}


# ---------------------------------------------------------------- transfers


def test_transfer_to_an_agent_offers_the_session_while_keeping_the_current_agent():
    new, [ev] = handle(active(), SESSION_COMMANDS["transfer_to_agent"], AGENT, NOW)
    assert new.state == SessionState.OFFERED
    assert (new.offered_to, new.offered_to_name, new.offer_expires_at) == (
        "agent-c",
        "Cy",
        NOW + 20,
    )
    assert (new.agent_id, new.agent_name) == ("agent-a", "Ann")
    assert new.transfers == 1
    assert ev.data == {"from_agent": "agent-a", "to_agent": "agent-c", "to_agent_name": "Cy"}


def test_transfer_accepted_by_the_new_agent_moves_the_session_to_them():
    new, [_, moved] = handle(transfer_offered(), Accept(), OTHER_AGENT, NOW)
    assert (new.agent_id, new.agent_name, new.offered_to) == ("agent-b", "Bob", None)
    assert new.transfers == 1
    assert moved.data == {"from_agent": "agent-a", "to_agent": "agent-b", "agent_name": "Bob"}


@pytest.mark.parametrize(
    ("cmd", "actor", "kind"),
    [
        (Decline(cooldown_s=30.0), OTHER_AGENT, "session.declined"),
        (ExpireOffer(cooldown_s=30.0), SYSTEM, "session.offer_expired"),
    ],
    ids=["declined", "expired"],
)
def test_transfer_nobody_takes_returns_to_the_original_agent(cmd: Command, actor: Actor, kind: str):
    new, [ev] = handle(transfer_offered(), cmd, actor, NOW)
    assert new.state == SessionState.ACTIVE
    assert (new.agent_id, new.agent_name) == ("agent-a", "Ann")
    assert (new.offered_to, new.offered_to_name, new.offer_expires_at) == (None, "", None)
    assert new.holder == "agent-a"
    assert new.skipped == {"agent-b": NOW + 30.0}
    assert (ev.kind, ev.data) == (kind, {"agent_id": "agent-b", "returned_to": "agent-a"})


def test_transfer_to_a_queue_clears_the_agent_and_sets_the_skill():
    new, [moved, requeued] = handle(active(), Transfer(to_skill="returns"), AGENT, NOW)
    assert new.state == SessionState.QUEUED
    assert (new.agent_id, new.agent_name, new.skill) == (None, "", "returns")
    assert new.holder is None
    assert new.transfers == 1
    assert new.skipped == {"agent-a": NOW + 3600}
    assert moved.data == {"from_agent": "agent-a", "to_queue": "returns"}
    assert (requeued.actor_role, requeued.data) == ("system", {"skill": "returns"})


def test_transfers_are_counted():
    inter = step(active(), Transfer(to_skill="returns"), AGENT, NOW)
    inter = step(inter, Offer("agent-b", "Bob", NOW + 20), SYSTEM, NOW)
    inter = step(inter, Accept(), OTHER_AGENT, NOW)
    inter = step(inter, Transfer(to_agent="agent-c"), OTHER_AGENT, NOW)
    assert inter.transfers == 2


@pytest.mark.parametrize(
    "cmd",
    [Transfer(), Transfer(to_agent="agent-c", to_skill="returns")],
    ids=["neither", "both"],
)
def test_transfer_needs_exactly_one_target(cmd: Transfer):
    with pytest.raises(InteractionError) as err:
        handle(active(), cmd, AGENT, NOW)
    assert (err.value.code, err.value.message) == (
        "bad_message",
        "transfer needs exactly one of to_agent or to_queue",
    )


def test_transfer_to_the_session_s_own_agent_is_refused():
    with pytest.raises(InteractionError) as err:
        handle(active(), Transfer(to_agent="agent-a"), SUPERVISOR, NOW)
    assert (err.value.code, err.value.message) == (
        "bad_message",
        "cannot transfer a session to its own agent",
    )


# ---------------------------------------------------------------- ending


def running_channels() -> Interaction:
    """Active, with voice running, video asked for and screen declined."""
    inter = with_channel(Channel.VOICE, "active")
    inter = step(inter, RequestChannel(Channel.VIDEO), AGENT, T0 + 20)
    inter = step(inter, RequestChannel(Channel.SCREEN), AGENT, T0 + 21)
    return step(inter, RespondChannel(Channel.SCREEN, accept=False), CUSTOMER, T0 + 22)


@pytest.mark.parametrize(
    ("cmd", "actor"),
    [(WrapUp(), AGENT), (Leave(), CUSTOMER), (ForceEnd(reason="spam"), SUPERVISOR)],
    ids=["wrap_up", "leave", "force_end"],
)
def test_leaving_the_conversation_stops_every_running_channel(cmd: Command, actor: Actor):
    before = running_channels()
    new, _ = handle(before, cmd, actor, NOW)
    states = {name: st.state for name, st in new.channels.items()}
    assert states == {
        "chat": ChannelState.STOPPED,
        "voice": ChannelState.STOPPED,
        "video": ChannelState.STOPPED,
        "screen": ChannelState.DECLINED,
    }
    assert new.channels["voice"].changed_at == NOW
    assert new.channels["voice"].requested_by == Role.CUSTOMER
    assert new.channels["screen"] == before.channels["screen"]


@pytest.mark.parametrize("start", ["queued", "offered"])
def test_customer_leaving_before_an_agent_joined_abandons_the_session(start: str):
    new, [_, ended_ev] = handle(STARTS[start](), Leave(), CUSTOMER, NOW)
    assert (new.state, new.ended_reason, new.ended_at) == (SessionState.ENDED, "abandoned", NOW)
    assert (new.offered_to, new.offer_expires_at) == (None, None)
    assert new.channels["chat"].state == ChannelState.STOPPED
    assert ended_ev.data == {"reason": "abandoned"}


def test_customer_leaving_during_wrap_up_only_adds_an_event():
    before = wrap_up()
    new, [ev] = handle(before, Leave(), CUSTOMER, NOW)
    assert new is before
    assert (ev.kind, ev.actor_id) == ("session.customer_left", "cust-1")


def test_wrap_up_says_which_agent_left():
    _, [left, _] = handle(active(), WrapUp(), AGENT, NOW)
    assert left.data == {"agent_name": "Ann"}


def test_complete_ends_the_session_with_its_disposition():
    new, [ev] = handle(wrap_up(), Complete(disposition="resolved", notes="refunded"), AGENT, NOW)
    assert (new.state, new.disposition, new.ended_reason, new.ended_at) == (
        SessionState.ENDED,
        "resolved",
        "completed",
        NOW,
    )
    assert ev.data == {"reason": "completed", "disposition": "resolved", "notes": "refunded"}


def test_force_end_records_the_reason():
    new, [ev] = handle(offered(), ForceEnd(reason="node lost"), SYSTEM, NOW)
    assert (new.state, new.ended_reason, new.ended_at) == (SessionState.ENDED, "node lost", NOW)
    assert (new.offered_to, new.offer_expires_at) == (None, None)
    assert new.holder is None
    assert (ev.actor_role, ev.data) == ("system", {"reason": "node lost"})


# ---------------------------------------------------------------- channels


@pytest.mark.parametrize("channel", ALL_CHANNELS)
@pytest.mark.parametrize("actor", [CUSTOMER, AGENT], ids=["customer", "agent"])
def test_channel_request_remembers_who_asked(channel: Channel, actor: Actor):
    new, [ev] = handle(active(), RequestChannel(channel), actor, NOW)
    assert new.channels[channel.value].requested_by == actor.role
    assert new.channels[channel.value].changed_at == NOW
    expected = {"channel": channel.value, "origin": "customer" if actor is CUSTOMER else "agent"}
    if channel == Channel.SCREEN:
        expected["sharer"] = "customer"
    assert ev.data == expected


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_channel_answer_keeps_who_asked(channel: Channel):
    new, _ = handle(
        with_channel(channel, "offered_by_agent"), RespondChannel(channel, True), CUSTOMER, NOW
    )
    assert new.channels[channel.value].requested_by == Role.AGENT


def test_channels_are_independent_of_each_other():
    inter = with_channel(Channel.VOICE, "active")
    new, _ = handle(inter, RequestChannel(Channel.COBROWSE), CUSTOMER, NOW)
    assert new.channels["voice"] == inter.channels["voice"]
    assert new.channels["cobrowse"].state == ChannelState.OFFERED


def test_transfer_to_a_queue_stops_channels_running_with_the_old_agent():
    new, _ = handle(with_channel(Channel.VOICE, "active"), Transfer(to_skill="returns"), AGENT, NOW)
    assert new.channels["voice"].state == ChannelState.STOPPED


def test_an_assigned_supervisor_serves_the_whole_session_like_an_agent():
    """Supervisors take chats too: offered, accepted, chat, wrap-up and complete."""
    sup = Actor(Role.SUPERVISOR, "sue", "Sue")
    inter, _ = new_interaction(session_id="s1", entry="demo", customer=CUSTOMER, now=NOW)
    inter, _ = handle(inter, Offer("sue", "Sue", NOW + 20), SYSTEM, NOW)
    inter, _ = handle(inter, Accept(), sup, NOW + 1)
    inter, events = handle(inter, SendChat("hello"), sup, NOW + 2)
    assert events[0].actor_role == "supervisor"
    inter, _ = handle(inter, WrapUp(), sup, NOW + 3)
    inter, _ = handle(inter, Complete("resolved"), sup, NOW + 4)
    assert (inter.state, inter.agent_id) == (SessionState.ENDED, "sue")
