"""The embeddable widget on a company's page, on another origin than livedesk.

The company's site is a second loopback server (``static_site``) serving
web/demo/host.html with the widget's script tag pointing at livedesk. Each case runs
against a server whose entry rules see a fixed "now" (``[testing] fixed_now``):

- during opening hours a premium customer is offered chat and video, and video opens
  in the panel as that customer;
- a standard customer is offered chat only, and told in the server's words who video
  is for; the customer page refuses a forged video start in the same words;
- after hours nothing is offered: the next opening time, and a call-back form whose
  request lands in the agent console;
- a page the rules exclude shows no widget, and a foreign origin can read nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.browser.conftest import first_page

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

from signaling.auth import mint_customer
from signaling.i18n import STRINGS, t

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

WEB = Path(__file__).resolve().parents[2] / "web"
HOST_PAGE = WEB / "demo" / "host.html"
WIDGET_JS = WEB / "static" / "widget.js"
ENTRY = "support-video"
LIVE_ENTRY = "live-chat"
SECRET = "browser-test-customer-token-secret-0123456789"
# a Tuesday in Seoul: 10:00 is inside the hours, 20:00 after them
OPEN_NOW = "2026-11-24T10:00:00+09:00"
CLOSED_NOW = "2026-11-24T20:00:00+09:00"
BLUE = "rgb(40, 85, 216)"

VIDEO_TIERS = "premium, loyalty, high_value"
TIER_MESSAGE = t("entry.reason.tier", "en", {"tiers": VIDEO_TIERS})
CLOSED_MESSAGE = t(
    "entry.reason.closed_hours", "en", {"opens": "Wed 09:00", "timezone": "Asia/Seoul"}
)
NO_AGENT_MESSAGE = t("entry.reason.no_agent", "en")

VISITOR = "Mina Park"
PHONE = "+82 10-1234-5678"
EMAIL = "mina.park@example.com"
PREFERRED = "Tomorrow after 2 pm"
LEFT_MESSAGE = "My rain shell is the wrong size.\nCan I swap it for an L?"


def livedesk_config(fixed_now: str, site_origin: str) -> str:
    """The entry under test, as a company would configure it, seen at ``fixed_now``."""
    hours = "\n".join(f'{day} = ["09:00-18:00"]' for day in ("mon", "tue", "wed", "thu", "fri"))
    return f"""
[server]
demo = false

[customer_tokens]
secret = "{SECRET}"

[testing]
fixed_now = "{fixed_now}"

[entries.{ENTRY}]
title = "Northwind help"
channels = ["chat", "video"]
timezone = "Asia/Seoul"
holidays_country = "KR"
pages_exclude = ["{site_origin}/checkout/*"]
site_origins = ["{site_origin}"]

[entries.{ENTRY}.hours]
{hours}

[entries.{ENTRY}.rules.video]
tiers = ["premium", "loyalty", "high_value"]

[entries.{LIVE_ENTRY}]
title = "Northwind chat"
channels = ["chat"]
site_origins = ["{site_origin}"]

[entries.{LIVE_ENTRY}.rules.chat]
needs_agent = true
"""


def host_page(livedesk: str, *, token: str = "", entry: str = ENTRY) -> str:
    html = HOST_PAGE.read_text(encoding="utf-8")
    return (
        html.replace("{{LIVEDESK}}", livedesk)
        .replace("{{ENTRY}}", entry)
        .replace("{{TOKEN}}", token)
    )


def customer_token(sub: str, tier: str) -> str:
    return mint_customer(sub, tier, SECRET, name=VISITOR, ttl_s=900)


def watch_for_errors(page: Page, name: str, errors: list[str]) -> None:
    """Script errors and failed requests are bugs (except those a case expects)."""
    page.on("pageerror", lambda exc: errors.append(f"{name}: page error: {exc}"))

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and not resp.url.endswith("/favicon.ico"):
            errors.append(f"{name}: HTTP {resp.status} {resp.url}")

    page.on("response", on_response)


async def open_host(page: Page, url: str) -> None:
    """Load a host page and wait for the widget's first availability answer."""
    async with page.expect_response(lambda r: "/availability?" in r.url) as answer:
        await page.goto(url)
    assert (await answer.value).status == 200


async def open_widget(page: Page) -> Any:
    launcher = page.get_by_test_id("widget-launcher")
    await expect(launcher).to_be_visible()
    await launcher.click()
    panel = page.get_by_role("dialog")
    await expect(panel).to_be_visible()
    return panel


