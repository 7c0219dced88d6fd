"""Queue, offer, accept, chat, resume, wrap-up: the whole customer-to-agent path."""

from __future__ import annotations

import asyncio

import pytest

from signaling.auth import mint_customer
from signaling.client import RequestFailed

from .conftest import CUSTOMER_SECRET, StartDesk


def is_queue(m: dict) -> bool:
    return m.get("type") == "queue"


async def accepted_pair(start_desk: StartDesk, **kw):
    desk = await start_desk(**kw)
    agent = await desk.staff("agent_ann")
    customer = await desk.customer(name="Kim", page="https://shop.example/checkout")
    sid = await agent.wait_offer()
    assert sid == customer.session
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")
    return desk, agent, customer, sid


async def test_customer_is_queued_with_position_and_unknown_wait_when_nobody_is_online(
    start_desk: StartDesk,
):
    desk = await start_desk()
    customer = await desk.customer()
    q = await customer.wait_for(is_queue)
    assert q["position"] == 1
    assert q["eta_s"] is None
    assert q["agents_online"] == 0
    assert customer.welcome["session"]["state"] == "queued"


async def test_second_customer_sees_position_two_and_an_estimate(start_desk: StartDesk):
    desk = await start_desk(users=(("agent_ann", {"capacity": 1}),))
    agent = await desk.staff("agent_ann", status="busy")
    first = await desk.customer("first")
    second = await desk.customer("second")
    q = await second.wait_for(lambda m: is_queue(m) and m["position"] == 2)
    assert q["agents_online"] == 1
    assert q["eta_s"] == pytest.approx(2 * desk.cfg.routing.avg_handle_s)
    assert first.session != second.session
    await agent.close()


