"""Render and transcription jobs through a real server, in both shapes of a deployment.

One node with the memory store's work queue and the SQLite archive, and one with Redis
Streams and the PostgreSQL archive: the jobs a recording queues run, and the sweep puts
back what a dead node was running and what the work queue lost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from signaling import audit
from signaling.keys import ARCHIVE, CLUSTER, RECORDING_JOBS

from .conftest import StartDesk
from .test_recording import db_rows, recorded_call


async def test_a_job_its_dead_worker_left_running_and_one_the_queue_lost_run_again(
    start_desk: StartDesk,
):
    """The sweep: a job marked running by a worker whose node is gone goes back to the
    queue and runs here; a queued job the work queue does not hold is pushed again."""
    desk, sid, _ = await recorded_call(start_desk, seconds=1.0)
    jobs = desk.app[RECORDING_JOBS]
    archive = desk.app[ARCHIVE]

    async def transcription() -> tuple[Any, ...]:
        rows = await db_rows(
            desk, "SELECT id, state, attempts, worker FROM jobs WHERE kind='transcribe'"
        )
        assert len(rows) <= 1, rows
        # none yet: the recording is still being finished (slow on a loaded machine)
        return rows[0] if rows else (None, "not queued yet", 0, "")

    async def done(attempts: int) -> tuple[Any, ...]:
        deadline = time.monotonic() + 60
        while (row := await transcription())[1] != "done" or row[2] != attempts:
            assert time.monotonic() < deadline, row
            await asyncio.sleep(0.2)
        return row

    job_id, _, _, worker = await done(1)
    assert worker.startswith(desk.app[CLUSTER].id + "/transcribe-")
    # a node that died mid-job left this behind
    await archive.execute(
        "UPDATE jobs SET state='running', worker='gone-node/transcribe-0' WHERE id=?", (job_id,)
    )
    assert await jobs.sweep() == {"requeued": 1, "pushed": 1}
    _, _, _, worker = await done(2)
    assert worker.startswith(desk.app[CLUSTER].id + "/")
    await archive.flush()
    (detail,) = [r.detail for r in await audit.recent(archive, kind=audit.JOB_REQUEUED)]
    assert detail == {"job": job_id, "kind": "transcribe", "worker": "gone-node/transcribe-0"}
    notes = [d for _, k, d in desk.archive_events(sid) if k == "recording.job_requeued"]
    assert notes == [detail]
    # the same node id, an earlier process of it (a node restarted under a fixed id)
    earlier = f"{desk.app[CLUSTER].id}/transcribe-0@1"
    await archive.execute("UPDATE jobs SET state='running', worker=? WHERE id=?", (earlier, job_id))
    assert await jobs.sweep() == {"requeued": 1, "pushed": 1}
    await done(3)
    # queued in the archive, never pushed (a Redis that came back empty): pushed again
    await archive.execute("UPDATE jobs SET state='queued' WHERE id=?", (job_id,))
    assert await jobs.sweep() == {"requeued": 0, "pushed": 1}
    await done(4)
    assert await jobs.sweep() == {"requeued": 0, "pushed": 0}
