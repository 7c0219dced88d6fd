"""A token bucket for inbound messages on one connection. Pure: the clock is passed in."""

from __future__ import annotations


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
