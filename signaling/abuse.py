"""How often one address or one account may try: the limits that keep a flood out.

- **Per address** (``AddressLimits``, in each process): connection attempts (WebSocket
  upgrades, new sessions, logins, call-back and message forms) pass a token bucket per
  client address, and the WebSockets one address holds open at once are capped. Past
  either, the client gets 429 with ``Retry-After`` before any state is touched.
- **Login back-off** (``backoff_s``): after ``free`` failed logins in a row for an account
  (or many more from one address), each further attempt must wait twice as long as the
  last, up to a cap; the counts live in the store, so every node enforces them.

The arithmetic is pure (the clock is passed in); the server wires it (signaling/http_api.py
and signaling/ws.py).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict

from signaling.ratelimit import TokenBucket


class AddressLimits:
    """Attempt buckets and open-socket counts per client address."""

    def __init__(
        self,
        *,
        attempts_per_s: float,
        attempt_burst: int,
        sockets: int,
        now: float,
        max_addresses: int = 100_000,
    ) -> None:
        self.attempts_per_s = attempts_per_s
        self.attempt_burst = attempt_burst
        self.sockets = sockets
        """At most this many WebSockets open per address; 0: no cap."""
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._open: dict[str, int] = {}
        self._max = max_addresses
        self.refused = 0

    def attempt(self, address: str, now: float) -> float:
        """0 when an attempt from ``address`` may go on, else the seconds to wait."""
        if self.attempts_per_s <= 0:
            return 0.0
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = TokenBucket(rate=self.attempts_per_s, burst=self.attempt_burst, now=now)
            self._buckets[address] = bucket
            if len(self._buckets) > self._max:  # the least recently seen go first
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        if bucket.take(now):
            return 0.0
        self.refused += 1
        return bucket.wait_s()

    def open(self, address: str) -> bool:
        """Count a socket opened from ``address``; False (and not counted) past the cap."""
        held = self._open.get(address, 0)
        if self.sockets and held >= self.sockets:
            self.refused += 1
            return False
        self._open[address] = held + 1
        return True

    def close(self, address: str) -> None:
        held = self._open.get(address, 0) - 1
        if held > 0:
            self._open[address] = held
        else:
            self._open.pop(address, None)

    def held(self, address: str) -> int:
        return self._open.get(address, 0)


def backoff_s(failures: int, *, free: int, cap: float) -> float:
    """How long after the last failure another attempt must wait: none for the first
    ``free`` failures, then 1, 2, 4 ... seconds, never more than ``cap``."""
    if failures < free:
        return 0.0
    return float(min(cap, 2.0 ** min(failures - free, 32)))


def wait_left(failures: int, last_failure_at: float, now: float, *, free: int, cap: float) -> int:
    """Whole seconds still to wait before trying again (0: go ahead)."""
    left = backoff_s(failures, free=free, cap=cap) - (now - last_failure_at)
    return max(0, math.ceil(left)) if left > 0 else 0


def client_address(remote: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The client's address: the connection's peer, or, when that peer is one of the
    ``trusted`` proxies (CIDRs), the last address before them in ``X-Forwarded-For``."""
    peer = remote or "?"
    if not trusted or not forwarded_for:
        return peer
    nets = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def is_trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in nets)

    if not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):  # the right-most address no trusted proxy added
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
