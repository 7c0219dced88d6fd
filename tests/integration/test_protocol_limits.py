"""Bad messages, size and rate limits, origins, roles and dead peers on a real socket."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from signaling.client import RequestFailed
from signaling.keys import NODE

from .conftest import StartDesk


def error_reply(m: dict) -> bool:
    return m.get("type") == "error"


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        ("{not json", "bad_json", "message is not valid JSON"),
        ("[1, 2]", "bad_message", "message must be a JSON object with a type"),
        ('{"type": "teleport", "id": "x1"}', "unknown_type", "unknown message type 'teleport'"),
        (
            '{"type": "chat.send", "id": "x2", "session": "s_1"}',
            "bad_message",
            "chat.send: Object missing required field `text`",
        ),
        (
            '{"type": "chat.send", "id": "x3", "session": "s_1", "text": "hi", "extra": 1}',
            "bad_message",
            "chat.send: Object contains unknown field `extra`",
        ),
    ],
)
async def test_bad_message_gets_a_coded_error_and_the_connection_survives(
    start_desk: StartDesk, frame: str, code: str, message: str
):
    desk = await start_desk()
    customer = await desk.customer()
    await customer.send_raw(frame)
    err = await customer.wait_for(error_reply)
    assert (err["code"], err["message"]) == (code, message)
    if '"id"' in frame:
        assert err["id"] == frame.split('"id": "')[1].split('"')[0]
    pong = await customer.request("ping")
    assert pong["type"] == "ok"


async def test_chat_over_16_kib_is_refused_with_too_large(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer()
    with pytest.raises(RequestFailed) as err:
        await customer.say("가" * 6000)  # 18,000 UTF-8 bytes
    assert (err.value.code, err.value.message) == (
        "too_large",
        "chat text is 18000 bytes; the limit is 16384",
    )
    assert (await customer.say("still connected"))["seq"] > 0


async def test_frame_over_the_limit_closes_the_socket_with_1009(start_desk: StartDesk):
    desk = await start_desk(limits={"ws_max_frame_bytes": 32768})
    customer = await desk.customer()
    await customer.send_raw('{"type":"ping","pad":"' + "x" * 40000 + '"}')
    await asyncio.wait_for(customer.closed.wait(), 5)
    assert customer.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_flooding_client_is_throttled_then_closed_with_1008(start_desk: StartDesk):
    desk = await start_desk(
        limits={"messages_per_s": 5.0, "message_burst": 5, "abuse_close_after": 30}
    )
    customer = await desk.customer()
    for _ in range(12):
        await customer.send("ping")
    err = await customer.wait_for(error_reply)
    assert err["code"] == "rate_limited"
    for _ in range(60):
        if customer.closed.is_set():
            break
        await customer.send("ping")
    await asyncio.wait_for(customer.closed.wait(), 5)
    assert customer.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_websocket_from_a_foreign_origin_is_refused_with_403(start_desk: StartDesk):
    desk = await start_desk(server={"allowed_origins": ["https://shop.example"]})
    http = await desk.http()
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(desk.base + "/ws", headers={"Origin": "https://evil.example"})
    assert err.value.status == 403
    ws = await http.ws_connect(desk.base + "/ws", headers={"Origin": "https://shop.example"})
    await ws.close()


async def test_login_post_from_a_foreign_origin_is_refused(start_desk: StartDesk):
    desk = await start_desk()
    http = await desk.http()
    async with http.post(
        desk.base + "/api/login",
        json={"username": "agent_ann", "password": "x"},
        headers={"Origin": "https://evil.example"},
    ) as resp:
        assert resp.status == 403
        body = await resp.json()
    assert body["error"]["code"] == "forbidden"


async def test_nothing_works_before_hello(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer()
    await customer.disconnect()
    ws = await (await desk.http()).ws_connect(desk.base + "/ws")
    await ws.send_json({"type": "chat.send", "id": 1, "session": customer.session, "text": "hi"})
    reply = await ws.receive_json(timeout=5)
    assert (reply["code"], reply["message"]) == ("unauthorized", "send hello first")
    await ws.close()


async def test_silent_socket_is_closed_when_hello_never_comes(start_desk: StartDesk):
    desk = await start_desk(limits={"hello_timeout_s": 0.2})
    ws = await (await desk.http()).ws_connect(desk.base + "/ws")
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_dead_peer_is_dropped_by_the_heartbeat(start_desk: StartDesk):
    desk = await start_desk(limits={"ws_heartbeat_s": 0.2})
    customer = await desk.customer(connect=False)
    http = await desk.http()
    # autoping off: this client never answers pings, like a peer whose network died
    ws = await http.ws_connect(desk.base + "/ws", autoping=False)
    await ws.send_json({"type": "hello", "id": 1, "token": customer.token})
    node = desk.app[NODE]
    for _ in range(100):
        if len(node.connections) == 1:
            break
        await asyncio.sleep(0.02)
    assert len(node.connections) == 1
    for _ in range(150):
        if not node.connections:
            break
        await asyncio.sleep(0.02)
    assert not node.connections
    await ws.close()


async def test_customer_cannot_do_agent_things(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer()
    for type_, fields in [
        ("offer.accept", {"session": customer.session}),
        ("agent.status", {"status": "available"}),
        ("session.wrapup", {"session": customer.session}),
        ("session.watch", {"session": customer.session}),
    ]:
        with pytest.raises(RequestFailed) as err:
            await customer.request(type_, **fields)
        assert err.value.code == "forbidden", type_


async def test_customer_token_only_opens_its_own_session(start_desk: StartDesk):
    desk = await start_desk()
    mine = await desk.customer("mine")
    other = await desk.customer("other")
    with pytest.raises(RequestFailed) as err:
        await mine.request("chat.send", session=other.session, text="peek", client_msg_id="p")
    assert (err.value.code, err.value.message) == ("forbidden", "this token is for another session")
    assert other.chat_texts(other.session) == ["other"]


async def test_customer_hello_with_a_tampered_token_is_refused(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer(connect=False)
    customer.token = customer.token[:-4] + (
        "AAAA" if not customer.token.endswith("AAAA") else "BBBB"
    )
    with pytest.raises(RequestFailed) as err:
        await customer.connect()
    assert (err.value.code, err.value.message) == (
        "unauthorized",
        "participant token signature is invalid",
    )


async def test_logged_out_cookie_no_longer_opens_the_console(start_desk: StartDesk):
    desk = await start_desk()
    ann = await desk.staff("agent_ann", status=None)
    await ann.logout()
    await ann.disconnect()
    with pytest.raises(RequestFailed) as err:
        await ann.connect()
    assert err.value.code == "unauthorized"


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    start_desk: StartDesk,
):
    desk = await start_desk()
    http = await desk.http()
    for username in ("agent_ann", "nobody"):
        async with http.post(
            desk.base + "/api/login", json={"username": username, "password": "wrong"}
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == {
                "code": "unauthorized",
                "message": "wrong username or password",
            }
