"""Degraded mode: chat in running sessions while the live store (Redis) is away.

The node that owns a session keeps a copy of it (from its own writes and the session
topic) and the highest ``seq`` it has seen published. When a chat message or a note
cannot be written to the store, the owner applies it to that copy with the pure core,
numbers its events after the highest ``seq`` it knows, archives them, fans them out to
every node's sockets over the peer link and keeps the command in a journal.

Once the store answers, the owner writes the journal (``replay``): the journaled
commands are applied again, with their own times, to the store's session inside one
optimistic update, so whatever else happened to the session meanwhile is kept and a
message the store already has (its ``client_msg_id``) is not added twice. In the usual
case nothing else happened, and the store's log gets exactly the events and ``seq``\\ s
the clients saw. Otherwise the events after the journal's base are renumbered: the
archive gets the store's log from there again, and every socket following the session
is told (``session.resync``) to drop what it shows after the base and take the log
again from there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import structlog

from signaling import interaction as ix
from signaling.errors import InteractionError, LivedeskError, StoreError
from signaling.interaction import Actor, Interaction
from signaling.store.base import Envelope, StoredEvent, assign_seqs, encode_envelope, session_topic

if TYPE_CHECKING:
    from signaling.cluster import Cluster

log = structlog.get_logger("livedesk.outage")

DEGRADABLE = (ix.SendChat, ix.Note)
"""Commands a session's owner applies on its own copy while the store is away."""
REPLAY_RETRY_S = 0.2
"""How often an owner with journaled commands tries to write them to the store."""
RESYNC = "session.resync"


class Entry(NamedTuple):
    """One command applied while the store was away, and the events it made."""

    cmd: ix.Command
    actor: Actor
    at: float
    stored: list[StoredEvent]


class Journal(NamedTuple):
    base: int
    """The session's ``seq`` before the first journaled event."""
    entries: list[Entry]


