"""Hostile strings render as text on every page, in a real Chromium (issue 9, point 5).

A corpus of hostile strings (``<img onerror>``, ``<script>``, ``javascript:`` links in
several spellings, SVG, ``<iframe srcdoc>``, attribute breakouts, ``</textarea>``,
``</title>``, ``<style>``, template syntax, an RTL override, a very long string) goes in
everywhere a person can put text: chat both ways, the customer's name (typed, and from a
company's token), the agent's and the reviewer's display names, the page a session came
from, call-back requests and left messages, a transfer's queue, an invitation's name, the
entry's title and greeting, the bot's reasons and answers, a scorecard's labels, the
transcript, its flags, review comments and the QA search box. Then the customer page,
the widget on a company's page, the agent console, the QA app and the admin page are
opened and checked for what a person would see: the string exactly as typed.

Every payload records itself if it ever runs: it calls ``__xss(n)`` (defined by an init
script; it logs ``XSS-EXECUTED n``), calls ``alert`` (a dialog), or loads an image from a
loopback "beacon" server that counts requests. The browser contexts bypass the pages'
Content-Security-Policy on purpose: CSP would stop an injected handler from running and
so hide an escaping bug. The policy is checked on its own, from the response headers of
every page the test opens (no ``'unsafe-inline'`` or ``'unsafe-eval'`` in script-src).

Besides "nothing ran", each page is scanned for markup that should not be there: any
``on*`` attribute, ``srcdoc``, a link whose protocol is not http(s), a script that is
not one of livedesk's own files or JSON blocks, ``<base>``, ``<object>``, ``<embed>``, a
refresh ``<meta>``, a beacon ``<img>`` or the corpus's ``<style>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest

from signaling import i18n
from signaling.auth import mint_customer
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    _need,
    run_livedesk,
    staff_login,
)

try:
    from playwright.async_api import expect
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("playwright for Python is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ENTRY = "xss"
TOKEN_SECRET = "xss-browser-test-customer-token-secret-0123456789"
PASSWORD = "xss-browser-pw-1"

# ---------------------------------------------------------------- the corpus


def chat_corpus(beacon: str) -> list[str]:
    """One chat message each; ``n`` in ``__xss(n)`` says which one ran."""
    return [
        "<img src=x onerror=__xss(1)>",
        "<script>__xss(2)</script>",
        "javascript:__xss(3)",
        "[click me](javascript:__xss(4))",
        "<javascript:__xss(5)>",
        "JaVaScRiPt:__xss(6)",
        "java\tscript:__xss(7) java&#x09;script:__xss(7)",
        "&#106;&#97;&#118;&#97;script:__xss(8) &lt;img src=x onerror=__xss(8)&gt;",
        "<svg onload=__xss(9)>",
        "<svg><script>__xss(10)</script></svg>",
        '<iframe srcdoc="<script>parent.__xss(11)</script>"></iframe>',
        '" onmouseover="__xss(12)" autofocus onfocus="__xss(12)" x="',
        "' autofocus onfocus='__xss(13)' x='",
        "` autofocus onfocus=__xss(14) `",
        "</textarea><img src=x onerror=__xss(15)>",
        "</title><img src=x onerror=__xss(16)>",
        "<style>body{display:none!important}/*xss-style*/</style>",
        "${__xss(18)} `${__xss(18)}`",
        "{{ 7*7 }} {% if 1 %}__xss(19){% endif %} {name} {0} $& $1 %s",
        "\u202egnp.exe \u202d\u200f<b>rtl</b>",
        "<details open ontoggle=__xss(21)>x</details>",
        f'<img src="{beacon}/hit/22">',
        '<a href="javascript:__xss(23)">link</a>',
        "<math><mtext><table><mglyph><style><img src=x onerror=__xss(24)>",
        '<object data="javascript:__xss(25)"></object><embed src="javascript:__xss(25)">',
        f'<base href="{beacon}/hit/26/">',
        '<meta http-equiv="refresh" content="0;url=javascript:__xss(27)">',
        "--><img src=x onerror=__xss(28)><!--",
        "]]><img src=x onerror=__xss(29)>",
        '"};__xss(30);//</script><script>__xss(30)</script>',
        "<input autofocus onfocus=alert(31)>",
        'https://example.com/a?b=<i>c</i>&d="e"#<img src=x onerror=__xss(32)>',
        # long: cut at 80 and 500 characters in the QA app, mid-tag
        ("<b>long</b> " * 700)[:7970] + "<img src=x onerror=__xss(33)>",
    ]


# Text the server's configuration or the company's backend supplies; each is checked
# where it shows.
TITLE = (
    'Help</title><script>__xss(101)</script>" autofocus onfocus="__xss(102)" x="'
    "<img src=x onerror=__xss(103)></script><svg onload=__xss(104)> {{ 7*7 }} ${7*7}"
)
GREETING = (
    '<iframe srcdoc="<script>parent.__xss(105)</script>"></iframe>'
    "<style>body{display:none!important}/*xss-style*/</style>"
    '<a href="javascript:__xss(106)">help</a> \u202egnp.exe'
)
BOT_PHRASE = "please call me back"
BOT_REASON = "<img src=x onerror=__xss(110)> \"call' me `now`"
FAQ_PHRASE = "opening hours"
FAQ_ANSWER = "<svg><script>__xss(111)</script></svg> {reason} {name} $& $1"
VIDEO_TIER = "<svg onload=__xss(112)>"  # video is for this tier only: its name is in the reason
FLAG_NAME = "<img src=x onerror=__xss(120)>\"'"
CRITERION_LABEL = '<b>bold</b><img src=x onerror=__xss(121)>"'

# display names (no markup filter on them, on purpose)
MALLORY = ("mallory", "Mal<img src=x onerror=__xss(130)>\"'><svg onload=__xss(131)>", "agent")
EVE = ("eve", "Eve</option><img src=x onerror=__xss(132)>", "agent")
QUINN = ("quinn", "Q</title><script>__xss(133)</script>", "qa")
ADA = ("ada", 'Ada<iframe srcdoc="<script>parent.__xss(134)</script>">', "admin")

# customers
TOKEN_NAME = "J<img src=x onerror=__xss(140)>'\"`${__xss(141)}"
TOKEN_TIER = "<img src=x onerror=__xss(144)>"
TYPED_NAME = 'T"><svg onload=__xss(142)>{{7*7}}'
LINK_SUB = "sub<script>__xss(143)</script>"
LINK_NAME = "L<img src=x onerror=__xss(145)>"
JS_PAGE = "javascript:__xss(150)"
HTTP_PAGE = (
    'https://shop.example.com/p?q="><img src=x onerror=__xss(151)>&r=<svg/onload=__xss(152)>'
)
SKILL = "q<img src=x onerror=__xss(155)>"
INVITE_NAME = "I<svg onload=__xss(156)>"
DISPOSITION = "</textarea><img src=x onerror=__xss(157)>"
NOTES = "</textarea><script>__xss(158)</script>"

CALLBACK = {
    "name": "<img src=x onerror=__xss(160)>",
    "contact": "<svg/onload=__xss(161)>@x.co",
    "preferred_time": '" autofocus onfocus="__xss(162)',
    "note": "</textarea><script>__xss(163)</script>",
    "page": "JaVaScRiPt:__xss(153)",
}
MESSAGE = {
    "name": "' autofocus onfocus='__xss(164)",
    "contact": "+1 (555) 010-0000",
    "text": ("<img src=x onerror=__xss(165)>\n" * 200)[:3999],
    "page": " java\tscript:__xss(154)",
}

TRANSCRIPT = [
    ("agent", "<img src=x onerror=__xss(170)> thank you for calling"),
    ("customer", "i want a refund </textarea><script>__xss(171)</script>"),
    ("agent", '" autofocus onfocus="__xss(172)" <svg onload=__xss(173)>'),
    ("customer", "{{ 7*7 }} ${__xss(174)} \u202egnp.exe"),
]
COMMENT = '<img src=x onerror=__xss(180)> " autofocus onfocus="__xss(181)'
SCORE_COMMENT = '" autofocus onfocus="__xss(182)" x="</textarea>'
QUERY = '"><img src=x onerror=__xss(190)> onerror'
REFUSED_FILTER = '"><svg onload=__xss(191)>'


COBROWSE_FIXTURE = Path(__file__).parent.parent / "fixtures" / "cobrowse" / "shop_events.json"
COBROWSE_TEXT = "<img src=x onerror=__xss(200)> </textarea><script>__xss(201)</script>"


def hostile_page_events() -> list[dict[str, Any]]:
    """A real rrweb batch from the demo shop (meta + full snapshot) whose page a hostile
    customer has filled with live markup: handlers, scripts, ``srcdoc``, a ``javascript:``
    link, an SVG ``onload``. The replayer must rebuild it without running any of it."""
    events = json.loads(COBROWSE_FIXTURE.read_text())
    events[0]["data"]["href"] = "https://shop.example.com/<img src=x onerror=__xss(209)>"
    say = "console.error('XSS-EXECUTED {}')"  # no __xss in a frame scripts cannot use

    def el(n: int, tag: str, attributes: dict[str, str], *kids: dict[str, Any]) -> Any:
        return {"type": 2, "tagName": tag, "attributes": attributes, "childNodes": list(kids),
                "id": 1000 + n}  # fmt: skip

    def text(n: int, value: str) -> dict[str, Any]:
        return {"type": 3, "textContent": value, "id": 1000 + n}

    hostile = [
        el(1, "p", {"id": "xss-text"}, text(2, COBROWSE_TEXT)),
        el(3, "img", {"src": "x", "onerror": say.format(202)}),
        el(4, "script", {}, text(5, say.format(203))),
        el(6, "iframe", {"srcdoc": f"<script>{say.format(204)}</script>"}),
        el(7, "a", {"id": "xss-link", "href": f"javascript:{say.format(205)}"}, text(8, "link")),
        {**el(9, "svg", {"onload": say.format(206)}), "isSVG": True},
        el(10, "details", {"open": "", "ontoggle": say.format(207)}, text(11, "x")),
        el(12, "input", {"autofocus": "", "onfocus": say.format(208)}),
    ]

    def body(node: dict[str, Any]) -> dict[str, Any] | None:
        if node.get("tagName") == "body":
            return node
        for kid in node.get("childNodes", []):
            found = body(kid)
            if found is not None:
                return found
        return None

    found = body(events[1]["data"]["node"])
    assert found is not None
    found["attributes"]["onload"] = say.format(210)
    found["childNodes"].extend(hostile)
    return events


async def cobrowse_agreed(asker: Any, customer: Any, sid: str) -> None:
    """The customer (a protocol client) agrees to co-browse, when ``asker`` (a protocol
    client, or None when the console's button asked) has asked."""
    if asker is not None:
        await asker.request("channel.request", session=sid, channel="cobrowse")
    await customer.wait_for(
        lambda m: (
            m.get("type") == "event"
            and m["event"]["kind"] == "channel.offered"
            and m["event"]["data"].get("channel") == "cobrowse"
        )
    )
    await customer.request("channel.respond", session=sid, channel="cobrowse", accept=True)


def toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, for what the corpus holds)."""
    return json.dumps(value, ensure_ascii=False)


def server_config(site_origin: str) -> str:
    return f"""
