"""The interaction model: a pure state machine for one support session.

``handle(interaction, command, actor, now)`` returns the next interaction and the
events to append to its timeline, or raises :class:`InteractionError` with a stable
code. Nothing here does I/O or reads a clock; callers pass ``now`` in.

Session states::

    queued -> offered -> active -> wrap_up -> ended
       ^         |          |
       +---------+          +-- (transfer) -> offered | queued

Each media or co-browse channel has a state of its own:
``offered -> accepted | declined``, ``accepted -> active``, ``* -> stopped``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from signaling.errors import InteractionError

RECENT_CLIENT_IDS = 64
"""How many recent client message ids a session remembers to drop resent chat."""


class SessionState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    WRAP_UP = "wrap_up"
    ENDED = "ended"


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"
    BOT = "bot"


class Channel(StrEnum):
    CHAT = "chat"
    VOICE = "voice"
    VIDEO = "video"
    SCREEN = "screen"
    COBROWSE = "cobrowse"


class ChannelState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ACTIVE = "active"
    STOPPED = "stopped"


SERVING = (Role.AGENT, Role.SUPERVISOR)
"""Staff roles that take sessions; a supervisor serves like an agent when assigned."""

UPGRADE_CHANNELS = frozenset({Channel.VOICE, Channel.VIDEO, Channel.SCREEN, Channel.COBROWSE})


class Actor(msgspec.Struct, frozen=True):
    """Who asks for a command: a role and the participant or user id."""

    role: Role
    id: str
    name: str = ""


SYSTEM = Actor(Role.SYSTEM, "system", "livedesk")
BOT = Actor(Role.BOT, "bot", "assistant")
"""The escalation bot: it proposes upgrades and answers FAQs; it never consents."""

SIDES = ("customer", "agent")
"""Who shares a screen: the customer's side or the staff side (agent or supervisor)."""

SOURCE_CHANNELS = {"mic": ("voice", "video"), "camera": ("video",), "screen": ("screen",)}
"""Which channels, once agreed, let a participant send each media source."""

MEDIA_NOTES = frozenset(
    {
        "media.published",
        "media.unpublished",
        "media.muted",
        "media.connected",
        "media.failed",
        "media.recovered",
        "media.closed",
    }
)
BOT_NOTES = frozenset({"bot.answer", "bot.suggested"})
NODE_NOTES = frozenset({"node.draining", "node.lost", "outage.unapplied"})
"""The server about itself: the node holding the session's media is shutting down (the
session ends when ``ends_in_s`` runs out), or died (its media and recording stopped); or
a message written while the live store was away could not be applied when it came back
(the session had moved on, ended say): its text is kept here."""
COBROWSE_NOTES = frozenset({"cobrowse.action", "cobrowse.limit"})
"""Co-browse reports: an agent's command as the customer's page carried it out or refused
it (actor: the agent), and the system stopping a stream over its size cap."""
RECORDING_NOTES = frozenset(
    {
        "recording.finished",
        "recording.rendered",
        "recording.render_failed",
        "recording.failed",
        "recording.transcribed",
        "recording.transcribe_failed",
        "recording.flagged",
        "recording.job_requeued",
    }
)
"""What the recorder reports (system only); allowed after the session has ended too."""
PRESENCE_NOTES = frozenset({"participant.disconnected", "participant.reconnected"})
"""The server lost a participant's socket (``side``, ``reason``: ``timeout`` when it stopped
answering the heartbeat, ``lost`` when the connection broke, ``closed`` when it was closed),
or the participant is connected again (system only). Noted once per loss: the session keeps
who is away (``Interaction.away``)."""
LATE_NOTES = RECORDING_NOTES | {"outage.unapplied"}
"""System notes a session takes after it has ended."""


class ChannelStatus(msgspec.Struct, frozen=True):
    state: ChannelState
    requested_by: Role
    changed_at: float
    reason: str = ""
    sharer: str = ""
    """For ``screen``: whose screen is shared, ``customer`` or ``agent``."""

    @property
    def origin(self) -> str:
        """How the upgrade started: ``customer``, ``agent`` or ``bot``."""
        return origin_of(self.requested_by)

    @property
    def agreed(self) -> bool:
        return self.state in (ChannelState.ACCEPTED, ChannelState.ACTIVE)


def origin_of(role: Role) -> str:
    if role in (Role.CUSTOMER, Role.BOT):
        return role.value
    return "agent"


def side_of(role: Role | str) -> str:
    """``customer`` for the customer, ``agent`` for staff (agents and supervisors)."""
    return "customer" if Role(role) == Role.CUSTOMER else "agent"


def may_send(inter: Interaction, role: Role | str, source: str) -> bool:
    """Whether a participant may send ``source`` now: its channel is agreed (docs/protocol.md)."""
    if inter.state != SessionState.ACTIVE:
        return False
    for name in SOURCE_CHANNELS.get(source, ()):
        st = inter.channels.get(name)
        if st is None or not st.agreed:
            continue
        if name == "screen" and st.sharer and st.sharer != side_of(role):
            continue
        return True
    return False


