"""Capacity, offer timeouts, declines, transfers and presence on a real server."""

from __future__ import annotations

import asyncio

import pytest

from signaling.client import RequestFailed
from signaling.keys import DESK, NODE, STORE

from .conftest import StartDesk


def offered_to(msg: dict, agent: str) -> list[str]:
    if msg.get("type") != "console":
        return []
    return [
        s["session"]
        for s in msg["sessions"]
        if s["state"] == "offered" and s["offered_to"] == agent
    ]


async def test_agent_is_offered_no_more_sessions_than_their_capacity(start_desk: StartDesk):
    desk = await start_desk(users=(("agent_ann", {"capacity": 2}),))
    agent = await desk.staff("agent_ann")
    customers = [await desk.customer(f"question {i}") for i in range(3)]
    accepted: list[str] = []
    for _ in range(2):
        # the inbox keeps every console view since hello: an earlier one still offers
        # the session just accepted, so wait for one offering another
        msg = await agent.wait_for(
            lambda m: any(s not in accepted for s in offered_to(m, "agent_ann"))
        )
        sid = next(s for s in offered_to(msg, "agent_ann") if s not in accepted)
        await agent.request("offer.accept", session=sid)
        accepted.append(sid)
    await asyncio.sleep(0.3)
    me = await agent.get("/api/me")
    assert me["capacity"] == 2
    third = customers[2]
    assert (await desk.app[STORE].get_session(third.session)).state == "queued"
    # finishing one chat frees a seat and the third customer is offered
    first = customers[0].session
    await agent.request("session.wrapup", session=first)
    await agent.request("session.complete", session=first)
    await agent.wait_for(lambda m: third.session in offered_to(m, "agent_ann"))


async def test_a_console_view_read_before_an_accept_never_follows_its_reply(
    start_desk: StartDesk,
):
    """A refresh that read the store before the accept was written, and sends after
    the reply, would show the accepted session as offered again (the Accept button
    comes back, and pressing it fails with wrong_state)."""
    desk = await start_desk()
    agent = await desk.staff("agent_ann")
    customer = await desk.customer("hello")
    sid = await agent.wait_offer()
    stale = await desk.app[DESK].console_snapshot()
    assert [s.id for s in stale.sessions if s.state == "offered"] == [sid]
    await agent.request("offer.accept", session=sid)
    agent.inbox.clear()
    for conn in list(desk.app[NODE].connections):
        await conn.refresh_console(stale)
    await agent.send("ping")  # anything the stale view would have come before
    await asyncio.sleep(0.3)
    views = [m for m in agent.inbox if m.get("type") == "console"]
    assert not any(offered_to(m, "agent_ann") for m in views)
    assert (await desk.app[STORE].get_session(customer.session)).state == "active"


async def test_serving_several_sessions_at_once_keeps_their_chats_apart(start_desk: StartDesk):
    desk = await start_desk()
    agent = await desk.staff("agent_ann")
    a = await desk.customer("from a")
    b = await desk.customer("from b")
    for _ in range(2):
        await agent.request("offer.accept", session=await agent.wait_offer())
    await agent.say(a.session, "to a")
    await agent.say(b.session, "to b")
    await a.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "to a"
    )
    await b.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "to b"
    )
    assert a.chat_texts(a.session) == ["from a", "to a"]
    assert b.chat_texts(b.session) == ["from b", "to b"]


async def test_unanswered_offer_moves_to_the_next_agent(start_desk: StartDesk):
    desk = await start_desk(routing={"offer_timeout_s": 0.4})
    ann = await desk.staff("agent_ann")
    customer = await desk.customer()
    assert await ann.wait_offer() == customer.session
    bob = await desk.staff("agent_bob")
    assert await bob.wait_offer(timeout=5) == customer.session
    with pytest.raises(RequestFailed) as err:
        await ann.request("offer.accept", session=customer.session)
    assert err.value.code == "not_assigned"
    await bob.request("offer.accept", session=customer.session)
    accepted = await customer.wait_event(customer.session, "session.accepted")
    assert accepted["event"]["data"]["agent_name"] == "Agent Bob"


async def test_declined_offer_goes_to_another_agent(start_desk: StartDesk):
    desk = await start_desk()
    ann = await desk.staff("agent_ann")
    bob = await desk.staff("agent_bob", status="away")
    customer = await desk.customer()
    assert await ann.wait_offer() == customer.session
    await bob.set_status("available")
    await ann.request("offer.decline", session=customer.session)
    assert await bob.wait_offer() == customer.session


async def test_transfer_to_an_agent_carries_the_whole_history(start_desk: StartDesk):
    desk = await start_desk()
    ann = await desk.staff("agent_ann")
    customer = await desk.customer("billing question")
    sid = await ann.wait_offer()
    await ann.request("offer.accept", session=sid)
    await ann.say(sid, "let me find a billing expert")
    bob = await desk.staff("agent_bob")
    await ann.request("session.transfer", session=sid, to_agent="agent_bob")
    assert await bob.wait_offer() == sid
    await bob.request("offer.accept", session=sid)
    await bob.wait_event(sid, "session.transferred")
    assert bob.chat_texts(sid) == ["billing question", "let me find a billing expert"]
    await bob.say(sid, "Bob from billing here")
    joined = [e for e in customer.events[sid] if e["event"]["kind"] == "session.accepted"]
    await customer.wait_for(
        lambda m: (
            m.get("type") == "event" and m["event"]["data"].get("text") == "Bob from billing here"
        )
    )
    assert joined[-1]["event"]["data"]["agent_name"] in ("Agent Ann", "Agent Bob")
    with pytest.raises(RequestFailed) as err:
        await ann.say(sid, "still here?")
    assert err.value.code == "not_assigned"


