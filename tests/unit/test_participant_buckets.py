"""Message buckets kept per participant across its connections."""

from __future__ import annotations

from signaling.ratelimit import ParticipantBuckets, TokenBucket

T0 = 500.0


def test_the_same_participant_gets_the_same_bucket_back():
    buckets = ParticipantBuckets(rate=2.0, burst=3)
    first = buckets.get("c:s_1:cust", T0)
    assert [first.take(T0) for _ in range(4)] == [True, True, True, False]
    again = buckets.get("c:s_1:cust", T0 + 0.1)
    assert again is first
    assert again.take(T0 + 0.1) is False  # no fresh burst
    assert again.refused == 2


def test_participants_do_not_share_a_bucket():
    buckets = ParticipantBuckets(rate=2.0, burst=1)
    assert buckets.get("s:ann", T0).take(T0) is True
    assert buckets.get("s:bob", T0).take(T0) is True


def test_the_least_recently_seen_are_forgotten_past_the_cap():
    buckets = ParticipantBuckets(rate=1.0, burst=1, max_keys=2)
    a = buckets.get("a", T0)
    buckets.get("b", T0)
    assert buckets.get("a", T0) is a  # a is now the most recent
    buckets.get("c", T0)
    assert len(buckets) == 2
    assert buckets.get("a", T0) is a
    assert buckets.get("b", T0).refused == 0  # b was forgotten: a new bucket


def test_a_bucket_is_full_again_after_burst_over_rate_seconds():
    bucket = TokenBucket(rate=2.0, burst=4, now=T0)
    assert bucket.full(T0)
    for _ in range(4):
        bucket.take(T0)
    assert not bucket.full(T0 + 1.9)
    assert bucket.full(T0 + 2.0)
