"""Shutdown closes every part even when one fails or hangs."""

from __future__ import annotations

import asyncio

from signaling.app import close_all


async def test_every_part_closes_after_one_fails_and_one_hangs() -> None:
    closed: list[str] = []

    async def ok(name: str) -> None:
        closed.append(name)

    async def fails() -> None:
        raise RuntimeError("socket gone")

    async def hangs() -> None:
        await asyncio.Event().wait()

    problems = await close_all(
        [
            ("first", lambda: ok("first")),
            ("broken", fails),
            ("stuck", hangs),
            ("last", lambda: ok("last")),
        ],
        limit_s=0.2,
    )
    assert closed == ["first", "last"]
    assert problems[0] == "broken: RuntimeError: socket gone"
    assert problems[1].startswith("stuck: did not close in 0.2 s, stuck at ")
    assert "hangs" in problems[1] and len(problems) == 2


async def test_a_clean_shutdown_reports_nothing() -> None:
    async def ok() -> None:
        await asyncio.sleep(0)

    assert await close_all([("a", ok), ("b", ok)], limit_s=1.0) == []
