"""Many customer sockets held at once by one server (bench/soak.py holds 2,000 for 10
minutes; this is the fast version)."""

from __future__ import annotations

import asyncio

import aiohttp

from signaling.client import CustomerClient

from .conftest import StartDesk

SOCKETS = 300


async def test_300_customer_sockets_are_held_and_each_is_answered(start_desk: StartDesk):
    # every socket comes from 127.0.0.1: the per-address limits would refuse most of them
    desk = await start_desk(limits={"attempts_per_ip_per_s": 0, "ws_per_ip": 0})
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    desk.sessions.append(http)
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> CustomerClient:
        async with gate:
            c = await CustomerClient.start(http, desk.base, entry="demo", text=f"customer {i}")
        desk.clients.append(c)
        return c

    customers = await asyncio.gather(*(one(i) for i in range(SOCKETS)))
    assert len({c.session for c in customers}) == SOCKETS
    replies = await asyncio.gather(*(c.request("ping") for c in customers))
    assert [r["type"] for r in replies] == ["ok"] * SOCKETS
    async with http.get(desk.base + "/metrics") as resp:
        metrics = await resp.text()
    assert f"livedesk_connections {SOCKETS}\n" in metrics
    # with all of them open, chat still goes through
    last = customers[-1]
    reply = await last.say("the last one speaks")
    assert reply["seq"] > 0
    await last.wait_for(
        lambda m: (
            m.get("type") == "event"
            and m["event"]["kind"] == "chat.message"
            and m["event"]["data"]["text"] == "the last one speaks"
        )
    )
    assert not any(c.closed.is_set() for c in customers)


async def test_per_socket_compression_follows_limits_ws_compress(start_desk: StartDesk):
    """Each compressed socket holds its own zlib state: off unless the operator turns it on."""
    on = await start_desk(limits={"ws_compress": True})
    off = await start_desk()
    http = await on.http()
    negotiated = []
    for desk in (on, off):
        ws = await http.ws_connect(desk.base.replace("http", "ws", 1) + "/ws", compress=15)
        negotiated.append(ws.compress)
        await ws.close()
    assert negotiated == [15, 0]
