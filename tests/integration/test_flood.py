"""A flooding client is throttled and closed while everyone else is served.

bench/flood.py measures how much the others notice; these only pin the behaviour.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from signaling.client import CustomerClient, RequestFailed
from signaling.keys import STORE

from .conftest import StartDesk

FRAMES = 500
"""Frames one flood connection sends, without waiting for anything: far more than the
burst plus the refusals after which the server closes it (the limits below)."""


async def flood_once(http: aiohttp.ClientSession, base: str, flooder: CustomerClient) -> tuple:
    """One connection with the flooder's token: hello and ``FRAMES`` chat frames at once,
    then wait for the server to close it. Returns (close code, error codes seen)."""
    ws = await http.ws_connect(base.replace("http", "ws", 1) + "/ws")
    codes: list[str] = []

    async def read() -> None:
        async for m in ws:
            if m.type == aiohttp.WSMsgType.TEXT and m.json().get("type") == "error":
                codes.append(m.json()["code"])

    reader = asyncio.create_task(read())
    await ws.send_json({"type": "hello", "token": flooder.token, "resume": {}})
    frame = {"type": "chat.send", "session": flooder.session, "text": "flood"}
    for sent in range(FRAMES):
        if reader.done():
            break
        try:
            await ws.send_json(frame)
        except (ConnectionError, RuntimeError):
            break
        if sent % 50 == 0:
            await asyncio.sleep(0)  # let the others (and the reader) run
    # a server that does not close it fails the test here
    await asyncio.wait_for(reader, 15)
    return ws.close_code, codes


async def test_while_one_client_floods_the_others_are_answered_and_it_is_closed_with_1008(
    start_desk: StartDesk,
):
    desk = await start_desk(
        limits={"messages_per_s": 20.0, "message_burst": 20, "abuse_close_after": 40}
    )
    agent = await desk.staff("agent_ann")
    customer = await desk.customer("I have a question")
    session = await agent.wait_offer()
    await agent.request("offer.accept", session=session)
    flooder = await desk.customer("flood", connect=False)
    http = await desk.http()
    stop = asyncio.Event()

    async def keep_flooding() -> list[tuple]:
        out = []
        while not stop.is_set():  # it connects again as soon as it is closed
            out.append(await flood_once(http, desk.base, flooder))
        return out

    flooding = asyncio.create_task(keep_flooding())
    try:
        for i in range(6):
            assert (await customer.request("ping"))["type"] == "ok"
            await customer.say(f"still here {i}")
            await agent.wait_for(
                lambda m, i=i: (
                    m.get("type") == "event"
                    and m["event"]["kind"] == "chat.message"
                    and m["event"]["data"]["text"] == f"still here {i}"
                )
            )
            assert (await agent.request("ping"))["type"] == "ok"
    finally:
        stop.set()
        connections = await asyncio.wait_for(flooding, 30)
    assert connections
    assert [code for code, _ in connections] == [aiohttp.WSCloseCode.POLICY_VIOLATION] * len(
        connections
    )
    # each was told why before the close: the first once throttled, the ones after it
    # at hello, since the participant's bucket had not filled up again
    assert all("rate_limited" in codes for _, codes in connections), connections
    assert not customer.closed.is_set() and not agent.closed.is_set()


async def test_reconnecting_gives_a_flooder_no_fresh_burst(start_desk: StartDesk):
    """Before buckets were kept per participant, every new socket let another burst in."""
    burst = 10
    desk = await start_desk(
        limits={"messages_per_s": 1.0, "message_burst": burst, "abuse_close_after": 40}
    )
    flooder = await desk.customer("opening line", connect=False)
    http = await desk.http()
    first = await flood_once(http, desk.base, flooder)
    again = await flood_once(http, desk.base, flooder)
    assert first[0] == again[0] == aiohttp.WSCloseCode.POLICY_VIOLATION
    events = await desk.app[STORE].events_since(flooder.session, 0)
    floods = [
        e for e in events if e.event.kind == "chat.message" and e.event.data["text"] == "flood"
    ]
    # the burst, plus what the rate refilled meanwhile (at 1/s: a second or two at most)
    assert len(floods) <= burst + 3
    # refused at hello with a code, then closed
    with pytest.raises(RequestFailed) as err:
        await flooder.connect()
    assert err.value.code == "rate_limited"
    await asyncio.wait_for(flooder.closed.wait(), 5)
    assert flooder.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_a_replay_longer_than_the_send_queue_reaches_a_client_that_reads(
    start_desk: StartDesk,
):
    """Resuming from 0 a log longer than ``limits.send_queue`` sends all of it (it used to
    overflow the queue at once and close the client with 1013 as too slow)."""
    desk = await start_desk(limits={"send_queue": 16, "messages_per_s": 1000.0})
    customer = await desk.customer("first")
    texts = [f"line {i}" for i in range(40)]
    for text in texts:
        await customer.say(text)
    before = customer.chat_texts(customer.session)
    assert before[-40:] == texts
    customer.last_seq.clear()
    customer.events.clear()
    await customer.reconnect()
    assert (await customer.request("ping"))["type"] == "ok"
    assert customer.chat_texts(customer.session) == before
    assert not customer.closed.is_set()