async def log_in_agent(page: Page, server: Any) -> None:
    await page.goto(server.base_url + "/agent")
    await page.get_by_test_id("login-username").fill(server.agent_user)
    await page.get_by_test_id("login-password").fill(server.agent_password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("me-name")).to_have_text(server.agent_name)


# ---------------------------------------------------------------- open hours


async def test_widget_offers_the_channels_open_to_this_visitor(
    livedesk_factory, static_site, browser, screenshot_dir: Path
) -> None:
    server = livedesk_factory(livedesk_config(OPEN_NOW, static_site.origin))
    base = server.base_url
    expect.set_options(timeout=10_000)
    errors: list[str] = []
    premium_url = static_site.add(
        "/orders/123", host_page(base, token=customer_token("c-42", "premium"))
    )
    standard_url = static_site.add(
        "/orders/124", host_page(base, token=customer_token("c-43", "standard"))
    )

    ctx = await browser()
    page = await first_page(ctx)
    watch_for_errors(page, "host", errors)
    await page.set_viewport_size({"width": 1280, "height": 800})

    # ---------------------------------------------------------------- (a) premium: chat and video
    await open_host(page, premium_url)
    launcher = page.get_by_test_id("widget-launcher")
    await expect(launcher).to_be_visible()
    await expect(launcher).to_have_text("Help")
    await expect(launcher).to_have_attribute("aria-label", "Open Northwind help")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    # the page's own CSS (dashed yellow uppercase buttons, serif everywhere) stays outside
    style = await launcher.evaluate(
        "b => { const s = getComputedStyle(b);"
        " return [s.backgroundColor, s.textTransform, s.borderStyle, s.fontFamily]; }"
    )
    assert style[0] == BLUE and style[1] == "none" and style[2] == "none", style
    assert "Georgia" not in style[3], style

    panel = await open_widget(page)
    await expect(panel).to_have_attribute("aria-modal", "true")
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(panel.get_by_test_id("widget-title")).to_have_text("Northwind help")
    channels = panel.get_by_test_id("widget-channel")
    await expect(channels).to_have_count(2)
    await expect(channels.nth(0)).to_have_attribute("data-channel", "chat")
    await expect(channels.nth(0)).to_contain_text("Chat")
    await expect(channels.nth(1)).to_have_attribute("data-channel", "video")
    await expect(channels.nth(1)).to_contain_text("Video help")
    await expect(channels.nth(1)).to_contain_text("Available now")
    await expect(panel.get_by_test_id("widget-closed-channel")).to_have_count(0)
    await expect(panel.get_by_test_id("widget-fallback")).to_be_hidden()
    # focus moved into the dialog; Escape closes it and gives focus back
    await expect(channels.nth(0)).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(panel).to_be_visible()
    await page.screenshot(
        path=str(screenshot_dir / "widget-open-premium-1280.png"), animations="disabled"
    )

    # video opens the customer page in the panel, as this premium customer
    await channels.nth(1).click()
    frame_el = panel.get_by_test_id("widget-frame")
    await expect(frame_el).to_be_visible()
    src = await frame_el.get_attribute("src")
    assert src is not None
    parts = urlsplit(src)
    assert f"{parts.scheme}://{parts.netloc}" == base
    assert parts.path == f"/l/{ENTRY}"
    assert "channel=video" in parts.query
    assert f"page={quote(premium_url, safe='')}" in parts.query
    assert parts.fragment.startswith("ct="), "the token travels in the fragment only"
    assert "ct=" not in parts.query
    frame = page.frame_locator('[data-testid="widget-frame"]')
    await frame.get_by_test_id("name-input").fill(VISITOR)
    await frame.get_by_test_id("composer-input").fill("Can you show me how to fold the hood?")
    await frame.get_by_test_id("send").click()
    # the session started: the premium token made it through, video was allowed
    await expect(frame.get_by_test_id("queue-status")).to_be_visible()
    inner = next(f for f in page.frames if f.url.startswith(base + "/l/"))
    assert "#ct=" not in inner.url, "the customer page takes the token out of its address"
    await page.screenshot(path=str(screenshot_dir / "widget-frame-1280.png"), animations="disabled")
    await panel.get_by_test_id("widget-back").click()
    await expect(channels).to_have_count(2)
    await expect(channels.nth(0)).to_be_focused()

    # ---------------------------------------------------------------- (b) standard: chat only
    await open_host(page, standard_url)
    panel = await open_widget(page)
    channels = panel.get_by_test_id("widget-channel")
    await expect(channels).to_have_count(1)
    await expect(channels).to_have_attribute("data-channel", "chat")
    closed = panel.get_by_test_id("widget-closed-channel")
    await expect(closed).to_have_count(1)
    await expect(closed).to_have_attribute("data-channel", "video")
    await expect(closed).to_have_attribute("data-reason", "tier")
    await expect(closed).to_contain_text("Video help")
    await expect(closed).to_contain_text(TIER_MESSAGE)
    await expect(panel.get_by_test_id("widget-fallback")).to_be_hidden()
    await page.screenshot(
        path=str(screenshot_dir / "widget-open-standard-1280.png"), animations="disabled"
    )

    # on a phone, a channel opens in a new tab instead of the panel
    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(panel).to_be_visible()
    box = await panel.bounding_box()
    width = await page.evaluate("document.documentElement.clientWidth")
    assert box is not None and box["x"] == 0 and box["width"] == width, box
    await page.screenshot(
        path=str(screenshot_dir / "widget-open-standard-390.png"), animations="disabled"
    )
    async with ctx.expect_page() as opened:
        await channels.click()
    tab = await opened.value
    watch_for_errors(tab, "tab", errors)
    await tab.wait_for_load_state()
    await expect(tab.get_by_test_id("composer-input")).to_be_visible()
    assert tab.url.startswith(f"{base}/l/{ENTRY}?"), tab.url
    assert "channel=chat" in tab.url and "#ct=" not in tab.url
    await tab.close()

    # the customer page refuses video to a standard customer, in the server's words
    forged = (
        f"{base}/l/{ENTRY}?channel=video&page={quote(standard_url, safe='')}"
        f"#ct={customer_token('c-43', 'standard')}"
    )
    customer = await ctx.new_page()
    await customer.goto(forged)
    await customer.get_by_test_id("composer-input").fill("Video please")
    async with customer.expect_response(lambda r: r.url.endswith("/api/sessions")) as refused:
        await customer.get_by_test_id("send").click()
    assert (await refused.value).status == 403
    await expect(customer.locator("#error")).to_have_text(TIER_MESSAGE)
    await customer.close()

    # ---------------------------------------------------------------- excluded page: no widget
    checkout_url = static_site.add("/checkout/pay", host_page(base))
    await open_host(page, checkout_url)
    await expect(page.get_by_test_id("widget-launcher")).to_be_hidden()

    # ---------------------------------------------------------------- (d) a foreign origin
    foreign = await ctx.new_page()
    foreign_errors: list[str] = []
    foreign.on("pageerror", lambda exc: foreign_errors.append(str(exc)))
    static_site.add("/elsewhere", host_page(base))
    await foreign.goto(static_site.foreign_origin + "/elsewhere")
    availability = f"{base}/api/entry/{ENTRY}/availability?page=x"
    outcome = await foreign.evaluate(
        """async ([url, post]) => {
          const out = {};
          try { const r = await fetch(url); out.read = r.status; }
          catch (e) { out.read = "blocked"; }
          try {
            const r = await fetch(post, { method: "POST", headers: {"Content-Type": "application/json"},
              body: JSON.stringify({name: "Eve", contact: "eve@example.com"}) });
            out.post = r.status;
          } catch (e) { out.post = "blocked"; }
          return out;
        }""",
        [availability, f"{base}/api/entry/{ENTRY}/callback"],
    )
    assert outcome == {"read": "blocked", "post": "blocked"}
    await expect(foreign.get_by_test_id("widget-launcher")).to_have_count(0)
    assert not foreign_errors
    # ... and the company's origin may read it (the same request, for contrast)
    assert await page.evaluate("url => fetch(url).then(r => r.status)", availability) == 200

    assert not errors, "\n".join(errors)