[server]
demo = false

[media]
host_addresses = ["127.0.0.1"]

[recording]
render = false
transcribe = false

[customer_tokens]
secret = "{TOKEN_SECRET}"

[[qa.scorecard]]
id = "greeting"
label = {toml_str(CRITERION_LABEL)}

[[qa.scorecard]]
id = "tone"
label = "Tone"
kind = "scale"

[entries.{ENTRY}]
title = {toml_str(TITLE)}
greeting = {toml_str(GREETING)}
channels = ["chat", "voice", "video", "cobrowse"]
site_origins = ["{site_origin}"]

[entries.{ENTRY}.rules.video]
tiers = [{toml_str(VIDEO_TIER)}]

[[entries.{ENTRY}.bot.rules]]
channel = "voice"
reason = {toml_str(BOT_REASON)}
phrases = ["{BOT_PHRASE}"]

[[entries.{ENTRY}.bot.faq]]
answer = {toml_str(FAQ_ANSWER)}
phrases = ["{FAQ_PHRASE}"]

[[entries.{ENTRY}.transcription.flags]]
name = {toml_str(FLAG_NAME)}
phrases = ["refund"]
speaker = "customer"
"""


# ---------------------------------------------------------------- beacon and company site


@dataclass
class Beacon:
    """A loopback HTTP server: counts ``/hit/...`` requests, serves the company's pages."""

    port: int = 0
    hits: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    b = Beacon()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/hit/"):
                b.hits.append(path)
                self.send_error(404)
                return
            html = b.pages.get(path)
            if html is None:
                self.send_error(404)
                return
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    b.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, name="xss-beacon", daemon=True)
    thread.start()
    try:
        yield b
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def add_staff(server: Server, *people: tuple[str, str, str]) -> None:
    """Staff accounts with hostile display names, written to the running server's archive
    the way ``livedesk user add`` writes them."""
    from signaling import archive, auth, config

    cfg = config.from_dict({"server": {"data_dir": str(server.data_dir)}})
    password_hash = auth.hash_password(PASSWORD)

    async def put(db: archive.Archive) -> None:
        for username, name, role in people:
            user = archive.User(
                username=username,
                display_name=name,
                role=role,
                skills=(),
                tiers=(),
                capacity=3,
                password_hash=password_hash,
            )
            await db.put_user(user, now=time.time())

    archive.blocking(cfg, put)


