"""Voice, video and screen sharing through livedesk, in two real Chromium profiles.

Chromium's fake devices stand in for the camera (a moving test pattern), the microphone
and the screen; everything else is real: the pages, the consent questions, WebRTC to the
server's aiortc media plane over loopback, and the server forwarding each side's frames
to the other. The tests assert what a person sees: the question asked, a video whose
``videoWidth`` is set and whose presented-frame counter keeps advancing, the numbers in
the agent's quality panel, the decline written in the agent's timeline.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Server, run_livedesk

try:
    from playwright.async_api import Locator, Page, expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# The demo entry offers voice, video and screen, and its bot proposes a screen share when
# someone asks "can you see this?" (signaling/config.py). Media stays on loopback.
MEDIA_CONFIG = """
[server]
demo = true

[media]
host_addresses = ["127.0.0.1"]
"""

FLOW_SECONDS = 5.0  # how long a video must keep presenting new frames
# New frames a video must present in FLOW_SECONDS: enough to see it move. The fake camera
# runs at 30 fps, but on a 2-core machine running two browsers and the server, Chrome's
# bandwidth estimate towards the server drops to a few hundred kbps once camera, microphone
# and screen all flow, and the camera falls to 6-10 fps. A screen share is encoded for
# legibility ("detail"): Chrome keeps its resolution and gives up frame rate (1-3 fps then).
MIN_FRAMES = {"camera": 20, "screen": 5}

AGENT_VIDEO_ASK = "The agent asks to see your camera and hear your microphone."
AGENT_SCREEN_ASK = "The agent asks to see your screen."
BOT_REASON = "Sharing your screen lets the agent see what you see"


@pytest.fixture(scope="module")
def media_server() -> Iterator[Server]:
    """One server for the module; each test serves its own customer and wraps up."""
    with run_livedesk(MEDIA_CONFIG) as server:
        yield server


# ---------------------------------------------------------------- helpers


def watch_for_errors(page: Page, name: str, errors: list[str]) -> None:
    """Script errors and CSP violations are bugs."""
    page.on("pageerror", lambda exc: errors.append(f"{name}: page error: {exc}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            errors.append(f"{name}: CSP: {msg.text}")

    page.on("console", on_console)


async def open_pages(
    media_browser: Any, errors: list[str], *, phone: bool = False
) -> tuple[Page, Page]:
    agent_ctx = await media_browser()
    customer_ctx = await media_browser()
    agent = agent_ctx.pages[0] if agent_ctx.pages else await agent_ctx.new_page()
    customer = customer_ctx.pages[0] if customer_ctx.pages else await customer_ctx.new_page()
    watch_for_errors(agent, "agent", errors)
    watch_for_errors(customer, "customer", errors)
    await agent.set_viewport_size({"width": 1400, "height": 900})
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 800}
    await customer.set_viewport_size(size)
    return agent, customer


async def start_chat(server: Server, agent: Page, customer: Page, name: str) -> Locator:
    """The agent logs in and takes the customer's chat; returns the agent's session pane."""
    await agent.goto(server.base_url + "/agent")
    await agent.get_by_test_id("login-username").fill(server.agent_user)
    await agent.get_by_test_id("login-password").fill(server.agent_password)
    await agent.get_by_test_id("login-submit").click()
    status = agent.get_by_test_id("status-select")
    await expect(status).to_be_enabled()
    await status.select_option("available")
    await expect(status).to_have_attribute("data-confirmed", "available")

    await customer.goto(server.base_url + "/l/demo")
    await customer.get_by_test_id("name-input").fill(name)
    await customer.get_by_test_id("composer-input").fill("Hello, I need some help with my order.")
    await customer.get_by_test_id("composer-input").press("Enter")

    offer = agent.get_by_test_id("offer").filter(has_text=name)
    await offer.get_by_test_id("offer-accept").click()
    tab = agent.get_by_test_id("session-tab").filter(has_text=name)
    await expect(tab).to_have_attribute("aria-selected", "true")
    sid = await tab.get_attribute("data-session")
    pane = agent.locator(f'[data-testid="session-pane"][data-session="{sid}"]')
    await expect(pane).to_be_visible()
    await expect(customer.get_by_test_id("agent-name")).to_have_text(server.agent_name)
    return pane


def remote_video(scope: Page | Locator, source: str) -> Locator:
    return scope.locator(f'[data-testid="remote-video"][data-source="{source}"]')


async def frames(video: Locator) -> int:
    return int(await video.get_attribute("data-frames") or 0)


async def expect_has_picture(video: Locator, timeout: float = 20.0) -> int:
    """The video is on screen and decoding: ``videoWidth`` > 0. Returns the width."""
    await expect(video).to_be_visible(timeout=timeout * 1000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        width = int(await video.evaluate("v => v.videoWidth"))
        if width > 0:
            return width
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no picture: videoWidth is still 0 after {timeout:g} s")
        await asyncio.sleep(0.2)


async def expect_flowing(*videos: Locator) -> None:
    """Each video has a picture and keeps presenting new frames for FLOW_SECONDS."""
    for v in videos:
        await expect_has_picture(v)
    before = [await frames(v) for v in videos]
    await asyncio.sleep(FLOW_SECONDS)
    after = [await frames(v) for v in videos]
    for v, b, a in zip(videos, before, after, strict=True):
        source = await v.get_attribute("data-source") or ""
        need = MIN_FRAMES[source]
        assert a - b >= need, f"{source}: only {a - b} new frames in {FLOW_SECONDS:g} s"


async def wrap_up(agent_pane: Locator, customer: Page) -> None:
    """The agent ends the chat; the customer's call panel goes away with it."""
    await agent_pane.get_by_test_id("wrapup").click()
    await expect(customer.get_by_test_id("ended-notice")).to_be_visible()
    await expect(customer.get_by_test_id("media-area")).to_be_hidden()
    await expect(agent_pane.get_by_test_id("media-area")).to_be_hidden()
    await agent_pane.get_by_test_id("disposition").fill("resolved")
    await agent_pane.get_by_test_id("complete").click()
    await expect(agent_pane).to_have_count(0)


