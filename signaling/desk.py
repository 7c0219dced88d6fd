"""The desk: the live service that runs sessions, routing and presence.

It applies interaction commands through the store (atomically), archives every
event, and offers queued sessions to agents. Transport code (WebSocket and HTTP
handlers) calls it; it knows nothing of sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import structlog

from signaling import audit, escalation, i18n, routing
from signaling import interaction as ix
from signaling.archive import Archive
from signaling.config import Config
from signaling.errors import InteractionError, LivedeskError, PolicyRefusal, StoreError
from signaling.interaction import Actor, ChannelState, Interaction, SessionState
from signaling.metrics import Metrics
from signaling.routing import AgentPresence, Presence
from signaling.store import Store, StoredEvent
from signaling.store.base import CONSOLE_TOPIC, Envelope, encode_envelope, session_topic

if TYPE_CHECKING:
    from signaling.cluster import Cluster
    from signaling.policy import Claims, Decision, Staffing

log = structlog.get_logger("livedesk.desk")

CONSOLE_QUEUE_LIMIT = 50
"""Queued sessions listed in a console snapshot; ``queue_total`` gives the full count."""


class ConsoleSnapshot(NamedTuple):
    now: float
    sessions: list[Interaction]
    agents: list[AgentPresence]
    ordered: list[Interaction]
    fallbacks_version: int = 0
    # when it was taken, in this process's order: a view older than one a socket
    # has already been sent is stale (a refresh that read before a write finished)
    taken: int = 0


_snapshots = itertools.count(1)


OPEN_STATES = (SessionState.QUEUED, SessionState.OFFERED, SessionState.ACTIVE, SessionState.WRAP_UP)


def session_claims(inter: Interaction) -> Claims:
    """What the entry rules know of a session's customer: the tier it started with."""
    from signaling.policy import Claims

    return Claims(tier=inter.tier, authenticated=not inter.customer_id.startswith("anon_"))


AfterApply = Callable[[Interaction, list[StoredEvent]], Awaitable[None]]


def new_session_id() -> str:
    return "s_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