def channel_for_source(inter: Interaction, source: str) -> str | None:
    """The agreed channel a published source belongs to (video before voice for the mic)."""
    for name in SOURCE_CHANNELS.get(source, ()):
        st = inter.channels.get(name)
        if st is not None and st.agreed:
            return name
    return None


class Event(msgspec.Struct, frozen=True):
    """One timeline entry. ``at`` is wall-clock seconds since the epoch."""

    kind: str
    at: float
    actor_role: str
    actor_id: str
    data: dict[str, Any] = {}


class RecordingState(StrEnum):
    ASKING = "asking"
    RECORDING = "recording"
    PAUSED = "paused"
    DECLINED = "declined"
    STOPPED = "stopped"


class RecordingStatus(msgspec.Struct, frozen=True):
    """Whether the session is being recorded, and who has agreed to it."""

    state: RecordingState
    requested_by: Role
    changed_at: float
    consents: dict[str, bool] = {}
    """Side (``customer``, ``agent``) -> agreed; recording starts when both have."""
    required: bool = False
    """The entry offers media only with recording: a customer who declines keeps chat only."""

    @property
    def chat_only(self) -> bool:
        """The customer declined a recording the entry requires for voice, video and more."""
        return (
            self.required
            and self.state == RecordingState.DECLINED
            and not self.consents.get("customer", True)
        )


class Interaction(msgspec.Struct, frozen=True):
    """The live record of one support session."""

    id: str
    entry: str
    state: SessionState
    created_at: float
    queued_at: float
    customer_id: str
    customer_name: str = ""
    tier: str = "standard"
    page: str = ""
    skill: str = ""
    language: str = "en"
    agent_id: str | None = None
    agent_name: str = ""
    offered_to: str | None = None
    offered_to_name: str = ""
    offer_expires_at: float | None = None
    # agent id -> time until which routing must not offer this session to them again
    skipped: dict[str, float] = {}
    channels: dict[str, ChannelStatus] = {}
    recording: RecordingStatus | None = None
    recent_client_ids: tuple[str, ...] = ()
    transfers: int = 0
    control: str = ""
    """Remote control of the co-browsed page: ``""`` (none), ``asked`` or ``granted``."""
    away: tuple[str, ...] = ()
    """Sides (``customer``, ``agent``) whose socket the server lost and that have not come
    back (:data:`PRESENCE_NOTES`)."""
    disposition: str = ""
    ended_reason: str = ""
    ended_at: float | None = None
    last_seq: int = 0

    @property
    def holder(self) -> str | None:
        """The agent whose capacity this session takes up right now."""
        if self.state == SessionState.OFFERED:
            return self.offered_to
        if self.state in (SessionState.ACTIVE, SessionState.WRAP_UP):
            return self.agent_id
        return None


# ---------------------------------------------------------------- commands


class Offer(msgspec.Struct, frozen=True, tag="offer"):
    agent_id: str
    agent_name: str
    expires_at: float


class ExpireOffer(msgspec.Struct, frozen=True, tag="expire_offer"):
    cooldown_s: float = 30.0


class Accept(msgspec.Struct, frozen=True, tag="accept"):
    pass


class Decline(msgspec.Struct, frozen=True, tag="decline"):
    cooldown_s: float = 30.0


class SendChat(msgspec.Struct, frozen=True, tag="chat"):
    text: str
    client_msg_id: str = ""


class Transfer(msgspec.Struct, frozen=True, tag="transfer"):
    """To a named agent (offered to them) or back to a queue with a skill."""

    to_agent: str | None = None
    to_agent_name: str = ""
    to_skill: str | None = None
    expires_at: float | None = None


class WrapUp(msgspec.Struct, frozen=True, tag="wrap_up"):
    pass


class Leave(msgspec.Struct, frozen=True, tag="leave"):
    pass


class Complete(msgspec.Struct, frozen=True, tag="complete"):
    disposition: str = ""
    notes: str = ""


class ForceEnd(msgspec.Struct, frozen=True, tag="force_end"):
    reason: str


class RequestChannel(msgspec.Struct, frozen=True, tag="channel_request"):
    channel: Channel
    reason: str = ""
    sharer: str = ""


class RespondChannel(msgspec.Struct, frozen=True, tag="channel_respond"):
    channel: Channel
    accept: bool


class ActivateChannel(msgspec.Struct, frozen=True, tag="channel_activate"):
    channel: Channel


class StopChannel(msgspec.Struct, frozen=True, tag="channel_stop"):
    """Stop a channel; ``reason`` is set when the system stops it."""

    channel: Channel
    reason: str = ""


class RequestRecording(msgspec.Struct, frozen=True, tag="recording_request"):
    """The agent starts recording (``on_request``), or the system does (``always``).

    ``required``: the entry's policy keeps a customer who declines to chat only.
    """

    required: bool = False


class RespondRecording(msgspec.Struct, frozen=True, tag="recording_respond"):
    accept: bool


class PauseRecording(msgspec.Struct, frozen=True, tag="recording_pause"):
    pass


class ResumeRecording(msgspec.Struct, frozen=True, tag="recording_resume"):
    pass


