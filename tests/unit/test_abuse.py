"""The per-address limits and the login back-off, as arithmetic (clock passed in)."""

from __future__ import annotations

import pytest

from signaling.abuse import AddressLimits, backoff_s, client_address, wait_left


def limits(**kw: object) -> AddressLimits:
    args = {"attempts_per_s": 2.0, "attempt_burst": 3, "sockets": 2, "now": 0.0} | kw
    return AddressLimits(**args)  # type: ignore[arg-type]


def test_an_address_gets_its_burst_then_waits_for_the_rate():
    lim = limits()
    assert [lim.attempt("1.2.3.4", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = lim.attempt("1.2.3.4", 0.0)
    assert wait == pytest.approx(0.5)  # one token at 2 per second
    assert lim.attempt("1.2.3.4", 0.5) == 0.0
    assert lim.attempt("5.6.7.8", 0.0) == 0.0, "another address has its own budget"
    assert lim.refused == 1


def test_no_rate_means_no_limit():
    lim = limits(attempts_per_s=0.0)
    assert all(lim.attempt("a", 0.0) == 0.0 for _ in range(1000))


def test_open_sockets_per_address_are_capped_and_freed():
    lim = limits()
    assert lim.open("a") and lim.open("a") and not lim.open("a")
    assert lim.held("a") == 2 and lim.open("b")
    lim.close("a")
    assert lim.open("a") and lim.held("a") == 2
    for _ in range(5):
        lim.close("b")
    assert lim.held("b") == 0


def test_the_address_table_is_bounded():
    lim = limits(max_addresses=100)
    for i in range(1000):
        lim.attempt(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(lim._buckets) == 100


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 0), (4, 0), (5, 1), (6, 2), (9, 16), (30, 900), (10**6, 900)]
)
def test_back_off_doubles_after_the_free_failures_up_to_the_cap(failures, expected):
    assert backoff_s(failures, free=5, cap=900) == expected


def test_the_wait_counts_from_the_last_failure():
    assert wait_left(7, last_failure_at=100.0, now=101.0, free=5, cap=900) == 3
    assert wait_left(7, last_failure_at=100.0, now=104.5, free=5, cap=900) == 0
    assert wait_left(3, last_failure_at=100.0, now=100.0, free=5, cap=900) == 0


@pytest.mark.parametrize(
    ("remote", "xff", "trusted", "expected"),
    [
        ("203.0.113.9", None, [], "203.0.113.9"),
        ("203.0.113.9", "1.1.1.1", [], "203.0.113.9"),  # no proxy trusted: the header is ignored
        ("10.0.0.5", "198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),  # spoofed left
        ("10.0.0.5", "198.51.100.7, 10.0.0.9", ["10.0.0.0/8"], "198.51.100.7"),
        ("203.0.113.9", "198.51.100.7", ["10.0.0.0/8"], "203.0.113.9"),  # not from a proxy
        ("10.0.0.5", "not-an-ip", ["10.0.0.0/8"], "10.0.0.5"),
        ("10.0.0.5", "2001:db8::1", ["10.0.0.0/8"], "2001:db8::1"),
        (None, None, [], "?"),
    ],
)
def test_the_client_address_behind_trusted_proxies(remote, xff, trusted, expected):
    assert client_address(remote, xff, trusted) == expected
