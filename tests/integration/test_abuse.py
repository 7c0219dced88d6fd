"""Per-address limits and login back-off through a real server (memory and Redis).

A flood from one address is turned away with 429 and ``Retry-After`` before anything
happens for it; sockets one address holds open are capped; failed logins make each
further try wait longer, and the wait is checked before the password is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from signaling import audit
from signaling.interaction import SessionState
from signaling.keys import ARCHIVE, STORE

from .conftest import PASSWORD, StartDesk


async def start(http: aiohttp.ClientSession, base: str, **headers: str) -> aiohttp.ClientResponse:
    return await http.post(
        f"{base}/api/sessions", json={"entry": "demo", "text": "hello"}, headers=headers
    )


async def test_an_address_over_its_attempt_budget_is_refused_before_any_session_starts(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(limits={"attempts_per_ip_per_s": 1.0, "attempt_burst_per_ip": 3})
    http = await desk.http()
    for _ in range(3):
        async with await start(http, desk.base) as r:
            assert r.status == 201
    store = desk.app[STORE]
    before = len(await store.sessions_by_state(SessionState.QUEUED))
    started = time.monotonic()
    async with await start(http, desk.base) as r:
        assert r.status == 429
        assert (await r.json())["error"]["code"] == "rate_limited"
        wait = int(r.headers["Retry-After"])
    assert time.monotonic() - started < 1.0 and 1 <= wait <= 2
    assert len(await store.sessions_by_state(SessionState.QUEUED)) == before
    # a WebSocket upgrade from the same address is refused the same way, before it opens
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(desk.base + "/ws")
    assert err.value.status == 429
    await asyncio.sleep(wait)
    async with await start(http, desk.base) as r:
        assert r.status == 201, "the budget comes back"


async def test_the_sockets_one_address_holds_open_are_capped(start_desk: StartDesk) -> None:
    desk = await start_desk(limits={"ws_per_ip": 2})
    http = await desk.http()
    first = await http.ws_connect(desk.base + "/ws")
    second = await http.ws_connect(desk.base + "/ws")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(desk.base + "/ws")
    assert err.value.status == 429
    await first.close()
    for _ in range(50):  # the server sees the close
        try:
            third = await http.ws_connect(desk.base + "/ws")
            break
        except aiohttp.WSServerHandshakeError:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("a freed slot was never given back")
    await second.close()
    await third.close()


async def test_behind_a_trusted_proxy_each_client_address_has_its_own_budget(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(
        server={"trusted_proxies": ["127.0.0.1/32"]},
        limits={"attempts_per_ip_per_s": 0.01, "attempt_burst_per_ip": 2},
    )
    http = await desk.http()
    for client in ("198.51.100.7", "198.51.100.8"):
        for _ in range(2):
            async with await start(http, desk.base, **{"X-Forwarded-For": client}) as r:
                assert r.status == 201, client
        async with await start(http, desk.base, **{"X-Forwarded-For": client}) as r:
            assert r.status == 429, client
    # a client cannot pose as a fresh address by prepending one
    spoof = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
    async with await start(http, desk.base, **spoof) as r:
        assert r.status == 429


async def login(http: aiohttp.ClientSession, base: str, password: str) -> tuple[int, Any]:
    async with http.post(
        f"{base}/api/login", json={"username": "agent_ann", "password": password}
    ) as r:
        return r.status, (r.headers.get("Retry-After"), await r.json())


async def test_failed_logins_back_off_and_a_good_one_resets_the_account(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(auth={"login_free_failures": 3, "login_backoff_max_s": 30})
    http = await desk.http()
    for _ in range(3):
        status, _ = await login(http, desk.base, "wrong password")
        assert status == 401
    # the fourth try waits, even with the right password: it is not even checked
    status, (retry, body) = await login(http, desk.base, PASSWORD)
    assert status == 429 and retry == "1" and body["error"]["code"] == "rate_limited"
    await asyncio.sleep(1.1)
    status, _ = await login(http, desk.base, "wrong again")
    assert status == 401
    status, (retry, _) = await login(http, desk.base, PASSWORD)
    assert status == 429 and retry == "2", "each failure doubles the wait"
    await asyncio.sleep(2.1)
    status, _ = await login(http, desk.base, PASSWORD)
    assert status == 200
    status, _ = await login(http, desk.base, "one typo")
    assert status == 401, "a good login starts the account's count again"
    archive = desk.app[ARCHIVE]
    await archive.flush()
    refused = await audit.recent(archive, kind=audit.LOGIN_REFUSED)
    reasons = [r.reason for r in refused]
    assert reasons.count("backoff") == 2 and reasons.count("credentials") == 5
    assert all(r.actor == "agent_ann" and r.detail["address"] == "127.0.0.1" for r in refused)


async def test_an_unknown_account_backs_off_too_and_says_nothing_more(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(auth={"login_free_failures": 2})
    http = await desk.http()
    answers = []
    for _ in range(3):
        async with http.post(
            f"{desk.base}/api/login", json={"username": "nobody", "password": "guess guess"}
        ) as r:
            answers.append((r.status, (await r.json())["error"]["message"]))
    assert answers[0] == answers[1] == (401, "wrong username or password")
    assert answers[2][0] == 429
