"""The peer link: node-to-node HTTP, for when the store (Redis) is away.

Normally nodes talk only through Redis pub/sub. While Redis is unreachable a node still
knows its peers (from the last heartbeat) and reaches them here instead: each node
listens on a small private HTTP endpoint (``cluster.link_host``/``link_port``, advertised
in its registry record) that takes three kinds of message:

- ``bus``: what would have gone to the node's own bus channel (a forwarded media,
  recording or co-browse frame, a reply to one, a job cancellation);
- ``topic``: what would have been published on a session topic (events and ephemeral
  messages), for this node to fan out to its local sockets;
- ``apply``: a chat message (or a note) for a session this node owns, to be applied here
  while the store cannot take writes (signaling.cluster, "degraded mode").

Every request is signed with the deployment's shared secret (``server.secret``):
``X-Livedesk-Node`` names the sender, ``X-Livedesk-To`` the node it is for, and
``X-Livedesk-Sig`` is an HMAC-SHA256 over both, the timestamp ``X-Livedesk-Time``, a
random ``X-Livedesk-Nonce`` and the body. A request for another node, older than
``MAX_SKEW_S``, with a nonce already seen, or with a wrong signature is refused with 401,
so a captured request cannot be replayed. The traffic itself is not encrypted: the link
is for the nodes' private network (it listens on loopback unless told otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
import structlog
from aiohttp import web

log = structlog.get_logger("livedesk.peerlink")

MAX_SKEW_S = 30.0
MAX_BODY = 1024 * 1024
PATH = "/_livedesk/link"

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""(sender node id, message) -> reply; raises LinkRefused for a message it will not take."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


class LinkRefused(Exception):
    """A peer could not be reached, or refused the message."""


def signature(secret: bytes, node: str, to: str, at: str, nonce: str, body: bytes) -> str:
    mac = hmac.new(secret, f"{node}\n{to}\n{at}\n{nonce}\n".encode(), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


class PeerLink:
    """This node's endpoint for its peers, and its client to theirs."""

    def __init__(
        self,
        node_id: str,
        secret: bytes,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise: str = "",
        timeout_s: float = 3.0,
    ) -> None:
        self.node_id = node_id
        self._secret = secret
        self._handler = handler
        self._host = host
        self._port = port
        self._advertise = advertise
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._nonces: dict[str, float] = {}
        """Nonces seen, with when they may be forgotten (older requests are refused anyway)."""
        self.url = ""
        """Where peers reach this node (empty until started)."""

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(PATH, self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses
        port = int(addresses[0][1]) if addresses else self._port
        wildcard = self._host in ("", "0.0.0.0", "::")  # noqa: S104
        if wildcard and not self._advertise:
            log.warning(
                "the peer link listens on every address but advertises 127.0.0.1:"
                " set cluster.link_advertise for nodes on other machines",
                port=port,
            )
        host = self._advertise or ("127.0.0.1" if wildcard else self._host)
        self.url = f"http://{host}:{port}{PATH}"
        self._http = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ client
    async def send(
        self, url: str, msg: dict[str, Any], *, to: str = "", timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Deliver one message to node ``to``'s link; its reply. LinkRefused if that fails."""
        if self._http is None or not url:
            raise LinkRefused("no link to that node")
        body = _encode(msg)
        at = f"{time.time():.3f}"
        nonce = secrets.token_hex(12)
        headers = {
            "Content-Type": "application/json",
            "X-Livedesk-Node": self.node_id,
            "X-Livedesk-To": to,
            "X-Livedesk-Time": at,
            "X-Livedesk-Nonce": nonce,
            "X-Livedesk-Sig": signature(self._secret, self.node_id, to, at, nonce, body),
        }
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else None
        try:
            async with self._http.post(url, data=body, headers=headers, timeout=timeout) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise LinkRefused(f"peer answered {resp.status}: {raw[:200]!r}")
                return _decode(raw)
        except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as exc:
            raise LinkRefused(f"peer unreachable: {exc!r}") from exc

    # ------------------------------------------------------------ server
    async def _serve(self, request: web.Request) -> web.Response:
        node = request.headers.get("X-Livedesk-Node", "")
        to = request.headers.get("X-Livedesk-To", "")
        at = request.headers.get("X-Livedesk-Time", "")
        nonce = request.headers.get("X-Livedesk-Nonce", "")
        sig = request.headers.get("X-Livedesk-Sig", "")
        body = await request.read()
        now = time.time()
        try:
            fresh = abs(now - float(at)) <= MAX_SKEW_S
        except ValueError:
            fresh = False
        want = signature(self._secret, node, to, at, nonce, body)
        valid = bool(node) and len(nonce) >= 16 and hmac.compare_digest(sig, want)
        if not (valid and fresh and to == self.node_id and nonce not in self._nonces):
            log.warning("peer link request refused", node=node, remote=request.remote)
            return web.json_response({"error": "unauthorized"}, status=401)
        self._remember_nonce(nonce, now)
        try:
            msg = _decode(body)
        except msgspec.DecodeError:
            return web.json_response({"error": "bad_json"}, status=400)
        try:
            reply = await self._handler(node, msg)
        except LinkRefused as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.Response(body=_encode(reply), content_type="application/json")

    def _remember_nonce(self, nonce: str, now: float) -> None:
        if len(self._nonces) > 10_000 or (self._nonces and next(iter(self._nonces.values())) < now):
            self._nonces = {n: t for n, t in self._nonces.items() if t >= now}
        self._nonces[nonce] = now + 2 * MAX_SKEW_S
