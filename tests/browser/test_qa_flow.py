"""A QA reviewer finds a session by a word that was spoken and jumps to that moment.

The session is made the real way against a real ``livedesk run``: a customer and an
agent (aiortc clients in this process) agree to a voice call and to recording, and the
customer says a sentence (festival's voice, played as Opus). The server records,
renders and transcribes it. Then, in Chromium, the reviewer searches /qa for a word, opens
the hit, and clicks the transcript line: the review video's currentTime moves there.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import QA_PASSWORD, QA_USER, Server, staff_login
from tests.speech import speech_clip

try:
    from playwright.async_api import expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SENTENCE = "i was charged twice for my order and i would like a refund"
CHAT = "the parcel tracking says delivered"


async def recorded_call(server: Server) -> str:
    """A voice call in which the customer says SENTENCE, recorded; returns the session id."""
    from signaling.client import CustomerClient, StaffClient
    from signaling.client_media import MediaClient
    from visual.sources import ClipTrack

    clip = speech_clip(SENTENCE, seconds=8)
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as staff_http,
        aiohttp.ClientSession() as anon,
    ):
        agent = await StaffClient.login(
            staff_http, server.base_url, server.agent_user, server.agent_password
        )
        await agent.set_status("available")
        customer = await CustomerClient.start(
            anon, server.base_url, entry="demo", text="hello", name="Hana"
        )
        sid = await agent.wait_offer(timeout=20)
        await agent.request("offer.accept", session=sid)
        await agent.request("channel.request", session=sid, channel="voice")
        await customer.wait_event(sid, "channel.offered")
        await customer.request("channel.respond", session=sid, channel="voice", accept=True)
        cm, am = MediaClient(customer, sid), MediaClient(agent, sid)
        await cm.start()
        await am.start()
        await cm.publish("mic", ClipTrack(clip))
        await am.wait_publication("mic")
        await agent.request("recording.request", session=sid)
        await customer.wait_event(sid, "recording.requested")
        await customer.request("recording.respond", session=sid, accept=True)
        await agent.wait_event(sid, "recording.started")
        await asyncio.sleep(1)
        await customer.say(CHAT)
        await asyncio.sleep(6)
        await agent.request("session.wrapup", session=sid)
        await agent.wait_event(sid, "recording.finished", timeout=20)
        for c in (cm, am, customer, agent):
            await c.close()
    return sid


async def test_a_reviewer_finds_a_spoken_word_and_jumps_to_it(
    recording_server: Server, browser: Any, screenshot_dir: Path
) -> None:
    server = recording_server
    sid = await recorded_call(server)
    ctx = await browser()
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    await staff_login(page, server, QA_USER, QA_PASSWORD)
    # the transcript and the rendering are made after the call: search until it is found
    hit = page.locator(f'[data-testid="qa-hit"][data-session="{sid}"]')
    deadline = time.monotonic() + 120
    while True:
        await page.goto(server.base_url + "/qa")
        await page.get_by_test_id("qa-search-input").fill("refund")
        await page.get_by_test_id("qa-search-go").click()
        await expect(page.get_by_test_id("qa-search-input")).to_have_value("refund")
        card = page.locator(f'[data-testid="recording"][data-session="{sid}"]')
        if await hit.count() and await card.get_attribute("data-state") == "rendered":
            break
        assert time.monotonic() < deadline, await page.content()
        await asyncio.sleep(1)
    await expect(hit).to_contain_text("[refund]")
    await hit.click()
    video = page.get_by_test_id("review-video")
    await expect(video).to_be_visible()
    line = page.get_by_test_id("transcript-line").first
    await expect(line).to_contain_text("refund")
    start = float(await line.get_attribute("data-start") or 0)
    offset = float(await video.get_attribute("data-offset") or 0)
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=review-video]').readyState >= 1"
    )
    # park the video at its end first, so only the click can bring it to the line
    end = await video.evaluate(
        "v => { v.muted = true; v.currentTime = v.duration; return v.duration; }"
    )
    assert end - (start - offset) > 1.0
    await line.locator("button").click()
    await page.wait_for_function(
        "([want]) => Math.abs(document.querySelector('[data-testid=review-video]').currentTime"
        " - want) < 0.6",
        arg=[start - offset],
    )
    flags = page.get_by_test_id("qa-flags")
    await expect(flags).to_contain_text("refund")
    await page.screenshot(path=str(screenshot_dir / "qa-review-1280.png"), full_page=True)
    # the scrubber: chat, the escalation, consent and the flag are marks; a chat mark
    # seeks the video to the message and brings its timeline line into view
    marks = page.get_by_test_id("scrubber-mark")
    kinds = set(await marks.evaluate_all("ms => ms.map(m => m.dataset.category)"))
    assert {"chat", "escalation", "consent", "join", "flag"} <= kinds, kinds
    chat_mark = page.locator(
        f'[data-testid="scrubber-mark"][data-category="chat"][title$="{CHAT}"]'
    )
    await expect(chat_mark).to_have_count(1)
    said_at = float(await chat_mark.get_attribute("data-start") or 0)
    left = await chat_mark.evaluate("m => parseFloat(m.style.left)")
    span = float(await page.get_by_test_id("scrubber").get_attribute("data-span") or 1)
    assert abs(left - said_at / span * 100) < 0.5, (left, said_at, span)
    await video.evaluate("v => { v.pause(); v.currentTime = v.duration; }")
    await chat_mark.click()
    await page.wait_for_function(
        "([want]) => Math.abs(document.querySelector('[data-testid=review-video]').currentTime"
        " - want) < 0.6",
        arg=[max(0.0, said_at - offset)],
    )
    ref = await chat_mark.get_attribute("data-ref")
    await expect(page.locator(f"#{ref}")).to_have_attribute("aria-current", "true")
    await expect(page.locator(f"#{ref}")).to_contain_text(CHAT)
    # score it, reload: the answers and the score are still there
    card = page.get_by_test_id("scorecard")
    await card.locator('[data-criterion="greeting"] input[value="yes"]').check()
    await card.locator('[data-criterion="disclosure"] input[value="no"]').check()
    await card.get_by_test_id("score-save").click()
    await expect(card.get_by_test_id("score-error")).to_contain_text(
        "disclosure: a comment is required when it fails"
    )
    await card.locator('[data-criterion="resolution"] input[value="4"]').check()
    await card.locator('[data-criterion="tone"] input[value="5"]').check()
    await card.locator('[data-criterion="disclosure"] input[type="text"]').fill("not said")
    async with page.expect_navigation():
        await card.get_by_test_id("score-save").click()
    await page.reload()
    scores = page.get_by_test_id("scores")
    await expect(scores).to_contain_text(f"{QA_USER}: 65.6 / 100")
    card = page.get_by_test_id("scorecard")
    await expect(card.locator('[data-criterion="resolution"] input[value="4"]')).to_be_checked()
    await expect(card.locator('[data-criterion="disclosure"] input[type="text"]')).to_have_value(
        "not said"
    )
    # the list: a chat word is found too, and the filters keep or drop the session
    await page.goto(server.base_url + "/qa?q=parcel")
    chat_hit = page.locator(f'[data-testid="qa-hit"][data-session="{sid}"]')
    await expect(chat_hit).to_contain_text("[parcel]")
    await page.get_by_test_id("qa-filters").locator("summary").click()
    await page.get_by_test_id("qa-channel-filter").select_option("voice")
    await page.get_by_test_id("qa-review-filter").select_option("reviewed")
    await page.get_by_test_id("qa-filter-go").click()
    await expect(chat_hit).to_be_visible()
    await expect(page.locator(f'[data-testid="recording"][data-session="{sid}"]')).to_be_visible()
    await page.get_by_test_id("qa-channel-filter").select_option("chat_only")
    await page.get_by_test_id("qa-filter-go").click()
    await expect(page.get_by_test_id("no-recordings")).to_be_visible()
    await expect(page.get_by_test_id("qa-no-hits")).to_be_visible()
    await page.get_by_test_id("qa-filter-clear").click()
    await chat_hit.click()
    chat_line = page.locator(".qa-event--chat", has_text=CHAT)
    await expect(chat_line).to_have_attribute("aria-current", "true")
    # the KPI page counts the session, with its score
    await page.goto(server.base_url + "/qa/kpis")
    row = page.get_by_test_id("kpis-agent").locator(f'tr[data-key="{server.agent_user}"]')
    await expect(row).to_be_visible()
    await expect(row.locator('[data-kpi="sessions"]')).to_have_text("1")
    await expect(row.locator('[data-kpi="qa"]')).to_have_text("65.6")
    # and draws it: the agent's score column in the chart, its figure in the title
    bar = page.get_by_test_id("chart-qa").locator(f'g[data-key="{server.agent_user}"] rect')
    await expect(bar.locator("title")).to_have_text(f"{server.agent_user} · Avg QA score: 65.6")
    box = await bar.bounding_box()
    assert box is not None and box["height"] > 10
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(screenshot_dir / "qa-kpis-390.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth <= 390"), "no sideways scroll"
