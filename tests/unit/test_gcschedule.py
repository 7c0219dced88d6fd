"""Full garbage-collector passes on a timer (signaling/gcschedule.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from signaling.gcschedule import OUT_OF_REACH, GcSchedule


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _full_passes() -> int:
    return gc.get_stats()[2]["collections"]


async def test_automatic_full_passes_are_off_while_it_runs_and_restored_after():
    before = gc.get_threshold()
    schedule = GcSchedule(full_every_s=3600)
    schedule.start()
    try:
        young0, young1, old = gc.get_threshold()
        assert (young0, young1) == before[:2]
        assert old == OUT_OF_REACH
    finally:
        await schedule.stop()
    assert gc.get_threshold() == before


def _promote_many() -> list[list[list[int]]]:
    """Keep 400,000 tracked objects alive while allocating: the young passes promote them
    into the oldest generation, far past CPython's quarter rule."""
    kept = []
    for _ in range(200):
        kept.append([[] for _ in range(2000)])
    return kept


async def test_no_full_pass_happens_by_itself_while_it_runs():
    gc.collect()
    start = _full_passes()
    kept = _promote_many()
    assert _full_passes() > start  # CPython's own schedule: full passes came
    del kept
    gc.collect()
    schedule = GcSchedule(full_every_s=3600)
    schedule.start()
    try:
        start = _full_passes()
        kept = _promote_many()
        assert _full_passes() == start
        del kept
    finally:
        await schedule.stop()


async def test_a_full_pass_runs_on_the_timer_and_frees_old_cycles():
    schedule = GcSchedule(full_every_s=0.2)
    schedule.start()
    try:
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        gc.collect(1)  # while still held, it is promoted into the oldest generation
        del cycle  # now garbage that only a full pass finds
        gc.collect(1)
        assert gone() is not None
        for _ in range(100):
            await asyncio.sleep(0.02)
            if schedule.passes:
                break
        assert schedule.passes >= 1
        assert gone() is None
        assert schedule.last_pause_s > 0
    finally:
        await schedule.stop()


async def test_stop_is_safe_twice_and_start_twice_keeps_one_timer():
    before = gc.get_threshold()
    schedule = GcSchedule(full_every_s=3600)
    schedule.start()
    schedule.start()
    assert gc.get_threshold()[2] == OUT_OF_REACH
    await schedule.stop()
    await schedule.stop()
    assert gc.get_threshold() == before


def test_the_interval_must_be_positive():
    with pytest.raises(ValueError, match="full_every_s must be > 0"):
        GcSchedule(full_every_s=0)
