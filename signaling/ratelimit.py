"""Token buckets for inbound messages, per connection and per participant. Pure: the clock
is passed in."""

from __future__ import annotations

import math
from collections import OrderedDict


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; each message takes one."""

    __slots__ = ("_last", "_tokens", "burst", "rate", "refused")

    def __init__(self, *, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now
        self.refused = 0

    def take(self, now: float, cost: float = 1.0) -> bool:
        """True when the message may pass; counts refusals for abuse detection."""
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        self.refused += 1
        return False

    def full(self, now: float) -> bool:
        """True when the bucket has filled up again (the client kept quiet long enough)."""
        return self._tokens + (now - self._last) * self.rate >= self.burst

    def wait_s(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there again (as of the last ``take``)."""
        return max(0.0, (cost - self._tokens) / self.rate) if self.rate > 0 else math.inf


class ParticipantBuckets:
    """One message bucket per participant, shared by all of its connections.

    A client that reconnects gets its bucket back instead of a fresh burst, and the
    refusals it piled up stay counted. The least recently seen are forgotten past
    ``max_keys``. Pure: the clock is passed in.
    """

    def __init__(self, *, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._max = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def get(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate=self.rate, burst=self.burst, now=now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def __len__(self) -> int:
        return len(self._buckets)
