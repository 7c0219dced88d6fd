"""TURN credentials and the ICE server list a browser is given.

TURN servers configured with ``use_turn_secret`` get short-lived credentials minted by
the TURN REST API scheme that coturn implements (``use-auth-secret`` with
``static-auth-secret``): the username is ``"<expiry unix time>:<user>"`` and the
password is ``base64(HMAC-SHA1(secret, username))``. coturn recomputes the HMAC and
refuses the username once its expiry has passed, so the shared secret itself never
leaves this server. Nothing here does I/O or reads a clock: callers pass ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signaling.config import MediaConfig


def mint(secret: str, user: str, *, ttl_s: float, now: float) -> tuple[str, str]:
    """A ``(username, credential)`` pair valid until ``now + ttl_s`` (Unix seconds).

    ``user`` is an opaque participant id; any ``:`` in it is dropped so that the
    username keeps exactly one separator.
    """
    if not secret:
        raise ValueError("a TURN secret is needed to mint credentials")
    if not ttl_s > 0:
        raise ValueError(f"ttl_s must be positive, not {ttl_s!r}")
    username = f"{int(now + ttl_s)}:{user.replace(':', '')}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers_for(media: MediaConfig, user: str, *, now: float) -> list[dict[str, Any]]:
    """``RTCIceServer`` dictionaries for ``user``'s browser, in configuration order.

    Servers with static credentials carry them; ``use_turn_secret`` servers carry
    credentials minted for ``user`` that expire after ``media.turn_ttl_s``. The TURN
    secret itself is never included.
    """
    minted: tuple[str, str] | None = None
    out: list[dict[str, Any]] = []
    for server in media.ice_servers:
        entry: dict[str, Any] = {"urls": list(server.urls)}
        if server.use_turn_secret:
            if minted is None:
                minted = mint(media.turn_secret, user, ttl_s=media.turn_ttl_s, now=now)
            entry["username"], entry["credential"] = minted
        elif server.username or server.credential:
            entry["username"], entry["credential"] = server.username, server.credential
        out.append(entry)
    return out
