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
    """What travels on a session topic: a logged event, or an ephemeral message.

    ``origin`` names the node whose write produced a logged event, so the node that owns
    the session knows which events it has not yet acted on (see signaling.cluster).
    """

    kind: Literal["event", "ephemeral"]
    session: str
    stored: StoredEvent | None = None
    msg: dict[str, Any] | None = None
    origin: str = ""


class NodeInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """One node of a deployment as the registry lists it (published at every heartbeat).

    ``alive`` is not stored: a read fills it from the node's lease key.
    """

    id: str
    url: str = ""
    pid: int = 0
    started_at: float = 0.0
    beat_at: float = 0.0
    sessions: int = 0
    """Sessions this node owns (their media, recording and co-browse run here)."""
    rooms: int = 0
    connections: int = 0
    draining: bool = False
    staff: tuple[str, ...] = ()
    """Staff connected to this node: presence lives as long as the node's lease."""
    link: str = ""
    """This node's peer-link URL: how the others reach it while the store is away."""
    alive: bool = True

    @property
    def load(self) -> tuple[int, int, int]:
        """Ordering for placement: fewest media rooms, then sessions, then connections."""
        return (self.rooms, self.sessions, self.connections)


class JobTicket(msgspec.Struct, frozen=True):
    """A job taken from a work queue: which job, and its place in the queue."""

    queue: str
    entry: str
    """The queue's own id for this delivery (a stream entry id on Redis)."""
    job_id: int
    redelivered: bool = False
    """Taken from a worker that held it too long without finishing (it may have died)."""


_env_encoder = msgspec.json.Encoder()
_env_decoder = msgspec.json.Decoder(Envelope)


def encode_envelope(env: Envelope) -> bytes:
    return _env_encoder.encode(env)


def decode_envelope(payload: bytes) -> Envelope:
    return _env_decoder.decode(payload)


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


def node_topic(node_id: str) -> str:
    """A node's own channel on the bus: requests for the sessions it owns, replies."""
    return f"node:{node_id}"


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
    origin: str = ""
    """This process's node id, stamped on the events its writes publish."""
    on_resubscribed: list[Callable[[], None]]
    """Called when pub/sub works again after a loss: publications in between were missed,
    so followers catch up from the logs. Must not block (it runs on the event loop)."""

    def __init__(self) -> None:
        self.on_resubscribed = []

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
    async def kv_incr(self, key: str, ttl_s: float) -> int:
        """Add one to a counter (a missing one starts at 0) and return it, atomically. The
        counter expires ``ttl_s`` after it was created."""

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

    # ------------------------------------------------------------ nodes and ownership
    @abstractmethod
    async def node_beat(self, info: NodeInfo, ttl_s: float) -> None:
        """Publish a node's record and extend its lease by ``ttl_s``."""

    @abstractmethod
    async def list_nodes(self) -> list[NodeInfo]:
        """Every registered node; ``alive`` is False once its lease has lapsed."""

    @abstractmethod
    async def forget_node(self, node_id: str) -> None:
        """Remove a node's record, lease and ownership index (a clean exit, or buried)."""

    @abstractmethod
    async def claim_session(
        self, session_id: str, node_id: str, ttl_s: float, *, defer: bool = False
    ) -> str:
        """Make ``node_id`` the session's owner unless a live lease names another node.

        Atomic: of any number of concurrent claims exactly one wins. Returns the owner
        after the attempt (``node_id`` when it won or already held it). A session whose
        lease lapsed goes back to its last owner instead when that node is alive, or,
        with ``defer``, when the registry still lists it at all (just after a store
        outage, when no node has had time to beat again); a released session has no
        last owner.
        """

    @abstractmethod
    async def session_owner(self, session_id: str) -> str | None:
        """The node holding the session's lease, or None when no lease is live."""

    @abstractmethod
    async def renew_owned(self, node_id: str, ttl_s: float) -> tuple[list[str], list[str]]:
        """Extend every lease the node holds; ``(kept, lost)``.

        A lease that lapsed with nobody else claiming it is taken again (kept); one
        another node has claimed in the meantime is lost and leaves the node's index.
        """

    @abstractmethod
    async def owned_by(self, node_id: str) -> list[str]:
        """The sessions in a node's ownership index (its leases may have lapsed)."""

    @abstractmethod
    async def release_session(self, session_id: str, node_id: str) -> None:
        """Drop the node's lease on the session, if it still holds it."""

    # ------------------------------------------------------------ work queues
    @abstractmethod
    async def job_push(self, queue: str, job_id: int) -> None:
        """Add a job to a shared work queue: any node's worker may take it."""

    @abstractmethod
    async def job_take(
        self, queue: str, worker: str, *, wait_s: float, stale_s: float
    ) -> JobTicket | None:
        """The next job for ``worker``, waiting up to ``wait_s`` for one; None if none came.

        A job another worker took more than ``stale_s`` ago and has not marked done is
        handed out again first (``redelivered``): that worker may have died. A job can
        therefore be delivered more than once; the archive's claim (a conditional update
        of the job's row) decides who runs it.
        """

    @abstractmethod
    async def job_done(self, ticket: JobTicket) -> None:
        """Take a delivered job out of the queue for good (run, refused, or skipped)."""

    @abstractmethod
    async def job_ids(self, queue: str) -> set[int]:
        """The jobs in a queue: waiting, or taken and not yet marked done."""
