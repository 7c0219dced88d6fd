"""The three ways to escalate, through a real server: bot, customer, agent; and TURN config."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from signaling.client import RequestFailed
from signaling.keys import ARCHIVE

from .conftest import StartDesk
from .test_media import accepted_pair, wait_kind

TURN_SECRET = "coturn-static-auth-secret-for-tests"


def offered(client, sid: str) -> list[dict]:
    return [
        m["event"] for m in client.events.get(sid, []) if m["event"]["kind"] == "channel.offered"
    ]


async def test_the_bot_proposes_a_screen_share_to_both_sides_with_its_reason(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.say("I'm stuck at checkout, can you see this?")
    for side in (customer, agent):
        event = await wait_kind(side, sid, "channel.offered")
        assert event["actor_role"] == "bot"
        assert event["data"]["channel"] == "screen"
        assert event["data"]["origin"] == "bot"
        assert event["data"]["sharer"] == "customer"
        assert "checkout" in event["data"]["reason"]
    # only the customer answers the bot; the agent cannot consent for them
    with pytest.raises(RequestFailed) as err:
        await agent.request("channel.respond", session=sid, channel="screen", accept=True)
    assert err.value.code == "forbidden"
    await customer.request("channel.respond", session=sid, channel="screen", accept=True)
    accepted = await wait_kind(agent, sid, "channel.accepted")
    assert accepted["data"] == {"channel": "screen", "origin": "bot"}


async def test_the_bot_reads_korean(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.say("제 화면을 보여 드릴게요")
    event = await wait_kind(agent, sid, "channel.offered")
    assert event["data"]["channel"] == "screen"
    assert "화면" in event["data"]["reason"]


async def test_the_bot_answers_an_faq_and_proposes_nothing_for_small_talk(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.say("What are your opening hours?")
    answer = await wait_kind(customer, sid, "bot.answer")
    assert answer["actor_role"] == "bot"
    assert "around the clock" in answer["data"]["text"]
    await customer.say("thanks, that is all")
    await customer.say("bye")
    assert offered(agent, sid) == []


async def test_a_customer_declining_the_bot_is_logged_and_the_bot_does_not_nag(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.say("the part is broken")
    await wait_kind(customer, sid, "channel.offered")
    await customer.request("channel.respond", session=sid, channel="video", accept=False)
    declined = await wait_kind(agent, sid, "channel.declined")
    assert declined["data"] == {"channel": "video", "origin": "bot"}
    await desk.app[ARCHIVE].flush()  # the archive writes from its own thread
    archived = [kind for _, kind, _ in desk.archive_events(sid)]
    assert "channel.declined" in archived
    await customer.say("really, the part is broken")
    await customer.say("anyone?")
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "anyone?"
    )
    assert len(offered(agent, sid)) == 1  # asked once; a no is a no


async def test_while_queued_the_bot_notes_a_suggestion_for_the_agent(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer("can you see this?", name="Kim")
    suggestion = await wait_kind(customer, customer.session, "bot.suggested")
    assert suggestion["data"]["channel"] == "screen"
    agent = await desk.staff("agent_ann")
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    seen = await wait_kind(agent, sid, "bot.suggested")
    assert seen["data"]["reason"]


async def test_the_bot_never_proposes_a_channel_the_entry_closes(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(
        start_desk,
        entries={
            "demo": {
                "channels": ["chat", "video", "screen"],
                "rules": {"screen": {"tiers": ["premium"]}},
                "bot": {
                    "rules": [{"channel": "screen", "reason": "see it", "phrases": ["can you see"]}]
                },
            }
        },
    )
    await customer.say("can you see this?")
    await customer.say("hello?")
    await agent.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["data"].get("text") == "hello?"
    )
    assert offered(agent, sid) == []


async def test_the_customer_asks_for_video_with_the_button_and_the_agent_consents(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await customer.request("channel.request", session=sid, channel="video")
    event = await wait_kind(agent, sid, "channel.offered")
    assert event["data"] == {"channel": "video", "origin": "customer"}
    with pytest.raises(RequestFailed) as err:  # nobody consents for themselves
        await customer.request("channel.respond", session=sid, channel="video", accept=True)
    assert err.value.code == "forbidden"
    await agent.request("channel.respond", session=sid, channel="video", accept=True)
    await wait_kind(customer, sid, "channel.accepted")


async def test_the_agent_asks_for_the_customers_screen_or_shares_their_own(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agent.request("channel.request", session=sid, channel="screen", sharer="agent")
    event = await wait_kind(customer, sid, "channel.offered")
    assert event["data"] == {"channel": "screen", "origin": "agent", "sharer": "agent"}
    assert event["actor_id"] == "agent"  # customers never see staff usernames


async def test_media_config_mints_short_lived_turn_credentials_and_never_the_secret(
    start_desk: StartDesk,
):
    desk, agent, customer, sid = await accepted_pair(
        start_desk,
        media={
            "turn_secret": TURN_SECRET,
            "turn_ttl_s": 300,
            "ice_servers": [
                {"urls": ["stun:stun.example.net:3478"]},
                {"urls": ["turn:turn.example.net:3478?transport=udp"], "use_turn_secret": True},
            ],
        },
    )
    before = time.time()
    reply = await customer.request("media.config", session=sid)
    assert TURN_SECRET not in repr(reply)
    stun, turn = reply["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.net:3478"]}
    expiry, user = turn["username"].split(":")
    assert before + 300 - 2 <= int(expiry) <= time.time() + 300
    assert user == reply["you"]
    expected = hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(expected).decode()
    other = await agent.request("media.config", session=sid)
    assert other["ice_servers"][1]["username"] != turn["username"]  # one per participant


async def test_media_needs_an_active_session_and_a_participant(start_desk: StartDesk):
    desk = await start_desk()
    customer = await desk.customer("hello")
    with pytest.raises(RequestFailed) as err:
        await customer.request("media.config", session=customer.session)
    assert err.value.code == "wrong_state"
    agent = await desk.staff("agent_bob")
    with pytest.raises(RequestFailed) as err:
        await agent.request("media.config", session=customer.session)
    assert err.value.code == "not_assigned"