# ---------------------------------------------------------------- after hours


async def test_widget_after_hours_takes_a_call_back_for_the_console(
    livedesk_factory, static_site, browser, screenshot_dir: Path
) -> None:
    server = livedesk_factory(livedesk_config(CLOSED_NOW, static_site.origin))
    expect.set_options(timeout=10_000)
    errors: list[str] = []
    url = static_site.add("/orders/123", host_page(server.base_url))

    ctx = await browser()
    page = await first_page(ctx)
    watch_for_errors(page, "host", errors)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await open_host(page, url)

    # ---------------------------------------------------------------- (c) closed: why, and when
    panel = await open_widget(page)
    await expect(panel.get_by_test_id("widget-channel")).to_have_count(0)
    status = panel.get_by_test_id("widget-status")
    await expect(status).to_have_text(CLOSED_MESSAGE)
    await expect(status).to_contain_text("09:00")
    await expect(status).to_contain_text("Asia/Seoul")
    await expect(panel.get_by_test_id("widget-subtitle")).to_have_text("Not available right now")
    fallback = panel.get_by_test_id("widget-fallback")
    await expect(fallback).to_be_visible()
    await expect(panel.get_by_test_id("widget-tab-callback")).to_have_attribute(
        "aria-selected", "true"
    )
    form = panel.get_by_test_id("widget-form-callback")
    await expect(form).to_be_visible()
    await expect(form.get_by_label("Your name")).to_be_visible()
    await expect(form.get_by_label("Phone or e-mail")).to_be_visible()
    await expect(form.get_by_label("Preferred time (optional)")).to_be_visible()
    await page.screenshot(
        path=str(screenshot_dir / "widget-closed-1280.png"), animations="disabled"
    )

    # the server's refusal shows inline, at the field it names
    await form.get_by_label("Your name").fill(VISITOR)
    await form.get_by_label("Phone or e-mail").fill("call me")
    async with page.expect_response(lambda r: r.url.endswith("/callback")) as bad:
        await panel.get_by_test_id("widget-submit-callback").click()
    assert (await bad.value).status == 400
    errors.remove(f"host: HTTP 400 {server.base_url}/api/entry/{ENTRY}/callback")
    contact_error = form.get_by_test_id("widget-error-contact")
    await expect(contact_error).to_have_text("Please give a phone number or an e-mail address.")
    await expect(form.get_by_label("Phone or e-mail")).to_have_attribute("aria-invalid", "true")
    await expect(form.get_by_label("Phone or e-mail")).to_be_focused()

    await form.get_by_label("Phone or e-mail").fill(PHONE)
    await form.get_by_label("Preferred time (optional)").fill(PREFERRED)
    await panel.get_by_test_id("widget-submit-callback").click()
    done = panel.get_by_test_id("widget-done-callback")
    await expect(done).to_be_visible()
    await expect(done).to_have_text("Thank you! We will call you back as soon as we can.")
    await expect(form).to_be_hidden()
    await page.screenshot(
        path=str(screenshot_dir / "widget-callback-done-1280.png"), animations="disabled"
    )

    # on a phone the panel is a full-width sheet
    await page.set_viewport_size({"width": 390, "height": 844})
    await panel.get_by_test_id("widget-tab-message").click()
    box = await panel.bounding_box()
    width = await page.evaluate("document.documentElement.clientWidth")
    assert box is not None and box["x"] == 0 and box["width"] == width, box
    await page.screenshot(path=str(screenshot_dir / "widget-closed-390.png"), animations="disabled")

    # ---------------------------------------------------------------- the agent's list
    agent_ctx = await browser()
    agent = await first_page(agent_ctx)
    watch_for_errors(agent, "agent", errors)
    await agent.set_viewport_size({"width": 1280, "height": 800})
    await log_in_agent(agent, server)
    items = agent.get_by_test_id("fallback-item")
    await expect(items).to_have_count(1)
    callback = agent.locator('[data-testid="fallback-item"][data-kind="callback"]')
    await expect(callback).to_have_attribute("data-kind", "callback")
    await expect(callback.get_by_test_id("fallback-name")).to_have_text(VISITOR)
    await expect(callback.get_by_test_id("fallback-contact")).to_have_text(PHONE)
    await expect(callback.get_by_test_id("fallback-time")).to_have_text(PREFERRED)
    await expect(callback).to_contain_text(url)

    # a message left now reaches the open console without a reload
    message_form = panel.get_by_test_id("widget-form-message")
    await message_form.get_by_label("Your name").fill(VISITOR)
    await message_form.get_by_label("Phone or e-mail").fill(EMAIL)
    await message_form.get_by_label("Your message").fill(LEFT_MESSAGE)
    await panel.get_by_test_id("widget-submit-message").click()
    await expect(panel.get_by_test_id("widget-done-message")).to_be_visible()
    await expect(items).to_have_count(2)
    message = agent.locator('[data-testid="fallback-item"][data-kind="message"]')
    await expect(message.get_by_test_id("fallback-contact")).to_have_text(EMAIL)
    await expect(message.get_by_test_id("fallback-text")).to_have_text(LEFT_MESSAGE)
    await agent.screenshot(
        path=str(screenshot_dir / "agent-fallbacks-1280.png"), animations="disabled"
    )

    # done: it leaves the list
    await callback.get_by_test_id("fallback-done").click()
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-kind", "message")

    # a Korean visitor reads the widget and the server's reasons in Korean
    korean = await ctx.new_page()
    watch_for_errors(korean, "korean", errors)
    await korean.set_extra_http_headers({"Accept-Language": "ko-KR,ko;q=0.9"})
    await open_host(korean, url)
    await expect(korean.get_by_test_id("widget-launcher")).to_have_text("상담하기")
    ko_panel = await open_widget(korean)
    ko_closed = t(
        "entry.reason.closed_hours", "ko", {"opens": "Wed 09:00", "timezone": "Asia/Seoul"}
    )
    await expect(ko_panel.get_by_test_id("widget-status")).to_have_text(ko_closed)
    await expect(ko_panel.get_by_test_id("widget-tab-callback")).to_have_text("전화 요청")

    assert not errors, "\n".join(errors)


