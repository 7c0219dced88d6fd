"""Entry-point access rules: hours, holidays, closures, pages, tiers and staffing.

Every test passes a frozen ``now``; nothing sleeps or reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling.policy import (
    CHANNELS,
    ChannelRule,
    Claims,
    Decision,
    EntryPolicy,
    PolicyError,
    Staffing,
    evaluate,
    is_open_at,
    next_closing,
    next_opening,
    validate,
)

NY = ZoneInfo("America/New_York")
SEOUL = ZoneInfo("Asia/Seoul")


def at(zone: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0, fold: int = 0) -> datetime:
    """A local wall time; ``fold=1`` picks the second occurrence on a fall-back day."""
    return datetime(y, mo, d, h, mi, tzinfo=zone, fold=fold)


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


WEEKDAYS: dict[str, tuple[str, ...]] = {
    day: ("09:00-18:00",) for day in ("mon", "tue", "wed", "thu", "fri")
}
VIDEO_TIERS = ("premium", "loyalty", "high_value")

SEOUL_9_TO_6 = EntryPolicy(timezone="Asia/Seoul", hours=WEEKDAYS)
UTC_9_TO_6 = EntryPolicy(timezone="UTC", hours=WEEKDAYS)
# 2026-03-08 (Sunday): New York clocks jump 02:00 EST -> 03:00 EDT
SPRING_1_TO_5 = EntryPolicy(timezone="America/New_York", hours={"sun": ("01:00-05:00",)})
SPRING_FROM_3 = EntryPolicy(timezone="America/New_York", hours={"sun": ("03:00-12:00",)})
SPRING_FROM_GAP = EntryPolicy(timezone="America/New_York", hours={"sun": ("02:30-04:00",)})
# 2026-11-01 (Sunday): New York clocks fall back 02:00 EDT -> 01:00 EST
FALL_FROM_2 = EntryPolicy(timezone="America/New_York", hours={"sun": ("02:00-10:00",)})
FALL_TO_0130 = EntryPolicy(timezone="America/New_York", hours={"sun": ("00:00-01:30",)})
# Friday night shift, past midnight (2026-03-13 is a Friday)
FRI_NIGHT = EntryPolicy(timezone="UTC", hours={"fri": ("22:00-02:00",)})
KR_9_TO_6 = EntryPolicy(timezone="Asia/Seoul", hours=WEEKDAYS, holidays_country="KR")
US_9_TO_6 = EntryPolicy(timezone="America/New_York", hours=WEEKDAYS, holidays_country="US")
US_CA_9_TO_6 = EntryPolicy(
    timezone="America/Los_Angeles",
    hours=WEEKDAYS,
    holidays_country="US",
    holidays_subdivision="CA",
)
ALWAYS = EntryPolicy()
ALWAYS_BUT_KR_HOLIDAYS = EntryPolicy(timezone="Asia/Seoul", holidays_country="KR")
MONDAY_ONLY = EntryPolicy(hours={"mon": ("09:00-18:00",)})
NEVER = EntryPolicy(hours={"mon": ()})
MON_TUE_MERGED = EntryPolicy(hours={"mon": ("00:00-24:00",), "tue": ("00:00-12:00",)})
FRI_ONE_HOUR = EntryPolicy(hours={"fri": ("09:00-10:00",)})


# ---------------------------------------------------------------- is_open_at


@pytest.mark.parametrize(
    ("policy", "when", "expected"),
    [
        # time zones: one instant, two answers
        pytest.param(SEOUL_9_TO_6, utc(2026, 3, 10, 1), True, id="tz-seoul-10:00kst-open"),
        pytest.param(UTC_9_TO_6, utc(2026, 3, 10, 1), False, id="tz-utc-01:00-same-instant-closed"),
        pytest.param(SEOUL_9_TO_6, utc(2026, 3, 10, 12), False, id="tz-seoul-21:00kst-closed"),
        pytest.param(UTC_9_TO_6, utc(2026, 3, 10, 12), True, id="tz-utc-12:00-same-instant-open"),
        pytest.param(SEOUL_9_TO_6, at(SEOUL, 2026, 3, 10, 18), False, id="tz-end-is-exclusive"),
        pytest.param(SEOUL_9_TO_6, at(SEOUL, 2026, 3, 10, 9), True, id="tz-start-is-inclusive"),
        # DST spring-forward in New York, window 01:00-05:00
        pytest.param(SPRING_1_TO_5, at(NY, 2026, 3, 8, 0, 59), False, id="spring-00:59-closed"),
        pytest.param(SPRING_1_TO_5, at(NY, 2026, 3, 8, 1, 30), True, id="spring-01:30est-open"),
        pytest.param(
            SPRING_1_TO_5, at(NY, 2026, 3, 8, 2, 30), True, id="spring-02:30-nonexistent-open"
        ),
        pytest.param(SPRING_1_TO_5, at(NY, 2026, 3, 8, 3, 30), True, id="spring-03:30edt-open"),
        pytest.param(SPRING_1_TO_5, utc(2026, 3, 8, 9), False, id="spring-05:00edt-closed"),
        # DST spring-forward, window opening right after the gap
        pytest.param(
            SPRING_FROM_3, at(NY, 2026, 3, 8, 1, 30), False, id="spring-from3-01:30-closed"
        ),
        pytest.param(
            SPRING_FROM_3, utc(2026, 3, 8, 6, 59), False, id="spring-from3-01:59est-closed"
        ),
        pytest.param(SPRING_FROM_3, utc(2026, 3, 8, 7, 0), True, id="spring-from3-03:00edt-open"),
        pytest.param(SPRING_FROM_3, at(NY, 2026, 3, 8, 3, 30), True, id="spring-from3-03:30-open"),
        # a start inside the gap reads with fold=0 (EST): "02:30" is 03:30 EDT
        pytest.param(
            SPRING_FROM_GAP, at(NY, 2026, 3, 8, 3, 15), False, id="spring-gap-start-03:15-closed"
        ),
        pytest.param(
            SPRING_FROM_GAP, at(NY, 2026, 3, 8, 3, 45), True, id="spring-gap-start-03:45-open"
        ),
        # DST fall-back in New York, window 02:00-10:00
        pytest.param(FALL_FROM_2, at(NY, 2026, 11, 1, 1, 30), False, id="fall-01:30edt-closed"),
        pytest.param(
            FALL_FROM_2, at(NY, 2026, 11, 1, 1, 30, fold=1), False, id="fall-01:30est-closed"
        ),
        pytest.param(FALL_FROM_2, at(NY, 2026, 11, 1, 2, 30), True, id="fall-02:30est-open"),
        pytest.param(FALL_FROM_2, at(NY, 2026, 11, 1, 3, 30), True, id="fall-03:30est-open"),
        # an end in the repeated hour means its first occurrence (fold=0)
        pytest.param(
            FALL_TO_0130, at(NY, 2026, 11, 1, 1, 15), True, id="fall-repeat-01:15edt-open"
        ),
        pytest.param(
            FALL_TO_0130,
            at(NY, 2026, 11, 1, 1, 15, fold=1),
            False,
            id="fall-repeat-01:15est-closed",
        ),
        pytest.param(
            FALL_TO_0130, at(NY, 2026, 11, 1, 1, 45), False, id="fall-repeat-01:45edt-closed"
        ),
        # hours spanning midnight
        pytest.param(FRI_NIGHT, utc(2026, 3, 13, 21, 59), False, id="night-fri-21:59-closed"),
        pytest.param(FRI_NIGHT, utc(2026, 3, 13, 22), True, id="night-fri-22:00-open"),
        pytest.param(FRI_NIGHT, utc(2026, 3, 14, 1), True, id="night-sat-01:00-open"),
        pytest.param(FRI_NIGHT, utc(2026, 3, 14, 2), False, id="night-sat-02:00-closed"),
        pytest.param(FRI_NIGHT, utc(2026, 3, 14, 2, 30), False, id="night-sat-02:30-closed"),
        pytest.param(FRI_NIGHT, utc(2026, 3, 12, 1), False, id="night-thu-01:00-closed"),
        pytest.param(
            msgspec.structs.replace(FRI_NIGHT, closed_dates=("2026-03-13",)),
            utc(2026, 3, 14, 1),
            False,
            id="night-closed-start-day-closes-window",
        ),
        pytest.param(
            msgspec.structs.replace(FRI_NIGHT, closed_dates=("2026-03-14",)),
            utc(2026, 3, 14, 1),
            True,
            id="night-closed-next-day-keeps-window",
        ),
        # whole days, missing days, no hours at all
        pytest.param(MON_TUE_MERGED, utc(2026, 3, 9, 0), True, id="allday-mon-00:00-open"),
        pytest.param(MON_TUE_MERGED, utc(2026, 3, 9, 23, 59), True, id="allday-mon-23:59-open"),
        pytest.param(MON_TUE_MERGED, utc(2026, 3, 10, 12), False, id="allday-tue-12:00-closed"),
        pytest.param(MONDAY_ONLY, utc(2026, 3, 10, 10), False, id="missing-day-closed"),
        pytest.param(ALWAYS, utc(2026, 3, 8, 3), True, id="no-hours-always-open"),
        pytest.param(NEVER, utc(2026, 3, 9, 10), False, id="empty-day-never-open"),
        # holidays and closed dates close the whole local date
        pytest.param(KR_9_TO_6, at(SEOUL, 2026, 5, 5, 10), False, id="kr-childrens-day-closed"),
        pytest.param(KR_9_TO_6, at(SEOUL, 2026, 5, 6, 10), True, id="kr-day-after-open"),
        pytest.param(KR_9_TO_6, at(SEOUL, 2026, 10, 9, 10), False, id="kr-hangul-day-closed"),
        pytest.param(
            ALWAYS_BUT_KR_HOLIDAYS, at(SEOUL, 2026, 5, 5, 0), False, id="kr-always-open-but-holiday"
        ),
        pytest.param(
            ALWAYS_BUT_KR_HOLIDAYS, at(SEOUL, 2026, 5, 4, 23, 59), True, id="kr-eve-of-holiday-open"
        ),
        pytest.param(US_9_TO_6, at(NY, 2026, 7, 3, 10), False, id="us-independence-observed"),
        pytest.param(US_9_TO_6, at(NY, 2026, 11, 26, 10), False, id="us-thanksgiving-closed"),
        pytest.param(US_9_TO_6, at(NY, 2026, 11, 27, 10), True, id="us-day-after-open-federal"),
        pytest.param(
            US_CA_9_TO_6,
            at(ZoneInfo("America/Los_Angeles"), 2026, 11, 27, 10),
            False,
            id="us-ca-day-after-thanksgiving-closed",
        ),
        pytest.param(
            msgspec.structs.replace(UTC_9_TO_6, closed_dates=("2026-12-24",)),
            utc(2026, 12, 24, 10),
            False,
            id="closed-date",
        ),
        pytest.param(
            msgspec.structs.replace(SEOUL_9_TO_6, closed_dates=("2026-12-24",)),
            utc(2026, 12, 24, 1),
            False,
            id="closed-date-in-entry-zone",
        ),
        pytest.param(
            msgspec.structs.replace(SEOUL_9_TO_6, closed_dates=("2026-12-24",)),
            utc(2026, 12, 25, 0, 30),
            True,
            id="closed-date-over-in-entry-zone",
        ),
    ],
)
def test_is_open_at(policy: EntryPolicy, when: datetime, expected: bool) -> None:
    assert is_open_at(policy, when) is expected


# ---------------------------------------------------------------- next opening / closing


@pytest.mark.parametrize(
    ("policy", "now", "expected"),
    [
        pytest.param(
            SPRING_FROM_3, at(NY, 2026, 3, 8, 1, 30), utc(2026, 3, 8, 7), id="spring-30-real-min"
        ),
        pytest.param(
            SPRING_1_TO_5, at(NY, 2026, 3, 8, 0, 30), utc(2026, 3, 8, 6), id="spring-before-window"
        ),
        pytest.param(
            FALL_FROM_2, at(NY, 2026, 11, 1, 1, 30), utc(2026, 11, 1, 7), id="fall-from-edt-90-min"
        ),
        pytest.param(
            FALL_FROM_2,
            at(NY, 2026, 11, 1, 1, 30, fold=1),
            utc(2026, 11, 1, 7),
            id="fall-from-est-30-min",
        ),
        pytest.param(
            FALL_FROM_2, at(NY, 2026, 10, 31, 12), utc(2026, 11, 1, 7), id="fall-from-saturday"
        ),
        pytest.param(
            FRI_NIGHT, utc(2026, 3, 14, 3), utc(2026, 3, 20, 22), id="night-sat-03:00-next-fri"
        ),
        pytest.param(FRI_NIGHT, utc(2026, 3, 13, 21), utc(2026, 3, 13, 22), id="night-same-day"),
        pytest.param(
            FRI_NIGHT, utc(2026, 3, 14, 1), utc(2026, 3, 20, 22), id="night-while-open-next-window"
        ),
        pytest.param(
            SEOUL_9_TO_6, at(SEOUL, 2026, 3, 13, 19), utc(2026, 3, 16, 0), id="seoul-over-weekend"
        ),
        pytest.param(
            SEOUL_9_TO_6, at(SEOUL, 2026, 3, 14, 8), utc(2026, 3, 16, 0), id="tz-seoul-sat-08:00kst"
        ),
        pytest.param(
            UTC_9_TO_6, at(SEOUL, 2026, 3, 14, 8), utc(2026, 3, 16, 9), id="tz-utc-same-instant"
        ),
        pytest.param(
            KR_9_TO_6, at(SEOUL, 2026, 5, 5, 8), utc(2026, 5, 6, 0), id="kr-skips-holiday"
        ),
        pytest.param(
            US_9_TO_6, at(NY, 2026, 7, 2, 19), utc(2026, 7, 6, 13), id="us-skips-observed-holiday"
        ),
        pytest.param(
            MON_TUE_MERGED, utc(2026, 3, 9, 10), utc(2026, 3, 16, 0), id="merged-days-one-opening"
        ),
        pytest.param(NEVER, utc(2026, 3, 9, 10), None, id="never-opens"),
        pytest.param(ALWAYS, utc(2026, 3, 9, 10), None, id="always-open"),
    ],
)
def test_next_opening(policy: EntryPolicy, now: datetime, expected: datetime | None) -> None:
    got = next_opening(policy, now)
    assert got == expected
    if got is not None:
        assert got.tzinfo is UTC


def test_next_opening_stops_at_the_horizon() -> None:
    now = utc(2026, 3, 13, 11)  # Friday, after the one-hour window
    assert next_opening(FRI_ONE_HOUR, now, horizon_days=6) is None
    assert next_opening(FRI_ONE_HOUR, now, horizon_days=7) == utc(2026, 3, 20, 9)


@pytest.mark.parametrize(
    ("policy", "now", "expected"),
    [
        pytest.param(
            SPRING_1_TO_5,
            at(NY, 2026, 3, 8, 1, 30),
            utc(2026, 3, 8, 9),
            id="spring-closes-05:00edt",
        ),
        pytest.param(
            FALL_TO_0130, at(NY, 2026, 11, 1, 0, 30), utc(2026, 11, 1, 5, 30), id="fall-first-01:30"
        ),
        pytest.param(
            FALL_FROM_2, at(NY, 2026, 11, 1, 2, 30), utc(2026, 11, 1, 15), id="fall-closes-10:00est"
        ),
        pytest.param(FRI_NIGHT, utc(2026, 3, 14, 1), utc(2026, 3, 14, 2), id="night-sat-02:00"),
        pytest.param(
            FRI_NIGHT, utc(2026, 3, 14, 3), utc(2026, 3, 21, 2), id="night-closed-end-of-next"
        ),
        pytest.param(
            MON_TUE_MERGED, utc(2026, 3, 9, 10), utc(2026, 3, 10, 12), id="merged-not-midnight"
        ),
        pytest.param(
            ALWAYS_BUT_KR_HOLIDAYS,
            at(SEOUL, 2026, 5, 4, 12),
            utc(2026, 5, 4, 15),
            id="kr-always-open-closes-for-holiday",
        ),
        pytest.param(ALWAYS, utc(2026, 3, 9, 10), None, id="always-open"),
        pytest.param(NEVER, utc(2026, 3, 9, 10), None, id="never-opens"),
    ],
)
def test_next_closing(policy: EntryPolicy, now: datetime, expected: datetime | None) -> None:
    assert next_closing(policy, now) == expected


@pytest.mark.parametrize(
    "fn", [is_open_at, next_opening, next_closing], ids=["is_open_at", "opening", "closing"]
)
def test_naive_datetimes_are_refused(fn: object) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fn(UTC_9_TO_6, datetime(2026, 3, 10, 10))  # type: ignore[operator]


# ---------------------------------------------------------------- evaluate: reasons

SHOP = "https://shop.example/help"
BASE = EntryPolicy(
    channels=("chat", "voice", "video", "screen"),  # cobrowse not offered
    rules={
        "video": ChannelRule(tiers=VIDEO_TIERS),
        "voice": ChannelRule(needs_agent=True),
        "screen": ChannelRule(tiers=("premium",), needs_agent=True),
    },
    timezone="Asia/Seoul",
    hours=WEEKDAYS,
    holidays_country="KR",
    closed_dates=("2026-12-24",),
    pages_include=("https://shop.example/*",),
    pages_exclude=("https://shop.example/checkout*", "*/admin/*"),
    max_queue=10,
    max_wait_s=600.0,
)
TUE_10 = at(SEOUL, 2026, 3, 10, 10)
TUE_20 = at(SEOUL, 2026, 3, 10, 20)
STANDARD = Claims(tier="standard")
STAFFED = Staffing(agents_available=2, agents_online=3, queue_length=0, est_wait_s=60.0)
NOBODY = Staffing(agents_available=0, agents_online=0, queue_length=0, est_wait_s=None)
ALL_BUSY = Staffing(agents_available=0, agents_online=3, queue_length=4, est_wait_s=480.0)


def staffing(**kw: object) -> Staffing:
    return msgspec.structs.replace(STAFFED, **kw)


def decide(
    channel: str,
    *,
    policy: EntryPolicy = BASE,
    now: datetime = TUE_10,
    page: str = SHOP,
    claims: Claims = STANDARD,
    staff: Staffing = STAFFED,
) -> Decision:
    return evaluate(policy, now, page, claims, staff)[channel]


@pytest.mark.parametrize(
    ("channel", "kw", "reason"),
    [
        pytest.param("chat", {}, "open", id="open"),
        # not offered
        pytest.param("cobrowse", {}, "not_offered", id="not-offered"),
        pytest.param(
            "cobrowse",
            {"page": "https://shop.example/checkout", "now": TUE_20},
            "not_offered",
            id="order-not-offered-beats-page-and-hours",
        ),
        # pages
        pytest.param(
            "chat", {"page": "https://shop.example/checkout"}, "page_excluded", id="page-excluded"
        ),
        pytest.param(
            "chat",
            {"page": "https://shop.example/checkout?step=2"},
            "page_excluded",
            id="page-excluded-with-query",
        ),
        pytest.param(
            "chat",
            {"page": "https://shop.example/a/b/admin/x"},
            "page_excluded",
            id="page-excluded-star-crosses-slashes",
        ),
        pytest.param(
            "chat",
            {"page": "https://shop.example/help#/admin/x"},
            "open",
            id="page-fragment-ignored",
        ),
        pytest.param(
            "chat",
            {"page": "https://blog.example/post"},
            "page_not_included",
            id="page-not-included",
        ),
        pytest.param(
            "chat",
            {"page": "https://SHOP.example/help"},
            "page_not_included",
            id="page-match-is-case-sensitive",
        ),
        pytest.param("chat", {"page": ""}, "page_not_included", id="page-empty-with-includes"),
        pytest.param(
            "chat",
            {"page": "", "policy": msgspec.structs.replace(BASE, pages_include=())},
            "open",
            id="page-empty-without-includes",
        ),
        pytest.param(
            "chat",
            {
                "page": "https://blog.example/",
                "policy": msgspec.structs.replace(BASE, pages_include=()),
            },
            "open",
            id="page-no-includes-every-page",
        ),
        pytest.param(
            "chat",
            {"page": "https://shop.example/checkout", "now": TUE_20},
            "page_excluded",
            id="order-page-beats-closed-hours",
        ),
        # dates and hours
        pytest.param("chat", {"now": at(SEOUL, 2026, 12, 24, 10)}, "closed_date", id="closed-date"),
        pytest.param(
            "chat",
            {
                "now": at(SEOUL, 2026, 5, 5, 10),
                "policy": msgspec.structs.replace(BASE, closed_dates=("2026-05-05",)),
            },
            "closed_date",
            id="order-closed-date-beats-holiday",
        ),
        pytest.param("chat", {"now": at(SEOUL, 2026, 5, 5, 10)}, "holiday", id="holiday-kr"),
        pytest.param(
            "chat", {"now": at(SEOUL, 2026, 5, 5, 20)}, "holiday", id="holiday-beats-hours"
        ),
        pytest.param("chat", {"now": TUE_20}, "closed_hours", id="closed-hours"),
        pytest.param(
            "chat", {"now": at(SEOUL, 2026, 3, 14, 10)}, "closed_hours", id="closed-weekend"
        ),
        pytest.param("video", {"now": TUE_20}, "closed_hours", id="order-closed-hours-beats-tier"),
        pytest.param(
            "voice",
            {"now": TUE_20, "staff": NOBODY},
            "closed_hours",
            id="order-hours-beat-no-agent",
        ),
        # tiers
        pytest.param("video", {}, "tier", id="tier-standard-refused"),
        pytest.param("video", {"claims": Claims("premium", True)}, "open", id="tier-premium"),
        pytest.param("video", {"claims": Claims("loyalty", True)}, "open", id="tier-loyalty"),
        pytest.param("video", {"claims": Claims("high_value", True)}, "open", id="tier-high-value"),
        pytest.param(
            "video", {"claims": Claims("Premium", True)}, "tier", id="tier-case-sensitive"
        ),
        pytest.param("chat", {"claims": Claims("premium", True)}, "open", id="chat-premium"),
        pytest.param("chat", {"claims": Claims("standard")}, "open", id="chat-anonymous-standard"),
        pytest.param("chat", {"claims": Claims("vip-unknown", True)}, "open", id="chat-any-tier"),
        pytest.param("screen", {"staff": NOBODY}, "tier", id="order-tier-beats-no-agent"),
        # agents
        pytest.param("voice", {"staff": NOBODY}, "no_agent", id="no-agent-nobody-online"),
        pytest.param("voice", {"staff": ALL_BUSY}, "no_agent", id="no-agent-online-but-full"),
        pytest.param("chat", {"staff": NOBODY}, "open", id="no-agent-chat-does-not-need-one"),
        pytest.param("voice", {}, "open", id="agent-available"),
        pytest.param(
            "screen",
            {"staff": staffing(agents_available=0), "claims": Claims("premium", True)},
            "no_agent",
            id="no-agent-premium-screen",
        ),
        pytest.param(
            "voice",
            {"staff": staffing(agents_available=0, queue_length=50)},
            "no_agent",
            id="order-no-agent-beats-busy",
        ),
        # busy
        pytest.param("chat", {"staff": staffing(queue_length=10)}, "busy", id="busy-queue-at-max"),
        pytest.param(
            "chat", {"staff": staffing(queue_length=11)}, "busy", id="busy-queue-over-max"
        ),
        pytest.param("chat", {"staff": staffing(queue_length=9)}, "open", id="queue-under-max"),
        pytest.param(
            "chat", {"staff": staffing(est_wait_s=601.0)}, "busy", id="busy-wait-over-max"
        ),
        pytest.param("chat", {"staff": staffing(est_wait_s=600.0)}, "open", id="wait-at-max-open"),
        pytest.param("chat", {"staff": staffing(est_wait_s=None)}, "open", id="wait-unknown-open"),
        pytest.param(
            "video",
            {"staff": staffing(queue_length=10)},
            "tier",
            id="order-tier-beats-busy",
        ),
        pytest.param(
            "chat",
            {
                "staff": staffing(queue_length=500, est_wait_s=9999.0),
                "policy": msgspec.structs.replace(BASE, max_queue=0, max_wait_s=0.0),
            },
            "open",
            id="busy-zero-limits-mean-none",
        ),
    ],
)
def test_reason(channel: str, kw: dict[str, object], reason: str) -> None:
    d = decide(channel, **kw)  # type: ignore[arg-type]
    assert d.reason == reason
    assert d.open is (reason == "open")
    assert d.message_key == f"entry.reason.{reason}"


def test_every_channel_gets_a_decision_in_order() -> None:
    out = evaluate(BASE, TUE_10, SHOP, STANDARD, STAFFED)
    assert tuple(out) == CHANNELS
    assert {ch: d.reason for ch, d in out.items()} == {
        "chat": "open",
        "voice": "open",
        "video": "tier",
        "screen": "tier",
        "cobrowse": "not_offered",
    }


def test_default_policy_offers_only_chat() -> None:
    out = evaluate(EntryPolicy(), TUE_10, "", Claims("standard"), NOBODY)
    assert [ch for ch, d in out.items() if d.open] == ["chat"]


# ---------------------------------------------------------------- evaluate: params, next_change


SEOUL_OPENS_WED = {
    "timezone": "Asia/Seoul",
    "opens": "Wed 09:00",
    "opens_iso": "2026-03-11T00:00:00+00:00",
}


@pytest.mark.parametrize(
    ("policy", "now", "channel", "reason", "params", "next_change"),
    [
        pytest.param(
            BASE,
            TUE_20,
            "chat",
            "closed_hours",
            SEOUL_OPENS_WED,
            utc(2026, 3, 11, 0),
            id="closed-hours-opens-tomorrow",
        ),
        pytest.param(
            BASE,
            TUE_20,
            "video",
            "closed_hours",
            SEOUL_OPENS_WED,
            utc(2026, 3, 11, 0),
            id="closed-hours-same-for-tier-channel",
        ),
        pytest.param(
            BASE,
            at(SEOUL, 2026, 3, 11, 7),
            "chat",
            "closed_hours",
            {**SEOUL_OPENS_WED},
            utc(2026, 3, 11, 0),
            id="closed-hours-opens-today",
        ),
        pytest.param(
            BASE,
            at(SEOUL, 2026, 3, 13, 19),
            "chat",
            "closed_hours",
            {
                "timezone": "Asia/Seoul",
                "opens": "Mon 09:00",
                "opens_iso": "2026-03-16T00:00:00+00:00",
            },
            utc(2026, 3, 16, 0),
            id="closed-hours-over-weekend",
        ),
        pytest.param(
            BASE,
            at(SEOUL, 2026, 5, 5, 10),
            "chat",
            "holiday",
            {
                "timezone": "Asia/Seoul",
                "holiday": "어린이날",
                "holiday_en": "Children's Day",
                "date": "2026-05-05",
                "opens": "Wed 09:00",
                "opens_iso": "2026-05-06T00:00:00+00:00",
            },
            utc(2026, 5, 6, 0),
            id="holiday-kr-childrens-day",
        ),
        pytest.param(
            BASE,
            at(SEOUL, 2026, 10, 9, 10),
            "chat",
            "holiday",
            {
                "timezone": "Asia/Seoul",
                "holiday": "한글날",
                "holiday_en": "Hangul Day",
                "date": "2026-10-09",
                "opens": "Mon 09:00",
                "opens_iso": "2026-10-12T00:00:00+00:00",
            },
            utc(2026, 10, 12, 0),
            id="holiday-kr-hangul-day-friday",
        ),
        pytest.param(
            msgspec.structs.replace(US_9_TO_6, channels=CHANNELS),
            at(NY, 2026, 7, 3, 10),
            "voice",
            "holiday",
            {
                "timezone": "America/New_York",
                "holiday": "Independence Day (observed)",
                "holiday_en": "Independence Day (observed)",
                "date": "2026-07-03",
                "opens": "Mon 09:00",
                "opens_iso": "2026-07-06T13:00:00+00:00",
            },
            utc(2026, 7, 6, 13),
            id="holiday-us-independence-observed",
        ),
        pytest.param(
            US_CA_9_TO_6,
            at(ZoneInfo("America/Los_Angeles"), 2026, 11, 26, 10),
            "chat",
            "holiday",
            {
                "timezone": "America/Los_Angeles",
                "holiday": "Thanksgiving Day",
                "holiday_en": "Thanksgiving Day",
                "date": "2026-11-26",
                "opens": "Mon 09:00",
                "opens_iso": "2026-11-30T17:00:00+00:00",
            },
            utc(2026, 11, 30, 17),
            id="holiday-us-ca-thanksgiving-and-day-after",
        ),
        pytest.param(
            msgspec.structs.replace(KR_9_TO_6, hours={"tue": ("22:00-02:00",)}),
            at(SEOUL, 2026, 5, 6, 1),
            "chat",
            "holiday",
            {
                "timezone": "Asia/Seoul",
                "holiday": "어린이날",
                "holiday_en": "Children's Day",
                "date": "2026-05-05",
                "opens": "Tue 22:00",
                "opens_iso": "2026-05-12T13:00:00+00:00",
            },
            utc(2026, 5, 12, 13),
            id="holiday-on-start-day-of-night-window",
        ),
        pytest.param(
            BASE,
            at(SEOUL, 2026, 12, 24, 10),
            "chat",
            "closed_date",
            {
                "timezone": "Asia/Seoul",
                "date": "2026-12-24",
                "opens": "Mon 09:00",  # 25th is Christmas in Korea
                "opens_iso": "2026-12-28T00:00:00+00:00",
            },
            utc(2026, 12, 28, 0),
            id="closed-date-then-holiday",
        ),
        pytest.param(
            msgspec.structs.replace(FRI_NIGHT, closed_dates=("2026-03-13",)),
            utc(2026, 3, 14, 1),
            "chat",
            "closed_date",
            {
                "timezone": "UTC",
                "date": "2026-03-13",
                "opens": "Fri 22:00",
                "opens_iso": "2026-03-20T22:00:00+00:00",
            },
            utc(2026, 3, 20, 22),
            id="closed-date-on-start-day-of-night-window",
        ),
        pytest.param(
            msgspec.structs.replace(
                SEOUL_9_TO_6,
                closed_dates=tuple(f"2026-12-{d}" for d in range(14, 26)),
            ),
            at(SEOUL, 2026, 12, 14, 10),
            "chat",
            "closed_date",
            {
                "timezone": "Asia/Seoul",
                "date": "2026-12-14",
                "opens": "2026-12-28 09:00",
                "opens_iso": "2026-12-28T00:00:00+00:00",
            },
            utc(2026, 12, 28, 0),
            id="opens-more-than-6-days-away-shows-date",
        ),
        pytest.param(
            FRI_ONE_HOUR,
            utc(2026, 3, 13, 11),
            "chat",
            "closed_hours",
            {
                "timezone": "UTC",
                "opens": "2026-03-20 09:00",
                "opens_iso": "2026-03-20T09:00:00+00:00",
            },
            utc(2026, 3, 20, 9),
            id="opens-7-days-away-shows-date",
        ),
        pytest.param(
            FRI_ONE_HOUR,
            utc(2026, 3, 14, 11),
            "chat",
            "closed_hours",
            {"timezone": "UTC", "opens": "Fri 09:00", "opens_iso": "2026-03-20T09:00:00+00:00"},
            utc(2026, 3, 20, 9),
            id="opens-6-days-away-shows-weekday",
        ),
        pytest.param(
            SPRING_FROM_3,
            at(NY, 2026, 3, 8, 1, 30),
            "chat",
            "closed_hours",
            {
                "timezone": "America/New_York",
                "opens": "Sun 03:00",
                "opens_iso": "2026-03-08T07:00:00+00:00",
            },
            utc(2026, 3, 8, 7),
            id="opens-across-spring-forward",
        ),
        pytest.param(
            NEVER,
            TUE_10,
            "chat",
            "closed_hours",
            {"timezone": "UTC", "opens": "", "opens_iso": ""},
            None,
            id="never-opens-empty-opens",
        ),
        pytest.param(
            BASE,
            TUE_10,
            "chat",
            "open",
            {
                "timezone": "Asia/Seoul",
                "closes": "Tue 18:00",
                "closes_iso": "2026-03-10T09:00:00+00:00",
            },
            utc(2026, 3, 10, 9),
            id="open-next-change-is-closing",
        ),
        pytest.param(
            FRI_NIGHT,
            utc(2026, 3, 14, 1),
            "chat",
            "open",
            {"timezone": "UTC", "closes": "Sat 02:00", "closes_iso": "2026-03-14T02:00:00+00:00"},
            utc(2026, 3, 14, 2),
            id="open-night-window-closes-saturday",
        ),
        pytest.param(ALWAYS, TUE_10, "chat", "open", {}, None, id="open-always-no-change"),
        pytest.param(
            BASE,
            TUE_10,
            "video",
            "tier",
            {"tiers": "premium, loyalty, high_value"},
            None,
            id="tier-lists-tiers",
        ),
        pytest.param(BASE, TUE_10, "cobrowse", "not_offered", {}, None, id="not-offered-no-params"),
    ],
)
def test_params_and_next_change(
    policy: EntryPolicy,
    now: datetime,
    channel: str,
    reason: str,
    params: dict[str, str],
    next_change: datetime | None,
) -> None:
    d = evaluate(policy, now, SHOP, STANDARD, STAFFED)[channel]
    assert (d.reason, d.params, d.next_change) == (reason, params, next_change)


@pytest.mark.parametrize(
    ("staff", "params"),
    [
        pytest.param(
            staffing(queue_length=12), {"cause": "queue", "queue_length": "12"}, id="queue"
        ),
        pytest.param(
            staffing(est_wait_s=601.0), {"cause": "wait", "wait_minutes": "11"}, id="wait"
        ),
    ],
)
def test_busy_params(staff: Staffing, params: dict[str, str]) -> None:
    d = decide("chat", staff=staff)
    assert (d.reason, d.params, d.next_change) == ("busy", params, None)


def test_decision_encodes_to_json() -> None:
    d = decide("chat", now=TUE_20)
    assert msgspec.json.decode(msgspec.json.encode(d))["next_change"] == "2026-03-11T00:00:00Z"


@pytest.mark.parametrize("lang", ["en_US.UTF-8", "ko_KR.UTF-8", "C"])
def test_holiday_names_ignore_the_process_locale(
    monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    from signaling.policy import _holidays_of_year

    for var in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.setenv(var, lang)
    _holidays_of_year.cache_clear()
    try:
        d = decide("chat", now=at(SEOUL, 2026, 5, 5, 10))
    finally:
        _holidays_of_year.cache_clear()
    assert (d.params["holiday"], d.params["holiday_en"]) == ("어린이날", "Children's Day")


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        pytest.param(
            {"timezone": "Mars/Base"},
            "entry rule timezone = 'Mars/Base': not an IANA time zone name",
            id="bad-tz",
        ),
        pytest.param(
            {"timezone": ""}, "entry rule timezone = '': not an IANA time zone name", id="empty-tz"
        ),
        pytest.param(
            {"timezone": "../etc/passwd"},
            "entry rule timezone = '../etc/passwd': not an IANA time zone name",
            id="path-tz",
        ),
        pytest.param(
            {"hours": {"mon": ("9-18",)}},
            "entry rule hours.mon = '9-18': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-9-18",
        ),
        pytest.param(
            {"hours": {"tue": ("25:00-26:00",)}},
            "entry rule hours.tue = '25:00-26:00': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-hour-25",
        ),
        pytest.param(
            {"hours": {"wed": ("09:60-10:00",)}},
            "entry rule hours.wed = '09:60-10:00': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-minute-60",
        ),
        pytest.param(
            {"hours": {"thu": ("24:00-02:00",)}},
            "entry rule hours.thu = '24:00-02:00': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-starts-24",
        ),
        pytest.param(
            {"hours": {"fri": ("09:00-24:30",)}},
            "entry rule hours.fri = '09:00-24:30': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-ends-after-24",
        ),
        pytest.param(
            {"hours": {"mon": ("09:00-18:00\n",)}},
            "entry rule hours.mon = '09:00-18:00\\n': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-trailing-newline",
        ),
        pytest.param(
            {"hours": {"mon": ("\uff10\uff19:00-18:00",)}},
            "entry rule hours.mon = '\uff10\uff19:00-18:00': expected \"HH:MM-HH:MM\" on a 24-hour clock",
            id="bad-range-fullwidth-digits",
        ),
        pytest.param(
            {"hours": {"sat": "09:00-18:00"}},
            "entry rule hours.sat = '09:00-18:00': expected a list of ranges",
            id="bare-string-not-list",
        ),
        pytest.param(
            {"hours": {"mo": ("09:00-18:00",)}},
            "entry rule hours = 'mo': unknown day; expected one of mon, tue, wed, thu, fri, sat, sun",
            id="unknown-day-mo",
        ),
        pytest.param(
            {"holidays_country": "XX"},
            "entry rule holidays_country = 'XX': not a country code the holidays package knows",
            id="unknown-country-XX",
        ),
        pytest.param(
            {"holidays_country": "kr"},
            "entry rule holidays_country = 'kr': not a country code the holidays package knows",
            id="lowercase-country",
        ),
        pytest.param(
            {"holidays_country": "US", "holidays_subdivision": "ZZ"},
            "entry rule holidays_subdivision = 'ZZ': not a subdivision of US",
            id="unknown-subdivision",
        ),
        pytest.param(
            {"holidays_subdivision": "CA"},
            "entry rule holidays_subdivision = 'CA': needs holidays_country",
            id="subdivision-without-country",
        ),
        pytest.param(
            {"channels": ("chat", "fax")},
            "entry rule channels = 'fax': unknown channel; expected one of chat, voice, video, screen, cobrowse",
            id="unknown-channel-fax",
        ),
        pytest.param(
            {"channels": ("chat", "voice", "chat")},
            "entry rule channels = 'chat': listed twice",
            id="duplicate-channel",
        ),
        pytest.param(
            {"rules": {"fax": ChannelRule()}},
            "entry rule rules = 'fax': unknown channel; expected one of chat, voice, video, screen, cobrowse",
            id="unknown-channel-in-rules",
        ),
        pytest.param(
            {"closed_dates": ("2026-02-30",)},
            "entry rule closed_dates = '2026-02-30': expected a date \"YYYY-MM-DD\"",
            id="bad-date-feb-30",
        ),
        pytest.param(
            {"closed_dates": ("20261225",)},
            "entry rule closed_dates = '20261225': expected a date \"YYYY-MM-DD\"",
            id="bad-date-compact",
        ),
        pytest.param(
            {"max_queue": -1},
            "entry rule max_queue = -1: must be 0 (no limit) or more",
            id="neg-queue",
        ),
        pytest.param(
            {"max_wait_s": -0.5},
            "entry rule max_wait_s = -0.5: must be 0 (no limit) or more",
            id="neg-wait",
        ),
        pytest.param(
            {"max_wait_s": float("nan")},
            "entry rule max_wait_s = nan: must be 0 (no limit) or more",
            id="nan-wait",
        ),
    ],
)
def test_validate_refuses(kw: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        validate(EntryPolicy(**kw))  # type: ignore[arg-type]
    assert str(info.value) == message


def test_policy_error_carries_field_value_why() -> None:
    with pytest.raises(PolicyError) as info:
        validate(EntryPolicy(hours={"mon": ("9-18",)}))
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.field, err.value, err.why) == (
        "hours.mon",
        "9-18",
        'expected "HH:MM-HH:MM" on a 24-hour clock',
    )


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(EntryPolicy(), id="defaults"),
        pytest.param(BASE, id="base"),
        pytest.param(US_CA_9_TO_6, id="us-ca"),
        pytest.param(EntryPolicy(hours={"sun": ("00:00-24:00", "22:00-02:00")}), id="allday-night"),
        pytest.param(EntryPolicy(hours={"mon": ()}), id="empty-day"),
        pytest.param(
            EntryPolicy(channels=CHANNELS, max_queue=0, max_wait_s=0.0), id="all-channels"
        ),
    ],
)
def test_validate_accepts(policy: EntryPolicy) -> None:
    validate(policy)


def test_evaluate_refuses_an_invalid_policy() -> None:
    with pytest.raises(PolicyError, match=r"hours\.mon"):
        evaluate(EntryPolicy(hours={"mon": ("9-18",)}), TUE_10, SHOP, STANDARD, STAFFED)


def test_policy_decodes_from_config_and_refuses_unknown_fields() -> None:
    raw = {
        "channels": ["chat", "video"],
        "rules": {"video": {"tiers": ["premium"], "needs_agent": True}},
        "hours": {"mon": ["09:00-18:00"]},
    }
    policy = msgspec.convert(raw, EntryPolicy)
    assert policy.rules["video"] == ChannelRule(tiers=("premium",), needs_agent=True)
    assert policy.hours == {"mon": ("09:00-18:00",)}
    with pytest.raises(msgspec.ValidationError, match="hourz"):
        msgspec.convert({"hourz": {}}, EntryPolicy)
    with pytest.raises(msgspec.ValidationError, match="tier"):
        msgspec.convert({"rules": {"video": {"tier": ["premium"]}}}, EntryPolicy)


# ---------------------------------------------------------------- property


ZONES = (
    "UTC",
    "Asia/Seoul",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # half-hour DST shift
    "America/Santiago",  # DST switch at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def weekly_hours(draw: st.DrawFn) -> dict[str, tuple[str, ...]]:
    """Random valid hours with at least one non-empty range."""
    days = draw(
        st.lists(
            st.sampled_from(("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
            min_size=1,
            max_size=7,
            unique=True,
        )
    )
    hours: dict[str, tuple[str, ...]] = {}
    for day in days:
        spans = []
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, 23 * 60 + 59))
            end = draw(st.integers(0, 24 * 60))  # end <= start: past midnight
            spans.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
        hours[day] = tuple(spans)
    return hours


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    hours=weekly_hours(),
    zone=st.sampled_from(ZONES),
    offset_s=st.integers(0, 365 * 86400),
)
def test_open_state_agrees_with_next_opening_and_closing(
    hours: dict[str, tuple[str, ...]], zone: str, offset_s: int
) -> None:
    policy = EntryPolicy(timezone=zone, hours=hours)
    validate(policy)
    now = YEAR_START + timedelta(seconds=offset_s)
    tick = timedelta(microseconds=1)
    if is_open_at(policy, now):
        closes = next_closing(policy, now)
        if closes is None:
            # the week is covered end to end: it must stay open
            assert all(is_open_at(policy, now + timedelta(hours=h)) for h in range(0, 24 * 8, 5))
        else:
            assert closes > now
            assert not is_open_at(policy, closes)
            assert is_open_at(policy, closes - tick)
    else:
        opens = next_opening(policy, now)
        assert opens is not None
        assert opens > now
        assert is_open_at(policy, opens)
        assert not is_open_at(policy, opens - tick)
        assert not is_open_at(policy, now + (opens - now) / 2)
