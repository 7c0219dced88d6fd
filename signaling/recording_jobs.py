"""Work on recordings that happens after the session: recovery, review rendering, retention.

- **Recovery.** At start-up, a recording the archive still lists as ``recording`` or
  ``paused`` was cut short by a crash. Its files are read back (up to their last complete
  cluster), the manifest and the archive are updated, it is marked ``interrupted``, the
  audit log says so, and its review rendering is queued like any other.
- **Rendering.** Jobs live in the archive's ``jobs`` table, so they survive a restart; a
  job that was running when the process stopped goes back to the queue. Each job runs
  ``python -m recorder.render`` in a child process at a lower CPU priority (OpenCV and
  the encoders never touch the server's event loop or its core), reads its progress
  lines, and records the outcome: ``rendered``, or the error on the job and the row.
- **Retention.** Past the entry's (or tier's) retention, a recording's media files are
  deleted; the manifest, the timeline and the archive row stay, marked ``expired``, and
  the deletion is in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from recorder import layout
from recorder.probe import probe_track
from recorder.session import _copy_stats
from signaling import audit
from signaling import recording_index as idx
from signaling.config import TranscriptionConfig

if TYPE_CHECKING:
    from signaling.recording import RecordingService

log = structlog.get_logger("livedesk.recording")

RENDER = "render"
TRANSCRIBE = "transcribe"
MEDIA_FILES = (layout.REVIEW, layout.THUMBS)
TRANSCRIPT_FILES = ("transcript.json", "transcript.vtt", "transcript.txt")


class RecordingJobs:
    """Recovery at start-up, the render workers, and the retention sweep."""

    def __init__(self, service: RecordingService) -> None:
        self.service = service
        self.archive = service.desk.archive
        self.settings = service.settings
        self.root = service.root
        self.progress: dict[str, float] = {}
        """Session id -> render progress (0..1) of jobs running on this process."""
        self.transcribing: dict[str, float] = {}
        """Session id -> transcription progress (0..1) of jobs running on this process."""
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
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
                loop = self._job_loop(RENDER, self.render)
                self._tasks.append(asyncio.create_task(loop, name=f"render-{n}"))
        if self.settings.transcribe:
            for n in range(self.settings.transcribe_workers):
                loop = self._job_loop(TRANSCRIBE, self.transcribe)
                self._tasks.append(asyncio.create_task(loop, name=f"transcribe-{n}"))
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.service.on_finished.remove(self.rendering_wanted)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for child in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            with contextlib.suppress(Exception):
                await child.wait()

    def wake(self) -> None:
        """Look for queued jobs now (one was queued again)."""
        self._wake.set()

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
            # no wake-up: the workers' 5 s poll picks it up, a pause before trying again
            return "queued", f"attempt {job.attempts} failed, trying again: {message}"
        return "failed", message

    def rendering_wanted(self, session_id: str) -> None:
        manifest = self.service.active.get(session_id)
        if manifest is not None:
            return
        if self.settings.render:
            idx.queue_job(self.archive, RENDER, session_id, time.time())
        if self.settings.transcribe:
            idx.queue_job(self.archive, TRANSCRIBE, session_id, time.time())
        self._wake.set()

    # ------------------------------------------------------------ recovery
    async def recover(self) -> list[str]:
        """Mark recordings a crash cut short as interrupted; returns their session ids."""
        await self.archive.run(idx.requeue_running)
        await self.archive.run(idx.reset_rendering)
        rows = await self.archive.run(idx.unfinished)
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
        row = await self.archive.run(lambda db: idx.get_recording(db, session_id))
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
        await self.service.write_timeline(row.session_id)
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
            stats = probe_track(directory / info.file, open_input=opener)
            _copy_stats(info, stats)
            info.state = "interrupted"
        if manifest.paused and manifest.paused[-1][1] is None:
            ends = [t.last_ms for t in manifest.tracks if t.last_ms is not None]
            end = max(ends) / 1000 if ends else manifest.paused[-1][0]
            manifest.paused[-1] = (manifest.paused[-1][0], end)
        files = [directory / t.file for t in manifest.tracks if (directory / t.file).exists()]
        manifest.ended_at = max((f.stat().st_mtime for f in files), default=row.started_at)
        manifest.state = "interrupted"
        layout.write_manifest(directory, manifest)
        return manifest

    # ------------------------------------------------------------ rendering
    async def _job_loop(self, kind: str, runner: Any) -> None:
        while True:
            job = await self.archive.run(lambda db: idx.claim_job(db, kind, time.time()))
            if job is None:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=5)
                continue
            try:
                await runner(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job failed", kind=kind, session_id=job.session_id)
                state, message = self._ended_badly(job, {"error": "internal", "message": str(exc)})
                idx.job_finished(self.archive, job.id, time.time(), message, state=state)

    async def render(self, job: idx.JobRow) -> None:
        session_id = job.session_id
        row = await self.archive.run(lambda db: idx.get_recording(db, session_id))
        if row is None or row.state == "expired":
            idx.job_finished(self.archive, job.id, time.time(), error="no media to render")
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
            idx.job_finished(self.archive, job.id, now, message, state=state)
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
        idx.job_finished(self.archive, job.id, now)
        figures = {
            "duration_s": outcome.get("duration_s"),
            "bytes": size,
            "warnings": outcome.get("warnings", [])[:20],
            "took_s": round(time.monotonic() - started, 2),
        }
        await self.service.note(session_id, "recording.rendered", figures)
        await self.service.write_timeline(session_id)
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
        row = await self.archive.run(lambda db: idx.get_recording(db, session_id))
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
            idx.job_finished(self.archive, job.id, now, message, state=state)
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
        idx.job_finished(self.archive, job.id, now)
        figures = {k: outcome.get(k) for k in ("segments", "redactions", "flags", "took_s")}
        await self.service.note(session_id, "recording.transcribed", figures)
        for flag in flags[:50]:  # markers on the review timeline
            await self.service.note(session_id, "recording.flagged", flag)
        await self.service.write_timeline(session_id)

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
                            idx.job_progress(self.archive, job.id, p)
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
        rows = await self.archive.run(lambda db: idx.past_retention(db, at))
        out = []
        for row in rows:
            if row.session_id in self.service.active or row.state == "rendering":
                continue
            directory = layout.session_dir(self.root, row.session_id)
            tracks = await self.archive.run(functools.partial(_tracks, row.session_id))
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


def _home(path: str) -> str:
    return os.path.expanduser(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tracks(session_id: str, db: Any) -> list[idx.TrackRow]:
    return idx.tracks_of(db, session_id)


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