def test_the_widget_string_table_matches_the_server() -> None:
    """widget.js carries a copy of its strings for pages where the server sends none."""
    source = WIDGET_JS.read_text(encoding="utf-8")
    found = re.search(r"var STRINGS = (\{.*?\n  \});", source, re.S)
    assert found, "widget.js: var STRINGS = {...}; not found"
    table = json.loads(found.group(1))
    assert set(table) == {"en", "ko"}
    assert set(table["en"]) == set(table["ko"])
    # every key the widget reads is in its own table (the server's may still lack some)
    used = set(re.findall(r"""\bt\(\s*"([a-z][\w.]+)\"""", source))
    for labels in re.findall(r"[A-Z_]*LABELS = \{([^{}]*)\}", source):
        used |= set(re.findall(r'"([a-z][\w]*\.[\w.]+)"', labels))
    assert {"widget.launcher", "widget.callback.tab", "widget.error.contact"} <= used
    assert used <= set(table["en"]), sorted(used - set(table["en"]))
    missing = sorted(k for k in table["en"] if k not in STRINGS)
    different = {
        (key, lang): (text, STRINGS[key][lang])
        for lang, texts in table.items()
        for key, text in texts.items()
        if key in STRINGS and STRINGS[key][lang] != text
    }
    assert different == {}, "widget.js and signaling/i18n.py disagree"
    assert missing == [], "signaling/i18n.py lacks strings widget.js carries"