@pytest.fixture(scope="module")
def xss_server(beacon: Beacon) -> Iterator[Server]:
    # the widget's company site is the beacon's origin under another host name
    with run_livedesk(server_config(f"http://localhost:{beacon.port}")) as server:
        add_staff(server, MALLORY, EVE, QUINN, ADA)
        yield server


# ---------------------------------------------------------------- the browser side

INIT_SCRIPT = """
(() => {
  const report = (n) => { try { console.error("XSS-EXECUTED " + n); } catch (e) {} };
  window.__xss = report;
})();
"""

# Markup that must not be on a page, wherever it came from: run on the page and on
# every open shadow root. ``own`` is livedesk's origin (its scripts are allowed).
SCAN = """
([own, beacon]) => {
  const out = [];
  const all = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      all.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  for (const el of all) {
    const tag = el.tagName.toLowerCase();
    for (const a of Array.from(el.attributes)) {
      if (/^on/i.test(a.name)) out.push(`${tag}[${a.name}="${a.value.slice(0, 40)}"]`);
      if (a.name === "srcdoc") out.push(`${tag}[srcdoc]`);
    }
    if ((tag === "a" || tag === "area") && el.hasAttribute("href")) {
      if (!/^https?:$/.test(el.protocol)) out.push(`${tag}[href="${el.getAttribute("href")}"]`);
    }
    if (tag === "script") {
      const src = el.getAttribute("src");
      const type = el.getAttribute("type");
      if (src === null) {
        if (type !== "application/json") out.push("inline script: " + el.textContent.slice(0, 60));
      } else {
        const u = new URL(src, location.href);
        const mine = (u.origin === own || u.origin === location.origin) &&
          (u.pathname.startsWith("/static/") || u.pathname.startsWith("/vendor/"));
        if (!mine) out.push("script src=" + src);
      }
    }
    if (tag === "base" || tag === "object" || tag === "embed") out.push(tag);
    if (tag === "meta" && el.hasAttribute("http-equiv")) out.push("meta http-equiv");
    if (tag === "img") {
      const src = el.getAttribute("src") || "";
      if (src === "x" || src.startsWith(beacon)) out.push("img src=" + src);
    }
    if (tag === "style" && el.textContent.includes("xss-style")) out.push("corpus <style>");
  }
  return out;
}
"""


@dataclass
class Watch:
    """What went wrong in any page of a test: payloads that ran, bad markup, weak CSP."""

    own: str
    executed: list[str] = field(default_factory=list)
    markup: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    inert_frames: list[str] = field(default_factory=list)
    _tasks: set[Any] = field(default_factory=set)

    def attach(self, page: Any, name: str) -> None:
        def on_console(msg: Any) -> None:
            if "XSS-EXECUTED" in msg.text:
                self.executed.append(f"{name}: {msg.text}")

        def on_dialog(dialog: Any) -> None:
            self.executed.append(f"{name}: dialog {dialog.type}: {dialog.message}")
            task = asyncio.ensure_future(dialog.dismiss())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        def on_error(exc: Any) -> None:
            text = str(exc)
            # a payload that ran in a frame without __xss, or a broken page script
            if "__xss" in text:
                self.executed.append(f"{name}: {text}")
            else:
                self.errors.append(f"{name}: page error: {text}")

        def on_response(resp: Any) -> None:
            if resp.request.resource_type != "document" or not resp.url.startswith(self.own):
                return
            policy = resp.headers.get("content-security-policy")
            where = f"{name}: {urlsplit(resp.url).path}"
            if not policy:
                self.csp.append(f"{where}: no Content-Security-Policy")
                return
            directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
            script = directives.get("script-src", directives.get("default-src"))
            if script is None:
                self.csp.append(f"{where}: no script-src or default-src")
            elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(
                script
            ):
                self.csp.append(f"{where}: script-src {' '.join(script)}")

        page.on("console", on_console)
        page.on("dialog", on_dialog)
        page.on("pageerror", on_error)
        page.on("response", on_response)

    async def scan(self, page: Any, name: str, beacon: Beacon) -> None:
        """Bad markup on the page and in its frames, now.

        A co-browse replay mirrors the customer's page, markup and all, by design: its
        frames are not scanned but must be inert (inside an iframe sandboxed without
        ``allow-scripts``); that nothing in them ran is still checked.
        """
        for frame in page.frames:
            if await inert(frame):
                self.inert_frames.append(f"{name}: {frame.url[:80]}")
                continue
            try:
                found = await frame.evaluate(SCAN, [self.own, beacon.url])
            except Exception as exc:  # a frame navigating away: its next page is scanned
                if "Execution context was destroyed" in str(exc) or "detached" in str(exc):
                    continue
                raise
            self.markup.extend(f"{name} ({frame.url[:80]}): {x}" for x in found)

    async def check(self, page: Any, name: str, beacon: Beacon) -> None:
        """Scan now and fail at once on anything found so far (the test ends with
        ``assert_clean`` too, for what shows up late)."""
        await self.scan(page, name, beacon)
        self.assert_clean(beacon)

    def assert_clean(self, beacon: Beacon) -> None:
        """Fail with everything found: payloads that ran, beacon loads, markup, CSP."""
        problems = [
            *(f"executed: {x}" for x in self.executed),
            *(f"beacon loaded: {x}" for x in beacon.hits),
            *(f"markup: {x}" for x in self.markup),
            *(f"CSP: {x}" for x in self.csp),
            *self.errors,
        ]
        assert not problems, "\n".join(problems)


