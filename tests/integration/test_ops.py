"""Health, metrics, security headers and the HTTP API's errors."""

from __future__ import annotations

import re

from .conftest import StartDesk


async def test_healthz_reports_version_store_and_archive(start_desk: StartDesk, store_kind: str):
    desk = await start_desk()
    http = await desk.http()
    async with http.get(desk.base + "/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["store"] == {"backend": store_kind, "ok": True}
    assert body["archive"]["ok"] is True


async def test_metrics_count_connections_sessions_queue_messages_and_errors(
    start_desk: StartDesk,
):
    desk = await start_desk()
    customer = await desk.customer()
    await customer.send_raw("{oops")
    await customer.wait_for(lambda m: m.get("type") == "error")
    await customer.say("second")
    http = await desk.http()
    async with http.get(desk.base + "/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()

    def value(pattern: str) -> float:
        m = re.search(rf"^{pattern} (\S+)$", text, re.M)
        assert m, pattern
        return float(m.group(1))

    assert value("livedesk_connections") == 1
    assert value('livedesk_sessions\\{state="queued"\\}') == 1
    assert value("livedesk_queue_length") == 1
    assert value("livedesk_messages_in_total") >= 3
    assert value("livedesk_messages_out_total") >= 3
    assert value('livedesk_errors_total\\{code="bad_json"\\}') == 1
    assert value("livedesk_sessions_started_total") == 1
    assert 0 <= value('livedesk_event_loop_lag_seconds\\{window="max_10s"\\}') < 5


async def test_pages_carry_security_headers(start_desk: StartDesk):
    desk = await start_desk()
    http = await desk.http()
    for path in ("/l/demo", "/agent", "/healthz"):
        async with http.get(desk.base + path) as resp:
            assert resp.status == 200, path
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp
            # only the customer page may be framed, and only by the entry's own sites
            framing = "frame-ancestors 'self'" if path == "/l/demo" else "frame-ancestors 'none'"
            assert framing in csp, path
            assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_customer_page_may_be_framed_only_by_the_entry_sites(start_desk: StartDesk):
    desk = await start_desk(entries={"demo": {"site_origins": ["https://shop.example"]}})
    http = await desk.http()
    async with http.get(desk.base + "/l/demo") as resp:
        csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://shop.example;" in csp


async def test_unknown_entry_page_is_a_friendly_404(start_desk: StartDesk):
    desk = await start_desk()
    http = await desk.http()
    async with http.get(desk.base + "/l/nope", headers={"Accept-Language": "ko"}) as resp:
        assert resp.status == 404
        assert "존재하지 않는 상담 페이지입니다." in await resp.text()


async def test_customer_page_follows_accept_language(start_desk: StartDesk):
    desk = await start_desk()
    http = await desk.http()
    async with http.get(desk.base + "/l/demo", headers={"Accept-Language": "ko-KR,ko;q=0.9"}) as r:
        html = await r.text()
    assert '<html lang="ko">' in html
    async with http.get(desk.base + "/l/demo", headers={"Accept-Language": "en-US"}) as r:
        assert '<html lang="en">' in await r.text()


async def test_entry_language_setting_wins_over_the_browser(start_desk: StartDesk):
    desk = await start_desk(entries={"demo": {"title": "고객센터", "language": "ko"}})
    http = await desk.http()
    async with http.get(desk.base + "/l/demo", headers={"Accept-Language": "en-US"}) as r:
        assert '<html lang="ko">' in await r.text()


async def test_start_session_errors_are_json_with_stable_codes(start_desk: StartDesk):
    desk = await start_desk()
    http = await desk.http()
    cases = [
        (b"{", 400, "bad_json"),
        (b'{"entry": "demo"}', 400, "bad_message"),
        (b'{"entry": "nope", "text": "hi"}', 404, "not_found"),
        (b'{"entry": "demo", "text": "   "}', 400, "bad_message"),
    ]
    for body, status, code in cases:
        async with http.post(
            desk.base + "/api/sessions", data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == status, body
            assert (await resp.json())["error"]["code"] == code, body
    async with http.post(
        desk.base + "/api/sessions",
        json={"entry": "demo", "text": "hi"},
        headers={"Authorization": "Basic abc"},
    ) as resp:
        assert resp.status == 401


async def test_agent_cannot_read_a_session_they_did_not_serve(start_desk: StartDesk):
    from signaling.client import HttpError

    desk = await start_desk()
    customer = await desk.customer()
    bob = await desk.staff("agent_bob", status=None)
    try:
        await bob.get(f"/api/sessions/{customer.session}")
    except HttpError as err:
        assert (err.status, err.code) == (403, "forbidden")
    else:
        raise AssertionError("an agent read a session they did not serve")
