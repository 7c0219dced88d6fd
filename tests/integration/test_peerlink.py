"""The peer link between nodes: real HTTP on loopback, signed with the shared secret."""

from __future__ import annotations

import secrets
import time
from typing import Any

import aiohttp
import pytest

from signaling.peerlink import PATH, LinkRefused, PeerLink, signature

SECRET = b"peer-link-test-secret-0123456789abcdef"


async def _echo(sender: str, msg: dict[str, Any]) -> dict[str, Any]:
    if msg.get("k") == "nope":
        raise LinkRefused("not this")
    return {"from": sender, "got": msg}


@pytest.fixture
async def links() -> Any:
    a = PeerLink("node-a", SECRET, _echo)
    b = PeerLink("node-b", SECRET, _echo)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_signed_message_reaches_the_peer_and_its_reply_comes_back(links: Any) -> None:
    a, b = links
    assert b.url.startswith("http://127.0.0.1:") and b.url.endswith(PATH)
    reply = await a.send(b.url, {"k": "bus", "m": {"x": "ünïcode"}}, to="node-b")
    assert reply == {"from": "node-a", "got": {"k": "bus", "m": {"x": "ünïcode"}}}


async def test_a_message_the_peer_refuses_is_link_refused(links: Any) -> None:
    a, b = links
    with pytest.raises(LinkRefused, match="409"):
        await a.send(b.url, {"k": "nope"}, to="node-b")


async def test_a_peer_that_does_not_answer_is_link_refused_quickly(links: Any) -> None:
    from .nodes import free_port

    a, _ = links
    started = time.monotonic()
    with pytest.raises(LinkRefused, match="unreachable"):
        await a.send(f"http://127.0.0.1:{free_port()}{PATH}", {"k": "bus"}, to="node-x")
    assert time.monotonic() - started < 3.5


def signed(
    body: bytes,
    *,
    to: str = "node-b",
    node: str = "node-a",
    secret: bytes = SECRET,
    at: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    at = at if at is not None else f"{time.time():.3f}"
    nonce = nonce if nonce is not None else secrets.token_hex(12)
    return {
        "X-Livedesk-Node": node,
        "X-Livedesk-To": to,
        "X-Livedesk-Time": at,
        "X-Livedesk-Nonce": nonce,
        "X-Livedesk-Sig": signature(secret, node, to, at, nonce, body),
    }


@pytest.mark.parametrize(
    "forge",
    [
        "no headers",
        "wrong secret",
        "other sender",
        "stale",
        "changed body",
        "bad time",
        "short nonce",
    ],
)
async def test_unsigned_forged_stale_or_altered_requests_are_refused(
    links: Any, forge: str
) -> None:
    _, b = links
    body = b'{"k":"apply","s":"s_x"}'
    headers = signed(
        body,
        secret=b"x" * 32 if forge == "wrong secret" else SECRET,
        at=f"{time.time() - 120:.3f}" if forge == "stale" else None,
        nonce="abc" if forge == "short nonce" else None,
    )
    if forge == "other sender":
        headers["X-Livedesk-Node"] = "node-evil"
    if forge == "changed body":
        body = b'{"k":"apply","s":"s_y"}'
    if forge == "bad time":
        headers["X-Livedesk-Time"] = "soon"
    if forge == "no headers":
        headers = {}
    async with aiohttp.ClientSession() as http:
        async with http.post(b.url, data=body, headers=headers) as r:
            assert r.status == 401, forge


async def test_a_captured_request_cannot_be_replayed_or_sent_to_another_node(
    links: Any,
) -> None:
    a, b = links
    body = b'{"k":"bus","m":{}}'
    headers = signed(body, to="node-b")
    async with aiohttp.ClientSession() as http:
        async with http.post(b.url, data=body, headers=headers) as r:
            assert r.status == 200
        async with http.post(b.url, data=body, headers=headers) as r:
            assert r.status == 401, "the same request twice"
        # signed for b, sent to a: refused there
        async with http.post(a.url, data=body, headers=signed(body, to="node-b")) as r:
            assert r.status == 401
