"""The per-connection token bucket."""

from __future__ import annotations

from signaling.ratelimit import TokenBucket

T0 = 500.0


def take_many(bucket: TokenBucket, n: int, now: float) -> list[bool]:
    return [bucket.take(now) for _ in range(n)]


def test_a_burst_passes_then_messages_are_refused():
    bucket = TokenBucket(rate=2.0, burst=5, now=T0)
    assert take_many(bucket, 7, T0) == [True] * 5 + [False] * 2


def test_refusals_are_counted():
    bucket = TokenBucket(rate=2.0, burst=3, now=T0)
    take_many(bucket, 10, T0)
    assert bucket.refused == 7


def test_passing_messages_are_not_counted_as_refused():
    bucket = TokenBucket(rate=2.0, burst=3, now=T0)
    take_many(bucket, 3, T0)
    assert bucket.refused == 0


def test_tokens_refill_at_the_rate():
    bucket = TokenBucket(rate=2.0, burst=5, now=T0)
    take_many(bucket, 5, T0)
    assert bucket.take(T0 + 0.25) is False  # half a token
    assert bucket.take(T0 + 0.5) is True  # a whole one now
    assert bucket.take(T0 + 0.5) is False


def test_refill_over_time_allows_the_sustained_rate():
    bucket = TokenBucket(rate=4.0, burst=1, now=T0)
    assert all(bucket.take(T0 + i * 0.25) for i in range(50))
    assert bucket.refused == 0


def test_refill_never_exceeds_the_burst():
    bucket = TokenBucket(rate=100.0, burst=4, now=T0)
    take_many(bucket, 4, T0)
    assert take_many(bucket, 6, T0 + 3600) == [True] * 4 + [False] * 2


def test_refusals_do_not_use_up_tokens():
    bucket = TokenBucket(rate=1.0, burst=1, now=T0)
    assert take_many(bucket, 3, T0) == [True, False, False]
    assert bucket.take(T0 + 1.0) is True