async def inert(frame: Any) -> bool:
    """The frame, or one it is nested in, is an iframe sandboxed without scripts."""
    while frame.parent_frame is not None:
        try:
            element = await frame.frame_element()
            sandbox = await element.get_attribute("sandbox")
        except Exception:  # detached meanwhile: scan() skips it the same way
            return False
        if sandbox is not None and "allow-scripts" not in sandbox.split():
            return True
        frame = frame.parent_frame
    return False


NewPage = Callable[[str], Awaitable[Any]]


@pytest.fixture
async def hostile_pages(xss_server: Server, beacon: Beacon) -> AsyncIterator[tuple[NewPage, Watch]]:
    """Pages, each in its own persistent Chromium profile, watched by one ``Watch``.

    The contexts bypass CSP (see the module docstring); the CSP headers are checked by
    the Watch instead.
    """
    _need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed")
    from playwright.async_api import async_playwright

    watch = Watch(own=xss_server.base_url)
    dirs: list[str] = []
    contexts: list[Any] = []
    beacon.hits.clear()
    async with async_playwright() as p:

        async def new_page(name: str) -> Any:
            profile = tempfile.mkdtemp(prefix="livedesk-xss-")
            dirs.append(profile)
            ctx = await p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, bypass_csp=True
            )
            contexts.append(ctx)
            await ctx.add_init_script(INIT_SCRIPT)
            page = ctx.pages[0] if ctx.pages else await ctx.new_page()
            watch.attach(page, name)
            return page

        try:
            yield new_page, watch
        finally:
            for ctx in contexts:
                with contextlib.suppress(Exception):
                    await ctx.close()
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- helpers


async def texts(locator: Any) -> list[str]:
    """The exact text (textContent) of every element the locator matches."""
    return list(await locator.evaluate_all("ns => ns.map(n => n.textContent)"))


async def text_of(locator: Any) -> str:
    return str(await locator.evaluate("n => n.textContent"))


def customer_token(name: str, tier: str = "standard", sub: str = "c-77") -> str:
    return mint_customer(sub, tier, TOKEN_SECRET, name=name, ttl_s=900)


async def post(http: aiohttp.ClientSession, server: Server, path: str, body: Any, **kw: Any) -> Any:
    headers = {"Origin": server.base_url, **kw.pop("headers", {})}
    async with http.post(server.base_url + path, json=body, headers=headers, **kw) as resp:
        data = await resp.json()
        assert resp.status in (200, 201), (resp.status, data)
        return data


# ---------------------------------------------------------------- the customer page and console