class StopRecording(msgspec.Struct, frozen=True, tag="recording_stop"):
    """``reason``: set when the system stops it, e.g. ``disk_full`` (the files could not be
    written)."""

    reason: str = ""


class RequestControl(msgspec.Struct, frozen=True, tag="control_request"):
    """The agent asks to click, scroll and type on the co-browsed page."""


class RespondControl(msgspec.Struct, frozen=True, tag="control_respond"):
    accept: bool


class EndControl(msgspec.Struct, frozen=True, tag="control_end"):
    """Control (or the question) ends: the customer takes it back, or the agent lets go."""

    reason: str = ""


class Note(msgspec.Struct, frozen=True, tag="note"):
    """A timeline entry with no state change: media plane reports and bot answers.

    A ``media.published`` note also makes the source's agreed channel ``active``.
    """

    kind: str
    data: dict[str, Any] = {}


Command = (
    Offer
    | ExpireOffer
    | Accept
    | Decline
    | SendChat
    | Transfer
    | WrapUp
    | Leave
    | Complete
    | ForceEnd
    | RequestChannel
    | RespondChannel
    | ActivateChannel
    | StopChannel
    | Note
    | RequestRecording
    | RespondRecording
    | PauseRecording
    | ResumeRecording
    | StopRecording
    | RequestControl
    | RespondControl
    | EndControl
)

# ---------------------------------------------------------------- creation


def new_interaction(
    *,
    session_id: str,
    entry: str,
    customer: Actor,
    now: float,
    tier: str = "standard",
    page: str = "",
    skill: str = "",
    language: str = "en",
) -> tuple[Interaction, list[Event]]:
    """A freshly queued interaction and its first timeline events."""
    inter = Interaction(
        id=session_id,
        entry=entry,
        state=SessionState.QUEUED,
        created_at=now,
        queued_at=now,
        customer_id=customer.id,
        customer_name=customer.name,
        tier=tier,
        page=page,
        skill=skill,
        language=language,
        channels={Channel.CHAT.value: ChannelStatus(ChannelState.ACTIVE, Role.CUSTOMER, now)},
    )
    events = [
        _event(
            "session.created",
            customer,
            now,
            entry=entry,
            tier=tier,
            page=page,
            skill=skill,
            customer_name=customer.name,
        ),
        _event("session.queued", SYSTEM, now, skill=skill),
    ]
    return inter, events


# ---------------------------------------------------------------- transitions