async def test_transfer_to_a_queue_requeues_for_agents_with_that_skill(start_desk: StartDesk):
    desk = await start_desk(users=(("agent_ann",), ("agent_bob", {"skills": ("billing",)})))
    ann = await desk.staff("agent_ann")
    customer = await desk.customer()
    sid = await ann.wait_offer()
    await ann.request("offer.accept", session=sid)
    bob = await desk.staff("agent_bob")
    await ann.request("session.transfer", session=sid, to_queue="billing")
    assert await bob.wait_offer() == sid
    await bob.request("offer.accept", session=sid)
    assert bob.chat_texts(sid)[0] == "Hello, I need help"
    assert customer.session == sid


async def test_transfer_to_an_agent_at_capacity_is_refused(start_desk: StartDesk):
    desk = await start_desk(users=(("agent_ann",), ("agent_bob", {"capacity": 1})))
    bob = await desk.staff("agent_bob")
    await desk.customer("for bob")
    await bob.request("offer.accept", session=await bob.wait_offer())
    ann = await desk.staff("agent_ann")
    customer = await desk.customer("for ann")
    sid = await ann.wait_offer()
    assert sid == customer.session
    await ann.request("offer.accept", session=sid)
    with pytest.raises(RequestFailed) as err:
        await ann.request("session.transfer", session=sid, to_agent="agent_bob")
    assert (err.value.code, err.value.message) == ("capacity", "Agent Bob has no free capacity")


async def test_agent_who_disconnects_goes_offline_after_the_grace_period(start_desk: StartDesk):
    desk = await start_desk()
    ann = await desk.staff("agent_ann")
    sup = await desk.staff("agent_bob", status=None)
    await ann.close()
    msg = await sup.wait_for(
        lambda m: (
            m.get("type") == "console"
            and any(a["id"] == "agent_ann" and a["status"] == "offline" for a in m["agents"])
        ),
        timeout=5,
    )
    assert msg["me"]["id"] == "agent_bob"


async def test_supervisor_sees_every_queue_and_agent(start_desk: StartDesk):
    desk = await start_desk(
        users=(("agent_ann", {"skills": ("billing",)}), ("sue", {"role": "supervisor"}))
    )
    await desk.staff("agent_ann", status="away")
    customer = await desk.customer()
    sue = await desk.staff("sue", status=None)
    overview = await sue.get("/api/overview")
    assert [q["session"] for q in overview["queue"]] == [customer.session]
    assert {a["id"]: a["status"] for a in overview["agents"]}["agent_ann"] == "away"
    ann = desk.clients[0]
    from signaling.client import HttpError

    with pytest.raises(HttpError) as err:
        await ann.get("/api/overview")
    assert err.value.status == 403


async def test_supervisor_can_watch_a_session_without_taking_part(start_desk: StartDesk):
    desk = await start_desk(users=(("agent_ann",), ("sue", {"role": "supervisor"})))
    ann = await desk.staff("agent_ann")
    customer = await desk.customer()
    sid = await ann.wait_offer()
    await ann.request("offer.accept", session=sid)
    sue = await desk.staff("sue", status=None)
    await sue.request("session.watch", session=sid)
    await ann.say(sid, "watched line")
    await sue.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "watched line"
    )
    with pytest.raises(RequestFailed) as err:
        await sue.say(sid, "I am not assigned")
    assert err.value.code == "not_assigned"
    assert customer.session == sid


async def test_supervisor_who_is_available_serves_like_an_agent(start_desk: StartDesk):
    desk = await start_desk(users=(("sue", {"role": "supervisor"}),))
    sue = await desk.staff("sue")
    customer = await desk.customer()
    sid = await sue.wait_offer()
    await sue.request("offer.accept", session=sid)
    await sue.say(sid, "Supervisor Sue here")
    await customer.wait_for(
        lambda m: (
            m.get("type") == "event" and m["event"]["data"].get("text") == "Supervisor Sue here"
        )
    )
    await sue.request("session.wrapup", session=sid)
    await sue.request("session.complete", session=sid, disposition="resolved")


async def test_agent_stops_receiving_a_chat_once_it_is_transferred_away(start_desk: StartDesk):
    desk = await start_desk()
    ann = await desk.staff("agent_ann")
    customer = await desk.customer("private question")
    sid = await ann.wait_offer()
    await ann.request("offer.accept", session=sid)
    bob = await desk.staff("agent_bob")
    await ann.request("session.transfer", session=sid, to_agent="agent_bob")
    await bob.request("offer.accept", session=await bob.wait_offer())
    await ann.wait_for(
        lambda m: m.get("type") == "console" and not any(s["session"] == sid for s in m["sessions"])
    )
    await customer.say("only for Bob")
    await bob.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "only for Bob"
    )
    await asyncio.sleep(0.2)
    assert "only for Bob" not in ann.chat_texts(sid)


async def test_customer_being_offered_is_told_an_agent_is_being_connected(start_desk: StartDesk):
    desk = await start_desk()
    await desk.staff("agent_ann")
    customer = await desk.customer()
    q = await customer.wait_for(lambda m: m.get("type") == "queue" and m["position"] == 0)
    assert q["eta_s"] == 0