# ---------------------------------------------------------------- tests


async def test_agent_upgrades_to_video_adds_a_screen_and_hears_a_no(
    media_server: Server, media_browser: Any, screenshot_dir: Path
) -> None:
    """Upgrade to video with consent, a screen share next to it, then a declined request."""
    expect.set_options(timeout=15_000)
    errors: list[str] = []
    agent, customer = await open_pages(media_browser, errors)
    pane = await start_chat(media_server, agent, customer, "Mina Park")

    # ---------------------------------------------------------------- video, with consent
    await pane.get_by_test_id("upgrade-video").click()
    consent = customer.get_by_test_id("consent-dialog")
    await expect(consent).to_be_visible()
    await expect(consent.get_by_test_id("consent-text")).to_have_text(AGENT_VIDEO_ASK)
    await expect(pane.get_by_test_id("pending-request")).to_contain_text(
        "Waiting for the customer to accept video"
    )
    await consent.get_by_test_id("consent-accept").click()
    await expect(consent).to_be_hidden()

    customer_sees = remote_video(customer, "camera")
    agent_sees = remote_video(pane, "camera")
    await expect_flowing(customer_sees, agent_sees)
    await expect(customer.get_by_test_id("live-camera")).to_have_text("Camera is live")
    await expect(customer.get_by_test_id("live-mic")).to_have_text("Microphone is live")
    await expect(pane.get_by_test_id("live-camera")).to_be_visible()
    await expect(customer_sees.locator("xpath=..")).to_contain_text(media_server.agent_name)
    await expect(agent_sees.locator("xpath=..")).to_contain_text("Mina Park")
    await expect(pane.get_by_test_id("chat-log")).to_contain_text("Customer accepted video.")

    quality = pane.get_by_test_id("quality-panel")
    await expect(quality).to_be_visible()
    await expect(quality.get_by_test_id("quality-rtt")).to_have_text(re.compile(r"^\d+ ms$"))
    await expect(quality.get_by_test_id("quality-fps")).to_have_text(re.compile(r"^[1-9]\d* fps$"))
    await expect(quality.get_by_test_id("quality-in")).to_have_text(re.compile(r"^[1-9]\d* kbps$"))
    await expect(quality.get_by_test_id("quality-loss")).to_have_text(re.compile(r"^\d+\.\d %$"))

    # the microphone can be muted; the agent's page hears of it
    await customer.get_by_test_id("mute-mic").click()
    await expect(customer.get_by_test_id("live-mic")).to_have_text("Microphone is muted")
    await expect(customer.get_by_test_id("mute-mic")).to_have_text("Unmute microphone")
    await expect(pane.get_by_test_id("chat-log")).to_contain_text("Customer's microphone is muted.")
    await customer.get_by_test_id("mute-mic").click()
    await expect(customer.get_by_test_id("live-mic")).to_have_text("Microphone is live")

    await agent.screenshot(path=str(screenshot_dir / "agent-video-1400.png"))
    await customer.screenshot(path=str(screenshot_dir / "customer-video-1280.png"))

    # ---------------------------------------------------------------- a screen share next to it
    await customer.get_by_test_id("share-screen").click()
    incoming = pane.get_by_test_id("incoming-request")
    await expect(incoming).to_have_text(re.compile("The customer wants to share their screen"))
    await incoming.get_by_test_id("request-accept").click()
    screen = remote_video(pane, "screen")
    await expect_flowing(screen, agent_sees)
    assert await screen.evaluate("v => v.videoWidth") == 1280  # the fake screen, as it is
    await expect(pane.get_by_test_id("remote-video")).to_have_count(2)
    await expect(customer.get_by_test_id("live-screen")).to_have_text("Screen is live")
    await agent.screenshot(path=str(screenshot_dir / "agent-screen-1400.png"))

    # ---------------------------------------------------------------- asked again, and declined
    await pane.get_by_test_id("stop-screen").click()
    await expect(screen).to_have_count(0)
    await expect(customer.get_by_test_id("live-screen")).to_have_count(0)
    await expect(pane.get_by_test_id("ask-screen")).to_be_enabled()
    await pane.get_by_test_id("ask-screen").click()
    await expect(consent).to_be_visible()
    await expect(consent.get_by_test_id("consent-text")).to_have_text(AGENT_SCREEN_ASK)
    await consent.get_by_test_id("consent-decline").click()
    declined = pane.locator('[data-testid="message"][data-kind="channel.declined"]')
    await expect(declined).to_have_text("Customer declined screen share.")
    await expect(customer.get_by_test_id("chat-log")).to_contain_text("You declined screen share.")
    # the camera went on all along
    await expect_flowing(agent_sees)

    await wrap_up(pane, customer)
    assert not errors, "\n".join(errors)


