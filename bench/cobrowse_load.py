"""Co-browse benchmark: relay latency, bytes per minute, and the customer page's main-thread cost.

Two Chromium profiles (customer, agent) against a real livedesk server on loopback. The
customer co-browses two pages from the demo shop, each for ``--seconds``:

- ``shop``: the checkout form, with typing into a field every 200 ms and a scroll every
  second (what a person does on a form);
- ``large``: the same page with 5,000 generated nodes, 50 of them changing text every
  100 ms (a busy dashboard).

For each it prints:

- relay latency, p50/p99: from the customer's ``WebSocket.send`` of a batch part to the
  agent page's handling of that part (wall clock, one machine). The live Replayer then
  applies events after its own ~50 ms buffer, which is not included;
- bytes per minute the customer sends;
- long tasks (> 50 ms) on the customer's main thread per minute and their total time,
  **with co-browsing** (including one fresh full snapshot halfway, as when an agent
  joins late) and, as the baseline measured in the same run, **without** it (the same
  page and the same updates before co-browsing starts).

Run: ``make bench-cobrowse`` (or ``python bench/cobrowse_load.py --seconds 20``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
AGENT, PASSWORD = "benchagent", "bench-agent-pw-1"
CONFIG = """
[server]
demo = false
port = {port}
data_dir = "{data}"

[entries.demo]
title = "Zentra Outdoor support"
channels = ["chat", "voice", "video", "screen", "cobrowse"]
"""

# In every page before its scripts: long tasks, and the time each co-browse part is sent
# (customer) or handled (agent).
PROBE = """
window.__bench = {long: [], sent: {}, got: {}, bytes: 0};
try {
  new PerformanceObserver(l => l.getEntries().forEach(e => window.__bench.long.push(e.duration)))
    .observe({type: "longtask", buffered: true});
} catch (e) {}
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (typeof data === "string" && data.startsWith('{"type":"cobrowse.events"')) {
    const m = JSON.parse(data);
    window.__bench.sent[m.batch + ":" + m.part] = Date.now();
    window.__bench.bytes += data.length;
  }
  return send.call(this, data);
};
const add = WebSocket.prototype.addEventListener;
function watch(ws) {
  add.call(ws, "message", e => {
    if (typeof e.data === "string" && e.data.startsWith('{"type":"cobrowse.events"')) {
      const m = JSON.parse(e.data);
      setTimeout(() => { window.__bench.got[m.batch + ":" + m.part] = Date.now(); }, 0);
    }
  });
}
const Native = window.WebSocket;
window.WebSocket = function (url, p) {
  const ws = p ? new Native(url, p) : new Native(url);
  watch(ws);
  return ws;
};
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""

BIG_PAGE = """
() => {
  const t = document.createElement("table"); t.id = "big";
  for (let r = 0; r < 500; r++) {
    const tr = document.createElement("tr");
    for (let c = 0; c < 9; c++) {
      const td = document.createElement("td");
      td.textContent = r + "/" + c;
      tr.appendChild(td);
    }
    t.appendChild(tr);
  }
  document.querySelector("main").appendChild(t);
  const cells = t.querySelectorAll("td"); let n = 0;
  window.__busy = setInterval(() => {
    for (let i = 0; i < 50; i++) {
      cells[(n * 50 + i) % cells.length].textContent = String(Math.random()).slice(2, 8);
    }
    n++;
  }, 100);
}
"""
FORM_ACTIVITY = """
() => {
  let n = 0;
  window.__busy = setInterval(() => {
    const city = document.querySelector("#city");
    city.value = "Busan " + (n++);
    city.dispatchEvent(new Event("input", {bubbles: true}));
    if (n % 5 === 0) window.scrollBy(0, n % 10 === 0 ? -200 : 200);
  }, 200);
}
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    data = tmp / "data"
    cfg = tmp / "livedesk.toml"
    cfg.write_text(CONFIG.format(port=port, data=data))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "signaling", "user", "add", AGENT, "--role", "agent",
         "--password", PASSWORD, "--display-name", "Bench Agent", "--data-dir", str(data)],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    log = open(tmp / "server.log", "wb")  # closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "signaling", "run", "--config", str(cfg)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start: " + (tmp / "server.log").read_text()[-2000:])


async def cobrowse(base: str, agent: Any, customer: Any) -> Any:
    """The agent takes the chat from the shop's widget and co-browses with consent."""
    await agent.goto(base + "/agent")
    await agent.get_by_test_id("login-username").fill(AGENT)
    await agent.get_by_test_id("login-password").fill(PASSWORD)
    await agent.get_by_test_id("login-submit").click()
    status = agent.get_by_test_id("status-select")
    await status.wait_for()
    await status.select_option("available")
    await customer.get_by_test_id("widget-launcher").click()
    await customer.get_by_test_id("widget-channel").first.click()
    chat = customer.frame_locator('[data-testid="widget-frame"]')
    await chat.get_by_test_id("composer-input").fill("Help with the checkout, please")
    await chat.get_by_test_id("send").click()
    await agent.get_by_test_id("offer-accept").first.click()
    pane = agent.locator('[data-testid="session-pane"]:not([hidden])')
    await pane.get_by_test_id("composer-input").wait_for()
    await pane.get_by_test_id("ask-cobrowse").click()
    await chat.get_by_test_id("consent-accept").click()
    view = pane.get_by_test_id("cobrowse-view")
    await view.get_by_test_id("cobrowse-view-status").filter(has_text="/demo/shop").wait_for()
    return view


