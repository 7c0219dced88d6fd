"""Co-browsing through a real server: the page stream, its caps, snapshots and the agent's hands.

The customer side here is the protocol client sending rrweb event batches as the page
script would (tests/browser/test_cobrowse_flow.py drives the real page script); the
server relays them as opaque text, so what arrives must be byte-for-byte what was sent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from recorder import layout
from recorder.cobrowse import files, read_all
from signaling.client import CustomerClient, RequestFailed, StaffClient, join_cobrowse
from signaling.keys import ARCHIVE

from .conftest import StartDesk
from .test_media import accepted_pair, agree
from .test_recording import login, record

pytestmark = pytest.mark.parametrize("store_kind", ["memory"])

FIXTURE = Path(__file__).parent.parent / "fixtures" / "cobrowse" / "shop_events.json"
ENTRIES = {"demo": {"channels": ["chat", "cobrowse"], "cobrowse": {"mask": [".iban"]}}}


def shop_events() -> list[dict[str, Any]]:
    """A real batch rrweb recorded on the demo shop (meta + full snapshot), masked."""
    return json.loads(FIXTURE.read_text())


def pushes(client: StaffClient | CustomerClient, kind: str) -> list[dict[str, Any]]:
    return [m for m in client.inbox if m.get("type") == kind]


USERS = (("agent_ann",), ("agent_bob",), ("qa_quinn", {"role": "qa"}))


async def cobrowsing(start_desk: StartDesk, **sections: Any):
    sections.setdefault("entries", ENTRIES)
    sections.setdefault("users", USERS)
    desk, agent, customer, sid = await accepted_pair(start_desk, **sections)
    await agree(sid, agent, customer, "cobrowse")
    await agent.wait_event(sid, "channel.accepted")
    return desk, agent, customer, sid


async def relayed(agent: StaffClient, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    async def enough() -> None:
        while len(pushes(agent, "cobrowse.events")) < count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(enough(), timeout)
    return pushes(agent, "cobrowse.events")


async def test_the_page_stream_reaches_the_agent_unchanged_and_makes_the_channel_active(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    events = shop_events()
    acks = await customer.send_cobrowse(events, snapshot=True)
    assert [a["part"] for a in acks] == [0]
    await agent.wait_event(sid, "channel.active")
    got = await relayed(agent, 1)
    assert join_cobrowse(got) == [events]
    assert got[0]["snapshot"] is True
    # the customer's own sockets never get the page stream back
    await asyncio.sleep(0.1)
    assert pushes(customer, "cobrowse.events") == []


async def test_the_customer_hello_carries_the_entry_s_masking_rules(start_desk: StartDesk):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    again = CustomerClient(
        customer.http, desk.base, origin=None, session=sid, token=customer.token, info={}
    )
    hello = await again.connect()
    await again.disconnect()
    assert hello["cobrowse"]["mask"] == [".iban"]
    assert hello["cobrowse"]["block"] == []
    assert hello["cobrowse"]["max_batch_bytes"] == 48 * 1024
    assert hello["session"]["channels"]["cobrowse"] == "accepted"
    assert hello["session"]["control"] == ""


async def test_a_big_snapshot_travels_in_parts_and_is_joined(start_desk: StartDesk):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    big = [{"type": 2, "data": {"text": "ü" * 150_000}, "timestamp": 1}]
    acks = await customer.send_cobrowse(big, snapshot=True)
    assert len(acks) >= 7  # 300 kB of UTF-8 in 48 KiB parts
    got = await relayed(agent, len(acks))
    assert join_cobrowse(got) == [big]


async def test_events_need_an_agreed_channel_and_the_customer(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk, entries=ENTRIES)
    with pytest.raises(RequestFailed) as err:
        await customer.send_cobrowse(shop_events(), snapshot=True)
    assert err.value.code == "channel_state"
    await agree(sid, agent, customer, "cobrowse")
    await agent.wait_event(sid, "channel.accepted")
    with pytest.raises(RequestFailed) as err:
        await agent.request(
            "cobrowse.events", session=sid, batch=1, part=0, parts=1, data="[]", snapshot=False
        )
    assert err.value.code == "forbidden"


async def test_a_part_over_the_batch_cap_is_refused_and_the_stream_goes_on(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(start_desk, cobrowse={"max_batch_bytes": 4096})
    with pytest.raises(RequestFailed) as err:
        await customer.request(
            "cobrowse.events", session=sid, batch=1, part=0, parts=1, data="x" * 5000
        )
    assert err.value.code == "cobrowse_limit"
    assert "5000 bytes; the limit is 4096" in err.value.message
    await customer.send_cobrowse(shop_events()[:1], snapshot=True, part_bytes=4096)
    assert len(await relayed(agent, 1)) == 1


async def test_a_stream_past_the_session_cap_stops_co_browsing_with_the_reason(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(
        start_desk, cobrowse={"max_session_bytes": 1024 * 1024}
    )
    chunk = [{"type": 3, "data": {"pad": "y" * 40_000}, "timestamp": 2}]
    with pytest.raises(RequestFailed) as err:
        for _ in range(40):
            await customer.send_cobrowse(chunk)
    assert err.value.code == "cobrowse_limit"
    stopped = await agent.wait_event(sid, "channel.stopped")
    assert "reached 1048576 bytes" in stopped["event"]["data"]["reason"]
    assert stopped["event"]["actor_role"] == "system"
    limit = await agent.wait_event(sid, "cobrowse.limit")
    assert "co-browsing stops" in limit["event"]["data"]["reason"]
    with pytest.raises(RequestFailed) as err:
        await customer.send_cobrowse(chunk)
    assert err.value.code == "channel_state"


async def test_co_browse_frames_use_their_byte_budget_not_the_message_rate(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(
        start_desk, limits={"messages_per_s": 1.0, "message_burst": 5}
    )
    for _ in range(30):  # 30 batches at once: far over 5 messages, well under the bytes
        await customer.send_cobrowse([{"type": 3, "data": {}, "timestamp": 3}])
    assert len(await relayed(agent, 30)) == 30


async def test_a_viewer_asks_for_a_fresh_snapshot_at_most_once_per_interval(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(start_desk, cobrowse={"snapshot_interval_s": 0.5})
    await agent.request("cobrowse.snapshot", session=sid)
    await customer.wait_for(lambda m: m.get("type") == "cobrowse.snapshot", timeout=2)
    await agent.request("cobrowse.snapshot", session=sid)
    await agent.request("cobrowse.snapshot", session=sid)
    # the second and third asks come as one, after the interval
    await customer.wait_for(lambda m: m.get("type") == "cobrowse.snapshot", timeout=2)
    await asyncio.sleep(0.8)
    assert pushes(customer, "cobrowse.snapshot") == []
    outsider = await desk.staff("agent_bob")
    with pytest.raises(RequestFailed) as err:
        await outsider.request("cobrowse.snapshot", session=sid)
    assert (err.value.code, err.value.message) == ("not_found", f"no session {sid}")


async def answer(customer: CustomerClient, sid: str, **result: Any) -> dict[str, Any]:
    """The page's part: take the next command and report what it did."""
    cmd = await customer.wait_for(lambda m: m.get("type") == "cobrowse.command", timeout=3)
    await customer.request("cobrowse.result", session=sid, cmd=cmd["cmd"], **result)
    return cmd