async def test_the_bot_proposes_a_screen_share_and_the_customer_accepts(
    media_server: Server, media_browser: Any
) -> None:
    """'can you see this?' makes the assistant propose a screen share, with its reason."""
    expect.set_options(timeout=15_000)
    errors: list[str] = []
    agent, customer = await open_pages(media_browser, errors)
    pane = await start_chat(media_server, agent, customer, "Jamie Rivera")

    await customer.get_by_test_id("composer-input").fill("can you see this?")
    await customer.get_by_test_id("composer-input").press("Enter")

    consent = customer.get_by_test_id("consent-dialog")
    await expect(consent).to_be_visible()
    await expect(consent.get_by_test_id("consent-text")).to_have_text(
        f"Our assistant suggests sharing your screen with the agent because: {BOT_REASON}"
    )
    proposal = f"Bot proposed screen share: {BOT_REASON} — waiting for the customer"
    await expect(pane.get_by_test_id("bot-proposal")).to_have_text(proposal)
    await expect(pane.locator('[data-testid="message"][data-kind="channel.offered"]')).to_have_text(
        proposal
    )
    await expect(customer.get_by_test_id("chat-log")).to_contain_text(
        f"Our assistant suggests screen share: {BOT_REASON}"
    )

    await consent.get_by_test_id("consent-accept").click()
    await expect(pane.get_by_test_id("bot-proposal")).to_have_count(0)
    await expect_flowing(remote_video(pane, "screen"))
    await expect(customer.get_by_test_id("live-screen")).to_be_visible()
    # only the screen was agreed: no camera, no microphone
    await expect(customer.get_by_test_id("live-camera")).to_have_count(0)
    await expect(customer.get_by_test_id("live-mic")).to_have_count(0)

    await wrap_up(pane, customer)
    assert not errors, "\n".join(errors)