async def measure(page: Any, seconds: float, view: Any = None) -> dict[str, Any]:
    await page.evaluate("() => { window.__bench.long = []; window.__bench.bytes = 0; }")
    if view is None:
        await asyncio.sleep(seconds)
    else:  # an agent joining late halfway: the page takes a fresh full snapshot
        await asyncio.sleep(seconds / 2)
        await view.get_by_test_id("cobrowse-refresh").click()
        await asyncio.sleep(seconds / 2)
    got = await page.evaluate("() => ({long: window.__bench.long, bytes: window.__bench.bytes})")
    minutes = seconds / 60
    return {
        "long_per_min": len(got["long"]) / minutes,
        "long_ms_per_min": sum(got["long"]) / minutes,
        "bytes_per_min": got["bytes"] / minutes,
    }


async def run(seconds: float) -> None:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="livedesk-bench-cobrowse-"))
    proc, base = start_server(tmp)
    rows = []
    try:
        async with async_playwright() as p:
            for name, activity in (("shop", FORM_ACTIVITY), ("large", BIG_PAGE)):
                ctxs = []
                for who in ("agent", "customer"):
                    ctx = await p.chromium.launch_persistent_context(
                        str(tmp / f"{name}-{who}"), executable_path=CHROMIUM, args=ARGS
                    )
                    await ctx.add_init_script(PROBE)
                    ctxs.append(ctx)
                agent = ctxs[0].pages[0]
                customer = ctxs[1].pages[0]
                await customer.set_viewport_size({"width": 1200, "height": 800})
                await customer.goto(base + "/demo/shop/checkout")
                await customer.evaluate(activity)
                baseline = await measure(customer, seconds)
                await customer.evaluate("() => clearInterval(window.__busy)")
                await customer.goto(base + "/demo/shop/checkout")
                view = await cobrowse(base, agent, customer)
                await customer.evaluate(activity)
                await customer.evaluate("() => { window.__bench.sent = {}; }")
                await agent.evaluate("() => { window.__bench.got = {}; }")
                live = await measure(customer, seconds, view)
                sent = await customer.evaluate("() => window.__bench.sent")
                got = await agent.evaluate("() => window.__bench.got")
                lat = [got[k] - sent[k] for k in sent if k in got]
                rows.append((name, baseline, live, lat, len(sent), len(got)))
                for ctx in ctxs:
                    await ctx.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nco-browse benchmark, {seconds:.0f} s per page, 2 cores, Chromium headless\n")
    head = (
        f"{'page':6} {'parts':>6} {'lat p50':>8} {'lat p99':>8} {'KiB/min':>9} "
        f"{'long/min base':>14} {'long/min live':>14} {'long ms/min base':>17} "
        f"{'long ms/min live':>17}"
    )
    print(head)
    for name, base_m, live_m, lat, n_sent, n_got in rows:
        print(
            f"{name:6} {n_got:>3}/{n_sent:<3} {pct(lat, 0.5):>6.0f}ms {pct(lat, 0.99):>6.0f}ms "
            f"{live_m['bytes_per_min'] / 1024:>9.0f} {base_m['long_per_min']:>14.1f} "
            f"{live_m['long_per_min']:>14.1f} {base_m['long_ms_per_min']:>17.0f} "
            f"{live_m['long_ms_per_min']:>17.0f}"
        )
    print(
        json.dumps(
            [
                {"page": r[0], "baseline": r[1], "live": r[2], "p50_ms": pct(r[3], 0.5),
                 "p99_ms": pct(r[3], 0.99), "parts_sent": r[4], "parts_seen": r[5]}
                for r in rows
            ]
        )
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured time per page and mode")
    args = ap.parse_args()
    asyncio.run(run(args.seconds))


if __name__ == "__main__":
    main()