# ---------------------------------------------------------------- live updates


async def test_widget_updates_when_an_agent_becomes_available(
    livedesk_factory, static_site, browser
) -> None:
    server = livedesk_factory(livedesk_config(OPEN_NOW, static_site.origin))
    expect.set_options(timeout=10_000)
    errors: list[str] = []
    url = static_site.add("/help", host_page(server.base_url, entry=LIVE_ENTRY))

    ctx = await browser()
    page = await first_page(ctx)
    watch_for_errors(page, "host", errors)
    await page.clock.install()
    await open_host(page, url)
    panel = await open_widget(page)
    # chat needs a free agent, and nobody is logged in
    await expect(panel.get_by_test_id("widget-status")).to_have_text(NO_AGENT_MESSAGE)
    await expect(panel.get_by_test_id("widget-fallback")).to_be_visible()
    await expect(panel.get_by_test_id("widget-channel")).to_have_count(0)

    agent = await first_page(await browser())
    await log_in_agent(agent, server)
    status = agent.get_by_test_id("status-select")
    await status.select_option("available")
    await expect(status).to_have_attribute("data-confirmed", "available")

    # no reload: the widget asks again every 30 s
    async with page.expect_response(lambda r: "/availability?" in r.url):
        await page.clock.run_for(31_000)
    channel = panel.get_by_test_id("widget-channel")
    await expect(channel).to_have_count(1)
    await expect(channel).to_have_attribute("data-channel", "chat")
    await expect(panel.get_by_test_id("widget-fallback")).to_be_hidden()
    await expect(panel.get_by_test_id("widget-status")).to_be_hidden()

    # and when the page becomes visible again
    await status.select_option("offline")
    await expect(status).to_have_attribute("data-confirmed", "offline")
    async with page.expect_response(lambda r: "/availability?" in r.url):
        await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await expect(panel.get_by_test_id("widget-channel")).to_have_count(0)
    await expect(panel.get_by_test_id("widget-status")).to_have_text(NO_AGENT_MESSAGE)

    assert not errors, "\n".join(errors)