async def test_customer_page_and_agent_console_show_hostile_text_as_text(
    xss_server: Server, beacon: Beacon, hostile_pages: tuple[NewPage, Watch]
) -> None:
    from signaling.client import CustomerClient, StaffClient

    server, (new_page, watch) = xss_server, hostile_pages
    corpus = chat_corpus(beacon.url)
    expect.set_options(timeout=15_000)
    async with (
        aiohttp.ClientSession() as anon,
        aiohttp.ClientSession() as eve_http,
        aiohttp.ClientSession() as mal_http,
    ):
        # a colleague with a hostile name is online (busy: takes no sessions)
        eve = await StaffClient.login(eve_http, server.base_url, EVE[0], PASSWORD)
        await eve.set_status("busy")
        # a call-back request and a left message, as the closed-hours forms send them
        await post(anon, server, f"/api/entry/{ENTRY}/callback", CALLBACK)
        await post(anon, server, f"/api/entry/{ENTRY}/message", MESSAGE)

        agent = await new_page("agent")
        await agent.set_viewport_size({"width": 1280, "height": 900})
        await staff_login(agent, server, MALLORY[0], PASSWORD)
        status = agent.get_by_test_id("status-select")
        await status.select_option("busy")
        await expect(status).to_have_attribute("data-confirmed", "busy")

        # a customer the company's backend vouches for: name and tier from its token
        vouched = await CustomerClient.start(
            anon,
            server.base_url,
            entry=ENTRY,
            text=corpus[0],
            page=HTTP_PAGE,
            customer_token=customer_token(TOKEN_NAME, TOKEN_TIER),
        )
        # and one in the browser who types a hostile name, from a javascript: "page"
        customer = await new_page("customer")
        await customer.set_viewport_size({"width": 420, "height": 900})
        await customer.goto(f"{server.base_url}/l/{ENTRY}?page={quote(JS_PAGE, safe='')}")
        await customer.get_by_test_id("name-input").fill(TYPED_NAME)
        composer = customer.get_by_test_id("composer-input")
        await composer.fill(corpus[1])
        await composer.press("Enter")
        await expect(customer.get_by_test_id("queue-status")).to_be_visible()

        # ------------------------------------------------ the console before accepting
        queue = agent.get_by_test_id("queue-item")
        await expect(queue).to_have_count(2)
        items = agent.get_by_test_id("fallback-item")
        await expect(items).to_have_count(2)
        await watch.check(agent, "agent console, queue", beacon)
        by_session = agent.locator(f'[data-testid="queue-item"][data-session="{vouched.session}"]')
        assert await text_of(by_session.locator('[data-ref="name"]')) == TOKEN_NAME
        assert await text_of(by_session.locator('[data-ref="page"]')) == HTTP_PAGE
        assert await text_of(by_session.locator('[data-ref="tier"]')) == TOKEN_TIER
        assert TYPED_NAME in await texts(
            agent.locator('[data-testid="queue-item"] [data-ref="name"]')
        )
        assert JS_PAGE in await texts(agent.locator('[data-testid="queue-item"] [data-ref="page"]'))
        assert EVE[1] in await texts(agent.locator('[data-testid="agent-row"] [data-ref="name"]'))
        assert await text_of(agent.get_by_test_id("me-name")) == MALLORY[1]
        assert await texts(agent.locator("#invite-entry option")) == [TITLE]

        assert sorted(await texts(agent.get_by_test_id("fallback-name"))) == sorted(
            [CALLBACK["name"], MESSAGE["name"]]
        )
        assert sorted(await texts(agent.get_by_test_id("fallback-contact"))) == sorted(
            [CALLBACK["contact"], MESSAGE["contact"]]
        )
        assert CALLBACK["preferred_time"] in await texts(agent.get_by_test_id("fallback-time"))
        assert sorted(await texts(agent.get_by_test_id("fallback-text"))) == sorted(
            [CALLBACK["note"], MESSAGE["text"].strip()]
        )
        # neither javascript: "page" became a link
        fallback_pages = await texts(agent.locator(".fallback__url"))
        assert sorted(fallback_pages) == sorted([CALLBACK["page"], MESSAGE["page"]])
        await expect(agent.locator("a.fallback__url")).to_have_count(0)

        # ------------------------------------------------ offers, accepted
        await status.select_option("available")
        for sid in (vouched.session, None):
            offer = agent.get_by_test_id("offer").first
            await expect(offer).to_be_visible()
            offered = await offer.get_attribute("data-session")
            await expect(offer.get_by_test_id("offer-preview")).not_to_have_text("")
            await watch.check(agent, "agent console, offer", beacon)
            if sid is not None:
                assert offered == sid, "the customer who waited longer is offered first"
                assert await text_of(offer.locator('[data-ref="name"]')) == TOKEN_NAME
                page_link = offer.get_by_test_id("offer-page")
                assert await text_of(page_link) == HTTP_PAGE
                # an http(s) page is a link, to exactly that address
                href = await page_link.evaluate("a => a.href")
                assert href.startswith("https://shop.example.com/p?q=")
                await expect(offer.get_by_test_id("offer-preview")).to_have_text(corpus[0])
                assert await text_of(offer.get_by_test_id("offer-preview")) == corpus[0]
            else:
                assert await text_of(offer.locator('[data-ref="name"]')) == TYPED_NAME
                page_node = offer.get_by_test_id("offer-page")
                assert await text_of(page_node) == JS_PAGE
                assert await page_node.evaluate("n => n.tagName") == "SPAN"
            await offer.get_by_test_id("offer-accept").click()
            await expect(
                agent.locator(f'[data-testid="offer"][data-session="{offered}"]')
            ).to_have_count(0)
        tabs = agent.get_by_test_id("session-tab")
        await expect(tabs).to_have_count(2)
        browser_sid = next(
            s
            for s in await tabs.evaluate_all("ts => ts.map(t => t.dataset.session)")
            if s != vouched.session
        )
        vouched_pane = agent.locator(
            f'[data-testid="session-pane"][data-session="{vouched.session}"]'
        )
        browser_pane = agent.locator(f'[data-testid="session-pane"][data-session="{browser_sid}"]')

        # ------------------------------------------------ chat both ways
        # the agent's side of the corpus goes to the browser customer over the protocol (as
        # the same agent), one message through the console's own composer
        mal = await StaffClient.login(mal_http, server.base_url, MALLORY[0], PASSWORD)
        for text in corpus[1:]:
            await mal.say(browser_sid, text)
        await browser_pane.get_by_test_id("composer-input").fill(corpus[0])
        await browser_pane.get_by_test_id("composer-input").press("Enter")
        # the customer's own messages take the same rendering path as the agent's (which
        # carry the whole corpus): a few typed in the page are enough
        typed = [corpus[1], *corpus[10:15], corpus[-1], FAQ_PHRASE + "?", BOT_PHRASE]
        for text in typed[1:]:
            await customer.get_by_test_id("composer-input").fill(text)
            await customer.get_by_test_id("composer-input").press("Enter")
        for text in corpus[1:]:
            await vouched.say(text)
        await vouched.say(BOT_PHRASE)

        customer_log = customer.get_by_test_id("chat-log")
        agent_bubbles = customer_log.locator(".msg--agent .msg__bubble")
        own_bubbles = customer_log.locator(".msg--customer .msg__bubble")
        await expect(agent_bubbles).to_have_count(len(corpus))
        mine = typed
        await expect(own_bubbles).to_have_count(len(mine))
        await expect(customer_log).to_contain_text(FAQ_ANSWER)
        # the bot proposes a voice call with the entry's reason: the consent question
        consent = customer.get_by_test_id("consent-text")
        await expect(consent).to_be_visible()
        await watch.check(customer, "customer page", beacon)
        assert (await text_of(consent)).endswith(": " + BOT_REASON)
        await customer.get_by_test_id("consent-decline").click()
        assert sorted(await texts(agent_bubbles)) == sorted(corpus)
        assert sorted(await texts(own_bubbles)) == sorted(mine)
        assert set(await texts(customer_log.locator(".msg--agent .msg__name"))) == {MALLORY[1]}
        joined = i18n.t("customer.agent_joined", "en", {"name": MALLORY[1]})
        assert joined in await texts(customer_log.locator(".notice__text"))
        assert await text_of(customer.get_by_test_id("agent-name")) == MALLORY[1]
        assert await text_of(customer.get_by_test_id("entry-title")) == TITLE
        assert await text_of(customer.locator(".welcome__greeting")) == GREETING
        assert await customer_log.get_attribute("aria-label") == TITLE
        assert TITLE in await customer.title()
        # the agent's name in "... is typing"
        await browser_pane.get_by_test_id("composer-input").press_sequentially("typing", delay=20)
        typing = customer.get_by_test_id("typing")
        await expect(typing).to_be_visible()
        await watch.check(customer, "customer page, typing", beacon)
        assert await text_of(typing) == i18n.t("customer.typing", "en", {"name": MALLORY[1]})
        await browser_pane.get_by_test_id("composer-input").fill("")

        for pane, name, theirs in (
            (browser_pane, TYPED_NAME, mine),
            (vouched_pane, TOKEN_NAME, [*corpus, BOT_PHRASE]),
        ):
            await agent.locator(
                f'[data-testid="session-tab"][data-session="{await pane.get_attribute("data-session")}"]'
            ).click()
            log = pane.get_by_test_id("chat-log")
            bubbles = log.locator(".msg--customer .msg__bubble")
            await expect(bubbles).to_have_count(len(theirs))
            await watch.check(agent, "agent console, chat", beacon)
            assert sorted(await texts(bubbles)) == sorted(theirs)
            assert set(await texts(log.locator(".msg--customer .msg__name"))) == {name}
            assert await text_of(pane.locator('[data-ref="name"]').first) == name
        assert sorted(await texts(browser_pane.locator(".msg--agent .msg__bubble"))) == sorted(
            corpus
        )
        await expect(browser_pane.get_by_test_id("chat-log")).to_contain_text(FAQ_ANSWER)
        # the bot's proposal, with the entry's reason, as the console tells it
        await expect(vouched_pane.get_by_test_id("chat-log")).to_contain_text(BOT_REASON)
        # the session's page: an http(s) link to it, and javascript: stays text
        vouched_page = vouched_pane.locator('a[data-ref="page"]')
        assert await text_of(vouched_page) == HTTP_PAGE
        assert (await vouched_page.evaluate("a => a.protocol")) == "https:"
        browser_page = browser_pane.locator('[data-ref="page"]')
        assert await text_of(browser_page) == JS_PAGE
        assert await browser_page.get_attribute("href") is None
        await watch.check(agent, "agent console, chat", beacon)

        # ------------------------------------------------ co-browsing a hostile page
        await agent.locator(
            f'[data-testid="session-tab"][data-session="{vouched.session}"]'
        ).click()
        await vouched.request(
            "channel.respond", session=vouched.session, channel="voice", accept=False
        )
        await vouched_pane.get_by_test_id("ask-cobrowse").click()
        await cobrowse_agreed(None, vouched, vouched.session)
        await vouched.send_cobrowse(hostile_page_events(), snapshot=True)
        replay = vouched_pane.get_by_test_id("cobrowse-view").frame_locator("iframe")
        await expect(replay.locator("#xss-link")).to_be_attached()
        await watch.check(agent, "agent console, co-browse", beacon)
        assert any("co-browse" in f for f in watch.inert_frames), "the replay is sandboxed"
        assert await text_of(replay.locator("#xss-text")) == COBROWSE_TEXT

        # ------------------------------------------------ transfer, wrap-up, invitation
        await vouched_pane.get_by_test_id("transfer").click()
        targets = vouched_pane.get_by_test_id("transfer-agent-select")
        await watch.check(agent, "agent console, transfer", beacon)
        options = await texts(targets.locator('optgroup[data-ref="transfer-agents"] option'))
        assert len(options) == 1 and options[0].startswith(EVE[1] + " · "), options
        await targets.select_option("queue:")
        await vouched_pane.get_by_test_id("transfer-skill").fill(SKILL)
        await vouched_pane.get_by_test_id("transfer-submit").click()
        await expect(vouched_pane.get_by_test_id("chat-log")).to_contain_text(SKILL)

        await agent.locator(f'[data-testid="session-tab"][data-session="{browser_sid}"]').click()
        await browser_pane.get_by_test_id("wrapup").click()
        await browser_pane.get_by_test_id("disposition").fill(DISPOSITION)
        await browser_pane.get_by_test_id("notes").fill(NOTES)
        await browser_pane.get_by_test_id("complete").click()
        await expect(
            agent.locator(f'[data-testid="session-tab"][data-session="{browser_sid}"]')
        ).to_have_count(0)
        left = customer_log.locator('[data-kind="session.agent_left"]')
        await expect(left).to_have_text(i18n.t("customer.agent_left", "en", {"name": MALLORY[1]}))
        assert await text_of(left) == i18n.t("customer.agent_left", "en", {"name": MALLORY[1]})

        await agent.get_by_test_id("invite-name").fill(INVITE_NAME)
        await agent.get_by_test_id("invite-create").click()
        await expect(agent.get_by_test_id("invite-link")).not_to_have_value("")
        # the case's tab is named exactly as typed
        await agent.wait_for_function(
            """(want) => Array.from(document.querySelectorAll(
                '[data-testid="session-tab"] .tab__name')).some(n => n.textContent === want)""",
            arg=INVITE_NAME,
        )

        await watch.check(agent, "agent console, end", beacon)
        await watch.check(customer, "customer page, end", beacon)
        for c in (vouched, eve, mal):
            await c.close()
    watch.assert_clean(beacon)


