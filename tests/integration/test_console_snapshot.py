"""Console snapshots are shared by the callers waiting for one (Desk.console_snapshot).

The sharing is in the desk, above the store, so the memory store shows it; its reads
are counted and slowed down by a subclass so that callers overlap for certain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signaling import config
from signaling import interaction as ix
from signaling.archive import SqliteArchive
from signaling.desk import Desk
from signaling.interaction import Interaction, SessionState
from signaling.metrics import Metrics
from signaling.routing import AgentPresence
from signaling.store import MemoryStore

CUSTOMER = ix.Actor(ix.Role.CUSTOMER, "c1", "Cleo")


class SlowReads(MemoryStore):
    """Every read of the open sessions takes 50 ms and is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def sessions_by_state(self, *states: SessionState) -> list[Interaction]:
        self.reads += 1
        found = await super().sessions_by_state(*states)
        await asyncio.sleep(0.05)
        return found


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    cfg = config.from_dict({"server": {"data_dir": str(tmp_path), "demo": False}})
    store = SlowReads()
    await store.start()
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    await archive.start()
    try:
        yield Desk(cfg, store, archive, Metrics(), secret=b"s" * 32)
    finally:
        await archive.close()
        await store.close()


async def _new_session(desk: Desk) -> str:
    inter = await desk.start_session(
        entry="demo", customer=CUSTOMER, tier="standard", page="/", first_text="hi", language="en"
    )
    return inter.id


async def test_fifty_callers_at_once_share_two_reads(desk: Desk):
    """The first caller's read, then one read for all who asked while it ran."""
    store = desk.store
    assert isinstance(store, SlowReads)
    await _new_session(desk)
    snaps = await asyncio.gather(*(desk.console_snapshot() for _ in range(50)))
    assert store.reads == 2
    assert all(len(s.sessions) == 1 for s in snaps)
    assert len({s.taken for s in snaps}) == 2


async def test_a_caller_sees_what_it_wrote_before_asking(desk: Desk):
    """A read under way when the write lands is not shared with the writer."""
    store = desk.store
    assert isinstance(store, SlowReads)
    first = asyncio.ensure_future(desk.console_snapshot())
    await asyncio.sleep(0.01)  # that read has begun
    sid = await _new_session(desk)
    mine = await desk.console_snapshot()
    before = await first
    assert [s.id for s in before.sessions] == []
    assert [s.id for s in mine.sessions] == [sid]
    assert mine.taken > before.taken
    assert store.reads == 2


async def test_a_failed_read_is_not_handed_to_the_next_caller(desk: Desk):
    store = desk.store
    assert isinstance(store, SlowReads)
    broken = True
    real = store.list_agents

    async def list_agents() -> list[AgentPresence]:
        if broken:
            raise OSError("store away")
        return await real()

    store.list_agents = list_agents  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await desk.console_snapshot()
    broken = False
    snap = await desk.console_snapshot()
    assert snap.sessions == []
    assert store.reads == 2
