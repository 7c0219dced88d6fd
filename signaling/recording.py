"""Recording sessions: the entry's policy, consent, the taps on the media plane, the files.

Nothing is recorded until both sides have agreed (the interaction core keeps the consent
state, :mod:`signaling.interaction`). This service acts on what the core decides:

- an entry whose policy is ``always`` gets a recording request from the system as soon as
  an agent joins; ``on_request`` waits for the agent; ``never`` refuses requests;
- ``recording.started`` opens the session's directory and taps every publication of its
  media room: the same encoded frames the plane forwards go to a :class:`TrackRecorder`
  per track (a new publication while recording gets its own file at once);
- ``recording.paused`` and ``recording.resumed`` gate the taps; the files keep a gap of
  the paused length, and the manifest lists the paused spans;
- ``recording.stopped`` (by the agent, or because the session left its active state)
  closes the files, writes ``timeline.jsonl``, updates the archive and queues the review
  rendering (:mod:`signaling.recording_jobs`);
- a file that cannot be written (a full disk) stops the recording, not the session: the
  timeline gets ``recording.failed`` (``code`` ``disk_full`` or ``write_failed``) and
  ``recording.stopped`` with that reason, both sides see it, and what was written stays,
  marked ``interrupted``. A manifest the full disk refused is written at the next start.

Consents and declines also go to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from recorder import layout
from recorder.session import SessionRecording, close_all
from recorder.track import failure_code
from signaling import audit
from signaling import interaction as ix
from signaling import recording_index as idx
from signaling.errors import InteractionError, LivedeskError
from signaling.interaction import Actor, RecordingState, SessionState

if TYPE_CHECKING:
    from signaling.config import Config
    from signaling.desk import Desk
    from signaling.media import MediaService
    from signaling.store.base import StoredEvent
    from visual.forward import Publication
    from visual.seam import EncodedFrame

log = structlog.get_logger("livedesk.recording")

_CONSENT_KINDS = {
    "recording.requested": "requested",
    "recording.consented": "consented",
    "recording.declined": "declined",
}


class _Tap:
    __slots__ = ("pub", "sink", "track_id")

    def __init__(self, pub: Publication, track_id: str, sink: Any) -> None:
        self.pub, self.track_id, self.sink = pub, track_id, sink


class _Active:
    """A session being recorded on this process."""

    def __init__(self, rec: SessionRecording, meta: dict[str, Any]) -> None:
        self.rec = rec
        self.meta = meta
        self.taps: dict[str, _Tap] = {}
        self.lock = asyncio.Lock()
        self.failure = ""
        """Why its files could not be written (``disk_full``, ``write_failed``), once known."""


class RecordingService:
    """The recording side of one process."""

    def __init__(
        self, desk: Desk, media: MediaService | None, cfg: Config, *, kek: bytes | None = None
    ) -> None:
        self.desk = desk
        self.media = media
        self.cfg = cfg
        self.settings = cfg.recording
        self.root = cfg.data_path
        self.kek = kek
        self.active: dict[str, _Active] = {}
        self.unsaved: dict[str, SessionRecording] = {}
        """Finished recordings whose last manifest the disk refused (written at a next start)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.finished = asyncio.Event()
        """Set each time a recording's files are closed (tests wait on it)."""
        self.on_finished: list[Any] = []
        """Callbacks ``(session_id)`` after a recording is finished (the job runner's wake-up)."""

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.desk.after_apply.append(self.session_changed)
        if self.media is not None:
            self.media.publication_watchers.append(self._publications_changed)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.desk.after_apply.remove(self.session_changed)
        if self.media is not None:
            with contextlib.suppress(ValueError):
                self.media.publication_watchers.remove(self._publications_changed)
        for session in list(self.active):
            await self._finish(session, reason="server stopping")
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)

    # ------------------------------------------------------------ requests from participants
    async def request(self, session_id: str, actor: Actor) -> dict[str, Any]:
        """The agent asks to record; the entry's policy decides whether that is possible."""
        inter = await self.desk.store.get_session(session_id)
        if inter is None:
            raise InteractionError("not_found", f"no session {session_id}")
        policy = self._policy(inter)
        if policy is None or policy.mode_for(inter.tier) == "never":
            raise InteractionError("recording_off", "this entry does not record sessions")
        required = policy.on_decline == "chat_only"
        inter, _ = await self.desk.apply(session_id, ix.RequestRecording(required), actor)
        return {"recording": recording_view(inter)}

    async def command(self, session_id: str, cmd: ix.Command, actor: Actor) -> dict[str, Any]:
        inter, _ = await self.desk.apply(session_id, cmd, actor)
        return {"recording": recording_view(inter)}

    def _policy(self, inter: ix.Interaction) -> Any:
        entry = self.cfg.entries.get(inter.entry)
        return entry.recording if entry is not None else None

    # ------------------------------------------------------------ the core's decisions
    async def session_changed(self, inter: ix.Interaction, stored: list[StoredEvent]) -> None:
        for item in stored:
            ev = item.event
            reason = _CONSENT_KINDS.get(ev.kind)
            if reason is not None:
                audit.record(
                    self.desk.archive,
                    audit.RECORDING_CONSENT,
                    entry=inter.entry,
                    session_id=inter.id,
                    actor=f"{ev.actor_role}:{ev.actor_id}",
                    reason=reason,
                    detail=dict(ev.data),
                    at=ev.at,
                )
            if ev.kind == "session.accepted":
                self._spawn(self._maybe_always(inter.id))
            elif ev.kind == "recording.started":
                await self._begin(inter, ev.at)
            elif ev.kind == "recording.paused":
                await self._pause(inter.id, ev.at, paused=True)
            elif ev.kind == "recording.resumed":
                await self._pause(inter.id, ev.at, paused=False)
            elif ev.kind == "recording.stopped":
                self._spawn(self._finish(inter.id, reason=str(ev.data.get("reason", "stopped"))))
        if inter.state == SessionState.ENDED and any(
            s.event.kind == "session.ended" for s in stored
        ):
            self._spawn(self._timeline_if_recorded(inter.id))

    async def _maybe_always(self, session_id: str) -> None:
        inter = await self.desk.store.get_session(session_id)
        if inter is None or inter.state != SessionState.ACTIVE:
            return
        policy = self._policy(inter)
        if policy is None or policy.mode_for(inter.tier) != "always":
            return
        rec = inter.recording
        if rec is not None and rec.state in (
            RecordingState.ASKING,
            RecordingState.RECORDING,
            RecordingState.PAUSED,
        ):
            return
        try:
            await self.desk.apply(
                session_id, ix.RequestRecording(policy.on_decline == "chat_only"), ix.SYSTEM
            )
        except LivedeskError as exc:
            log.info("recording request not made", session_id=session_id, code=exc.code)

    # ------------------------------------------------------------ files
    async def _begin(self, inter: ix.Interaction, at: float) -> None:
        if inter.id in self.active:
            return
        policy = self._policy(inter)
        days = policy.retention_days_for(inter.tier) if policy is not None else 0
        rec = SessionRecording(
            self.root,
            inter.id,
            origin=inter.created_at,
            entry=inter.entry,
            kek=self.kek,
            queue_frames=self.settings.queue_frames,
            cluster_ms=self.settings.cluster_ms,
        )
        await self._save_unsaved()
        kept = self.unsaved.pop(inter.id, None)
        if kept is not None:
            earlier: layout.Manifest | None = kept.manifest
        else:
            earlier = await asyncio.get_running_loop().run_in_executor(None, _earlier, rec.dir)
        if earlier is not None:  # recorded before in this session: its files stay listed
            rec.continue_from(earlier)
        rec.begin(at)
        meta = {
            "tier": inter.tier,
            "agent_id": inter.agent_id or "",
            "agent_name": inter.agent_name,
            "customer_name": inter.customer_name,
            "retention_until": at + days * 86400 if days else None,
        }
        active = self.active[inter.id] = _Active(rec, meta)
        async with active.lock:
            await self._save(active)
            self._tap(inter.id)
            await self._save(active)
        log.info("recording started", session_id=inter.id)

    async def _save(self, active: _Active) -> OSError | None:
        """Write the manifest (a thread) and the archive row; the error if the disk refused
        the manifest (the row is written all the same: the archive may live elsewhere)."""
        snap = active.rec.snapshot()
        session_id = active.rec.manifest.session_id
        error = None
        try:
            await asyncio.get_running_loop().run_in_executor(None, active.rec.save, snap)
        except OSError as exc:
            error = exc
            log.warning("manifest not written", session_id=session_id, error=str(exc))
            self.write_failed(session_id, failure_code(exc), f"manifest: {exc}")
        idx.put_recording(self.desk.archive, active.rec.manifest, active.meta, time.time())
        return error

    async def _save_unsaved(self) -> None:
        for session_id, rec in list(self.unsaved.items()):
            try:
                await asyncio.get_running_loop().run_in_executor(None, rec.save, rec.snapshot())
            except OSError:
                continue
            self.unsaved.pop(session_id, None)

    # ------------------------------------------------------------ write failures
    def _failed_in_thread(self, session_id: str, code: str, message: str) -> None:
        """A track file could not be written (called from the writer thread)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self.write_failed, session_id, code, message)

    def write_failed(self, session_id: str, code: str, message: str) -> None:
        """Stop a recording whose files cannot be written; the session goes on (loop)."""
        active = self.active.get(session_id)
        if active is None or active.failure:
            return
        active.failure = code
        log.error(
            "recording stopped: its files cannot be written",
            session_id=session_id,
            code=code,
            error=message,
        )
        self._spawn(self._stop_failed(session_id, code, message))

    async def _stop_failed(self, session_id: str, code: str, message: str) -> None:
        await self.note(session_id, "recording.failed", {"code": code, "error": message[:300]})
        try:  # both sides see recording.stopped (reason: the code); that closes the files
            await self.desk.apply(session_id, ix.StopRecording(reason=code), ix.SYSTEM)
        except LivedeskError as exc:  # stopped meanwhile, or the session is gone
            log.info("recording stop not logged", session_id=session_id, code=exc.code)
            await self._finish(session_id, reason=code)

    def _publications_changed(self, session_id: str) -> None:
        active = self.active.get(session_id)
        if active is None:
            return
        changed = self._tap(session_id)
        if changed:
            self._spawn(self._after_tap_change(session_id))

    def _tap(self, session_id: str) -> bool:
        """Match the taps to the room's publications (event loop, never blocks)."""
        active = self.active.get(session_id)
        room = self.media.plane.room(session_id) if self.media is not None else None
        if active is None:
            return False
        pubs = dict(room.publications) if room is not None else {}
        changed = False
        for pub_id, pub in pubs.items():
            if pub_id in active.taps or pub.closed:
                continue
            peer = room.peers.get(pub.owner) if room is not None else None
            role = peer.role if peer is not None else "customer"
            info, recorder = active.rec.add_track(
                side=ix.side_of(ix.Role(role)),
                name=peer.name if peer is not None else "",
                source=pub.source,
                kind=pub.kind,
                codec="VP8" if pub.kind == "video" else "OPUS",
                on_need_keyframe=pub.request_keyframe,
                on_failed=functools.partial(self._failed_in_thread, session_id),
            )

            def sink(frame: EncodedFrame, _put: Any = recorder.put) -> None:
                _put(
                    frame.data, frame.timestamp, frame.keyframe, frame.clock_rate, frame.after_loss
                )

            pub.add_sink(sink)
            active.taps[pub_id] = _Tap(pub, info.id, sink)
            changed = True
        for pub_id in [p for p in active.taps if p not in pubs]:
            tap = active.taps.pop(pub_id)
            tap.pub.remove_sink(tap.sink)
            changed = True
        return changed

    async def _after_tap_change(self, session_id: str) -> None:
        """Close the files of tracks that ended and write the manifest."""
        active = self.active.get(session_id)
        if active is None:
            return
        async with active.lock:
            live = {t.track_id for t in active.taps.values()}
            gone = {tid: r for tid, r in active.rec.recorders.items() if tid not in live}
            for tid in gone:
                active.rec.detach(tid)
            stats = await asyncio.get_running_loop().run_in_executor(None, close_all, gone)
            for tid, st in stats.items():
                active.rec.track_closed(tid, st)
            await self._save(active)

    async def _pause(self, session_id: str, at: float, *, paused: bool) -> None:
        active = self.active.get(session_id)
        if active is None:
            return
        if paused:
            active.rec.pause(at)
        else:
            active.rec.resume(at)  # video tracks ask their senders for a keyframe
        idx.set_state(
            self.desk.archive, session_id, "paused" if paused else "recording", time.time()
        )
        async with active.lock:
            await self._save(active)

    async def _finish(self, session_id: str, *, reason: str) -> None:
        active = self.active.pop(session_id, None)
        if active is None:
            return
        async with active.lock:
            for tap in active.taps.values():
                tap.pub.remove_sink(tap.sink)
            active.taps.clear()
            recorders = active.rec.detach_all()
            stats = await asyncio.get_running_loop().run_in_executor(None, close_all, recorders)
            for tid, st in stats.items():
                active.rec.track_closed(tid, st)
            active.rec.end(state="interrupted" if active.failure else "complete")
            if await self._save(active) is not None:
                self.unsaved[session_id] = active.rec
        manifest = active.rec.manifest
        figures = {
            "tracks": len(manifest.tracks),
            "bytes": sum(t.bytes for t in manifest.tracks),
            "dropped": sum(t.dropped for t in manifest.tracks),
            "frames": sum(t.frames for t in manifest.tracks),
            "reason": active.failure or reason,
        }
        log.info("recording finished", session_id=session_id, **figures)
        if active.failure:  # cut short: what was written plays, and it says so after rendering
            idx.set_state(self.desk.archive, session_id, "interrupted", time.time(), interrupted=1)
            audit.record(
                self.desk.archive,
                audit.RECORDING_INTERRUPTED,
                entry=manifest.entry,
                session_id=session_id,
                reason=active.failure,
                detail=figures,
            )
        await self.note(session_id, "recording.finished", figures)
        try:
            await self.write_timeline(session_id)
        except OSError as exc:  # a full disk: the archive keeps the timeline
            log.warning("timeline not written", session_id=session_id, error=str(exc))
        for cb in self.on_finished:
            cb(session_id)
        self.finished.set()

    async def note(self, session_id: str, kind: str, data: dict[str, Any]) -> None:
        """A recorder report on the session's timeline, when the session is still known."""
        try:
            await self.desk.apply(session_id, ix.Note(kind, data), ix.SYSTEM)
        except LivedeskError as exc:
            log.info("recording note not logged", session_id=session_id, kind=kind, code=exc.code)

    # ------------------------------------------------------------ reading files back
    def open_input(self, path: Path) -> Any:
        """What PyAV opens for a track file: the path, or a decrypting reader."""
        if path.name.endswith(".sealed"):
            from recorder.sealed import SealedReader

            if self.kek is None:
                raise OSError("an encrypted recording, and no recording.encryption_key_file")
            return SealedReader(path, self.kek)
        return str(path)

    def plain_size(self, path: Path) -> int:
        from recorder.sealed import plain_size

        if self.kek is None:
            raise OSError("an encrypted recording, and no recording.encryption_key_file")
        return plain_size(path, self.kek)

    def read_range(self, path: Path, first: int, last: int) -> bytes:
        from recorder.sealed import read_range

        if self.kek is None:
            raise OSError("an encrypted recording, and no recording.encryption_key_file")
        return read_range(path, self.kek, first, last)

    # ------------------------------------------------------------ timeline.jsonl
    async def _timeline_if_recorded(self, session_id: str) -> None:
        directory = layout.session_dir(self.root, session_id)
        if directory.exists():
            await self.write_timeline(session_id)

    async def write_timeline(self, session_id: str) -> Path:
        """(Re)write ``timeline.jsonl`` from the archive: every event, on the session clock."""
        directory = layout.session_dir(self.root, session_id)
        await self.desk.archive.flush()
        events = await self.desk.archive.events(session_id)
        record = await self.desk.archive.interaction(session_id)
        origin = float(record["created_at"]) if record else (events[0].at if events else 0.0)
        lines = [
            json.dumps(
                {
                    "t": round(ev.at - origin, 3),
                    "seq": ev.seq,
                    "kind": ev.kind,
                    "actor": ev.actor_role,
                    "actor_id": ev.actor_id,
                    "data": ev.data,
                },
                ensure_ascii=False,
            )
            for ev in events
        ]
        path = directory / layout.TIMELINE
        await asyncio.get_running_loop().run_in_executor(None, _write_lines, path, lines)
        return path

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording task failed", error=repr(task.exception()))


def _earlier(directory: Path) -> layout.Manifest | None:
    try:
        return layout.read_manifest(directory)
    except FileNotFoundError:
        return None


def load_recording_key(cfg: Config) -> bytes | None:
    """The key that wraps each recorded file's own key, when encryption at rest is on."""
    if not cfg.recording.encryption_key_file:
        return None
    from recorder.sealed import load_kek

    return load_kek(Path(cfg.recording.encryption_key_file).expanduser())


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own: the end of a recording and the end of its session each rewrite
    # the timeline, and two writers of one temporary file made one of them fail
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + ("\n" if lines else ""))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:  # a full disk: leave no half-written temporary file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def recording_view(inter: ix.Interaction) -> dict[str, Any] | None:
    """What both sides see of the recording state."""
    rec = inter.recording
    if rec is None:
        return None
    return {
        "state": rec.state.value,
        "requested_by": rec.requested_by.value,
        "consents": dict(rec.consents),
        "required": rec.required,
        "chat_only": rec.chat_only,
        "since": rec.changed_at,
    }