# ---------------------------------------------------------------- the QA app


async def recorded_chat(server: Server, corpus: list[str]) -> str:
    """A session recorded with consent: the corpus both ways in chat, and a hostile page
    co-browsed; its id."""
    from signaling.client import CustomerClient, StaffClient

    async with aiohttp.ClientSession() as staff_http, aiohttp.ClientSession() as anon:
        agent = await StaffClient.login(staff_http, server.base_url, MALLORY[0], PASSWORD)
        await agent.set_status("available")
        customer = await CustomerClient.start(
            anon,
            server.base_url,
            entry=ENTRY,
            text=corpus[0],
            page=HTTP_PAGE,
            customer_token=customer_token(TOKEN_NAME, TOKEN_TIER, sub="c-qa"),
        )
        sid = customer.session
        await agent.wait_offer(session=sid, timeout=20)
        await agent.request("offer.accept", session=sid)
        await agent.request("recording.request", session=sid)
        await customer.wait_event(sid, "recording.requested")
        await customer.request("recording.respond", session=sid, accept=True)
        await agent.wait_event(sid, "recording.started")
        await cobrowse_agreed(agent, customer, sid)
        await customer.send_cobrowse(hostile_page_events(), snapshot=True)
        for text in corpus[1:]:
            await customer.say(text)
        for text in corpus[:4]:
            await agent.say(sid, text)
        await agent.request("session.wrapup", session=sid)
        await agent.wait_event(sid, "recording.finished", timeout=20)
        await agent.request("session.complete", session=sid, disposition=DISPOSITION, notes=NOTES)
        await agent.set_status("offline")
        for c in (customer, agent):
            await c.close()
    return sid


