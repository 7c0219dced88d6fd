"""Work on recordings that happens after the session: recovery, review rendering, retention.

- **Recovery.** At start-up, a recording the archive still lists as ``recording`` or
  ``paused`` was cut short by a crash. Its files are read back (up to their last complete
  cluster), the manifest and the archive are updated, it is marked ``interrupted``, the
  audit log says so, and its review rendering is queued like any other.
- **Jobs.** A job's record (state, progress, attempts, error, worker) is a row of the
  archive's ``jobs`` table, so it survives restarts and every node sees it. Dispatch goes
  through the live store's work queues (``Store.job_push`` / ``job_take``: Redis
  Streams with one consumer group when nodes share Redis), so any node's worker takes
  any job; the archive's conditional claim makes sure only one runs it. A sweep (every
  ``recording.job_sweep_s``, one node at a time) puts back what a dead node was running
  and what the queue lost.
- **Rendering.** Each render job runs ``python -m recorder.render`` in a child process
  at a lower CPU priority (OpenCV and the encoders never touch the server's event loop
  or its core), reads its progress lines, and records the outcome: ``rendered``, or the
  error on the job and the row.
- **Retention.** Past the entry's (or tier's) retention, a recording's media files are
  deleted; the manifest, the timeline and the archive row stay, marked ``expired``, and
  the deletion is in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from recorder import layout
from recorder.probe import probe_track
from recorder.session import _copy_stats
from recorder.track import TrackStats
from signaling import audit
from signaling import recording_index as idx
from signaling.config import TranscriptionConfig
from signaling.errors import LivedeskError
from signaling.store.base import JobTicket

if TYPE_CHECKING:
    from signaling.recording import RecordingService

log = structlog.get_logger("livedesk.recording")

RENDER = "render"
TRANSCRIBE = "transcribe"
MEDIA_FILES = (layout.REVIEW, layout.THUMBS)
TRANSCRIPT_FILES = ("transcript.json", "transcript.vtt", "transcript.txt")


class RecordingJobs:
    """Recovery at start-up, the render workers, and the retention sweep."""

    def __init__(
        self,
        service: RecordingService,
        *,
        node_id: str = "",
        settling: Callable[[], bool] = lambda: False,
    ) -> None:
        self.service = service
        self.archive = service.desk.archive
        self.store = service.desk.store
        self.node_id = node_id or "local"
        """Workers are named ``<node id>/<kind>-<n>@<pid>``; a job's row names the one
        running it (the pid tells this process from an earlier one of the same node id)."""
        self.settling = settling
        """True just after the store came back: nodes may not have beaten again yet."""
        self.settings = service.settings
        self.root = service.root
        self.progress: dict[str, float] = {}
        """Session id -> render progress (0..1) of jobs running on this process."""
        self.transcribing: dict[str, float] = {}
        """Session id -> transcription progress (0..1) of jobs running on this process."""
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        self._children: set[asyncio.subprocess.Process] = set()
        self._running: dict[int, asyncio.subprocess.Process] = {}
        """Job id -> its worker process, for the jobs this process runs."""
        self._cancelled: dict[int, str] = {}
        """Job id -> who cancelled it, while its worker is being stopped."""
        key = self.settings.encryption_key_file
        self._key_file = str(Path(key).expanduser()) if key else ""

    async def start(self) -> None:
        await self.recover()
        self.service.on_finished.append(self.rendering_wanted)
        if self.settings.render:
            for n in range(self.settings.render_workers):
                loop = self._job_loop(RENDER, self.render, self._worker(RENDER, n))
                self._tasks.append(asyncio.create_task(loop, name=f"render-{n}"))
        if self.settings.transcribe:
            for n in range(self.settings.transcribe_workers):
                loop = self._job_loop(TRANSCRIBE, self.transcribe, self._worker(TRANSCRIBE, n))
                self._tasks.append(asyncio.create_task(loop, name=f"transcribe-{n}"))
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        self._tasks.append(asyncio.create_task(self._sweep_loop(), name="job-sweep"))

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.service.on_finished.remove(self.rendering_wanted)
        tasks = [*self._tasks, *self._spawned]
        for _ in range(50):  # a cancel can be lost inside a client library's await: repeat
            pending = [t for t in tasks if not t.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=0.2)
        else:  # pragma: no cover - would mean a loop ignores cancellation
            log.error("job tasks did not stop")
        self._tasks.clear()
        for child in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            with contextlib.suppress(Exception):
                await child.wait()

    async def _write_timeline(self, session_id: str) -> None:
        """Refresh the recording's timeline file; a failure leaves the job's outcome alone
        (the file is written again at the session's next recording step)."""
        try:
            await self.service.write_timeline(session_id)
        except LivedeskError as exc:
            log.warning("timeline not refreshed", session_id=session_id, error=exc.message)

    def _worker(self, kind: str, n: int) -> str:
        return f"{self.node_id}/{kind}-{n}@{os.getpid()}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def push(self, job: idx.JobRow, *, after_s: float = 0.0) -> None:
        """Offer a queued job to the workers (of any node), after a pause if asked.

        Its row must be stored first. If the queue is unreachable, the sweep puts it
        there later: the archive says it is queued.
        """
        if after_s > 0:
            await asyncio.sleep(after_s)
        try:
            await self.store.job_push(job.kind, job.id)
        except LivedeskError as exc:
            log.warning("job not queued yet; the sweep will", job=job.id, error=exc.message)

    def push_later(self, job: idx.JobRow, after_s: float = 0.0) -> None:
        self._spawn(self._flush_and_push(job, after_s))

    async def _flush_and_push(self, job: idx.JobRow, after_s: float) -> None:
        await self.archive.flush()
        await self.push(job, after_s=after_s)

    def cancel_running(self, job_id: int, by: str) -> bool:
        """Stop a job this process is running (its worker is killed); False if it is not."""
        child = self._running.get(job_id)
        if child is None:
            return False
        self._cancelled[job_id] = by
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        return True

    def _ended_badly(self, job: idx.JobRow, outcome: dict[str, Any]) -> tuple[str, str]:
        """What a failed run leaves: (job state, message). A failure runs again by itself
        until the job has run ``job_attempts`` times; a cancelled job stays cancelled."""
        message = f"{outcome['error']}: {outcome.get('message', '')}"
        if outcome["error"] == "cancelled":
            return "cancelled", message
        if job.attempts < self.settings.job_attempts:
            self.push_later(job, self.settings.job_retry_pause_s)  # a pause before trying again
            if outcome["error"] == "crashed":
                audit.record(
                    self.archive,
                    audit.JOB_REQUEUED,
                    session_id=job.session_id,
                    reason="worker crashed",
                    detail={"job": job.id, "kind": job.kind, "attempts": job.attempts},
                )
            return "queued", f"attempt {job.attempts} failed, trying again: {message}"
        return "failed", message

    def rendering_wanted(self, session_id: str) -> None:
        manifest = self.service.active.get(session_id)
        if manifest is not None:
            return
        wanted = ((RENDER, self.settings.render), (TRANSCRIBE, self.settings.transcribe))
        kinds = [kind for kind, on in wanted if on]
        if kinds:
            self._spawn(self.queue(session_id, kinds))

    async def queue(self, session_id: str, kinds: list[str]) -> list[idx.JobRow]:
        """Queue a session's jobs, once what they read (the recording's rows) is stored."""
        await self.archive.flush()
        out = []
        for kind in kinds:
            try:
                job_id = await idx.queue_job(self.archive, kind, session_id, time.time())
                job = await idx.get_job_by_id(self.archive, job_id)
            except LivedeskError as exc:
                log.error("job not queued", kind=kind, session_id=session_id, error=exc.message)
                continue
            if job is not None:
                await self.push(job)
                out.append(job)
        return out

    # ------------------------------------------------------------ the job sweep
    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_sweep_s)
            try:
                await self.sweep()
            except LivedeskError as exc:
                log.warning("job sweep skipped", error=exc.message)
            except Exception:
                log.exception("job sweep failed")

    async def sweep(self) -> dict[str, int]:
        """Put the job queues right against the archive (one node at a time).

        A job running on a node that is no longer alive goes back to the queue; a queued
        job the queue does not hold (Redis came back empty, or a push failed) is put in
        it again. Returns how many of each.
        """
        token = await self.store.acquire("job-sweep", max(30.0, self.settings.job_sweep_s))
        if token is None:
            return {"requeued": 0, "pushed": 0}
        try:
            return await self._sweep()
        finally:
            await self.store.release("job-sweep", token)

    async def _sweep(self) -> dict[str, int]:
        nodes = await self.store.list_nodes()
        live = {(n.id, n.pid) for n in nodes if n.alive} | {(self.node_id, os.getpid())}
        settling = self.settling()
        jobs = await idx.open_jobs(self.archive)
        held = {kind: await self.store.job_ids(kind) for kind in {j.kind for j in jobs}}
        requeued = pushed = 0
        for job in jobs:
            if job.state == "running":
                if settling or _worker_alive(job.worker, live):
                    # running there; or the store just came back and its node may not
                    # have beaten again yet: a lease later, it is judged
                    continue
                if not await idx.requeue(self.archive, job.id, job.worker):
                    continue
                requeued += 1
                log.warning("job requeued: its worker is gone", job=job.id, worker=job.worker)
                audit.record(
                    self.archive,
                    audit.JOB_REQUEUED,
                    session_id=job.session_id,
                    reason="worker gone",
                    detail={"job": job.id, "kind": job.kind, "worker": job.worker},
                )
                await self.service.note(
                    job.session_id,
                    "recording.job_requeued",
                    {"job": job.id, "kind": job.kind, "worker": job.worker},
                )
            elif job.id in held.get(job.kind, set()):
                continue
            await self.push(job)
            pushed += 1
        if requeued:
            await idx.reset_rendering(self.archive)
        return {"requeued": requeued, "pushed": pushed}

    # ------------------------------------------------------------ recovery
    async def recover(self) -> list[str]:
        """Mark recordings a crash cut short as interrupted; returns their session ids.

        Jobs a stopped process was running go back to the queue first (the sweep).
        """
        await self.sweep()
        rows = await idx.unfinished(self.archive)
        out = []
        store = self.service.desk.store
        for row in rows:
            if row.session_id in self.service.active:
                continue
            if await store.session_owner(row.session_id) is not None:
                continue  # another live node is recording it
            try:
                await self._recover_one(row)
                out.append(row.session_id)
            except Exception:
                log.exception("recovery failed", session_id=row.session_id)
        return out

    async def recover_session(self, session_id: str, reason: str) -> bool:
        """Mark one session's unfinished recording interrupted (its node died)."""
        row = await idx.get_recording(self.archive, session_id)
        if row is None or row.state not in ("recording", "paused"):
            return False
        await self._recover_one(row, reason=reason)
        return True

    async def _recover_one(
        self, row: idx.RecordingRow, *, reason: str = "found unfinished at start-up"
    ) -> None:
        directory = layout.session_dir(self.root, row.session_id)
        loop = asyncio.get_running_loop()
        manifest = await loop.run_in_executor(None, self._read_back, directory, row)
        now = time.time()
        idx.put_recording(self.archive, manifest, {}, now)
        idx.set_state(self.archive, row.session_id, "interrupted", now, interrupted=1)
        audit.record(
            self.archive,
            audit.RECORDING_INTERRUPTED,
            entry=row.entry,
            session_id=row.session_id,
            reason=reason,
            detail={
                "tracks": len(manifest.tracks),
                "frames": sum(t.frames for t in manifest.tracks),
                "bytes": sum(t.bytes for t in manifest.tracks),
            },
        )
        log.warning("recording interrupted", session_id=row.session_id)
        await self._write_timeline(row.session_id)
        if any(t.frames for t in manifest.tracks):
            self.rendering_wanted(row.session_id)

    def _read_back(self, directory: Path, row: idx.RecordingRow) -> layout.Manifest:
        """Blocking: the manifest, completed with what each file really holds."""
        try:
            manifest = layout.read_manifest(directory)
        except (OSError, ValueError):
            manifest = layout.Manifest(
                session_id=row.session_id, origin=row.started_at, entry=row.entry
            )
            manifest.started_at = row.started_at
        opener = self.service.open_input
        for info in manifest.tracks:
            path = layout.track_path(directory, info.file)
            if path is None:
                stats = TrackStats(error=layout.track_unreadable(directory, info.file))
            else:
                stats = probe_track(path, open_input=opener)
            _copy_stats(info, stats)
            info.state = "interrupted"
        if manifest.paused and manifest.paused[-1][1] is None:
            ends = [t.last_ms for t in manifest.tracks if t.last_ms is not None]
            end = max(ends) / 1000 if ends else manifest.paused[-1][0]
            manifest.paused[-1] = (manifest.paused[-1][0], end)
        found = (layout.track_path(directory, t.file) for t in manifest.tracks)
        files = [f for f in found if f is not None]
        manifest.ended_at = max((f.stat().st_mtime for f in files), default=row.started_at)
        manifest.state = "interrupted"
        layout.write_manifest(directory, manifest)
        return manifest

    # ------------------------------------------------------------ rendering
    async def _job_loop(self, kind: str, runner: Any, worker: str) -> None:
        stale = self.settings.job_redeliver_s
        while True:
            try:
                ticket = await self.store.job_take(kind, worker, wait_s=5.0, stale_s=stale)
            except LivedeskError as exc:
                _still_running()
                log.warning("job queue unreachable", worker=worker, error=exc.message)
                await asyncio.sleep(2.0)
                continue
            if ticket is not None:
                await self._run_ticket(ticket, kind, runner, worker)

    async def _run_ticket(self, ticket: JobTicket, kind: str, runner: Any, worker: str) -> None:
        try:
            job = await idx.claim_job(self.archive, ticket.job_id, worker, time.time())
        except LivedeskError as exc:
            # the archive is away: leave the delivery open, it is handed out again later
            log.warning("job claim failed", job=ticket.job_id, error=exc.message)
            await asyncio.sleep(2.0)
            return
        try:
            if job is None or job.kind != kind:
                return  # done, cancelled, or another worker has it
            try:
                await runner(job)
            except asyncio.CancelledError:
                # shutting down: the job waits in the queue for the next worker (the sweep
                # offers it again, as the delivery is closed below)
                idx.job_finished(self.archive, job, time.time(), state="queued")
                raise
            except Exception as exc:
                log.exception("job failed", kind=kind, session_id=job.session_id)
                state, message = self._ended_badly(job, {"error": "internal", "message": str(exc)})
                idx.job_finished(self.archive, job, time.time(), message, state=state)
        finally:
            with contextlib.suppress(LivedeskError):
                await self.store.job_done(ticket)

    async def render(self, job: idx.JobRow) -> None:
        session_id = job.session_id
        row = await idx.get_recording(self.archive, session_id)
        if row is None or row.state == "expired":
            idx.job_finished(self.archive, job, time.time(), error="no media to render")
            return
        before = "interrupted" if row.interrupted else "complete"
        idx.set_state(self.archive, session_id, "rendering", time.time())
        self.progress[session_id] = 0.0
        started = time.monotonic()
        try:
            outcome = await self._run_child(job, self._render_args(session_id), self.progress)
        finally:
            self.progress.pop(session_id, None)
        now = time.time()
        if "error" in outcome:
            state, message = self._ended_badly(job, outcome)
            idx.set_state(self.archive, session_id, before, now, render_error=message[:500])
            idx.job_finished(self.archive, job, now, message, state=state)
            await self.service.note(
                session_id, "recording.render_failed", {"error": message, "job": state}
            )
            log.warning("render failed", session_id=session_id, error=message, job=state)
            return
        directory = layout.session_dir(self.root, session_id)
        if self.service.kek is not None:  # the rendering is media too: sealed at rest
            await asyncio.get_running_loop().run_in_executor(
                None, _seal_outputs, directory, self.service.kek
            )
        size = await asyncio.get_running_loop().run_in_executor(None, _review_size, directory)
        idx.set_state(
            self.archive,
            session_id,
            "rendered",
            now,
            render_error="",
            review_bytes=size,
            review_duration_s=float(outcome.get("duration_s", 0.0)),
            review_start_s=float(outcome.get("start_ms", 0)) / 1000,
        )
        idx.job_finished(self.archive, job, now)
        figures = {
            "duration_s": outcome.get("duration_s"),
            "bytes": size,
            "warnings": outcome.get("warnings", [])[:20],
            "took_s": round(time.monotonic() - started, 2),
        }
        await self.service.note(session_id, "recording.rendered", figures)
        await self._write_timeline(session_id)
        log.info("rendered", session_id=session_id, **figures)

    def _render_args(self, session_id: str) -> list[str]:
        s = self.settings
        args = ["-m", "recorder.render", str(layout.session_dir(self.root, session_id))]
        args += ["--fps", str(s.render_fps), "--width", str(s.render_width)]
        args += ["--height", str(s.render_height)]
        return args + (["--key-file", self._key_file] if self._key_file else [])

    # ------------------------------------------------------------ transcription
    async def transcribe(self, job: idx.JobRow) -> None:
        """Each microphone transcribed on its own (``python -m transcribe``), then merged."""
        session_id = job.session_id
        directory = layout.session_dir(self.root, session_id)
        row = await idx.get_recording(self.archive, session_id)
        entry = self.service.cfg.entries.get(row.entry) if row is not None else None
        tc = entry.transcription if entry is not None else TranscriptionConfig()
        rules = [
            {"name": f.name, "phrases": f.phrases, "speaker": f.speaker, "expect": f.expect}
            for f in tc.flags
        ]
        args = ["-m", "transcribe", str(directory), "--engine", tc.engine]
        args += ["--language", tc.language, "--flags", json.dumps(rules)]
        args += ["--model-dir", _home(tc.model_dir)] if tc.model_dir else []
        args += ["--vocabulary", json.dumps(tc.vocabulary)] if tc.vocabulary else []
        args += ["--key-file", self._key_file] if self._key_file else []
        self.transcribing[session_id] = 0.0
        try:
            outcome = await self._run_child(job, args, self.transcribing)
        finally:
            self.transcribing.pop(session_id, None)
        now = time.time()
        if "error" in outcome:
            state, message = self._ended_badly(job, outcome)
            idx.job_finished(self.archive, job, now, message, state=state)
            await self.service.note(
                session_id, "recording.transcribe_failed", {"error": message, "job": state}
            )
            return
        loop = asyncio.get_running_loop()
        transcript = await loop.run_in_executor(None, _read_json, directory / TRANSCRIPT_FILES[0])
        if self.service.kek is not None:
            await loop.run_in_executor(
                None, _seal_outputs, directory, self.service.kek, TRANSCRIPT_FILES
            )
        flags = transcript.get("flags", [])
        idx.put_transcript(self.archive, session_id, transcript.get("segments", []), flags)
        idx.job_finished(self.archive, job, now)
        figures = {k: outcome.get(k) for k in ("segments", "redactions", "flags", "took_s")}
        await self.service.note(session_id, "recording.transcribed", figures)
        for flag in flags[:50]:  # markers on the review timeline
            await self.service.note(session_id, "recording.flagged", flag)
        await self._write_timeline(session_id)

    async def _run_child(
        self, job: idx.JobRow, args: list[str], progress: dict[str, float]
    ) -> dict[str, Any]:
        s = self.settings
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _project_path()},
            preexec_fn=_lower_priority,
        )
        self._children.add(child)
        self._running[job.id] = child
        outcome: dict[str, Any] = {}
        last_write = 0.0
        assert child.stdout is not None and child.stderr is not None
        try:
            async with asyncio.timeout(s.render_timeout_s):
                async for raw in child.stdout:
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        continue
                    if "progress" in line:
                        p = float(line["progress"])
                        progress[job.session_id] = p
                        if time.monotonic() - last_write > 1.0:
                            idx.job_progress(self.archive, job, p)
                            last_write = time.monotonic()
                    elif "done" in line or "error" in line:
                        outcome = line
                err = await child.stderr.read()
                code = await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()
            return {"error": "timeout", "message": f"over {s.render_timeout_s:.0f} s"}
        except asyncio.CancelledError:  # shutting down: the job goes back to the queue
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await asyncio.shield(child.wait())
            raise
        finally:
            self._children.discard(child)
            self._running.pop(job.id, None)
        if job.id in self._cancelled:
            return {"error": "cancelled", "message": f"by {self._cancelled.pop(job.id)}"}
        if code < 0 and "error" not in outcome:  # killed: the OOM killer, a segfault, kill -9
            return {
                "error": "crashed",
                "message": f"the worker was killed by {_signal_name(-code)}",
            }
        if code != 0 and "error" not in outcome:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return {"error": "internal", "message": f"renderer exited {code}: {tail[0][:300]}"}
        if not outcome:
            return {"error": "internal", "message": "renderer said nothing"}
        return outcome

    # ------------------------------------------------------------ retention
    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.expire_due()
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(self.settings.retention_check_s)

    async def expire_due(self, now: float | None = None) -> list[str]:
        """Delete the media of recordings past retention; returns their session ids."""
        at = time.time() if now is None else now
        rows = await idx.past_retention(self.archive, at)
        out = []
        for row in rows:
            if row.session_id in self.service.active or row.state == "rendering":
                continue
            directory = layout.session_dir(self.root, row.session_id)
            tracks = await idx.tracks_of(self.archive, row.session_id)
            kept = (*MEDIA_FILES, *TRANSCRIPT_FILES)
            names = [t.file for t in tracks] + [n + x for n in kept for x in ("", ".sealed")]
            loop = asyncio.get_running_loop()
            removed, freed = await loop.run_in_executor(None, _delete_media, directory, names)
            idx.set_state(self.archive, row.session_id, "expired", at, expired_at=at)
            audit.record(
                self.archive,
                audit.RECORDING_EXPIRED,
                entry=row.entry,
                session_id=row.session_id,
                reason="retention",
                detail={"files": removed, "bytes": freed, "retention_until": row.retention_until},
            )
            log.info("recording expired", session_id=row.session_id, files=removed, bytes=freed)
            out.append(row.session_id)
        return out


