"""A customer and an agent chat through livedesk in two real Chromium profiles.

The whole path a real conversation takes: login, presence, queueing, the
offer, accepting, typing, chat both ways, delivery and read receipts, a
dropped socket, a reload of the customer page, wrap-up, completion, and
finally the archive on disk holding the conversation exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import first_page

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Records every WebSocket the page opens, so the test can drop one.
SOCKET_SPY = """
(() => {
  const Native = window.WebSocket;
  window.__ldSockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__ldSockets.push(this); }
  };
})();
"""

CUSTOMER_NAME = "Jamie Rivera"
PAGE_URL = "https://shop.example.com/orders/123?ref=help"
QUESTION = "Hi! My order #123 has not arrived yet."
REPLY_1 = "Hello Jamie, let me look into that for you."
CUSTOMER_2 = "Thanks. It was due on Monday.\nTracking says it is in Busan."
CUSTOMER_3 = "Sent while my connection dropped."
CUSTOMER_4 = "Still here after reloading the page."
REPLY_2 = "It ships again today <b>express</b> & free."


def watch_for_errors(page: Page, name: str, errors: list[str]) -> None:
    """Collect script errors and CSP violations; both are bugs."""
    page.on("pageerror", lambda exc: errors.append(f"{name}: page error: {exc}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            errors.append(f"{name}: CSP: {msg.text}")

    page.on("console", on_console)

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and not resp.url.endswith("/favicon.ico"):
            errors.append(f"{name}: HTTP {resp.status} {resp.url}")

    page.on("response", on_response)


def bubbles(page_or_pane: Any, text: str) -> Any:
    return page_or_pane.locator('[data-testid="message"]:not([data-role="system"])').filter(
        has_text=text
    )


async def expect_each_once(scope: Any, texts: list[str]) -> None:
    chat = scope.locator('[data-testid="message"]:not([data-role="system"])')
    await expect(chat).to_have_count(len(texts))
    for text in texts:
        await expect(bubbles(scope, text.split("\n")[0])).to_have_count(1)


async def test_customer_and_agent_chat(livedesk_server, browser, screenshot_dir: Path) -> None:
    base = livedesk_server.base_url
    expect.set_options(timeout=10_000)
    errors: list[str] = []

    agent_ctx = await browser()
    customer_ctx = await browser()
    await customer_ctx.add_init_script(SOCKET_SPY)
    agent = await first_page(agent_ctx)
    customer = await first_page(customer_ctx)
    watch_for_errors(agent, "agent", errors)
    watch_for_errors(customer, "customer", errors)
    await agent.set_viewport_size({"width": 1280, "height": 800})
    await customer.set_viewport_size({"width": 375, "height": 740})

    # ---------------------------------------------------------------- agent logs in
    await agent.goto(base + "/agent")
    await agent.get_by_test_id("login-username").fill(livedesk_server.agent_user)
    await agent.get_by_test_id("login-password").fill(livedesk_server.agent_password)
    await agent.get_by_test_id("login-submit").click()
    status = agent.get_by_test_id("status-select")
    await expect(status).to_be_visible()
    await expect(agent.get_by_test_id("me-name")).to_have_text(livedesk_server.agent_name)
    # "busy" counts as online for the wait estimate but takes no new customers,
    # so the customer below really waits in the queue first
    await status.select_option("busy")
    await expect(status).to_have_attribute("data-confirmed", "busy")

    # ---------------------------------------------------------------- customer asks
    await customer.goto(f"{base}/l/demo?page={quote(PAGE_URL, safe='')}")
    await customer.get_by_test_id("name-input").fill(CUSTOMER_NAME)
    customer_input = customer.get_by_test_id("composer-input")
    await customer_input.fill(QUESTION)
    await customer_input.press("Enter")
    queue = customer.get_by_test_id("queue-status")
    await expect(queue).to_be_visible()
    await expect(queue).to_contain_text("You are number 1 in the queue.")
    await expect(queue).to_contain_text("Estimated wait: about 4 min.")
    await expect(bubbles(customer, QUESTION)).to_have_attribute("data-state", "sent")
    queue_item = agent.get_by_test_id("queue-item")
    await expect(queue_item).to_contain_text(CUSTOMER_NAME)
    await expect(queue_item).to_contain_text(PAGE_URL)

    # ---------------------------------------------------------------- offer and accept
    await status.select_option("available")
    await expect(status).to_have_attribute("data-confirmed", "available")
    offer = agent.get_by_test_id("offer")
    await expect(offer).to_be_visible()
    await expect(offer).to_contain_text(CUSTOMER_NAME)
    await expect(offer).to_contain_text(PAGE_URL)
    await expect(offer).to_contain_text("standard")
    await expect(offer.get_by_test_id("offer-preview")).to_have_text(QUESTION)
    await offer.get_by_test_id("offer-accept").click()

    tab = agent.get_by_test_id("session-tab")
    await expect(tab).to_have_count(1)
    await expect(tab).to_have_attribute("aria-selected", "true")
    session_id = await tab.get_attribute("data-session")
    assert session_id
    pane = agent.locator(f'[data-testid="session-pane"][data-session="{session_id}"]')
    await expect(pane).to_be_visible()
    await expect(offer).to_have_count(0)
    await expect(agent.get_by_test_id("load")).to_have_text("1 of 3 sessions")
    await expect(customer.get_by_test_id("agent-name")).to_have_text(livedesk_server.agent_name)
    await expect(customer.get_by_test_id("chat-log")).to_contain_text(
        f"{livedesk_server.agent_name} joined the chat."
    )
    await expect(queue).to_be_hidden()

    # ---------------------------------------------------------------- typing, then chat both ways
    agent_input = pane.get_by_test_id("composer-input")
    await agent_input.press_sequentially("Hello Jamie", delay=30)
    typing = customer.get_by_test_id("typing")
    await expect(typing).to_be_visible()
    await expect(typing).to_contain_text(f"{livedesk_server.agent_name} is typing")
    await agent_input.fill(REPLY_1)
    await agent_input.press("Enter")
    await expect(bubbles(customer, REPLY_1)).to_be_visible()
    await expect(bubbles(customer, REPLY_1)).to_contain_text(livedesk_server.agent_name)
    await expect(typing).to_be_hidden()

    await customer_input.fill(CUSTOMER_2)
    await customer.get_by_test_id("send").click()
    await expect(bubbles(pane, "Tracking says it is in Busan.")).to_be_visible()

    # the agent has the session open, so the customer's messages are read
    own = customer.locator('[data-testid="message"][data-role="customer"]')
    await expect(own).to_have_count(2)
    await expect(own.nth(0)).to_have_attribute("data-state", "read")
    await expect(own.nth(1)).to_have_attribute("data-state", "read")
    # and the customer page is open, so the agent's reply is read too
    await expect(bubbles(pane, REPLY_1)).to_have_attribute("data-state", "read")

    await customer.screenshot(path=str(screenshot_dir / "customer-chat-375.png"))
    await agent.screenshot(path=str(screenshot_dir / "agent-chat-1280.png"))

    # ---------------------------------------------------------------- a dropped socket
    await customer.evaluate("() => window.__ldSockets.at(-1).close()")
    await customer_input.fill(CUSTOMER_3)
    await customer_input.press("Enter")
    await expect(bubbles(pane, CUSTOMER_3)).to_have_count(1)
    await expect(bubbles(customer, CUSTOMER_3)).to_have_attribute("data-state", "read")
    assert await customer.evaluate("() => window.__ldSockets.length") >= 2

    # ---------------------------------------------------------------- reload mid-chat
    await customer.reload()
    await expect(customer.get_by_test_id("agent-name")).to_have_text(livedesk_server.agent_name)
    await expect_each_once(customer, [QUESTION, REPLY_1, CUSTOMER_2, CUSTOMER_3])
    customer_input = customer.get_by_test_id("composer-input")
    await customer_input.fill(CUSTOMER_4)
    await customer_input.press("Enter")
    await expect(bubbles(pane, CUSTOMER_4)).to_be_visible()
    await agent_input.fill(REPLY_2)
    await pane.get_by_test_id("send").click()
    await expect(bubbles(customer, REPLY_2)).to_be_visible()
    # markup in chat text is shown as text, never parsed
    await expect(customer.locator('[data-testid="chat-log"] b')).to_have_count(0)
    everything = [QUESTION, REPLY_1, CUSTOMER_2, CUSTOMER_3, CUSTOMER_4, REPLY_2]
    await expect_each_once(customer, everything)
    await expect_each_once(pane, everything)

    # ---------------------------------------------------------------- wrap up and complete
    await pane.get_by_test_id("wrapup").click()
    left = customer.locator('[data-testid="message"][data-kind="session.agent_left"]')
    await expect(left).to_have_text(f"{livedesk_server.agent_name} left the chat.")
    await expect(customer.get_by_test_id("ended-notice")).to_be_visible()
    await expect(customer.get_by_test_id("composer-input")).to_be_hidden()

    await expect(pane.get_by_test_id("disposition")).to_be_visible()
    await pane.get_by_test_id("disposition").fill("resolved")
    await pane.get_by_test_id("notes").fill("Reshipped with express delivery.")
    await pane.get_by_test_id("complete").click()
    await expect(agent.get_by_test_id("session-tab")).to_have_count(0)
    await expect(agent.get_by_test_id("load")).to_have_text("0 of 3 sessions")
    await expect(customer.get_by_test_id("new-chat")).to_be_visible()

    # ---------------------------------------------------------------- the archive
    archive = livedesk_server.data_dir / "archive.sqlite3"
    with contextlib.closing(sqlite3.connect(archive)) as db:
        rows = db.execute(
            "SELECT seq, kind, actor_role, data FROM events WHERE session_id = ? ORDER BY seq",
            (session_id,),
        ).fetchall()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "gaps in the timeline"
    chats = [(r[2], json.loads(r[3])["text"]) for r in rows if r[1] == "chat.message"]
    assert chats == [
        ("customer", QUESTION),
        ("agent", REPLY_1),
        ("customer", CUSTOMER_2),
        ("customer", CUSTOMER_3),
        ("customer", CUSTOMER_4),
        ("agent", REPLY_2),
    ]
    ended = [json.loads(r[3]) for r in rows if r[1] == "session.ended"]
    assert len(ended) == 1
    assert ended[0]["reason"] == "completed"
    assert ended[0]["disposition"] == "resolved"

    assert not errors, "\n".join(errors)
