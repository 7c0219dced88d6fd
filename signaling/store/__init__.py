"""Live state behind one interface: sessions, their event logs, presence, pub/sub.

``MemoryStore`` serves one process; ``RedisStore`` serves several processes or nodes.
Both pass the same contract tests (tests/integration/test_store_contract.py).
"""

from signaling.store.base import Envelope, SessionUpdate, Store, StoredEvent
from signaling.store.memory import MemoryStore

__all__ = ["Envelope", "MemoryStore", "SessionUpdate", "Store", "StoredEvent", "open_store"]


def open_store(redis_url: str, *, key_prefix: str = "livedesk") -> Store:
    """The store a configuration asks for: Redis when a URL is given, else memory."""
    if redis_url:
        from signaling.store.redis import RedisStore

        return RedisStore(redis_url, key_prefix=key_prefix)
    return MemoryStore()