async def test_highlight_needs_no_control_and_is_logged_with_its_selector(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    await agent.request("cobrowse.command", session=sid, cmd="h1", action="highlight", node=42)
    cmd = await answer(customer, sid, ok=True, selector="#place-order")
    assert (cmd["action"], cmd["node"], cmd["name"]) == ("highlight", 42, "Agent Ann")
    logged = await agent.wait_event(sid, "cobrowse.action")
    assert logged["event"]["data"] == {
        "action": "highlight",
        "selector": "#place-order",
        "ok": True,
    }
    assert logged["event"]["actor_id"] == "agent_ann"
    result = await agent.wait_for(lambda m: m.get("type") == "cobrowse.result")
    assert (result["cmd"], result["ok"]) == ("h1", True)


async def test_clicking_and_typing_need_the_customer_s_consent_which_they_take_back(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    with pytest.raises(RequestFailed) as err:
        await agent.request("cobrowse.command", session=sid, cmd="c0", action="click", node=7)
    assert err.value.code == "control_state"
    with pytest.raises(RequestFailed) as err:
        await customer.request("cobrowse.control", session=sid, action="grant")
    assert err.value.code == "control_state"  # nobody asked

    await agent.request("cobrowse.control", session=sid, action="request")
    asked = await customer.wait_event(sid, "cobrowse.control_requested")
    assert asked["event"]["data"]["agent_name"] == "Agent Ann"
    with pytest.raises(RequestFailed) as err:
        await agent.request("cobrowse.command", session=sid, cmd="c1", action="click", node=7)
    assert "not answered" in err.value.message
    reply = await customer.request("cobrowse.control", session=sid, action="grant")
    assert reply["control"] == "granted"

    await agent.request("cobrowse.command", session=sid, cmd="c2", action="click", node=7)
    await answer(customer, sid, ok=True, selector="#add-to-cart")
    await agent.request(
        "cobrowse.command", session=sid, cmd="c3", action="input", node=9, text="Seoul"
    )
    await answer(customer, sid, ok=True, selector="#city")
    await agent.request(
        "cobrowse.command", session=sid, cmd="c4", action="input", node=11, text="hunter2"
    )
    await answer(customer, sid, ok=False, code="masked", masked=True, selector="#password")

    await customer.request("cobrowse.control", session=sid, action="revoke", reason="escape key")
    ended = await agent.wait_event(sid, "cobrowse.control_ended")
    assert ended["event"]["data"] == {"by": "customer", "reason": "escape key"}
    with pytest.raises(RequestFailed) as err:
        await agent.request("cobrowse.command", session=sid, cmd="c5", action="click", node=7)
    assert err.value.code == "control_state"

    await desk.app[ARCHIVE].flush()
    actions = [data for _, kind, data in desk.archive_events(sid) if kind == "cobrowse.action"]
    assert actions == [
        {"action": "click", "selector": "#add-to-cart", "ok": True},
        {"action": "input", "selector": "#city", "ok": True, "text": "Seoul"},
        {"action": "input", "selector": "#password", "ok": False, "code": "masked", "masked": True},
    ]
    assert "hunter2" not in json.dumps(desk.archive_events(sid))


async def test_only_the_assigned_agent_points_and_commands(start_desk: StartDesk):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    await agent.send("cobrowse.pointer", session=sid, node=5, x=0.25, y=0.75)
    ptr = await customer.wait_for(lambda m: m.get("type") == "cobrowse.pointer")
    assert (ptr["node"], ptr["x"], ptr["y"], ptr["name"]) == (5, 0.25, 0.75, "Agent Ann")
    bob = await desk.staff("agent_bob")
    for msg in (
        {"type": "cobrowse.pointer", "node": 5},
        {"type": "cobrowse.command", "cmd": "x", "action": "highlight", "node": 5},
    ):
        with pytest.raises(RequestFailed) as err:
            await bob.request(msg.pop("type"), session=sid, **msg)
        # Ann's session is none of Bob's business: answered as if there were none
        assert (err.value.code, err.value.message) == ("not_found", f"no session {sid}")
    with pytest.raises(RequestFailed) as err:
        await customer.request("cobrowse.result", session=sid, cmd="never-sent", ok=True)
    assert err.value.code == "not_found"


async def test_control_ends_when_co_browsing_stops(start_desk: StartDesk):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    await agent.request("cobrowse.control", session=sid, action="request")
    await customer.wait_event(sid, "cobrowse.control_requested")
    await customer.request("cobrowse.control", session=sid, action="grant")
    await customer.request("channel.stop", session=sid, channel="cobrowse")
    ended = await agent.wait_event(sid, "cobrowse.control_ended")
    assert ended["event"]["data"] == {"reason": "co-browse stopped"}


async def test_the_recording_keeps_the_stream_from_a_full_snapshot_on(start_desk: StartDesk):
    desk, agent, customer, sid = await cobrowsing(start_desk)
    await customer.send_cobrowse(shop_events(), snapshot=True)
    await record(sid, agent, customer)
    # recording started mid-stream: the page is asked for a fresh full snapshot, and the
    # mutations before it are not written (they cannot be replayed without it)
    await customer.wait_for(lambda m: m.get("type") == "cobrowse.snapshot", timeout=3)
    await customer.send_cobrowse([{"type": 3, "data": {"source": 0}, "timestamp": 5}])
    await customer.send_cobrowse(shop_events(), snapshot=True)
    await customer.send_cobrowse([{"type": 3, "data": {"source": 2}, "timestamp": 6}])
    directory = layout.session_dir(desk.cfg.data_path, sid)
    assert len(files(directory)) == 1
    lines = [json.loads(x) for x in read_all(directory).splitlines()]
    assert [(x["snapshot"], x["part"]) for x in lines] == [(True, 0), (False, 0)]
    assert json.loads(lines[0]["data"]) == shop_events()
    assert 0 < lines[0]["t"] < 60  # on the session clock
    await agent.request("recording.stop", session=sid)
    await agent.wait_event(sid, "recording.finished")

    http = await login(desk, "qa_quinn")
    async with http.get(f"{desk.base}/api/recordings/{sid}/files/cobrowse") as resp:
        assert resp.status == 200
        served = await resp.read()
    assert served == read_all(directory)
    async with http.get(f"{desk.base}/api/recordings/{sid}") as resp:
        rec = await resp.json()
    assert rec["cobrowse"] == f"/api/recordings/{sid}/files/cobrowse"