async def test_queued_customer_is_offered_to_an_available_agent_who_accepts(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    console = await agent.wait_for(
        lambda m: m.get("type") == "console" and any(s["state"] == "active" for s in m["sessions"])
    )
    mine = next(s for s in console["sessions"] if s["session"] == sid)
    assert mine["page"] == "https://shop.example/checkout"
    assert mine["tier"] == "standard"
    assert mine["customer_name"] == "Kim"
    accepted = [e for e in customer.events[sid] if e["event"]["kind"] == "session.accepted"]
    assert accepted[0]["event"]["data"]["agent_name"] == "Agent Ann"


async def test_chat_flows_both_ways_in_order(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agent.say(sid, "Hi Kim, how can I help?")
    await customer.wait_for(
        lambda m: (
            m.get("type") == "event"
            and m["event"]["kind"] == "chat.message"
            and m["event"]["data"]["text"] == "Hi Kim, how can I help?"
        )
    )
    await customer.say("My order is late")
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "My order is late"
    )
    expected = ["Hello, I need help", "Hi Kim, how can I help?", "My order is late"]
    assert customer.chat_texts(sid) == expected
    assert agent.chat_texts(sid) == expected


async def test_typing_indicator_reaches_only_the_other_side(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agent.request("chat.typing", session=sid, typing=True)
    typing = await customer.wait_for(lambda m: m.get("type") == "typing")
    assert typing == {
        "type": "typing",
        "session": sid,
        "role": "agent",
        "name": "Agent Ann",
        "typing": True,
    }
    await asyncio.sleep(0.1)
    assert not [m for m in agent.inbox if m.get("type") == "typing"]


async def test_read_receipt_reaches_the_sender_and_survives_reconnect(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    sent = await agent.say(sid, "Can you see this?")
    await customer.request("chat.receipt", session=sid, seq=sent["seq"], state="read")
    receipt = await agent.wait_for(lambda m: m.get("type") == "receipt")
    assert (receipt["role"], receipt["read"], receipt["delivered"]) == (
        "customer",
        sent["seq"],
        sent["seq"],
    )
    await agent.reconnect()
    marks = await agent.wait_for(lambda m: m.get("type") == "receipts" and m["session"] == sid)
    assert marks["receipts"]["customer"]["read"] == sent["seq"]


async def test_reconnecting_customer_gets_missed_messages_exactly_once(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.say("before the drop")
    await customer.disconnect()
    await agent.say(sid, "missed one")
    await agent.say(sid, "missed two")
    await customer.connect()
    await customer.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "missed two"
    )
    texts = customer.chat_texts(sid)
    assert texts == ["Hello, I need help", "before the drop", "missed one", "missed two"]
    seqs = [e["seq"] for e in customer.events[sid]]
    assert seqs == sorted(set(seqs))


async def test_fresh_page_load_replays_the_whole_history(start_desk: StartDesk):
    """A reloaded page resumes from seq 0 and sees every message once."""
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agent.say(sid, "one")
    await customer.say("two")
    await customer.disconnect()
    customer.last_seq.clear()
    customer.events.clear()
    await customer.connect()
    await customer.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "two"
    )
    assert customer.chat_texts(sid) == ["Hello, I need help", "one", "two"]


async def test_resent_message_with_the_same_client_id_is_not_duplicated(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    first = await customer.say("only once", client_msg_id="c-1")
    again = await customer.say("only once", client_msg_id="c-1")
    assert "seq" in first
    assert again == {"type": "ok", "id": again["id"], "duplicate": True, "client_msg_id": "c-1"}
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "only once"
    )
    await asyncio.sleep(0.1)
    assert agent.chat_texts(sid).count("only once") == 1
    archived = [d["text"] for _, kind, d in desk.archive_events(sid) if kind == "chat.message"]
    assert archived.count("only once") == 1


async def test_wrap_up_tells_the_customer_and_complete_ends_the_session(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agent.say(sid, "Glad I could help")
    await agent.request("session.wrapup", session=sid)
    left = await customer.wait_event(sid, "session.agent_left")
    assert left["event"]["data"]["agent_name"] == "Agent Ann"
    with pytest.raises(RequestFailed) as err:
        await customer.say("are you there?")
    assert err.value.code == "wrong_state"
    await agent.request(
        "session.complete", session=sid, disposition="resolved", notes="refund sent"
    )
    ended = await customer.wait_event(sid, "session.ended")
    assert "notes" not in ended["event"]["data"], "internal notes never reach the customer"
    kinds = [k for _, k, _ in desk.archive_events(sid)]
    assert kinds[-3:] == ["session.agent_left", "session.wrap_up", "session.ended"]
    texts = [d["text"] for _, k, d in desk.archive_events(sid) if k == "chat.message"]
    assert texts == ["Hello, I need help", "Glad I could help"]


async def test_archive_api_returns_the_conversation_to_the_agent_who_served_it(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agent.say(sid, "noted")
    record = await agent.get(f"/api/sessions/{sid}")
    assert record["session"]["agent_id"] == "agent_ann"
    assert [e["data"]["text"] for e in record["events"] if e["kind"] == "chat.message"] == [
        "Hello, I need help",
        "noted",
    ]


async def test_customer_who_leaves_the_queue_ends_the_session_as_abandoned(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer()
    await customer.request("session.leave", session=customer.session)
    ended = await customer.wait_event(customer.session, "session.ended")
    assert ended["event"]["data"]["reason"] == "abandoned"


async def test_customer_leaving_an_active_chat_puts_the_agent_in_wrap_up(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.request("session.leave", session=sid)
    await agent.wait_event(sid, "session.customer_left")
    await agent.wait_event(sid, "session.wrap_up")
    await agent.request("session.complete", session=sid, disposition="customer left")


async def test_premium_customer_is_served_before_an_earlier_standard_one(start_desk: StartDesk):
    desk = await start_desk(users=(("agent_ann", {"capacity": 1}),))
    standard = await desk.customer("standard first")
    token = mint_customer("cust-42", "premium", CUSTOMER_SECRET, name="Lee")
    premium = await desk.customer("premium later", customer_token=token)
    assert premium.info["customer"] == {"id": "cust-42", "name": "Lee", "tier": "premium"}
    agent = await desk.staff("agent_ann")
    assert await agent.wait_offer() == premium.session
    assert standard.session != premium.session


async def test_tier_comes_only_from_a_valid_customer_token(start_desk: StartDesk):
    from signaling.client import HttpError

    desk = await start_desk()
    forged = mint_customer("cust-1", "premium", "not-the-shared-secret-at-all-0123456789")
    with pytest.raises(HttpError) as err:
        await desk.customer(customer_token=forged)
    assert (err.value.status, err.value.code) == (401, "unauthorized")
    assert err.value.message == "customer token signature is invalid"
