"""Recording in two real Chromium profiles, then the recording in a third, a QA reviewer's.

The agent asks to record a video call; the customer is asked and agrees; both pages show
"Recording", then "Recording paused" and "Recording" again; the session ends; a QA
reviewer logs in, finds the session in /qa, and its review video plays in the browser.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import QA_PASSWORD, QA_USER, Server, staff_login
from tests.browser.test_media_flow import (
    expect_flowing,
    open_pages,
    remote_video,
    start_chat,
    wrap_up,
)

try:
    from playwright.async_api import expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

VIDEO_ASK = "The agent asks to see your camera and hear your microphone."


async def test_consent_to_recording_then_qa_finds_and_plays_it(
    recording_server: Server, media_browser: Any, browser: Any, screenshot_dir: Path
) -> None:
    server = recording_server
    errors: list[str] = []
    agent, customer = await open_pages(media_browser, errors, phone=True)
    pane = await start_chat(server, agent, customer, "Hana")
    sid = await pane.get_attribute("data-session")

    # video first, agreed in the customer's consent dialog
    await pane.get_by_test_id("upgrade-video").click()
    dialog = customer.get_by_test_id("consent-dialog")
    await expect(customer.get_by_test_id("consent-text")).to_have_text(VIDEO_ASK)
    await dialog.get_by_test_id("consent-accept").click()
    await expect_flowing(remote_video(pane, "camera"))

    # the agent asks to record; nothing records until the customer agrees
    agent_bar = pane.get_by_test_id("recording-bar")
    customer_bar = customer.get_by_test_id("recording-bar")
    await agent_bar.get_by_test_id("recording-start").click()
    await expect(agent_bar.get_by_test_id("recording-indicator")).to_have_text(
        "Waiting for agreement to record"
    )
    question = customer_bar.get_by_test_id("recording-question")
    await expect(question).to_contain_text("would like to record this session")
    assert not (server.data_dir / "recordings" / str(sid)).exists()
    await customer_bar.get_by_test_id("recording-accept").click()
    for bar in (agent_bar, customer_bar):
        indicator = bar.get_by_test_id("recording-indicator")
        await expect(indicator).to_have_text("Recording")
        await expect(indicator).to_be_visible()
    await expect(customer_bar.get_by_test_id("recording-consent")).to_be_hidden()
    await customer.screenshot(path=str(screenshot_dir / "recording-customer-phone.png"))
    await asyncio.sleep(2.5)

    # a pause, shown on both sides, then recording again
    await agent_bar.get_by_test_id("recording-pause").click()
    for bar in (agent_bar, customer_bar):
        await expect(bar.get_by_test_id("recording-indicator")).to_have_text("Recording paused")
    await asyncio.sleep(1.5)
    await agent_bar.get_by_test_id("recording-resume").click()
    for bar in (agent_bar, customer_bar):
        await expect(bar.get_by_test_id("recording-indicator")).to_have_text("Recording")
    await asyncio.sleep(2.5)
    await agent.screenshot(path=str(screenshot_dir / "recording-agent.png"))

    # the session ends: recording stops with it and the indicator goes away
    await wrap_up(pane, customer)
    await expect(customer_bar.get_by_test_id("recording-indicator")).to_be_hidden()
    log_lines = customer.get_by_test_id("chat-log")
    await expect(log_lines).to_contain_text("Recording started.")
    await expect(log_lines).to_contain_text("Recording paused.")
    # the one-question survey at the end
    await expect(customer.get_by_test_id("csat")).to_be_visible()
    await customer.get_by_test_id("csat-4").click()
    await expect(customer.get_by_test_id("csat-thanks")).to_be_visible()
    await expect(customer.get_by_test_id("csat")).to_be_hidden()

    # a QA reviewer finds it, waits for the review video, and plays it
    qa_ctx = await browser()
    qa = qa_ctx.pages[0] if qa_ctx.pages else await qa_ctx.new_page()
    await staff_login(qa, server, QA_USER, QA_PASSWORD)
    await qa.goto(server.base_url + "/qa")
    card = qa.locator(f'[data-testid="recording"][data-session="{sid}"]')
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("Hana")
    deadline = time.monotonic() + 90
    while await card.get_attribute("data-state") != "rendered":
        assert time.monotonic() < deadline, f"not rendered: {await card.inner_text()}"
        await asyncio.sleep(1)
        await qa.reload()
    thumbs = card.locator("img.qa-card__thumbs")
    await expect(thumbs).to_be_visible()
    assert await thumbs.evaluate("img => img.complete && img.naturalWidth") == 8 * 160
    await card.get_by_role("link").click()
    video = qa.get_by_test_id("review-video")
    await expect(video).to_be_visible()
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await qa.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=review-video]');"
        " return v && v.videoWidth > 0 && v.currentTime > 0.5; }",
        timeout=20_000,
    )
    duration = await video.evaluate("v => v.duration")
    assert 5.0 < duration < 30.0, duration
    await expect(qa.get_by_test_id("timeline")).to_contain_text("recording.paused")
    await qa.screenshot(path=str(screenshot_dir / "recording-qa.png"), full_page=True)
    assert errors == []