def add_transcript(server: Server, sid: str) -> None:
    """What the transcription job leaves for ``sid``: ``transcript.json`` beside the
    tracks and the searchable lines and flags in the archive (``put_transcript``), with
    the entry's flag rules applied by the worker's own ``find_flags``."""
    import msgspec

    from recorder import layout
    from signaling import archive, config
    from signaling import recording_index as idx
    from transcribe.flags import FlagRule, find_flags
    from transcribe.model import Segment

    segments = [
        Segment(speaker=who, start=2.0 + 3 * n, end=4.0 + 3 * n, text=text)
        for n, (who, text) in enumerate(TRANSCRIPT)
    ]
    flags = [
        msgspec.to_builtins(f)
        for f in find_flags(segments, [FlagRule(FLAG_NAME, ("refund",), speaker="customer")])
    ]
    assert flags, "the corpus's flag rule should find its phrase"
    body = {"segments": msgspec.to_builtins(segments), "flags": flags}
    directory = layout.session_dir(server.data_dir, sid)
    (directory / "transcript.json").write_bytes(msgspec.json.encode(body))
    cfg = config.from_dict({"server": {"data_dir": str(server.data_dir)}})

    async def put(db: archive.Archive) -> None:
        idx.put_transcript(db, sid, body["segments"], flags)
        await db.flush()

    archive.blocking(cfg, put)


async def test_the_qa_app_shows_hostile_chat_names_transcript_and_comments_as_text(
    xss_server: Server, beacon: Beacon, hostile_pages: tuple[NewPage, Watch]
) -> None:
    server, (new_page, watch) = xss_server, hostile_pages
    corpus = chat_corpus(beacon.url)
    expect.set_options(timeout=15_000)
    sid = await recorded_chat(server, corpus)
    add_transcript(server, sid)

    page = await new_page("qa")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await staff_login(page, server, QUINN[0], PASSWORD)

    # ------------------------------------------------ the list, the filters, the search
    await page.goto(server.base_url + "/qa")
    card = page.locator(f'[data-testid="recording"][data-session="{sid}"]')
    await expect(card).to_be_visible()
    await watch.check(page, "qa list", beacon)
    assert await text_of(card.locator(".qa-card__who")) == f"{TOKEN_NAME} · {MALLORY[1]}"
    await expect(card).to_contain_text(TOKEN_TIER)
    await expect(page.locator("header.admin-head")).to_contain_text(QUINN[1])
    assert FLAG_NAME in await texts(page.get_by_test_id("qa-flag-filter").locator("option"))
    assert MALLORY[1] in await texts(page.get_by_test_id("qa-agent-filter").locator("option"))

    # a hostile query is reflected in the search box as the value, nothing else
    await page.goto(f"{server.base_url}/qa?q={quote(QUERY, safe='')}")
    await expect(page.get_by_test_id("qa-search-input")).to_have_value(QUERY.strip())
    await watch.check(page, "qa search (hostile query)", beacon)
    assert await page.get_by_test_id("qa-search-input").get_attribute("value") == QUERY.strip()

    # hits quote what was written and said: the snippets carry the corpus
    await page.goto(f"{server.base_url}/qa?q=onerror")
    hits = page.locator(f'[data-testid="qa-hit"][data-session="{sid}"]')
    await expect(hits.first).to_be_visible()
    await watch.check(page, "qa search (hits)", beacon)
    snippets = await texts(hits)
    assert any("[onerror]=__xss(" in s and "<img src=x " in s for s in snippets), snippets
    await expect(page.get_by_test_id("qa-hits").locator("img, svg, script, iframe")).to_have_count(
        0
    )

    # a refused filter is shown as typed, in its field, with the reason
    refused = f"{server.base_url}/qa?max_score={quote(REFUSED_FILTER, safe='')}"
    resp = await page.goto(refused)
    assert resp is not None and resp.status == 400
    await expect(page.get_by_test_id("qa-filter-error")).to_be_visible()
    await watch.check(page, "qa list (refused filter)", beacon)
    assert await page.get_by_test_id("qa-max-score").get_attribute("value") == REFUSED_FILTER

    # ------------------------------------------------ one recording's page
    await page.goto(f"{server.base_url}/qa/recordings/{sid}")
    lines = page.locator('[data-testid="transcript-line"] .qa-line__text')
    await expect(lines).to_have_count(len(TRANSCRIPT))
    await watch.check(page, "qa recording", beacon)
    head = page.locator("main h1")
    assert await text_of(head) == f"{TOKEN_NAME} · {MALLORY[1]}"
    assert TOKEN_NAME in await page.title()
    assert await texts(lines) == [text for _, text in TRANSCRIPT]
    flags = page.get_by_test_id("qa-flags")
    await expect(flags).to_contain_text(FLAG_NAME)
    assert any(FLAG_NAME in x for x in await texts(flags.locator("li")))
    chat_lines = page.locator(".qa-event--chat")
    said = await texts(chat_lines)
    for text in corpus:
        assert any(line.endswith(" — " + text[:500]) for line in said), text[:80]
    mark_titles = await page.locator(
        '[data-testid="scrubber-mark"][data-category="chat"]'
    ).evaluate_all("ms => ms.map(m => m.getAttribute('title'))")
    # a chat mark's tooltip: who, and the start of what they wrote, exactly
    allowed = {f"{who}: {text[:80]}" for who in (TOKEN_NAME, MALLORY[1]) for text in corpus}
    labels = {title.split(" · ", 1)[1] for title in mark_titles}  # after "0:00:01 · "
    assert labels and labels <= allowed, labels - allowed
    legend = page.locator('[data-criterion="greeting"] legend')
    assert (await text_of(legend)).startswith(CRITERION_LABEL)
    # the recorded co-browsed page, replayed in its sandbox
    replay = page.get_by_test_id("qa-cobrowse-stage").frame_locator("iframe")
    await expect(replay.locator("#xss-link")).to_be_attached()
    await watch.check(page, "qa recording, co-browse replay", beacon)
    assert any("co-browse replay" in f for f in watch.inert_frames), "the replay is sandboxed"
    assert await text_of(replay.locator("#xss-text")) == COBROWSE_TEXT

    # a comment at a moment, and a scorecard comment: both come back as typed
    await page.get_by_test_id("comment-text").fill(COMMENT)
    async with page.expect_navigation():
        await page.get_by_test_id("comment-text").press("Enter")
    comments = page.get_by_test_id("comments").locator("li")
    await expect(comments).to_have_count(1)
    await watch.check(page, "qa recording (commented)", beacon)
    assert (await text_of(comments)).endswith(f"{QUINN[0]}: {COMMENT}")
    score = page.get_by_test_id("scorecard")
    await score.locator('[data-criterion="greeting"] input[value="yes"]').check()
    await score.locator('[data-criterion="greeting"] input[type="text"]').fill(SCORE_COMMENT)
    await score.locator('[data-criterion="tone"] input[value="3"]').check()
    async with page.expect_navigation():
        await score.get_by_test_id("score-save").click()
    await expect(page.get_by_test_id("scores")).to_contain_text(QUINN[0])
    await watch.check(page, "qa recording (scored)", beacon)
    comment_field = page.locator('[data-criterion="greeting"] input[type="text"]')
    await expect(comment_field).to_have_value(SCORE_COMMENT)
    assert await comment_field.get_attribute("value") == SCORE_COMMENT

    # ------------------------------------------------ KPIs (ids, not names) and jobs
    resp = await page.goto(server.base_url + "/qa/kpis")
    assert resp is not None and resp.status == 200
    row = page.get_by_test_id("kpis-agent").locator(f'tr[data-key="{MALLORY[0]}"]')
    await expect(row).to_be_visible()
    await watch.check(page, "qa kpis", beacon)
    resp = await page.goto(server.base_url + "/qa/jobs")
    assert resp is not None and resp.status == 200
    await watch.check(page, "qa jobs", beacon)
    watch.assert_clean(beacon)


