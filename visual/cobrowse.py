"""Co-browse relay rules, without I/O: size caps, snapshot asks, slow viewers, commands.

The customer's browser records its page with rrweb, masking what is private before
anything leaves it, and sends the events as opaque JSON text in batches. The server
never parses that text: it counts bytes, relays, records and asks for fresh full
snapshots. These classes hold the arithmetic; :mod:`signaling.cobrowse` does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CobrowseLimit(Exception):
    """A batch or a session's stream is over its cap; ``code`` is ``cobrowse_limit``."""

    def __init__(self, message: str, *, stop: bool = False) -> None:
        super().__init__(message)
        self.code = "cobrowse_limit"
        self.message = message
        self.stop = stop
        """True when the whole stream is over its cap and co-browsing must stop."""


@dataclass(frozen=True)
class Caps:
    max_batch_bytes: int = 48 * 1024
    max_parts: int = 512
    max_session_bytes: int = 256 * 1024 * 1024
    viewer_buffer_bytes: int = 4 * 1024 * 1024
    snapshot_interval_s: float = 1.0


@dataclass
class PendingCommand:
    """An agent's command on its way to the customer's page, kept until the page answers."""

    agent_id: str
    agent_name: str
    action: str
    text: str
    sent_at: float


@dataclass
class Stream:
    """One session's co-browse stream on this node."""

    caps: Caps
    bytes: int = 0
    batches: int = 0
    last_snapshot_ask: float = -1e18
    snapshot_ask_pending: bool = False
    pending: dict[str, PendingCommand] = field(default_factory=dict)

    def admit(self, *, size: int, part: int, parts: int) -> None:
        """Count one batch part of ``size`` bytes, or raise :class:`CobrowseLimit`."""
        caps = self.caps
        if size > caps.max_batch_bytes:
            raise CobrowseLimit(
                f"a co-browse batch part is {size} bytes; the limit is {caps.max_batch_bytes}"
                " (send bigger batches in parts)"
            )
        if parts > caps.max_parts or part >= parts:
            raise CobrowseLimit(
                f"part {part} of {parts}: a batch has at most {caps.max_parts} parts"
            )
        if self.bytes + size > caps.max_session_bytes:
            raise CobrowseLimit(
                f"this session's co-browse stream reached {caps.max_session_bytes} bytes;"
                " co-browsing stops",
                stop=True,
            )
        self.bytes += size
        if part == parts - 1:
            self.batches += 1

    def snapshot_due(self, now: float) -> float:
        """Seconds until a fresh snapshot may be asked for (0: now). Marks the ask."""
        wait = self.last_snapshot_ask + self.caps.snapshot_interval_s - now
        if wait <= 0:
            self.last_snapshot_ask = now
            self.snapshot_ask_pending = False
            return 0.0
        return wait

    def remember(self, cmd: str, pending: PendingCommand, *, keep: int = 64) -> None:
        """Keep a command until its result; the oldest are forgotten past ``keep``."""
        self.pending[cmd] = pending
        while len(self.pending) > keep:
            self.pending.pop(next(iter(self.pending)))


class ViewerGate:
    """How much co-browse data waits to be written to one slow viewer.

    Past ``cap`` the viewer's batches are dropped (a gap) until a batch that starts a
    full snapshot fits again; that snapshot's parts then all pass, so the viewer can
    rebuild the page. What waits is therefore at most the cap plus one snapshot.
    """

    __slots__ = ("_in_snapshot", "cap", "dropped", "gap", "queued")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.queued = 0
        self.gap = False
        self.dropped = 0
        self._in_snapshot = -1

    def admit(self, *, size: int, batch: int, part: int, snapshot: bool) -> bool:
        """True to queue this part for the viewer; False to drop it (a gap begins)."""
        if self._in_snapshot == batch and part > 0:
            self.queued += size
            return True
        starts_snapshot = snapshot and part == 0
        if self.gap and not starts_snapshot:
            self.dropped += 1
            return False
        if self.queued + size > self.cap and not (starts_snapshot and self.queued == 0):
            self.gap = True
            self.dropped += 1
            return False
        self.gap = False
        self._in_snapshot = batch if starts_snapshot else -1
        self.queued += size
        return True

    def written(self, size: int) -> None:
        self.queued = max(0, self.queued - size)