class OutageLog:
    """The owner's copies of its sessions, and its journal while the store is away."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.copies: dict[str, Interaction] = {}
        self.seen: dict[str, int] = {}
        """The highest seq published on each owned session's topic (the copy may lag)."""
        self._journal: dict[str, Journal] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ copies
    def remember(self, inter: Interaction) -> None:
        cur = self.copies.get(inter.id)
        if cur is None or inter.last_seq >= cur.last_seq:
            self.copies[inter.id] = inter
        self.saw(inter.id, inter.last_seq)

    def saw(self, session_id: str, seq: int) -> None:
        if seq > self.seen.get(session_id, 0):
            self.seen[session_id] = seq

    def forget(self, session_id: str) -> None:
        """The session is no longer owned here; a journal keeps its copy until written."""
        if session_id in self._journal:
            return
        self.copies.pop(session_id, None)
        self.seen.pop(session_id, None)

    # ------------------------------------------------------------ applying
    @staticmethod
    def degradable(cmd: ix.Command) -> bool:
        return isinstance(cmd, DEGRADABLE)

    @property
    def size(self) -> int:
        """Sessions with commands applied here that the store has not got yet."""
        return len(self._journal)

    def journaled(self, session_id: str) -> bool:
        return session_id in self._journal

    async def apply(
        self, session_id: str, cmd: ix.Command, actor: Actor
    ) -> tuple[Interaction, list[StoredEvent]]:
        """Apply one command to this node's copy and journal it (this node owns it)."""
        copy = self.copies.get(session_id)
        if copy is None:
            raise StoreError("unavailable", "the live store is away and this node has no copy")
        journal = self._journal.get(session_id)
        # number after everything known to exist: a write by another node just before
        # the store went away may have reached the topic but not the copy
        base = max(copy.last_seq, self.seen.get(session_id, 0))
        cur = msgspec.structs.replace(copy, last_seq=base) if base != copy.last_seq else copy
        at = self.cluster.clock()
        # no await until the copy and the journal are updated: this is the one writer
        new, events = ix.handle(cur, cmd, actor, at)
        new, stored = assign_seqs(new, events)
        if not stored:
            return new, stored
        self.copies[session_id] = new
        self.saw(session_id, new.last_seq)
        if journal is None:
            journal = self._journal[session_id] = Journal(base, [])
        journal.entries.append(Entry(cmd, actor, at, stored))
        desk = self.cluster.desk
        desk.archive.record(new, [(s.seq, s.event) for s in stored])
        log.info("applied while the store is away", session_id=session_id, seq=stored[-1].seq)
        for se in stored:
            env = Envelope(kind="event", session=session_id, stored=se, origin=self.cluster.id)
            await self.cluster.fan_out(session_topic(session_id), encode_envelope(env))
        await desk.run_hooks(new, stored)
        self._retry_soon()
        return new, stored

    # ------------------------------------------------------------ writing the journal
    def _retry_soon(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.ensure_future(self._retry_until_done())

    async def _retry_until_done(self) -> None:
        while self._journal:
            await asyncio.sleep(REPLAY_RETRY_S)
            with contextlib.suppress(StoreError):
                await self.replay()

    async def close(self) -> None:
        if self._journal:
            with contextlib.suppress(LivedeskError):
                await self.replay()  # a last try before the node goes
        if self._journal:
            log.error("node stopped with chat the store never got", sessions=len(self._journal))
        if self._retry is not None:
            self._retry.cancel()

    async def replay(self) -> int:
        """Write every journal to the store; how many sessions were written.

        Raises StoreError while the store is still away (the journals stay).
        """
        done = 0
        for session_id in list(self._journal):
            try:
                await self.replay_session(session_id)
            except StoreError:
                raise
            except InteractionError as exc:
                if exc.code != "not_found":
                    raise
                # the store lost the session (a Redis that came back empty): the archive
                # has every journaled event; nothing more can be done here
                log.error("journal dropped: the store lost the session", session_id=session_id)
                self._journal.pop(session_id, None)
                self.forget(session_id)
            done += 1
        return done

    async def replay_session(self, session_id: str) -> None:
        """Write one session's journal (one writer at a time)."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            if session_id in self._journal:
                await self._replay_one(session_id)
        if session_id not in self._journal:
            self._locks.pop(session_id, None)

    async def _replay_one(self, session_id: str) -> None:
        journal = self._journal[session_id]
        entries = list(journal.entries)
        skipped: list[tuple[Entry, str]] = []

        def reapply(cur: Interaction) -> tuple[Interaction, list[ix.Event]]:
            state, events = cur, []
            skipped.clear()
            for e in entries:
                try:
                    state, made = ix.handle(state, e.cmd, e.actor, e.at)
                except InteractionError as exc:  # the session moved on (ended, say)
                    skipped.append((e, exc.code))
                    continue
                events.extend(made)
            return state, events

        inter, stored = await self.cluster.store.update_session(session_id, reapply)
        provisional = [se for e in entries for se in e.stored]
        same = [(s.seq, s.event) for s in stored] == [(p.seq, p.event) for p in provisional]
        rest = journal.entries[len(entries) :]
        if rest:
            self._journal[session_id] = Journal(inter.last_seq, rest)
        else:
            self._journal.pop(session_id)
        self.remember(inter)
        if session_id not in self.cluster.owned:
            self.forget(session_id)
        log.info("journal written to the store", session_id=session_id, events=len(stored))
        if not same:
            await self._repair(session_id, journal.base, inter, provisional)
        for e, code in skipped:
            await self._unapplied(session_id, e, code)

    async def _unapplied(self, session_id: str, e: Entry, code: str) -> None:
        """A journaled command the session no longer takes: its content stays on the
        session's timeline as a note, so nothing the customer or agent wrote is lost."""
        tag = type(e.cmd).__struct_config__.tag
        data: dict[str, Any] = {
            "command": tag,
            "code": code,
            "actor_role": e.actor.role.value,
            "actor_id": e.actor.id,
            "at": e.at,
        }
        if isinstance(e.cmd, ix.SendChat):
            data["text"] = e.cmd.text
        elif isinstance(e.cmd, ix.Note):
            data["note"] = e.cmd.kind
        log.warning("a command from the outage could not be applied", session_id=session_id, **data)
        try:
            await self.cluster.desk.apply(session_id, ix.Note("outage.unapplied", data), ix.SYSTEM)
        except LivedeskError as exc:
            log.error("outage note not written", session_id=session_id, error=exc.message)

    async def _repair(
        self, session_id: str, base: int, inter: Interaction, provisional: list[StoredEvent]
    ) -> None:
        """The store's log after ``base`` differs from what was delivered: archive it
        again from there and have every socket take it again from there."""
        log.warning(
            "session moved on while the store was away; events after the base renumbered",
            session_id=session_id,
            base=base,
            store_seq=inter.last_seq,
        )
        store, desk = self.cluster.store, self.cluster.desk
        try:
            truth = await store.events_since(session_id, base, limit=100_000)
            archive = desk.archive
            await archive.flush()
            first = min([se.event.at for se in truth + provisional], default=inter.created_at)
            await archive.execute(
                "DELETE FROM events WHERE session_id=? AND seq>?", (session_id, base)
            )
            await archive.execute(
                "DELETE FROM chat_text WHERE session_id=? AND at>=?",
                (session_id, first - inter.created_at - 0.001),
            )
            archive.record(inter, [(se.seq, se.event) for se in truth])
        except LivedeskError as exc:
            log.error("archive not repaired", session_id=session_id, error=exc.message)
        msg: dict[str, Any] = {"type": RESYNC, "session": session_id, "from_seq": base}
        with contextlib.suppress(LivedeskError):
            await desk.ephemeral(session_id, msg)
