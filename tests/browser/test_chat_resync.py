"""The customer page when the server renumbers a session's log (``session.resync``).

After an outage of the live store, chat written on two nodes can meet: the owner then
tells every follower to drop what it shows after ``from_seq`` and sends the log again
from there (signaling/outage.py, tested end to end with protocol clients in
tests/integration/test_outage_journal.py). Making a real outage under a browser is out
of reach here, so the page's socket is routed through Playwright: the real server's
pushes pass through, and the test adds the resync and the renumbered log as the server
would send them. What is checked is what a person sees: each message once, in order.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from tests.browser.conftest import first_page

try:
    from playwright.async_api import WebSocketRoute, expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

FIRST = "My parcel shows as delivered but it is not here."
SECOND = "The tracking number ends in 4471."
ELSEWHERE = "Written on the other node while the store was away."


async def test_a_renumbered_log_shows_each_message_once_in_the_new_order(
    livedesk_server: Any, browser: Any
) -> None:
    routes: list[WebSocketRoute] = []
    pushed: list[dict[str, Any]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        routes.append(ws)

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str):
                pushed.append(json.loads(message))
            ws.send(message)

        ws.on_message(server.send)
        server.on_message(from_server)

    page = await first_page(await browser())
    await page.route_web_socket("**/ws", route)
    await page.goto(livedesk_server.base_url + "/l/demo")
    chat = page.locator('[data-testid="message"]:not([data-role="system"])')
    for text in (FIRST, SECOND):
        await page.get_by_test_id("composer-input").fill(text)
        await page.get_by_test_id("send").click()
        await expect(chat.filter(has_text=text)).to_have_attribute("data-seq", re.compile(r"\d+"))
    assert routes, "the page's socket was not routed"

    def chat_push(text: str) -> dict[str, Any]:
        return next(
            m
            for m in pushed
            if m.get("type") == "event"
            and m["event"]["kind"] == "chat.message"
            and m["event"]["data"].get("text") == text
        )

    first, second = chat_push(FIRST), chat_push(SECOND)
    sid, base = first["session"], first["seq"]
    assert second["seq"] > base
    # the server's answer to meeting logs: drop what follows FIRST, then the log again
    # from there, with a message from elsewhere now ahead of SECOND
    elsewhere = {
        "kind": "chat.message",
        "at": second["event"]["at"],
        "actor_role": "agent",
        "actor_id": "agent_ann",
        "data": {"text": ELSEWHERE, "name": "Ann"},
    }
    ws = routes[-1]
    ws.send(json.dumps({"type": "session.resync", "session": sid, "from_seq": base}))
    ws.send(json.dumps({"type": "event", "session": sid, "seq": base + 1, "event": elsewhere}))
    again = {"type": "event", "session": sid, "seq": base + 2, "event": second["event"]}
    ws.send(json.dumps(again))

    await expect(chat).to_have_count(3)
    await expect(chat.nth(0)).to_contain_text(FIRST)
    await expect(chat.nth(1)).to_contain_text(ELSEWHERE)
    await expect(chat.nth(2)).to_contain_text(SECOND)
    await expect(chat.nth(1)).to_have_attribute("data-seq", str(base + 1))
    await expect(chat.nth(2)).to_have_attribute("data-seq", str(base + 2))
    # a resync to a point at or after what is shown changes nothing (the push after it
    # shows it was handled: the page takes its socket's messages in order)
    ws.send(json.dumps({"type": "session.resync", "session": sid, "from_seq": base + 5}))
    later = {**elsewhere, "data": {"text": "Still here.", "name": "Ann"}}
    ws.send(json.dumps({"type": "event", "session": sid, "seq": base + 3, "event": later}))
    await expect(chat).to_have_count(4)
    texts = [FIRST, ELSEWHERE, SECOND, "Still here."]
    for i, text in enumerate(texts):
        await expect(chat.nth(i)).to_contain_text(text)
