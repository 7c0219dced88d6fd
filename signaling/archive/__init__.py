"""The archive: what livedesk keeps for good, behind one interface.

SQLite in the data directory by default (one node); PostgreSQL when ``archive.url``
(``LIVEDESK_DATABASE_URL``) names one, so that every node of a deployment shares it.
See signaling/archive/base.py for the interface.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from signaling.archive.base import (
    POSTGRES,
    SQLITE,
    Archive,
    ArchivedEvent,
    ArchiveError,
    Db,
    Dialect,
    Row,
    User,
)
from signaling.archive.sqlite import SqliteArchive

if TYPE_CHECKING:
    from signaling.config import Config

T = TypeVar("T")

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Archive",
    "ArchiveError",
    "ArchivedEvent",
    "Db",
    "Dialect",
    "Row",
    "SqliteArchive",
    "User",
    "blocking",
    "open_archive",
]


def open_archive(cfg: Config) -> Archive:
    """The archive a configuration asks for (not started yet)."""
    if cfg.archive.url:
        from signaling.archive.postgres import PostgresArchive

        return PostgresArchive(cfg.archive.url, pool_size=cfg.archive.pool_size)
    return SqliteArchive(cfg.archive_path)


def blocking(cfg: Config, fn: Callable[[Archive], Awaitable[T]]) -> T:
    """Open the configured archive (migrating it), run ``fn`` on it, close it; blocking.

    For the CLI and for set-up code that has no event loop of its own, or must not use
    the one it runs in: the work runs on a fresh loop in its own thread.
    """
    result: dict[str, Any] = {}

    async def main() -> None:
        archive = open_archive(cfg)
        await archive.start()
        try:
            result["value"] = await fn(archive)
        finally:
            await archive.close()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=run, name="archive-blocking")
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