class Desk:
    """Sessions, routing and presence for one process, over a shared store."""

    def __init__(
        self,
        cfg: Config,
        store: Store,
        archive: Archive,
        metrics: Metrics,
        *,
        secret: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.archive = archive
        self.metrics = metrics
        self.secret = secret
        self.clock = clock
        self._kick = asyncio.Event()
        self.after_apply: list[AfterApply] = []
        """Called after every applied command (the media service withdraws sources here).

        Only on the node that owns the session: another node's writes reach the owner's
        hooks through the session topic (signaling.cluster).
        """
        self.cluster: Cluster | None = None
        # console snapshots shared by callers who asked before the read started
        self._snap_lock = asyncio.Lock()
        self._snap_asked = 0
        self._snap_last: tuple[int, ConsoleSnapshot] | None = None
        self._router_task: asyncio.Task[None] | None = None
        metrics.counter("livedesk_sessions_started_total", "Sessions started")
        metrics.counter("livedesk_offers_total", "Offers made to agents")
        metrics.counter("livedesk_commands_total", "Session commands applied, by kind")
        metrics.counter("livedesk_command_errors_total", "Session commands refused, by error code")
        metrics.counter("livedesk_policy_refusals_total", "Entry-rule refusals, by reason")

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._router_task = asyncio.create_task(self._route_forever(), name="router")

    async def close(self) -> None:
        task, self._router_task = self._router_task, None
        if task is None:
            return
        # a cancel can be lost inside a client library's await; repeat until it lands
        for _ in range(50):
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=0.2)
            if done:
                break
        else:  # pragma: no cover - would mean the router ignores cancellation
            log.error("router did not stop")

    def kick(self) -> None:
        """Ask the router to run soon (a session queued, an agent freed up, ...)."""
        self._kick.set()

    # ------------------------------------------------------------ sessions
    async def start_session(
        self,
        *,
        entry: str,
        customer: Actor,
        tier: str,
        page: str,
        first_text: str,
        language: str,
    ) -> Interaction:
        ent = self.cfg.entries.get(entry)
        if ent is None:
            raise InteractionError("not_found", f"no entry {entry!r}")
        now = self.clock()
        inter, events = ix.new_interaction(
            session_id=new_session_id(),
            entry=entry,
            customer=customer,
            now=now,
            tier=tier,
            page=page,
            skill=ent.skill,
            language=language,
        )
        if first_text:
            inter, more = ix.handle(inter, ix.SendChat(first_text), customer, now)
            events += more
        stored = await self.store.create_session(inter, events)
        inter = msgspec.structs.replace(inter, last_seq=stored[-1].seq)
        self.archive.record(inter, [(s.seq, s.event) for s in stored])
        if self.cluster is not None:
            await self.cluster.place(inter.id)
        self.metrics.inc("livedesk_sessions_started_total")
        log.info("session started", session_id=inter.id, entry=entry, tier=tier)
        await self._console_changed()
        if first_text:
            await self.bot_reads(inter, first_text)
        return inter

    async def open_case(
        self, *, entry: str, agent_id: str, agent_name: str, customer_name: str, tier: str
    ) -> Interaction:
        """A case an agent opens during a phone call: active at once, assigned to them.

        The caller joins it later through an invitation link, and the agent sees the
        whole case on one timeline.
        """
        ent = self.cfg.entries.get(entry)
        if ent is None:
            raise InteractionError("not_found", f"no entry {entry!r}")
        now = self.clock()
        caller = Actor(ix.Role.CUSTOMER, "case_" + secrets.token_hex(8), customer_name)
        agent = Actor(ix.Role.AGENT, agent_id, agent_name)
        inter, events = ix.new_interaction(
            session_id=new_session_id(),
            entry=entry,
            customer=caller,
            now=now,
            tier=tier,
            page="phone",
            skill=ent.skill,
            language=ent.language or "en",
        )
        inter, offered = ix.handle(inter, ix.Offer(agent_id, agent_name, now + 60), ix.SYSTEM, now)
        inter, accepted = ix.handle(inter, ix.Accept(), agent, now)
        stored = await self.store.create_session(inter, events + offered + accepted)
        inter = msgspec.structs.replace(inter, last_seq=stored[-1].seq)
        self.archive.record(inter, [(s.seq, s.event) for s in stored])
        if self.cluster is not None:
            await self.cluster.place(inter.id)
        log.info("phone case opened", session_id=inter.id, agent_id=agent_id)
        await self._console_changed()
        return inter

    async def apply(
        self, session_id: str, cmd: ix.Command, actor: Actor
    ) -> tuple[Interaction, list[StoredEvent]]:
        """Run one command; archive its events; refresh consoles when routing changes."""
        before: dict[str, Any] = {}

        def step(cur: Interaction) -> tuple[Interaction, list[ix.Event]]:
            before["state"], before["holder"] = cur.state, cur.holder
            return ix.handle(cur, cmd, actor, self.clock())

        kind = type(cmd).__struct_config__.tag
        cluster = self.cluster
        try:
            if cluster is not None and cluster.journaled(session_id):
                # what this node applied while the store was away goes first
                await cluster.replay_session(session_id)
            inter, stored = await self.store.update_session(session_id, step)
        except StoreError as exc:
            if exc.code == "unavailable" and cluster is not None and cluster.degradable(cmd):
                inter, stored = await cluster.apply_degraded(session_id, cmd, actor)
                self.metrics.inc("livedesk_commands_total", str(kind))
                return inter, stored
            self.metrics.inc("livedesk_command_errors_total", exc.code)
            raise
        except LivedeskError as exc:
            self.metrics.inc("livedesk_command_errors_total", exc.code)
            raise
        self.metrics.inc("livedesk_commands_total", str(kind))
        if stored:
            self.archive.record(inter, [(s.seq, s.event) for s in stored])
        if inter.state != before.get("state") or inter.holder != before.get("holder"):
            await self._console_changed()
        if cluster is None or await cluster.is_mine(session_id):
            if cluster is not None:
                cluster.remember(inter)
            await self.run_hooks(inter, stored)
        return inter, stored

    async def run_hooks(self, inter: Interaction, stored: list[StoredEvent]) -> None:
        """The owner's reactions to new events: media, recording, co-browse."""
        for hook in self.after_apply:
            try:
                await hook(inter, stored)
            except Exception:
                log.exception("after-apply hook failed", session_id=inter.id)
        if self.cluster is not None and any(s.event.kind == "session.ended" for s in stored):
            self.cluster.session_ended(inter.id)

    async def bot_reads(self, inter: Interaction, text: str) -> None:
        """The escalation bot reads a customer's message: it may answer an FAQ, and it may
        propose an upgrade (with its reason) that the customer then accepts or declines.

        The entry's access rules still decide: the bot never proposes a channel the
        customer could not start. A failure here never undoes the chat message.
        """
        ent = self.cfg.entries.get(inter.entry)
        if ent is None:
            return
        rules = ent.bot_rules()
        if not rules.enabled:
            return
        try:
            faq = escalation.answer(rules, text)
            if faq is not None:
                note = ix.Note("bot.answer", {"text": faq.answer, "faq": rules.faq.index(faq)})
                inter, _ = await self.apply(inter.id, note, ix.BOT)
            # not what is already on offer or running, nor what the customer turned down
            skip = {
                name
                for name, st in inter.channels.items()
                if st.state
                in (
                    ChannelState.OFFERED,
                    ChannelState.ACCEPTED,
                    ChannelState.ACTIVE,
                    ChannelState.DECLINED,
                )
            }
            proposal = escalation.propose(rules, text, open_channels=skip)
            if proposal is None:
                return
            claims = session_claims(inter)
            decision = (await self.decide(inter.entry, inter.page, claims)).get(proposal.channel)
            if decision is None or not decision.open:
                log.info(
                    "bot proposal withheld by entry rules",
                    session_id=inter.id,
                    channel=proposal.channel,
                    reason=decision.reason if decision else "not offered",
                )
                return
            if inter.state == SessionState.ACTIVE:
                cmd: ix.Command = ix.RequestChannel(
                    ix.Channel(proposal.channel), reason=proposal.reason
                )
            else:
                data = {"channel": proposal.channel, "reason": proposal.reason}
                cmd = ix.Note("bot.suggested", data)
            await self.apply(inter.id, cmd, ix.BOT)
        except LivedeskError as exc:
            log.info("bot step refused", session_id=inter.id, code=exc.code)

    async def fallbacks_changed(self) -> None:
        """A callback or message arrived or was handled: consoles refetch their list."""
        raw = await self.store.kv_get("fallbacks:version")
        version = int(raw or b"0") + 1
        await self.store.kv_set("fallbacks:version", str(version).encode(), 365 * 86400)
        await self.store.publish(CONSOLE_TOPIC, b"changed")

    async def ephemeral(self, session_id: str, msg: dict[str, Any]) -> None:
        """Send a message to everyone on the session without logging it (typing, receipts)."""
        env = Envelope(kind="ephemeral", session=session_id, msg=msg)
        payload = encode_envelope(env)
        try:
            await self.store.publish(session_topic(session_id), payload)
        except StoreError:
            if self.cluster is None:
                raise
            await self.cluster.fan_out(session_topic(session_id), payload)

    async def _console_changed(self) -> None:
        self.kick()
        await self.store.publish(CONSOLE_TOPIC, b"changed")

    # ------------------------------------------------------------ receipts
    async def set_receipt(self, session_id: str, role: str, state: str, seq: int) -> dict[str, int]:
        """Remember how far ``role`` has received or read; returns both marks."""
        key = f"receipt:{session_id}:{role}"
        raw = await self.store.kv_get(key)
        marks: dict[str, int] = msgspec.json.decode(raw) if raw else {"delivered": 0, "read": 0}
        marks[state] = max(marks.get(state, 0), seq)
        if state == "read":
            marks["delivered"] = max(marks["delivered"], seq)
        await self.store.kv_set(key, msgspec.json.encode(marks), 86400)
        return marks

    async def receipts(self, session_id: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for role in ("customer", "agent"):
            raw = await self.store.kv_get(f"receipt:{session_id}:{role}")
            if raw:
                out[role] = msgspec.json.decode(raw)
        return out

    # ------------------------------------------------------------ presence
    async def agent_online(self, user: Any) -> AgentPresence | None:
        """Make sure a staff member who can serve has a presence record."""
        if user.role not in ("agent", "supervisor"):
            return None

        def upsert(cur: AgentPresence | None) -> AgentPresence:
            base = cur or AgentPresence(id=user.username, name=user.display_name)
            return msgspec.structs.replace(
                base,
                name=user.display_name,
                skills=tuple(user.skills),
                tiers=tuple(user.tiers),
                capacity=user.capacity,
                role=user.role,
            )

        return await self.store.update_agent(user.username, upsert)

    async def set_status(self, agent_id: str, status: Presence) -> AgentPresence:
        def change(cur: AgentPresence | None) -> AgentPresence:
            if cur is None:
                raise InteractionError("not_found", f"no agent {agent_id}")
            return msgspec.structs.replace(cur, status=status)

        rec = await self.store.update_agent(agent_id, change)
        if rec is None:  # pragma: no cover - change() never returns None
            raise InteractionError("not_found", f"no agent {agent_id}")
        log.info("agent status", agent_id=agent_id, status=status.value)
        await self._console_changed()
        return rec

    # ------------------------------------------------------------ views
    async def console_snapshot(self) -> ConsoleSnapshot:
        """What every console view is built from, read after this call began.

        Reading it costs every open session, so callers share reads: one that asks while
        a read is under way waits for the next read, which starts after it asked and so
        sees every write it made before asking. 2,000 agents' accepts at once then cost a
        few dozen reads, not 2,000 (bench/soak.py's set-up).
        """
        self._snap_asked += 1
        ticket = self._snap_asked
        async with self._snap_lock:
            if self._snap_last is not None and self._snap_last[0] >= ticket:
                return self._snap_last[1]
            covers = self._snap_asked  # every ticket asked before this read starts
            snap = await self._read_console_snapshot()
            self._snap_last = (covers, snap)
            return snap

    async def _read_console_snapshot(self) -> ConsoleSnapshot:
        taken = next(_snapshots)
        sessions = await self.store.sessions_by_state(*OPEN_STATES)
        agents = await self.store.list_agents()
        ordered = routing.queue_order(sessions, self.cfg.routing.tier_priority)
        version = int(await self.store.kv_get("fallbacks:version") or b"0")
        return ConsoleSnapshot(self.clock(), sessions, agents, ordered, version, taken)

    async def console_view(self, agent_id: str, *, supervise: bool) -> dict[str, Any]:
        return self.console_view_of(await self.console_snapshot(), agent_id, supervise=supervise)

    def console_view_of(
        self, snap: ConsoleSnapshot, agent_id: str, *, supervise: bool
    ) -> dict[str, Any]:
        """What one agent's console shows: self, queue head, own sessions, agents."""
        now = snap.now
        me = next((a for a in snap.agents if a.id == agent_id), None)
        visible = [s for s in snap.ordered if supervise or me is None or routing.serves(me, s)]
        mine = [_summary(s, now) for s in snap.sessions if s.holder == agent_id]
        view: dict[str, Any] = {
            "type": "console",
            "me": _agent_view(me) if me else None,
            # the head of the queue; a console needs the next customers, not all of them
            "queue": [_summary(s, now) for s in visible[:CONSOLE_QUEUE_LIMIT]],
            "queue_total": len(visible),
            "sessions": sorted(mine, key=lambda s: s["created_at"]),
            "agents": [_agent_view(a) for a in sorted(snap.agents, key=lambda a: a.name)],
            "fallbacks_version": snap.fallbacks_version,
        }
        if supervise:
            view["all_sessions"] = [
                _summary(s, now) for s in snap.sessions if s.state != SessionState.QUEUED
            ]
        return view

    async def queue_positions(self) -> dict[str, tuple[int, float | None, int]]:
        """session id -> (position, estimated wait in seconds or None, agents serving).

        A session being offered to an agent right now has position 0 and no wait.
        """
        sessions = await self.store.sessions_by_state(SessionState.QUEUED, SessionState.OFFERED)
        agents = [
            a
            for a in await self.store.list_agents()
            if a.status in (Presence.AVAILABLE, Presence.BUSY)
        ]
        ordered = routing.queue_order(sessions, self.cfg.routing.tier_priority)
        positions = routing.queue_positions(ordered)
        out: dict[str, tuple[int, float | None, int]] = {
            s.id: (0, 0.0, 1) for s in sessions if s.state == SessionState.OFFERED
        }
        serving_by: dict[tuple[str, str], tuple[int, int]] = {}
        for s in ordered:
            key = (s.skill, s.tier)
            if key not in serving_by:
                serving = [a for a in agents if routing.serves(a, s)]
                serving_by[key] = (len(serving), max((a.capacity for a in serving), default=1))
            count, cap = serving_by[key]
            pos = positions[s.id]
            eta = routing.estimated_wait_s(
                pos, count, avg_handle_s=self.cfg.routing.avg_handle_s, capacity_each=cap
            )
            out[s.id] = (pos, eta, count)
        return out

    async def staffing(self, entry_id: str) -> Staffing:
        """Live staffing for one entry's skill, for its access rules."""
        from signaling.policy import Staffing

        ent = self.cfg.entries[entry_id]
        agents = await self.store.list_agents()
        skilled = [a for a in agents if not ent.skill or ent.skill in a.skills]
        online = [a for a in skilled if a.status in (Presence.AVAILABLE, Presence.BUSY)]
        free = [a for a in skilled if a.status == Presence.AVAILABLE and a.load < a.capacity]
        queued = [
            s
            for s in await self.store.sessions_by_state(SessionState.QUEUED)
            if s.skill == ent.skill
        ]
        cap = max((a.capacity for a in online), default=1)
        wait = (
            0.0
            if free
            else routing.estimated_wait_s(
                len(queued) + 1,
                len(online),
                avg_handle_s=self.cfg.routing.avg_handle_s,
                capacity_each=cap,
            )
        )
        return Staffing(
            agents_available=len(free),
            agents_online=len(online),
            queue_length=len(queued),
            est_wait_s=wait,
        )

    async def decide(self, entry_id: str, page: str, claims: Claims) -> dict[str, Decision]:
        """Every channel's decision for this visitor on this page, now."""
        from signaling.policy import evaluate

        entry = self.cfg.entries[entry_id]
        staffing = await self.staffing(entry_id)
        return evaluate(entry.policy(), self.policy_now(), page, claims, staffing)

    async def entry_state(self, entry_id: str, staffing: Staffing | None = None) -> Decision:
        """Is the entry open now, in general: hours, holidays, closures, staffing.

        Page and tier rules are per visitor, so they are left out here.
        """
        from signaling.policy import Claims, evaluate

        entry = self.cfg.entries[entry_id]
        general = msgspec.structs.replace(
            entry.policy(), pages_include=(), pages_exclude=(), rules={}
        )
        if staffing is None:
            staffing = await self.staffing(entry_id)
        claims = Claims(tier=self.cfg.customer_tokens.default_tier)
        decisions = evaluate(general, self.policy_now(), "", claims, staffing)
        return decisions[entry.channels[0]] if entry.channels else decisions["chat"]

    async def require_open(
        self,
        entry_id: str,
        channel: str,
        page: str,
        claims: Claims,
        *,
        language: str,
        actor: str = "",
        session_id: str = "",
    ) -> None:
        """Raise PolicyRefusal, with the rule's reason, unless ``channel`` is open now.

        Every refusal goes to the audit log with who, where and why.
        """
        decision = (await self.decide(entry_id, page, claims))[channel]
        if not decision.open:
            audit.record(
                self.archive,
                audit.ENTRY_REFUSED,
                entry=entry_id,
                session_id=session_id,
                actor=actor,
                reason=decision.reason,
                detail={"channel": channel, "tier": claims.tier, "page": page[:500]},
            )
            self.metrics.inc("livedesk_policy_refusals_total", decision.reason)
            log.info(
                "entry rule refused",
                entry=entry_id,
                channel=channel,
                reason=decision.reason,
                tier=claims.tier,
            )
            raise PolicyRefusal(
                decision.reason, i18n.t(decision.message_key, language, decision.params)
            )

    def policy_now(self) -> datetime:
        """The instant entry rules are evaluated at (``testing.fixed_now`` in tests)."""
        fixed = self.cfg.testing.fixed_now
        if fixed:
            return datetime.fromisoformat(fixed).astimezone(UTC)
        return datetime.fromtimestamp(self.clock(), UTC)

    # ------------------------------------------------------------ routing
    async def _route_forever(self) -> None:
        tick = self.cfg.routing.tick_s
        loop = asyncio.get_running_loop()
        away_since: float | None = None
        while True:
            # A timer kicks the router for offer expiry. No wait_for or asyncio.timeout
            # here: on 3.11 both can lose a cancellation that coincides with the kick.
            timer = loop.call_later(tick, self._kick.set)
            try:
                await self._kick.wait()
            finally:
                timer.cancel()
            self._kick.clear()
            try:
                await self.route_once()
                if away_since is not None:
                    log.info("routing resumed", after_s=round(loop.time() - away_since, 1))
                    away_since = None
            except asyncio.CancelledError:
                raise
            except StoreError as exc:  # the store is away: nothing to route meanwhile
                if away_since is None:
                    away_since = loop.time()
                    log.warning("routing paused: the store is away", error=exc.message)
                await asyncio.sleep(max(tick, 1.0))
            except Exception:  # the router must outlive any one bad pass
                log.exception("routing pass failed")
                await asyncio.sleep(tick)

    async def route_once(self) -> int:
        """Expire stale offers, then offer queued sessions to agents. Returns offers made."""
        token = await self.store.acquire("router", ttl_s=10.0)
        if token is None:
            return 0  # another process is routing right now
        try:
            return await self._route(self.clock())
        finally:
            await self.store.release("router", token)

    async def _route(self, now: float) -> int:
        rcfg = self.cfg.routing
        for s in await self.store.sessions_by_state(SessionState.OFFERED):
            if s.offer_expires_at is not None and s.offer_expires_at <= now:
                try:
                    await self.apply(
                        s.id, ix.ExpireOffer(cooldown_s=rcfg.decline_cooldown_s), ix.SYSTEM
                    )
                    log.info("offer expired", session_id=s.id, agent_id=s.offered_to)
                except LivedeskError:
                    pass  # accepted or changed in the meantime
        # agents first: reading them is cheap, reading a long queue is not, and with
        # every seat taken there is nothing to route
        agents = await self.store.list_agents()
        if not any(a.status == Presence.AVAILABLE and a.load < a.capacity for a in agents):
            return 0
        queued = await self.store.sessions_by_state(SessionState.QUEUED)
        if not queued:
            return 0
        made = 0
        for session_id, agent in routing.assignments(
            queued, agents, tier_priority=rcfg.tier_priority, now=now
        ):
            cmd = ix.Offer(
                agent_id=agent.id, agent_name=agent.name, expires_at=now + rcfg.offer_timeout_s
            )
            try:
                await self.apply(session_id, cmd, ix.SYSTEM)
            except LivedeskError as exc:
                log.info("offer skipped", session_id=session_id, code=exc.code)
                continue
            made += 1
            self.metrics.inc("livedesk_offers_total")
            log.info("session offered", session_id=session_id, agent_id=agent.id)
        return made


def _summary(s: Interaction, now: float) -> dict[str, Any]:
    return {
        "session": s.id,
        "entry": s.entry,
        "state": s.state.value,
        "customer_name": s.customer_name,
        "tier": s.tier,
        "page": s.page,
        "skill": s.skill,
        "waited_s": round(now - s.queued_at, 1),
        "created_at": s.created_at,
        "agent_id": s.agent_id,
        "agent_name": s.agent_name,
        "offered_to": s.offered_to,
        "offer_expires_in": (
            round(s.offer_expires_at - now, 1) if s.offer_expires_at is not None else None
        ),
        "transfers": s.transfers,
    }


def _agent_view(a: AgentPresence) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "status": a.status.value,
        "skills": list(a.skills),
        "tiers": list(a.tiers),
        "capacity": a.capacity,
        "load": a.load,
        "role": a.role,
    }