def _worker_alive(worker: str, live: set[tuple[str, int]]) -> bool:
    """Whether the process a job's ``worker`` names is a live node's."""
    node, _, rest = worker.partition("/")
    pid = rest.rpartition("@")[2] if "@" in rest else ""
    if not pid.isdigit():  # a name without the process (from before): the node decides
        return any(n == node for n, _ in live)
    return (node, int(pid)) in live


def _still_running() -> None:
    """Raise CancelledError if this task is being cancelled.

    A cancel that lands inside the Redis client's blocking read can come out as a read
    timeout; without this check the loop would take it for an outage and go on.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _home(path: str) -> str:
    return os.path.expanduser(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _seal_outputs(directory: Path, kek: bytes, names: tuple[str, ...] = MEDIA_FILES) -> None:
    """Encrypt what a job made (rendering, thumbnails, transcripts); remove the plain files."""
    from recorder.sealed import SealedWriter

    for name in names:
        plain = directory / name
        if not plain.exists():
            continue
        sealed = directory / (name + ".sealed")
        writer = SealedWriter(sealed, kek)
        with open(plain, "rb") as src:
            while chunk := src.read(1 << 20):
                writer.write(chunk)
                writer.flush()
        writer.close()
        plain.unlink()


def _review_size(directory: Path) -> int:
    for name in (layout.REVIEW, layout.REVIEW + ".sealed"):
        with contextlib.suppress(FileNotFoundError):
            return (directory / name).stat().st_size
    return 0


def _delete_media(directory: Path, names: list[str]) -> tuple[int, int]:
    removed = freed = 0
    for name in names:
        path = directory / name
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            removed += 1
            freed += size
    return removed, freed


def _lower_priority() -> None:  # runs in the child before exec
    with contextlib.suppress(OSError):
        os.nice(10)


def _project_path() -> str:
    here = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH", "")
    return here + (os.pathsep + existing if existing else "")
