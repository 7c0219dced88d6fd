"""A personal link in a real browser: opens once as that customer, survives a reload."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
from playwright.async_api import expect

from signaling import config, links
from signaling.link_api import link_keys
from tests.browser.conftest import first_page

pytestmark = pytest.mark.browser


def mint_link(server: Any, *, sub: str, tier: str, name: str) -> str:
    """What a company backend's call to POST /api/links returns, minted with the server's key."""
    secret = (server.data_dir / "secret.key").read_text().strip().encode()
    keys = link_keys(config.from_dict({"server": {"data_dir": str(server.data_dir)}}), secret)
    token, _ = links.issue(
        keys, entry="demo", sub=sub, tier=tier, name=name, ttl_s=600, now=time.time()
    )
    return f"{server.base_url}/l/demo?t={token}"


async def test_personal_link_starts_as_that_customer_once(livedesk_server, browser) -> None:
    url = mint_link(livedesk_server, sub="cust-42", tier="premium", name="Mina Park")
    page = await first_page(await browser())
    resp = await page.goto(url)
    assert resp is not None and resp.status == 200
    # the spent token leaves the address bar, so a reload resumes instead of failing
    await expect(page).to_have_url(f"{livedesk_server.base_url}/l/demo")
    await page.get_by_test_id("composer-input").fill("I got your e-mail about my order")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("queue-status")).to_be_visible()
    db = sqlite3.connect(livedesk_server.data_dir / "archive.sqlite3")
    try:
        row = None
        for _ in range(50):
            row = db.execute("SELECT customer_id, tier, customer_name FROM interactions").fetchone()
            if row:
                break
            time.sleep(0.1)
    finally:
        db.close()
    assert row == ("cust-42", "premium", "Mina Park")
    await page.reload()
    await expect(page.get_by_text("I got your e-mail about my order")).to_have_count(1)

    again = await first_page(await browser())
    resp = await again.goto(url)
    assert resp is not None and resp.status == 410
    await expect(again.get_by_test_id("link-error")).to_contain_text("This link was already used")


async def test_tampered_link_shows_its_own_page(livedesk_server, browser) -> None:
    url = mint_link(livedesk_server, sub="c", tier="standard", name="")
    page = await first_page(await browser())
    resp = await page.goto(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))
    assert resp is not None and resp.status == 403
    await expect(page.get_by_test_id("link-error")).to_contain_text("This link is not valid")


async def test_agent_on_a_call_invites_the_caller_into_the_case(livedesk_server, browser) -> None:
    agent = await first_page(await browser())
    await agent.goto(livedesk_server.base_url + "/agent")
    await agent.get_by_test_id("login-username").fill(livedesk_server.agent_user)
    await agent.get_by_test_id("login-password").fill(livedesk_server.agent_password)
    await agent.get_by_test_id("login-submit").click()
    await expect(agent.get_by_test_id("invite-form")).to_be_visible()
    await agent.get_by_test_id("invite-name").fill("Caller Kim")
    await agent.get_by_test_id("invite-create").click()
    link = agent.get_by_test_id("invite-link")
    await expect(link).not_to_have_value("")
    url = await link.input_value()
    assert url.startswith(f"{livedesk_server.base_url}/l/demo?t=")
    # the case is the agent's at once, in its own tab
    tab = agent.get_by_test_id("session-tab")
    await expect(tab).to_have_count(1)
    session_id = await tab.get_attribute("data-session")
    pane = agent.locator(f'[data-testid="session-pane"][data-session="{session_id}"]')

    caller = await first_page(await browser())
    resp = await caller.goto(url)
    assert resp is not None and resp.status == 200
    await pane.get_by_test_id("composer-input").fill("Hello Kim, this is the agent you are calling")
    await pane.get_by_test_id("send").click()
    await expect(caller.get_by_text("Hello Kim, this is the agent you are calling")).to_be_visible()
    await caller.get_by_test_id("composer-input").fill("I can see you now")
    await caller.get_by_test_id("send").click()
    await expect(pane.get_by_text("I can see you now")).to_be_visible()
