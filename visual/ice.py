"""Which local addresses ICE offers as host candidates.

aioice gathers a host candidate on every interface except loopback. A server that must
stay on loopback (tests) or on one interface (a host with a public and a private
address) sets ``media.host_addresses``; this applies it to the whole process, because
aioice reads its address list from one module-level function.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration

_ORIGINAL: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_allowed: tuple[str, ...] = ()


def _configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    out = []
    for addr in _allowed:
        version = ipaddress.ip_address(addr).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            out.append(addr)
    return out


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Offer only ``addresses`` as host candidates; an empty list restores aioice's default."""
    global _allowed
    for addr in addresses:
        ipaddress.ip_address(addr)  # ValueError on anything that is not an IP address
    _allowed = tuple(addresses)
    aioice.ice.get_host_addresses = _configured if _allowed else _ORIGINAL  # type: ignore[assignment]


def host_addresses() -> tuple[str, ...]:
    """The configured restriction (empty: none)."""
    return _allowed


def rtc_configuration() -> RTCConfiguration:
    """The peer-connection settings livedesk uses on both ends of its own connections.

    - No STUN server: aiortc's default is a public Google server, which a server (and
      a test on loopback) must not depend on.
    - ``max-bundle``: with aiortc's default (``balanced``), a second media section of
      the same kind reuses the first one's transport before BUNDLE is applied, keeps
      it after, and never sends (aiortc 1.16). Sessions carry two video sections
      (camera and screen) and audio both ways, so every section must share one
      transport from the start.
    """
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