async def test_customer_starts_video_on_a_phone(
    media_server: Server, media_browser: Any, screenshot_dir: Path
) -> None:
    """The customer asks for video from a 390 px wide phone; the agent accepts."""
    expect.set_options(timeout=15_000)
    errors: list[str] = []
    agent, customer = await open_pages(media_browser, errors, phone=True)
    pane = await start_chat(media_server, agent, customer, "Sam Lee")

    await customer.get_by_test_id("start-video").click()
    await expect(customer.get_by_test_id("pending-request")).to_contain_text(
        "Waiting for the agent to accept your video request"
    )
    incoming = pane.get_by_test_id("incoming-request")
    await expect(incoming).to_have_text(re.compile("The customer asks for a video call."))
    await incoming.get_by_test_id("request-accept").click()

    customer_sees = remote_video(customer, "camera")
    agent_sees = remote_video(pane, "camera")
    await expect_flowing(customer_sees, agent_sees)
    await expect(pane.get_by_test_id("quality-fps")).to_have_text(re.compile(r"^[1-9]\d* fps$"))

    # ---------------------------------------------------------------- on the phone
    # the agent's video spans the screen, with the controls in reach and the chat below
    box = await customer_sees.bounding_box()
    assert box is not None and box["width"] >= 340, box
    await expect(customer_sees).to_be_in_viewport()
    await expect(customer.get_by_test_id("local-video")).to_be_in_viewport()
    for control in ("mute-mic", "mute-camera", "stop-camera", "hangup"):
        await expect(customer.get_by_test_id(control)).to_be_in_viewport()
    await expect(customer.get_by_test_id("composer-input")).to_be_in_viewport()
    scroll_width = await customer.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390, f"the page scrolls sideways: {scroll_width}px"
    await customer.screenshot(path=str(screenshot_dir / "customer-video-390.png"))

    # hanging up stops the call on both sides; the chat carries on
    await customer.get_by_test_id("hangup").click()
    await expect(customer.get_by_test_id("live-camera")).to_have_count(0)
    await expect(agent_sees).to_have_count(0)
    await expect(pane.get_by_test_id("live-camera")).to_have_count(0)
    await expect(pane.get_by_test_id("chat-log")).to_contain_text("Customer stopped video.")
    await customer.get_by_test_id("composer-input").fill("Thanks, that was quick.")
    await customer.get_by_test_id("composer-input").press("Enter")
    await expect(pane.get_by_test_id("chat-log")).to_contain_text("Thanks, that was quick.")

    # the agent shows their own screen; the customer only watches
    await pane.get_by_test_id("share-my-screen").click()
    consent = customer.get_by_test_id("consent-dialog")
    await expect(consent.get_by_test_id("consent-text")).to_have_text(
        "The agent wants to show you their screen. Nothing of yours will be shared."
    )
    await consent.get_by_test_id("consent-accept").click()
    agents_screen = remote_video(customer, "screen")
    await expect_flowing(agents_screen)
    await expect(agents_screen).to_be_in_viewport()
    await expect(pane.get_by_test_id("live-screen")).to_have_text("Screen is live")
    await expect(customer.get_by_test_id("media-live")).to_be_hidden()  # sending nothing
    await customer.screenshot(path=str(screenshot_dir / "customer-agent-screen-390.png"))

    await wrap_up(pane, customer)
    assert not errors, "\n".join(errors)


# Remembers every text the call notice shows, however briefly.
NOTICE_SPY = """
(() => {
  window.__ldNotices = [];
  new MutationObserver(() => {
    const n = document.querySelector('[data-testid="media-notice"]');
    if (n && !n.hidden && n.textContent && window.__ldNotices.at(-1) !== n.textContent) {
      window.__ldNotices.push(n.textContent);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
})();
"""


async def test_a_lost_media_connection_comes_back_and_the_chat_goes_on(
    media_server: Server, media_browser: Any
) -> None:
    """The customer's peer connection dies; the page says so, reconnects, and video returns."""
    expect.set_options(timeout=15_000)
    errors: list[str] = []
    agent, customer = await open_pages(media_browser, errors)
    await customer.add_init_script(NOTICE_SPY)
    pane = await start_chat(media_server, agent, customer, "Ola Berg")
    await pane.get_by_test_id("upgrade-video").click()
    await customer.get_by_test_id("consent-accept").click()
    await expect_flowing(remote_video(customer, "camera"), remote_video(pane, "camera"))

    # the connection goes away under the page, as when the network drops
    await customer.evaluate(
        "() => { for (const m of LD.media.MediaSession.all) if (m.pc) m.pc.close(); }"
    )
    lost = "Video connection lost — you can keep chatting; reconnecting…"
    await customer.wait_for_function(
        "text => window.__ldNotices.includes(text)", arg=lost, timeout=15_000
    )
    await expect(customer.get_by_test_id("media-notice")).to_be_hidden()  # connected again
    await expect_flowing(remote_video(customer, "camera"), remote_video(pane, "camera"))
    await expect(customer.get_by_test_id("live-camera")).to_have_text("Camera is live")

    # the chat never noticed
    await customer.get_by_test_id("composer-input").fill("Still here!")
    await customer.get_by_test_id("composer-input").press("Enter")
    await expect(pane.get_by_test_id("chat-log")).to_contain_text("Still here!")
    await expect(customer.get_by_test_id("connection-banner")).to_be_hidden()

    await wrap_up(pane, customer)
    assert not errors, "\n".join(errors)
