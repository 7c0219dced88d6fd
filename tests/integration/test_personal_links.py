"""Personal and invitation links through the real server: mint, open once, join a case."""

from __future__ import annotations

import asyncio
import json
import re
import time

from signaling import audit, links
from signaling.auth import mint_customer
from signaling.client import CustomerClient
from signaling.keys import ARCHIVE, LINK_KEYS

from .conftest import CUSTOMER_SECRET, StartDesk

OLD_KEY = ("2026a", "a" * 40)
NEW_KEY = ("2026b", "b" * 40)


async def mint_via_backend(desk, sub: str = "c-7", tier: str = "premium") -> dict:
    http = await desk.http()
    token = mint_customer(sub, tier, CUSTOMER_SECRET, name="Mina", ttl_s=300)
    async with http.post(
        desk.base + "/api/links",
        json={"entry": "demo"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def open_page(desk, url: str) -> tuple[int, str]:
    http = await desk.http()
    path = url[url.index("/l/") :]
    async with http.get(desk.base + path, headers={"Accept-Language": "en"}) as resp:
        return resp.status, await resp.text()


def page_config(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="ld-page">(.*?)</script>', html, re.S)
    assert m, "the customer page carries its config"
    return json.loads(m.group(1))


async def test_personal_link_opens_once_then_says_it_was_used(start_desk: StartDesk):
    desk = await start_desk()
    link = await mint_via_backend(desk)
    status, html = await open_page(desk, link["url"])
    assert status == 200
    assert "grant" in page_config(html)
    status, html = await open_page(desk, link["url"])
    assert status == 410
    assert "This link was already used" in html
    archive = desk.app[ARCHIVE]
    await archive.flush()
    issued = await audit.links_issued(archive)
    assert [(r.jti, r.issued_by, r.tier, r.used_at is not None) for r in issued] == [
        (link["jti"], "backend", "premium", True)
    ]
    refused = await audit.recent(archive, kind=audit.LINK_REFUSED)
    assert [r.reason for r in refused] == ["used"]


async def test_two_simultaneous_openings_let_exactly_one_through(start_desk: StartDesk):
    desk = await start_desk()
    link = await mint_via_backend(desk)
    results = await asyncio.gather(open_page(desk, link["url"]), open_page(desk, link["url"]))
    assert sorted(status for status, _ in results) == [200, 410]


async def test_expired_link_gets_410_and_tampered_or_foreign_links_403(start_desk: StartDesk):
    desk = await start_desk()
    keys = desk.app[LINK_KEYS]
    old, _ = links.issue(
        keys, entry="demo", sub="c", tier="standard", ttl_s=5, now=time.time() - 60
    )
    status, html = await open_page(desk, f"/l/demo?t={old}")
    assert (status, "This link has expired" in html) == (410, True)
    good = (await mint_via_backend(desk))["token"]
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    status, html = await open_page(desk, f"/l/demo?t={tampered}")
    assert (status, "This link is not valid" in html) == (403, True)
    foreign, _ = links.issue(
        links.LinkKeys(("x", "y" * 40)),
        entry="demo",
        sub="c",
        tier="standard",
        ttl_s=60,
        now=time.time(),
    )
    status, _ = await open_page(desk, f"/l/demo?t={foreign}")
    assert status == 403


async def test_link_for_another_entry_is_refused(start_desk: StartDesk):
    desk = await start_desk(entries={"demo": {}, "other": {}})
    link = await mint_via_backend(desk)
    status, _ = await open_page(desk, f"/l/other?t={link['token']}")
    assert status == 403


async def test_grant_from_a_link_starts_a_session_with_the_links_tier(start_desk: StartDesk):
    desk = await start_desk()
    link = await mint_via_backend(desk, tier="premium")
    _, html = await open_page(desk, link["url"])
    grant = page_config(html)["grant"]
    customer = await CustomerClient.start(
        await desk.http(), desk.base, entry="demo", text="from the e-mail", customer_token=grant
    )
    desk.clients.append(customer)
    assert customer.info["customer"] == {"id": "c-7", "name": "Mina", "tier": "premium"}


async def test_rotated_key_still_opens_links_it_signed(start_desk: StartDesk):
    before = links.LinkKeys(OLD_KEY)
    token, _ = links.issue(
        before, entry="demo", sub="c", tier="standard", ttl_s=600, now=time.time()
    )
    desk = await start_desk(
        links={
            "keys": [
                dict(zip(("kid", "secret"), NEW_KEY, strict=True)),
                dict(zip(("kid", "secret"), OLD_KEY, strict=True)),
            ]
        }
    )
    status, _ = await open_page(desk, f"/l/demo?t={token}")
    assert status == 200


async def test_agent_invites_a_caller_into_the_phone_case(start_desk: StartDesk):
    desk = await start_desk()
    agent = await desk.staff("agent_ann")
    http = await desk.http()
    async with http.post(
        desk.base + "/api/cases",
        json={"entry": "demo", "customer_name": "Caller Kim"},
        headers={"Cookie": agent.cookie},
    ) as resp:
        assert resp.status == 201
        case = (await resp.json())["session"]
    async with http.post(
        desk.base + "/api/links",
        json={"entry": "demo", "case": case},
        headers={"Cookie": agent.cookie},
    ) as resp:
        assert resp.status == 201
        link = await resp.json()
    status, html = await open_page(desk, link["url"])
    assert status == 200
    join = page_config(html)["join"]
    assert join["session"] == case
    customer = CustomerClient(
        http, desk.base, origin=None, session=case, token=join["token"], info={}
    )
    desk.clients.append(customer)
    await customer.connect()
    await agent.wait_for(
        lambda m: (
            m.get("type") == "console"
            and any(s["session"] == case and s["state"] == "active" for s in m["sessions"])
        )
    )
    await agent.say(case, "Hi Kim, I can see your screen request now")
    await customer.wait_for(
        lambda m: m.get("type") == "event" and m["event"]["kind"] == "chat.message"
    )
    kinds = [e["event"]["kind"] for e in customer.events[case]]
    assert kinds[:2] == ["session.created", "session.queued"]
    assert "session.accepted" in kinds


async def test_agent_cannot_invite_into_a_case_they_do_not_hold(start_desk: StartDesk):
    desk = await start_desk()
    ann = await desk.staff("agent_ann")
    bob = await desk.staff("agent_bob")
    http = await desk.http()
    async with http.post(
        desk.base + "/api/cases", json={"entry": "demo"}, headers={"Cookie": ann.cookie}
    ) as resp:
        case = (await resp.json())["session"]
    async with http.post(
        desk.base + "/api/links",
        json={"entry": "demo", "case": case},
        headers={"Cookie": bob.cookie},
    ) as resp:
        # the same answer as for no such case: another agent's case is not Bob's to know of
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_links_need_a_customer_token_or_an_agent(start_desk: StartDesk):
    desk = await start_desk()
    http = await desk.http()
    async with http.post(desk.base + "/api/links", json={"entry": "demo"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_admin_page_shows_each_entry_state_and_the_links(start_desk: StartDesk):
    from .conftest import add_user

    desk = await start_desk(
        entries={
            "demo": {"title": "Always open"},
            "seoul": {
                "title": "Seoul desk",
                "timezone": "Asia/Seoul",
                "hours": {"mon": ["09:00-18:00"]},
            },
        },
        testing={"fixed_now": "2026-11-24T10:00:00+09:00"},  # a Tuesday
    )
    add_user(desk.cfg, "root_admin", "admin")
    link = await mint_via_backend(desk)
    admin = await desk.staff("root_admin", status=None)
    http = await desk.http()
    async with http.get(
        desk.base + "/admin", headers={"Cookie": admin.cookie, "Accept-Language": "en"}
    ) as resp:
        assert resp.status == 200
        html = await resp.text()
    assert 'data-entry="demo" data-open="true"' in html
    assert 'data-entry="seoul" data-open="false"' in html
    assert "We are closed. We open Mon 09:00 (Asia/Seoul time)." in html
    assert "Mon 2026-11-30 09:00 Asia/Seoul" in html
    assert "c-7" in html and "not used" in html
    ann = await desk.staff("agent_ann", status=None)
    async with http.get(desk.base + "/admin", headers={"Cookie": ann.cookie}) as resp:
        assert resp.status == 403
    async with http.get(desk.base + "/admin", allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (302, "/agent")
    assert link["url"]