# ---------------------------------------------------------------- admin, links, the widget


async def test_admin_page_and_a_personal_link_show_hostile_names_as_text(
    xss_server: Server, beacon: Beacon, hostile_pages: tuple[NewPage, Watch]
) -> None:
    server, (new_page, watch) = xss_server, hostile_pages
    expect.set_options(timeout=15_000)
    # the company's backend vouches for a customer with a hostile id and name
    async with aiohttp.ClientSession() as http:
        made = await post(
            http,
            server,
            "/api/links",
            {"entry": ENTRY},
            headers={"Authorization": "Bearer " + customer_token(LINK_NAME, sub=LINK_SUB)},
        )
    # one browser profile for both (another Chromium costs more than the test itself)
    customer = admin = await new_page("linked customer, then admin")
    resp = await customer.goto(made["url"])
    assert resp is not None and resp.status == 200
    await watch.check(customer, "customer page (personal link)", beacon)
    assert await text_of(customer.get_by_test_id("entry-title")) == TITLE

    await staff_login(admin, server, ADA[0], PASSWORD)
    await admin.goto(server.base_url + "/admin")
    await watch.check(admin, "admin", beacon)
    row = admin.get_by_test_id("entries").locator(f'tr[data-entry="{ENTRY}"]')
    assert await text_of(row.locator("td a")) == TITLE
    await expect(admin.locator("header.admin-head")).to_contain_text(ADA[1])
    customers = admin.get_by_test_id("links").locator("tbody tr td:nth-child(2)")
    await expect(customers.first).to_be_visible()
    assert LINK_SUB in await texts(customers)
    watch.assert_clean(beacon)


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A company page</title></head>
<body><h1>Orders</h1>
<script src="{livedesk}/static/widget.js" data-entry="{entry}" async></script>
</body></html>
"""


async def test_the_widget_on_a_company_page_shows_the_entry_title_as_text(
    xss_server: Server, beacon: Beacon, hostile_pages: tuple[NewPage, Watch]
) -> None:
    """The worst place for a hole: the company's own page, which has no CSP of ours.
    The entry's title and the reason a channel is closed (naming a configured tier)."""
    server, (new_page, watch) = xss_server, hostile_pages
    expect.set_options(timeout=15_000)
    beacon.pages["/orders"] = HOST_PAGE.format(livedesk=server.base_url, entry=ENTRY)
    page = await new_page("company page")
    async with page.expect_response(lambda r: "/availability?" in r.url) as answer:
        await page.goto(f"http://localhost:{beacon.port}/orders")
    assert (await answer.value).status == 200
    launcher = page.get_by_test_id("widget-launcher")
    await expect(launcher).to_be_visible()
    assert await launcher.get_attribute("aria-label") == i18n.t(
        "widget.open", "en", {"title": TITLE}
    )
    await launcher.click()
    title = page.get_by_test_id("widget-title")
    await expect(title).to_be_visible()
    closed = page.locator('[data-testid="widget-closed-channel"][data-channel="video"]')
    await expect(closed).to_be_visible()
    await watch.check(page, "company page with the widget", beacon)
    assert await text_of(title) == TITLE
    # why video is closed names the configured tier, as text
    why = i18n.t("entry.reason.tier", "en", {"tiers": VIDEO_TIER})
    assert await text_of(closed.locator(".ld-off__why")) == why
    watch.assert_clean(beacon)


# ---------------------------------------------------------------- the detectors themselves

RAW_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raw</title></head><body>
<p>{p}</p><div title="{p}">a</div><div title='{p}'>b</div><div title={p}>c</div>
<a href="{p}">d</a>
</body></html>
"""
# Indices into chat_corpus() of what is hostile only to a linkifier, a template engine, a
# reader's eyes, or (24, mutation XSS) a sanitiser that parses and serialises again: as
# plain HTML they are inert.
TEXT_ONLY = {3, 4, 17, 18, 19, 23}


async def test_every_markup_payload_is_caught_when_a_page_embeds_it_raw(
    xss_server: Server, beacon: Beacon, hostile_pages: tuple[NewPage, Watch]
) -> None:
    """The corpus really is hostile and the checks really see it: pasted unescaped into a
    page (as text, in three kinds of attribute, as a link), each markup payload runs,
    loads the beacon or leaves markup the scan reports."""
    new_page, watch = hostile_pages
    corpus = chat_corpus(beacon.url)
    live = [n for n in range(len(corpus)) if n not in TEXT_ONLY]
    for n in live:
        beacon.pages[f"/raw/{n}"] = RAW_PAGE.format(p=corpus[n])
    # one frame per payload, so that one breaking out cannot swallow the next
    beacon.pages["/raw"] = "".join(f'<iframe src="/raw/{n}"></iframe>' for n in live)
    page = await new_page("raw")
    await page.goto(f"{beacon.url}/raw", wait_until="load")
    await watch.scan(page, "raw", beacon)
    missed = [corpus[n][:80] for n in live if not any(f"/raw/{n}):" in x for x in watch.markup)]
    assert not missed, missed
    # the other two detectors fired too: a script ran, the beacon was loaded
    assert any(x.endswith("XSS-EXECUTED 2") for x in watch.executed), watch.executed
    assert "/hit/22" in beacon.hits
    beacon.hits.clear()
