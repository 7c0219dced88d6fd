"""Entry rules on a real server: availability, refusals at start and upgrade, CORS, fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.auth import mint_customer
from signaling.client import HttpError, RequestFailed

from .conftest import CUSTOMER_SECRET, StartDesk

SHOP = "https://shop.example"
TUESDAY_10_SEOUL = "2026-11-24T10:00:00+09:00"
TUESDAY_20_SEOUL = "2026-11-24T20:00:00+09:00"
HANGUL_DAY_10_SEOUL = "2026-10-09T10:00:00+09:00"  # a Friday, a public holiday in Korea

VIDEO_ENTRY = {
    "title": "Video help",
    "channels": ["chat", "video"],
    "rules": {"video": {"tiers": ["premium", "loyalty", "high_value"]}},
    "timezone": "Asia/Seoul",
    "hours": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays_country": "KR",
    "pages_include": [f"{SHOP}/*"],
    "pages_exclude": [f"{SHOP}/admin/*"],
    "site_origins": [SHOP],
}


async def video_desk(start_desk: StartDesk, now: str = TUESDAY_10_SEOUL, **entry: Any):
    return await start_desk(entries={"demo": {**VIDEO_ENTRY, **entry}}, testing={"fixed_now": now})


async def availability(desk, page: str, token: str | None = None, origin: str | None = None):
    http = await desk.http()
    headers = {"Accept-Language": "en"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if origin:
        headers["Origin"] = origin
    async with http.get(
        desk.base + "/api/entry/demo/availability", params={"page": page}, headers=headers
    ) as resp:
        return resp.status, dict(resp.headers), await resp.json()


def token(tier: str) -> str:
    return mint_customer(f"c-{tier}", tier, CUSTOMER_SECRET, ttl_s=300)


async def test_premium_customer_in_hours_sees_chat_and_video(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    status, _, body = await availability(desk, f"{SHOP}/orders/1", token("premium"))
    assert status == 200
    assert body["offered"] == ["chat", "video"]
    assert body["channels"]["chat"]["open"] and body["channels"]["video"]["open"]
    assert body["channels"]["video"]["label"] == "Video help"
    assert body["tier"] == "premium"


async def test_standard_customer_is_told_video_is_for_premium_members(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    _, _, body = await availability(desk, f"{SHOP}/orders/1", token("standard"))
    video = body["channels"]["video"]
    assert (video["open"], video["reason"]) == (False, "tier")
    assert video["message"] == "This is available to premium, loyalty, high_value members."
    assert body["channels"]["chat"]["open"] is True


async def test_outside_hours_every_channel_says_when_it_opens(start_desk: StartDesk):
    desk = await video_desk(start_desk, now=TUESDAY_20_SEOUL)
    _, _, body = await availability(desk, f"{SHOP}/orders/1", token("premium"))
    chat = body["channels"]["chat"]
    assert (chat["open"], chat["reason"]) == (False, "closed_hours")
    assert chat["message"] == "We are closed. We open Wed 09:00 (Asia/Seoul time)."
    assert chat["next_change"].startswith("2026-11-25T00:00:00")


async def test_a_korean_public_holiday_closes_the_entry(start_desk: StartDesk):
    desk = await video_desk(start_desk, now=HANGUL_DAY_10_SEOUL)
    _, _, body = await availability(desk, f"{SHOP}/orders/1")
    chat = body["channels"]["chat"]
    assert chat["reason"] == "holiday"
    assert chat["message"].startswith("We are closed for Hangul Day.")


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (f"{SHOP}/admin/users", "page_excluded"),
        ("https://elsewhere.example/", "page_not_included"),
    ],
)
async def test_page_rules_close_every_channel(start_desk: StartDesk, page: str, reason: str):
    desk = await video_desk(start_desk)
    _, _, body = await availability(desk, page)
    assert {c["reason"] for c in body["channels"].values() if c["open"] is False} >= {reason}
    assert not any(c["open"] for c in body["channels"].values())


async def test_needs_agent_channel_opens_when_an_agent_becomes_available(start_desk: StartDesk):
    desk = await video_desk(
        start_desk, rules={"video": {"tiers": ["premium"], "needs_agent": True}}
    )
    _, _, before = await availability(desk, f"{SHOP}/x", token("premium"))
    assert before["channels"]["video"]["reason"] == "no_agent"
    await desk.staff("agent_ann")
    _, _, after = await availability(desk, f"{SHOP}/x", token("premium"))
    assert after["channels"]["video"]["open"] is True


async def test_full_queue_makes_the_entry_busy(start_desk: StartDesk):
    desk = await video_desk(start_desk, max_queue=1)
    await desk.customer(page=f"{SHOP}/x")
    _, _, body = await availability(desk, f"{SHOP}/x")
    assert body["channels"]["chat"]["reason"] == "busy"


async def test_session_start_is_refused_outside_hours_even_if_the_page_is_forged(
    start_desk: StartDesk,
):
    desk = await video_desk(start_desk, now=TUESDAY_20_SEOUL)
    with pytest.raises(HttpError) as err:
        await desk.customer(page=f"{SHOP}/orders/1")
    assert (err.value.status, err.value.code) == (403, "policy")
    assert err.value.message == "We are closed. We open Wed 09:00 (Asia/Seoul time)."


async def test_edited_tier_cannot_start_a_video_session(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    http = await desk.http()
    async with http.post(
        desk.base + "/api/sessions",
        json={"entry": "demo", "text": "video please", "page": f"{SHOP}/x", "channel": "video"},
        headers={"Authorization": f"Bearer {token('standard')}"},
    ) as resp:
        body = await resp.json()
    assert resp.status == 403
    assert body["error"]["code"] == "policy"
    assert body["error"]["reason"] == "tier"


async def test_channel_upgrade_is_checked_against_the_rules_again(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    agent = await desk.staff("agent_ann")
    customer = await desk.customer(page=f"{SHOP}/x", customer_token=token("standard"))
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    with pytest.raises(RequestFailed) as err:
        await customer.request("channel.request", session=sid, channel="video")
    assert err.value.code == "policy"
    assert err.value.message == "This is available to premium, loyalty, high_value members."
    with pytest.raises(RequestFailed) as err:
        await agent.request("channel.request", session=sid, channel="video")
    assert err.value.code == "policy"


async def test_premium_customer_can_be_upgraded_to_video(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    agent = await desk.staff("agent_ann")
    customer = await desk.customer(page=f"{SHOP}/x", customer_token=token("premium"))
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    await agent.request("channel.request", session=sid, channel="video")
    await customer.request("channel.respond", session=sid, channel="video", accept=True)
    await customer.wait_event(sid, "channel.accepted")


async def test_cors_answers_the_entry_sites_only(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    _, headers, _ = await availability(desk, f"{SHOP}/x", origin=SHOP)
    assert headers["Access-Control-Allow-Origin"] == SHOP
    _, headers, _ = await availability(desk, f"{SHOP}/x", origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in headers
    http = await desk.http()
    async with http.options(
        desk.base + "/api/entry/demo/availability",
        headers={"Origin": SHOP, "Access-Control-Request-Headers": "authorization"},
    ) as resp:
        assert resp.status == 204
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


async def test_forged_customer_token_on_availability_is_401(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    forged = mint_customer("c", "premium", "x" * 40, ttl_s=60)
    status, _, body = await availability(desk, f"{SHOP}/x", forged, origin=SHOP)
    assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_callback_request_is_stored_and_listed_for_agents(start_desk: StartDesk):
    desk = await video_desk(start_desk, now=TUESDAY_20_SEOUL)
    agent = await desk.staff("agent_ann")
    http = await desk.http()
    async with http.post(
        desk.base + "/api/entry/demo/callback",
        json={
            "name": "Mina Park",
            "contact": "+82 10-1234-5678",
            "preferred_time": "after 9",
            "page": f"{SHOP}/x",
        },
        headers={"Origin": SHOP},
    ) as resp:
        assert resp.status == 201
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP
        created = await resp.json()
    await agent.wait_for(lambda m: m.get("type") == "console" and m["fallbacks_version"] >= 1)
    items = (await agent.get("/api/fallbacks"))["items"]
    assert [(i["id"], i["kind"], i["name"], i["contact"]) for i in items] == [
        (created["id"], "callback", "Mina Park", "+82 10-1234-5678")
    ]


async def test_message_left_and_marked_handled(start_desk: StartDesk):
    desk = await video_desk(start_desk, now=TUESDAY_20_SEOUL)
    agent = await desk.staff("agent_ann")
    http = await desk.http()
    async with http.post(
        desk.base + "/api/entry/demo/message",
        json={"name": "Lee", "contact": "lee@example.com", "text": "Please call me"},
    ) as resp:
        item = await resp.json()
    async with http.post(
        desk.base + f"/api/fallbacks/{item['id']}/handled",
        headers={"Cookie": agent.cookie},
    ) as resp:
        assert resp.status == 200
    assert (await agent.get("/api/fallbacks"))["items"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "A", "contact": "not a contact"},
            "contact: give a phone number or an e-mail address",
        ),
        ({"name": " ", "contact": "a@b.co"}, "name: please give a name"),
        ({"name": "A", "contact": "a@b.co", "extra": 1}, "Object contains unknown field `extra`"),
    ],
)
async def test_bad_callback_gets_a_clear_error(start_desk: StartDesk, body: dict, message: str):
    desk = await video_desk(start_desk)
    http = await desk.http()
    async with http.post(desk.base + "/api/entry/demo/callback", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == {"code": "bad_message", "message": message}


async def test_callback_post_from_a_foreign_site_is_refused(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    http = await desk.http()
    async with http.post(
        desk.base + "/api/entry/demo/callback",
        json={"name": "A", "contact": "a@b.co"},
        headers={"Origin": "https://evil.example"},
    ) as resp:
        assert resp.status == 403


async def test_a_dated_closure_closes_the_entry(start_desk: StartDesk):
    desk = await video_desk(start_desk, closed_dates=["2026-11-24"])
    _, _, body = await availability(desk, f"{SHOP}/x")
    chat = body["channels"]["chat"]
    assert (chat["reason"], chat["message"]) == (
        "closed_date",
        "We are closed today. We open Wed 09:00 (Asia/Seoul time).",
    )


async def test_a_channel_the_entry_does_not_offer_is_refused(start_desk: StartDesk):
    desk = await video_desk(start_desk)
    _, _, body = await availability(desk, f"{SHOP}/x", token("premium"))
    assert body["channels"]["cobrowse"]["reason"] == "not_offered"
    http = await desk.http()
    async with http.post(
        desk.base + "/api/sessions",
        json={"entry": "demo", "text": "co-browse?", "page": f"{SHOP}/x", "channel": "cobrowse"},
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["error"]["reason"]) == (403, "not_offered")
