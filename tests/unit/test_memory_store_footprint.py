"""What the memory store's logs cost: an entry takes about what it holds."""

from __future__ import annotations

import sys
import tracemalloc

from signaling.interaction import Event
from signaling.store.base import StoredEvent
from signaling.store.memory import _encode


def chat_event(seq: int) -> StoredEvent:
    text = f"message {seq} " + "x" * (40 + seq % 120)
    data = {"text": text, "name": "Ann", "client_msg_id": f"c-{seq}"}
    event = Event("chat.message", 1_796_000_000.0 + seq, "customer", "anon_0123456789ab", data)
    return StoredEvent(session="s_0123456789abcdef", seq=seq, event=event)


def test_an_encoded_log_entry_allocates_no_more_than_its_size():
    events = [chat_event(i) for i in range(2000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [_encode(e) for e in events]
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    size = sum(sys.getsizeof(b) for b in kept) + sys.getsizeof(kept)
    # the encoder's own buffers are larger; kept as they are, they cost ~25% more
    assert allocated <= size * 1.05, (allocated / len(kept), size / len(kept))