def handle(
    inter: Interaction, cmd: Command, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    """Apply ``cmd`` asked by ``actor`` at ``now``. Raises InteractionError."""
    if inter.state == SessionState.ENDED and not (
        isinstance(cmd, Note) and cmd.kind in LATE_NOTES and actor.role == Role.SYSTEM
    ):
        raise InteractionError("wrong_state", "the session has ended")
    fn = _HANDLERS.get(type(cmd))
    if fn is None:  # pragma: no cover - every Command member has a handler
        raise InteractionError("bad_message", f"unknown command {type(cmd).__name__}")
    new, events = fn(inter, cmd, actor, now)
    new, events = _control_follows_cobrowse(new, events, now)
    return _recording_follows_session(new, events, now)


_RUNNING_RECORDING = (RecordingState.ASKING, RecordingState.RECORDING, RecordingState.PAUSED)


def _recording_follows_session(
    inter: Interaction, events: list[Event], now: float
) -> tuple[Interaction, list[Event]]:
    """Recording (or a pending request) stops when the session leaves its active state:
    wrap-up, end, or a transfer back to the queue."""
    rec = inter.recording
    if inter.state in (SessionState.ACTIVE, SessionState.OFFERED) or rec is None:
        return inter, events
    if rec.state not in _RUNNING_RECORDING:
        return inter, events
    stopped = msgspec.structs.replace(rec, state=RecordingState.STOPPED, changed_at=now)
    reason = f"session {inter.state.value}"
    return _set_recording(inter, stopped), [
        *events,
        _event("recording.stopped", SYSTEM, now, reason=reason),
    ]


def _control_follows_cobrowse(
    inter: Interaction, events: list[Event], now: float
) -> tuple[Interaction, list[Event]]:
    """Control (or a pending question) ends with the co-browse channel or the session."""
    if not inter.control:
        return inter, events
    cur = inter.channels.get(Channel.COBROWSE.value)
    live = cur is not None and cur.state in (ChannelState.ACCEPTED, ChannelState.ACTIVE)
    if inter.state == SessionState.ACTIVE and live:
        return inter, events
    reason = (
        f"session {inter.state.value}"
        if inter.state != SessionState.ACTIVE
        else "co-browse stopped"
    )
    return msgspec.structs.replace(inter, control=""), [
        *events,
        _event("cobrowse.control_ended", SYSTEM, now, reason=reason),
    ]


def _event(kind: str, actor: Actor, now: float, **data: Any) -> Event:
    return Event(kind=kind, at=now, actor_role=actor.role.value, actor_id=actor.id, data=data)


def _need_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise InteractionError("forbidden", f"only {allowed} may do this, not {actor.role.value}")


def _need_state(inter: Interaction, *states: SessionState) -> None:
    if inter.state not in states:
        allowed = ", ".join(s.value for s in states)
        raise InteractionError(
            "wrong_state", f"not allowed while the session is {inter.state.value} (needs {allowed})"
        )


def _need_participant(inter: Interaction, actor: Actor) -> None:
    """The actor must be this session's customer or its assigned agent."""
    if actor.role == Role.CUSTOMER and actor.id == inter.customer_id:
        return
    if actor.role in SERVING and actor.id == inter.agent_id:
        return
    if actor.role in SERVING:
        raise InteractionError("not_assigned", "this session is not assigned to you")
    raise InteractionError("forbidden", "you are not a participant of this session")


def _offer(
    inter: Interaction, cmd: Offer, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.SYSTEM)
    _need_state(inter, SessionState.QUEUED)
    new = msgspec.structs.replace(
        inter,
        state=SessionState.OFFERED,
        offered_to=cmd.agent_id,
        offered_to_name=cmd.agent_name,
        offer_expires_at=cmd.expires_at,
    )
    ev = _event(
        "session.offered",
        actor,
        now,
        agent_id=cmd.agent_id,
        agent_name=cmd.agent_name,
        expires_at=cmd.expires_at,
    )
    return new, [ev]


def _requeue(inter: Interaction, skip_agent: str | None, until: float) -> Interaction:
    skipped = {a: t for a, t in inter.skipped.items() if t > until - 3600}
    if skip_agent:
        skipped[skip_agent] = until
    return msgspec.structs.replace(
        inter,
        state=SessionState.QUEUED,
        offered_to=None,
        offered_to_name="",
        offer_expires_at=None,
        skipped=skipped,
    )


def _expire_offer(
    inter: Interaction, cmd: ExpireOffer, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.SYSTEM)
    _need_state(inter, SessionState.OFFERED)
    if inter.offer_expires_at is not None and now < inter.offer_expires_at:
        raise InteractionError("wrong_state", "the offer has not expired yet")
    agent = inter.offered_to
    new, back_to = _offer_refused(inter, agent, now + cmd.cooldown_s)
    return new, [
        _event(
            "session.offer_expired",
            actor,
            now,
            agent_id=agent,
            returned_to=back_to[0] if back_to else None,
        )
    ]


def _offer_refused(
    inter: Interaction, agent: str | None, skip_until: float
) -> tuple[Interaction, tuple[str, str] | None]:
    """An offer declined or expired: back to the queue, or to the agent who transferred it."""
    new = _requeue(inter, agent, skip_until)
    back_to = _back_to_agent(inter)
    if back_to is not None:
        # a transfer nobody took returns to the agent who sent it
        new = msgspec.structs.replace(
            new, state=SessionState.ACTIVE, agent_id=back_to[0], agent_name=back_to[1]
        )
    return new, back_to


def _back_to_agent(inter: Interaction) -> tuple[str, str] | None:
    if inter.agent_id and inter.agent_id != inter.offered_to:
        return inter.agent_id, inter.agent_name
    return None


def _accept(
    inter: Interaction, cmd: Accept, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_state(inter, SessionState.OFFERED)
    if actor.id != inter.offered_to:
        raise InteractionError("not_assigned", "this session was not offered to you")
    previous = inter.agent_id
    new = msgspec.structs.replace(
        inter,
        state=SessionState.ACTIVE,
        agent_id=actor.id,
        agent_name=inter.offered_to_name or actor.name,
        offered_to=None,
        offered_to_name="",
        offer_expires_at=None,
        skipped={},
        away=tuple(s for s in inter.away if s != "agent"),  # a new agent is connected
    )
    events = [
        _event(
            "session.accepted",
            actor,
            now,
            agent_id=actor.id,
            agent_name=new.agent_name,
            waited_s=round(now - inter.queued_at, 3),
        )
    ]
    if previous and previous != actor.id:
        events.append(
            _event(
                "session.transferred",
                actor,
                now,
                from_agent=previous,
                to_agent=actor.id,
                agent_name=new.agent_name,
            )
        )
    return new, events


def _decline(
    inter: Interaction, cmd: Decline, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_state(inter, SessionState.OFFERED)
    if actor.id != inter.offered_to:
        raise InteractionError("not_assigned", "this session was not offered to you")
    new, back_to = _offer_refused(inter, actor.id, now + cmd.cooldown_s)
    return new, [
        _event(
            "session.declined",
            actor,
            now,
            agent_id=actor.id,
            returned_to=back_to[0] if back_to else None,
        )
    ]


def _chat(
    inter: Interaction, cmd: SendChat, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.CUSTOMER, *SERVING)
    _need_participant(inter, actor)
    if actor.role == Role.CUSTOMER:
        _need_state(inter, SessionState.QUEUED, SessionState.OFFERED, SessionState.ACTIVE)
    else:
        _need_state(inter, SessionState.ACTIVE)
    if cmd.client_msg_id and cmd.client_msg_id in inter.recent_client_ids:
        return inter, []  # a resend after reconnect: already on the timeline
    recent = inter.recent_client_ids
    if cmd.client_msg_id:
        recent = (*recent, cmd.client_msg_id)[-RECENT_CLIENT_IDS:]
    new = msgspec.structs.replace(inter, recent_client_ids=recent)
    return new, [
        _event(
            "chat.message",
            actor,
            now,
            text=cmd.text,
            name=actor.name,
            client_msg_id=cmd.client_msg_id,
        )
    ]


def _transfer(
    inter: Interaction, cmd: Transfer, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.AGENT, Role.SUPERVISOR)
    _need_state(inter, SessionState.ACTIVE)
    if actor.role == Role.AGENT and actor.id != inter.agent_id:
        raise InteractionError("not_assigned", "this session is not assigned to you")
    if (cmd.to_agent is None) == (cmd.to_skill is None):
        raise InteractionError("bad_message", "transfer needs exactly one of to_agent or to_queue")
    if cmd.to_agent is not None:
        if cmd.to_agent == inter.agent_id:
            raise InteractionError("bad_message", "cannot transfer a session to its own agent")
        new = msgspec.structs.replace(
            inter,
            state=SessionState.OFFERED,
            offered_to=cmd.to_agent,
            offered_to_name=cmd.to_agent_name,
            offer_expires_at=cmd.expires_at,
            transfers=inter.transfers + 1,
        )
        ev = _event(
            "session.transfer_requested",
            actor,
            now,
            from_agent=inter.agent_id,
            to_agent=cmd.to_agent,
            to_agent_name=cmd.to_agent_name,
        )
        return new, [ev]
    new = msgspec.structs.replace(
        inter,
        state=SessionState.QUEUED,
        skill=cmd.to_skill or "",
        agent_id=None,
        agent_name="",
        skipped={inter.agent_id: now + 3600} if inter.agent_id else {},
        transfers=inter.transfers + 1,
        channels=_stop_all_channels(inter, now),
    )
    ev = _event("session.transferred", actor, now, from_agent=inter.agent_id, to_queue=cmd.to_skill)
    return new, [ev, _event("session.queued", SYSTEM, now, skill=cmd.to_skill)]


def _stop_all_channels(inter: Interaction, now: float) -> dict[str, ChannelStatus]:
    return {
        name: (
            st
            if st.state in (ChannelState.STOPPED, ChannelState.DECLINED)
            else msgspec.structs.replace(st, state=ChannelState.STOPPED, changed_at=now)
        )
        for name, st in inter.channels.items()
    }


def _wrap_up(
    inter: Interaction, cmd: WrapUp, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_state(inter, SessionState.ACTIVE)
    _need_participant(inter, actor)
    new = msgspec.structs.replace(
        inter, state=SessionState.WRAP_UP, channels=_stop_all_channels(inter, now)
    )
    return new, [
        _event("session.agent_left", actor, now, agent_name=inter.agent_name),
        _event("session.wrap_up", SYSTEM, now),
    ]


def _leave(
    inter: Interaction, cmd: Leave, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.CUSTOMER)
    _need_participant(inter, actor)
    if inter.state == SessionState.OFFERED and _back_to_agent(inter) is not None:
        # mid-transfer: the agent who served them still owns the wrap-up
        new = msgspec.structs.replace(
            inter,
            state=SessionState.WRAP_UP,
            offered_to=None,
            offered_to_name="",
            offer_expires_at=None,
            channels=_stop_all_channels(inter, now),
        )
        return new, [
            _event("session.customer_left", actor, now),
            _event("session.wrap_up", SYSTEM, now),
        ]
    if inter.state in (SessionState.QUEUED, SessionState.OFFERED):
        new = msgspec.structs.replace(
            inter,
            state=SessionState.ENDED,
            ended_reason="abandoned",
            ended_at=now,
            offered_to=None,
            offer_expires_at=None,
            channels=_stop_all_channels(inter, now),
        )
        return new, [
            _event("session.customer_left", actor, now),
            _event("session.ended", SYSTEM, now, reason="abandoned"),
        ]
    _need_state(inter, SessionState.ACTIVE, SessionState.WRAP_UP)
    if inter.state == SessionState.WRAP_UP:
        return inter, [_event("session.customer_left", actor, now)]
    new = msgspec.structs.replace(
        inter, state=SessionState.WRAP_UP, channels=_stop_all_channels(inter, now)
    )
    return new, [
        _event("session.customer_left", actor, now),
        _event("session.wrap_up", SYSTEM, now),
    ]


def _complete(
    inter: Interaction, cmd: Complete, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_state(inter, SessionState.WRAP_UP)
    _need_participant(inter, actor)
    new = msgspec.structs.replace(
        inter,
        state=SessionState.ENDED,
        disposition=cmd.disposition,
        ended_reason="completed",
        ended_at=now,
    )
    return new, [
        _event(
            "session.ended",
            actor,
            now,
            reason="completed",
            disposition=cmd.disposition,
            notes=cmd.notes,
        )
    ]


def _force_end(
    inter: Interaction, cmd: ForceEnd, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.SYSTEM, Role.SUPERVISOR)
    new = msgspec.structs.replace(
        inter,
        state=SessionState.ENDED,
        ended_reason=cmd.reason,
        ended_at=now,
        offered_to=None,
        offer_expires_at=None,
        channels=_stop_all_channels(inter, now),
    )
    return new, [_event("session.ended", actor, now, reason=cmd.reason)]


def _channel_guard(inter: Interaction, actor: Actor, channel: Channel) -> None:
    _need_role(actor, Role.CUSTOMER, *SERVING, Role.BOT)
    if actor.role != Role.BOT:
        _need_participant(inter, actor)
    _need_state(inter, SessionState.ACTIVE)
    if channel not in UPGRADE_CHANNELS:
        raise InteractionError("channel_state", f"{channel.value} is always on for the session")


def _not_chat_only(inter: Interaction) -> None:
    if inter.recording is not None and inter.recording.chat_only:
        raise InteractionError(
            "recording_required",
            "this entry offers voice, video, screen and co-browse only when recorded; "
            "the customer declined recording, so the session stays in chat",
        )


def _set_channel(inter: Interaction, channel: Channel, st: ChannelStatus) -> Interaction:
    return msgspec.structs.replace(inter, channels={**inter.channels, channel.value: st})


def _request_channel(
    inter: Interaction, cmd: RequestChannel, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _channel_guard(inter, actor, cmd.channel)
    _not_chat_only(inter)
    cur = inter.channels.get(cmd.channel.value)
    if cur is not None and cur.state in (
        ChannelState.OFFERED,
        ChannelState.ACCEPTED,
        ChannelState.ACTIVE,
    ):
        raise InteractionError("channel_state", f"{cmd.channel.value} is already {cur.state.value}")
    sharer = ""
    if cmd.channel == Channel.SCREEN:
        sharer = cmd.sharer or "customer"
        if sharer not in SIDES:
            raise InteractionError("bad_message", "sharer must be customer or agent")
        if actor.role == Role.BOT and sharer != "customer":
            raise InteractionError("forbidden", "the bot may only propose the customer's screen")
    elif cmd.sharer:
        raise InteractionError("bad_message", "sharer applies to screen sharing only")
    reason = cmd.reason[:300]
    status = ChannelStatus(ChannelState.OFFERED, actor.role, now, reason=reason, sharer=sharer)
    new = _set_channel(inter, cmd.channel, status)
    data: dict[str, Any] = {"channel": cmd.channel.value, "origin": status.origin}
    if reason:
        data["reason"] = reason
    if sharer:
        data["sharer"] = sharer
    return new, [_event("channel.offered", actor, now, **data)]


def _respond_channel(
    inter: Interaction, cmd: RespondChannel, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _channel_guard(inter, actor, cmd.channel)
    if actor.role == Role.BOT:
        raise InteractionError("forbidden", "the bot cannot consent for anyone")
    cur = inter.channels.get(cmd.channel.value)
    if cur is None or cur.state != ChannelState.OFFERED:
        raise InteractionError("channel_state", f"{cmd.channel.value} has not been offered")
    if cmd.accept:
        _not_chat_only(inter)
    if cur.requested_by == Role.BOT:
        if actor.role != Role.CUSTOMER:
            raise InteractionError("forbidden", "the customer answers the assistant's proposal")
    elif side_of(cur.requested_by) == side_of(actor.role):
        raise InteractionError("forbidden", "the other side must answer this request")
    state = ChannelState.ACCEPTED if cmd.accept else ChannelState.DECLINED
    new = _set_channel(
        inter, cmd.channel, msgspec.structs.replace(cur, state=state, changed_at=now)
    )
    return new, [
        _event(f"channel.{state.value}", actor, now, channel=cmd.channel.value, origin=cur.origin)
    ]


def _activate_channel(
    inter: Interaction, cmd: ActivateChannel, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.SYSTEM)
    cur = inter.channels.get(cmd.channel.value)
    if cur is None or cur.state != ChannelState.ACCEPTED:
        raise InteractionError("channel_state", f"{cmd.channel.value} has not been accepted")
    new = _set_channel(
        inter, cmd.channel, msgspec.structs.replace(cur, state=ChannelState.ACTIVE, changed_at=now)
    )
    return new, [_event("channel.active", actor, now, channel=cmd.channel.value, origin=cur.origin)]


def _stop_channel(
    inter: Interaction, cmd: StopChannel, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    if actor.role == Role.SYSTEM:  # e.g. a co-browse stream past its size cap
        _need_state(inter, SessionState.ACTIVE)
        if cmd.channel not in UPGRADE_CHANNELS:
            raise InteractionError("channel_state", "chat is always on for the session")
    else:
        _channel_guard(inter, actor, cmd.channel)
    cur = inter.channels.get(cmd.channel.value)
    if cur is None or cur.state not in (
        ChannelState.OFFERED,
        ChannelState.ACCEPTED,
        ChannelState.ACTIVE,
    ):
        raise InteractionError("channel_state", f"{cmd.channel.value} is not running")
    new = _set_channel(
        inter, cmd.channel, msgspec.structs.replace(cur, state=ChannelState.STOPPED, changed_at=now)
    )
    data: dict[str, Any] = {"channel": cmd.channel.value, "origin": cur.origin}
    if cmd.reason:
        data["reason"] = cmd.reason[:300]
    return new, [_event("channel.stopped", actor, now, **data)]


def _note(
    inter: Interaction, cmd: Note, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    if cmd.kind in BOT_NOTES:
        _need_role(actor, Role.BOT)
    elif cmd.kind in MEDIA_NOTES:
        _need_role(actor, Role.CUSTOMER, *SERVING, Role.SYSTEM)
        if actor.role != Role.SYSTEM:
            _need_participant(inter, actor)
    elif cmd.kind in RECORDING_NOTES:
        _need_role(actor, Role.SYSTEM)
    elif cmd.kind in COBROWSE_NOTES:
        _need_role(actor, *SERVING, Role.SYSTEM)
        if actor.role != Role.SYSTEM:
            _need_participant(inter, actor)
    elif cmd.kind in NODE_NOTES:
        _need_role(actor, Role.SYSTEM)
    elif cmd.kind in PRESENCE_NOTES:
        _need_role(actor, Role.SYSTEM)
        return _presence(inter, cmd, now)
    else:
        raise InteractionError("bad_message", f"no such note {cmd.kind!r}")
    events = [Event(cmd.kind, now, actor.role.value, actor.id, dict(cmd.data))]
    if cmd.kind == "media.published":
        name = channel_for_source(inter, str(cmd.data.get("source", "")))
        cur = inter.channels.get(name) if name else None
        if name is not None and cur is not None and cur.state == ChannelState.ACCEPTED:
            active = msgspec.structs.replace(cur, state=ChannelState.ACTIVE, changed_at=now)
            inter = _set_channel(inter, Channel(name), active)
            events.append(_event("channel.active", SYSTEM, now, channel=name, origin=cur.origin))
    return inter, events


def _presence(inter: Interaction, cmd: Note, now: float) -> tuple[Interaction, list[Event]]:
    """A lost socket is noted once, and a return only after a loss (else: no event)."""
    side = cmd.data.get("side")
    if side not in ("customer", "agent"):
        raise InteractionError("bad_message", f"{cmd.kind} needs side customer or agent")
    lost = cmd.kind == "participant.disconnected"
    if (side in inter.away) == lost:
        return inter, []
    away = (*inter.away, side) if lost else tuple(s for s in inter.away if s != side)
    return msgspec.structs.replace(inter, away=away), [_event(cmd.kind, SYSTEM, now, **cmd.data)]


# ---------------------------------------------------------------- co-browse control
#
# The agent may point and highlight while co-browsing; clicking, scrolling and typing
# on the customer's page need the customer's yes, which they can take back at any time.


def _cobrowse_live(inter: Interaction) -> None:
    cur = inter.channels.get(Channel.COBROWSE.value)
    if cur is None or cur.state not in (ChannelState.ACCEPTED, ChannelState.ACTIVE):
        raise InteractionError("channel_state", "co-browsing is not running")


def _request_control(
    inter: Interaction, cmd: RequestControl, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_participant(inter, actor)
    _need_state(inter, SessionState.ACTIVE)
    _cobrowse_live(inter)
    if inter.control:
        raise InteractionError("control_state", f"control is already {inter.control}")
    new = msgspec.structs.replace(inter, control="asked")
    return new, [_event("cobrowse.control_requested", actor, now, agent_name=actor.name)]


def _respond_control(
    inter: Interaction, cmd: RespondControl, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.CUSTOMER)
    _need_participant(inter, actor)
    _need_state(inter, SessionState.ACTIVE)
    if inter.control != "asked":
        raise InteractionError("control_state", "control has not been asked for")
    if cmd.accept:
        return msgspec.structs.replace(inter, control="granted"), [
            _event("cobrowse.control_granted", actor, now)
        ]
    return msgspec.structs.replace(inter, control=""), [
        _event("cobrowse.control_declined", actor, now)
    ]


def _end_control(
    inter: Interaction, cmd: EndControl, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.CUSTOMER, *SERVING)
    _need_participant(inter, actor)
    if not inter.control:
        raise InteractionError("control_state", "nobody has control")
    data: dict[str, Any] = {"by": side_of(actor.role)}
    if cmd.reason:
        data["reason"] = cmd.reason[:200]
    return msgspec.structs.replace(inter, control=""), [
        _event("cobrowse.control_ended", actor, now, **data)
    ]


# ---------------------------------------------------------------- recording consent
#
# Nobody is recorded without agreeing: a request (by the agent, or by the system when
# the entry records always) asks both sides; the asking side's agent agrees by asking.
# Recording starts when both sides have agreed; one refusal ends the request.


def _recording(inter: Interaction, *states: RecordingState) -> RecordingStatus:
    rec = inter.recording
    if rec is None or rec.state not in states:
        now_state = rec.state.value if rec else "off"
        raise InteractionError("recording_state", f"recording is {now_state}")
    return rec


def _set_recording(inter: Interaction, rec: RecordingStatus) -> Interaction:
    return msgspec.structs.replace(inter, recording=rec)


def _request_recording(
    inter: Interaction, cmd: RequestRecording, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING, Role.SYSTEM)
    if actor.role != Role.SYSTEM:
        _need_participant(inter, actor)
    _need_state(inter, SessionState.ACTIVE)
    cur = inter.recording
    if cur is not None and cur.state in (
        RecordingState.ASKING,
        RecordingState.RECORDING,
        RecordingState.PAUSED,
    ):
        raise InteractionError("recording_state", f"recording is already {cur.state.value}")
    consents = {"agent": True} if actor.role in SERVING else {}
    rec = RecordingStatus(RecordingState.ASKING, actor.role, now, consents, cmd.required)
    data = {"required": True} if cmd.required else {}
    return _set_recording(inter, rec), [_event("recording.requested", actor, now, **data)]


def _respond_recording(
    inter: Interaction, cmd: RespondRecording, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, Role.CUSTOMER, *SERVING)
    _need_participant(inter, actor)
    rec = _recording(inter, RecordingState.ASKING)
    side = side_of(actor.role)
    if side in rec.consents:
        raise InteractionError("recording_state", "you have already answered")
    consents = {**rec.consents, side: cmd.accept}
    if not cmd.accept:
        declined = RecordingStatus(
            RecordingState.DECLINED, rec.requested_by, now, consents, rec.required
        )
        new = _set_recording(inter, declined)
        if not declined.chat_only:
            return new, [_event("recording.declined", actor, now, side=side)]
        # the entry offers media only when recorded: what is running stops, chat goes on
        events = [_event("recording.declined", actor, now, side=side, chat_only=True)]
        channels = dict(inter.channels)
        for name, st in inter.channels.items():
            running = (ChannelState.OFFERED, ChannelState.ACCEPTED, ChannelState.ACTIVE)
            if Channel(name) not in UPGRADE_CHANNELS or st.state not in running:
                continue
            channels[name] = msgspec.structs.replace(st, state=ChannelState.STOPPED, changed_at=now)
            events.append(
                _event(
                    "channel.stopped",
                    SYSTEM,
                    now,
                    channel=name,
                    origin=st.origin,
                    reason="recording declined",
                )
            )
        return msgspec.structs.replace(new, channels=channels), events
    events = [_event("recording.consented", actor, now, side=side)]
    if all(consents.get(s) for s in SIDES):
        started = RecordingStatus(
            RecordingState.RECORDING, rec.requested_by, now, consents, rec.required
        )
        events.append(_event("recording.started", SYSTEM, now))
        return _set_recording(inter, started), events
    return _set_recording(inter, msgspec.structs.replace(rec, consents=consents)), events


def _pause_recording(
    inter: Interaction, cmd: PauseRecording, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_participant(inter, actor)
    rec = _recording(inter, RecordingState.RECORDING)
    paused = msgspec.structs.replace(rec, state=RecordingState.PAUSED, changed_at=now)
    return _set_recording(inter, paused), [_event("recording.paused", actor, now)]


def _resume_recording(
    inter: Interaction, cmd: ResumeRecording, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING)
    _need_participant(inter, actor)
    rec = _recording(inter, RecordingState.PAUSED)
    resumed = msgspec.structs.replace(rec, state=RecordingState.RECORDING, changed_at=now)
    return _set_recording(inter, resumed), [
        _event("recording.resumed", actor, now, paused_s=round(now - rec.changed_at, 3))
    ]


def _stop_recording(
    inter: Interaction, cmd: StopRecording, actor: Actor, now: float
) -> tuple[Interaction, list[Event]]:
    _need_role(actor, *SERVING, Role.SYSTEM)
    if actor.role != Role.SYSTEM:
        _need_participant(inter, actor)
    rec = _recording(inter, RecordingState.ASKING, RecordingState.RECORDING, RecordingState.PAUSED)
    stopped = msgspec.structs.replace(rec, state=RecordingState.STOPPED, changed_at=now)
    data = {"reason": cmd.reason[:100]} if cmd.reason and actor.role == Role.SYSTEM else {}
    return _set_recording(inter, stopped), [_event("recording.stopped", actor, now, **data)]


_HANDLERS: dict[type, Any] = {
    Offer: _offer,
    ExpireOffer: _expire_offer,
    Accept: _accept,
    Decline: _decline,
    SendChat: _chat,
    Transfer: _transfer,
    WrapUp: _wrap_up,
    Leave: _leave,
    Complete: _complete,
    ForceEnd: _force_end,
    RequestChannel: _request_channel,
    RespondChannel: _respond_channel,
    ActivateChannel: _activate_channel,
    StopChannel: _stop_channel,
    Note: _note,
    RequestRecording: _request_recording,
    RespondRecording: _respond_recording,
    PauseRecording: _pause_recording,
    ResumeRecording: _resume_recording,
    StopRecording: _stop_recording,
    RequestControl: _request_control,
    RespondControl: _respond_control,
    EndControl: _end_control,
}
