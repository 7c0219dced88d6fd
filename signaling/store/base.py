"""The ``Store`` interface every live-state backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from signaling.interaction import Event, Interaction, SessionState
from signaling.routing import AgentPresence

SessionUpdate = Callable[[Interaction], tuple[Interaction, list[Event]]]
"""A pure function from the current interaction to the next one and its new events."""

AgentUpdate = Callable[[AgentPresence | None], AgentPresence | None]

Handler = Callable[[bytes], None]
"""A pub/sub callback. It must not block: it runs on the event loop."""

ENDED_RETENTION_S = 3600.0
"""How long an ended session stays in the live store (the archive keeps it for good)."""


class StoredEvent(msgspec.Struct, frozen=True):
    """A timeline event with its place in the session's log (``seq`` starts at 1)."""

    session: str
    seq: int
    event: Event


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """What travels on a session topic: a logged event, or an ephemeral message."""

    kind: Literal["event", "ephemeral"]
    session: str
    stored: StoredEvent | None = None
    msg: dict[str, Any] | None = None


_env_encoder = msgspec.json.Encoder()
_env_decoder = msgspec.json.Decoder(Envelope)


def encode_envelope(env: Envelope) -> bytes:
    return _env_encoder.encode(env)


def decode_envelope(payload: bytes) -> Envelope:
    return _env_decoder.decode(payload)


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


CONSOLE_TOPIC = "console"
"""Published whenever the queue or presence changes; agents' consoles refresh."""


def assign_seqs(inter: Interaction, events: list[Event]) -> tuple[Interaction, list[StoredEvent]]:
    """Number the new events after the interaction's ``last_seq``."""
    stored = [
        StoredEvent(session=inter.id, seq=inter.last_seq + i + 1, event=ev)
        for i, ev in enumerate(events)
    ]
    if stored:
        inter = msgspec.structs.replace(inter, last_seq=stored[-1].seq)
    return inter, stored


class Store(ABC):
    """Live state shared by every process of a deployment."""

    name: str = "abstract"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and subscriptions."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the backend answers."""

    # ------------------------------------------------------------ sessions
    @abstractmethod
    async def create_session(self, inter: Interaction, events: list[Event]) -> list[StoredEvent]:
        """Store a new interaction and its first events; publish them."""

    @abstractmethod
    async def get_session(self, session_id: str) -> Interaction | None: ...

    @abstractmethod
    async def update_session(
        self, session_id: str, fn: SessionUpdate
    ) -> tuple[Interaction, list[StoredEvent]]:
        """Apply ``fn`` atomically, append and publish its events.

        Raises InteractionError('not_found') for an unknown session; exceptions
        raised by ``fn`` propagate and leave the session unchanged.
        """

    @abstractmethod
    async def events_since(
        self, session_id: str, after_seq: int, limit: int = 1000
    ) -> list[StoredEvent]:
        """Logged events with ``seq > after_seq``, oldest first."""

    @abstractmethod
    async def sessions_by_state(self, *states: SessionState) -> list[Interaction]: ...

    @abstractmethod
    async def sessions_held_by(self, agent_id: str) -> list[Interaction]:
        """Sessions that take up this agent's capacity (offered, active, wrap-up)."""

    # ------------------------------------------------------------ presence
    @abstractmethod
    async def update_agent(self, agent_id: str, fn: AgentUpdate) -> AgentPresence | None:
        """Atomically replace an agent's presence record (``None`` removes it)."""

    @abstractmethod
    async def get_agent(self, agent_id: str) -> AgentPresence | None:
        """The record with ``load`` filled in from the sessions it holds."""

    @abstractmethod
    async def list_agents(self) -> list[AgentPresence]: ...

    # ------------------------------------------------------------ key-value
    @abstractmethod
    async def kv_set(
        self, key: str, value: bytes, ttl_s: float, *, only_if_new: bool = False
    ) -> bool:
        """Set with expiry. With ``only_if_new``, False when the key already exists."""

    @abstractmethod
    async def kv_get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def kv_delete(self, key: str) -> None: ...

    # ------------------------------------------------------------ pub/sub
    @abstractmethod
    async def publish(self, topic: str, payload: bytes) -> None: ...

    @abstractmethod
    async def subscribe(self, topic: str, handler: Handler) -> None: ...

    @abstractmethod
    async def unsubscribe(self, topic: str, handler: Handler) -> None: ...

    # ------------------------------------------------------------ locks
    @abstractmethod
    async def acquire(self, name: str, ttl_s: float) -> str | None:
        """A lease-style lock: a token when taken, None when someone else holds it."""

    @abstractmethod
    async def release(self, name: str, token: str) -> None: ...
