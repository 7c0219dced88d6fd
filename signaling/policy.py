"""Who may start a session on an entry point, on which channel, and when.

``evaluate(policy, now, page_url, claims, staffing)`` answers, for every channel,
whether a customer may start it right now and, if not, why, with an i18n key and
the values its message needs. Nothing here does I/O or reads a clock: callers
pass a timezone-aware ``now``.

Opening hours are wall-clock ranges per weekday in the entry's IANA time zone.
Each range becomes one *window* that belongs to the local date it starts on; a
range whose end is not after its start runs past midnight into the next day.
A closed date or a public holiday on a window's start date cancels that window.
Wall times are turned into instants with ``fold=0``: a time that happens twice
on a fall-back day means its first occurrence, and a time skipped on a
spring-forward day is read with the offset in force before the jump (so
"02:30" on that day is the instant the clocks show 03:30).

Reasons are checked in a fixed order and the first that applies wins, so the
customer hears the most useful one: ``not_offered``, ``page_excluded`` /
``page_not_included``, ``closed_date``, ``holiday``, ``closed_hours``, ``tier``,
``no_agent``, ``busy``, else ``open``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from fnmatch import fnmatchcase
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg
import msgspec

CHANNELS = ("chat", "voice", "video", "screen", "cobrowse")
"""Every channel an entry can offer, in the order decisions are returned."""

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Keys of ``EntryPolicy.hours``, indexed by ``date.weekday()``."""

REASONS = (
    "not_offered",
    "page_excluded",
    "page_not_included",
    "closed_date",
    "holiday",
    "closed_hours",
    "tier",
    "no_agent",
    "busy",
    "open",
)
"""Every ``Decision.reason``; the message key is ``entry.reason.<reason>``."""

# Weekday names are spelled out here rather than taken from strftime("%a"),
# which follows the process locale and would make the output depend on it.
_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_RANGE = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_MIN = 24 * 60
_ALL_DAY = ((0, _DAY_MIN),)


class PolicyError(ValueError):
    """An entry policy value is invalid; names the field, the value and why."""

    def __init__(self, field: str, value: object, why: str) -> None:
        super().__init__(f"entry rule {field} = {value!r}: {why}")
        self.field = field
        self.value = value
        self.why = why


class ChannelRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who may use one channel of an entry."""

    tiers: tuple[str, ...] = ()  # empty: every tier (incl. anonymous customers' default tier)
    needs_agent: bool = False  # a live agent with the entry's skill must be available now


class EntryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The access rules of one entry point. Check it once with :func:`validate`.

    ``hours`` maps ``"mon"``..``"sun"`` to ``"HH:MM-HH:MM"`` ranges in ``timezone``;
    an empty dict means always open, a missing day means closed that day,
    ``"00:00-24:00"`` is the whole day and a range whose end is not after its
    start runs past midnight. ``closed_dates`` are ``"YYYY-MM-DD"`` local dates.
    Page patterns are fnmatch-style and case-sensitive on the URL without its
    fragment (``*`` also matches ``/``). ``max_queue`` and ``max_wait_s`` are
    0 for no limit.
    """

    channels: tuple[str, ...] = ("chat",)
    rules: dict[str, ChannelRule] = {}
    timezone: str = "UTC"
    hours: dict[str, tuple[str, ...]] = {}
    holidays_country: str = ""
    holidays_subdivision: str = ""
    closed_dates: tuple[str, ...] = ()
    pages_include: tuple[str, ...] = ()
    pages_exclude: tuple[str, ...] = ()
    max_queue: int = 0
    max_wait_s: float = 0.0


class Claims(msgspec.Struct, frozen=True):
    """What is known about the customer: their tier and whether a token vouched for it."""

    tier: str
    authenticated: bool = False


class Staffing(msgspec.Struct, frozen=True):
    """The entry's live staffing, as the router sees it now."""

    agents_available: int  # agents with the entry's skill, available with free capacity
    agents_online: int  # with the skill, online at all (available/busy)
    queue_length: int
    est_wait_s: float | None


class Decision(msgspec.Struct, frozen=True):
    """Whether one channel may be started now, and the customer-facing explanation.

    ``next_change`` is the next instant (aware, UTC) at which the decision may
    flip between open and closed because of hours, holidays or closed dates:
    the next opening for a closed-by-time decision, the next closing for an
    open one, otherwise None.
    """

    open: bool
    reason: str
    message_key: str
    params: dict[str, str] = {}
    next_change: datetime | None = None


# ---------------------------------------------------------------- validation


def validate(policy: EntryPolicy) -> None:
    """Raise :class:`PolicyError` for the first invalid value in ``policy``."""
    _zone(policy.timezone)
    seen: set[str] = set()
    for ch in policy.channels:
        if ch not in CHANNELS:
            raise PolicyError("channels", ch, _unknown_channel())
        if ch in seen:
            raise PolicyError("channels", ch, "listed twice")
        seen.add(ch)
    for ch in policy.rules:
        if ch not in CHANNELS:
            raise PolicyError("rules", ch, _unknown_channel())
    _weekly(policy.hours)
    _check_holidays(policy.holidays_country, policy.holidays_subdivision)
    _closed_dates(policy.closed_dates)
    if policy.max_queue < 0:
        raise PolicyError("max_queue", policy.max_queue, "must be 0 (no limit) or more")
    if not math.isfinite(policy.max_wait_s) or policy.max_wait_s < 0:
        raise PolicyError("max_wait_s", policy.max_wait_s, "must be 0 (no limit) or more")


def _unknown_channel() -> str:
    return "unknown channel; expected one of " + ", ".join(CHANNELS)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: keys like "" or "../x" that are not even shaped like a zone name
        raise PolicyError("timezone", name, "not an IANA time zone name") from None


def _parse_range(day: str, text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` as minutes from the start day's midnight, end after start."""
    m = _RANGE.fullmatch(text)
    bad = PolicyError(f"hours.{day}", text, 'expected "HH:MM-HH:MM" on a 24-hour clock')
    if m is None:
        raise bad
    sh, sm, eh, em = (int(g) for g in m.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise bad
    start, end = sh * 60 + sm, eh * 60 + em
    if end <= start:
        end += _DAY_MIN  # runs past midnight into the next day
    return start, end


def _weekly(hours: dict[str, tuple[str, ...]]) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    """Parsed windows per weekday (Monday first), or None when always open."""
    for day in hours:
        if day not in DAYS:
            raise PolicyError("hours", day, "unknown day; expected one of " + ", ".join(DAYS))
        if isinstance(hours[day], str):
            # a bare string would iterate as characters: say what is expected instead
            raise PolicyError(f"hours.{day}", hours[day], "expected a list of ranges")
    if not hours:
        return None
    return tuple(tuple(sorted(_parse_range(day, r) for r in hours.get(day, ()))) for day in DAYS)


def _closed_dates(values: tuple[str, ...]) -> frozenset[date]:
    out: set[date] = set()
    for text in values:
        # the regex first: fromisoformat alone also takes "20261225" and week dates
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            out.add(date.fromisoformat(text))
        except ValueError:
            raise PolicyError("closed_dates", text, 'expected a date "YYYY-MM-DD"') from None
    return frozenset(out)


@lru_cache(maxsize=64)
def _check_holidays(country: str, subdivision: str) -> None:
    """Raise PolicyError unless the holidays package knows the country and subdivision.

    Cached because evaluate() re-checks on every call; errors are not cached.
    """
    if not country:
        if subdivision:
            raise PolicyError("holidays_subdivision", subdivision, "needs holidays_country")
        return
    if not country.isupper() or not _known_country(country):
        raise PolicyError(
            "holidays_country", country, "not a country code the holidays package knows"
        )
    try:
        holidays_pkg.country_holidays(country, subdiv=subdivision or None, years=())
    except NotImplementedError:
        raise PolicyError(
            "holidays_subdivision", subdivision, f"not a subdivision of {country}"
        ) from None


@lru_cache(maxsize=1)
def _supported_countries() -> frozenset[str]:
    return frozenset(holidays_pkg.list_supported_countries())


def _known_country(country: str) -> bool:
    return country in _supported_countries()


@lru_cache(maxsize=64)
def _languages(country: str, subdivision: str) -> tuple[str | None, str | None]:
    """The country's own language for holiday names, and an English one if it has one."""
    probe = holidays_pkg.country_holidays(country, subdiv=subdivision or None, years=())
    own = probe.default_language
    english = [lang for lang in probe.supported_languages if lang.split("_")[0] == "en"]
    if own is not None and own.split("_")[0] == "en":
        return own, own
    return own, ("en_US" if "en_US" in english else english[0] if english else own)


@lru_cache(maxsize=256)
def _holidays_of_year(
    country: str, subdivision: str, year: int, english: bool = False
) -> MappingProxyType[date, str]:
    """One year's public holidays, date -> name; read-only so the cache cannot be corrupted.

    Names come in the country's own language (or English), always chosen
    explicitly: left unset, the package would follow the process locale (LANG).
    """
    own, en = _languages(country, subdivision)
    table = holidays_pkg.country_holidays(
        country, subdiv=subdivision or None, years=year, language=en if english else own
    )
    return MappingProxyType(dict(table.items()))


# ---------------------------------------------------------------- calendar


class _Calendar:
    """A policy's hours, closures and holidays, parsed once per call."""

    def __init__(self, policy: EntryPolicy) -> None:
        self.zone: tzinfo = _zone(policy.timezone)
        self.zone_name = policy.timezone
        self.weekly = _weekly(policy.hours)
        self.closed = _closed_dates(policy.closed_dates)
        _check_holidays(policy.holidays_country, policy.holidays_subdivision)
        self.country = policy.holidays_country
        self.subdivision = policy.holidays_subdivision

    @property
    def always_open(self) -> bool:
        return self.weekly is None and not self.closed and not self.country

    def holiday(self, day: date) -> str | None:
        if not self.country:
            return None
        return _holidays_of_year(self.country, self.subdivision, day.year).get(day)

    def ranges(self, day: date) -> tuple[tuple[int, int], ...]:
        """The day's ranges from the hours table, ignoring closures and holidays."""
        return _ALL_DAY if self.weekly is None else self.weekly[day.weekday()]

    def cancelled(self, day: date) -> bool:
        return day in self.closed or self.holiday(day) is not None

    def instant(self, day: date, minute: int) -> datetime:
        """Wall-clock ``day`` + ``minute`` in the zone, as UTC (fold=0, see module doc)."""
        wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def windows(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The day's open windows as UTC instants, by start; none if the day is cancelled."""
        if self.cancelled(day):
            return
        spans = [
            (self.instant(day, start), self.instant(day, end)) for start, end in self.ranges(day)
        ]
        # sorted again as instants: a start inside a spring-forward gap maps past
        # later wall times of the same day (02:30 reads as 03:30, after 03:00)
        for s, e in sorted(spans):
            # a window wholly inside a spring-forward gap has no real duration
            if s < e:
                yield s, e

    def local_date(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()

    def is_open(self, when: datetime) -> bool:
        today = self.local_date(when)
        # windows last at most 24 wall-clock hours, so only yesterday's and
        # today's can cover ``when``; one more day each side absorbs DST shifts
        for offset in (-2, -1, 0, 1):
            for s, e in self.windows(today + timedelta(days=offset)):
                if s <= when < e:
                    return True
        return False

    def intervals(self, now: datetime, horizon_days: int) -> Iterator[tuple[datetime, datetime]]:
        """Maximal open intervals (overlapping or touching windows merged), in order.

        Starts two local days before ``now`` and covers the horizon plus two days,
        so any boundary up to ``now + horizon_days`` is a real change of state.
        """
        first = self.local_date(now) - timedelta(days=2)
        cur: tuple[datetime, datetime] | None = None
        for n in range(max(horizon_days, 0) + 5):
            for s, e in self.windows(first + timedelta(days=n)):
                if cur is not None and s <= cur[1]:
                    cur = (cur[0], max(cur[1], e))
                    continue
                if cur is not None:
                    yield cur
                cur = (s, e)
        if cur is not None:
            yield cur

    def next_opening(self, now: datetime, horizon_days: int) -> datetime | None:
        if self.always_open:
            return None
        limit = now + timedelta(days=horizon_days)
        for s, _ in self.intervals(now, horizon_days):
            if s > limit:
                return None
            if s > now:
                return s
        return None

    def next_closing(self, now: datetime, horizon_days: int) -> datetime | None:
        if self.always_open:
            return None
        limit = now + timedelta(days=horizon_days)
        for _, e in self.intervals(now, horizon_days):
            if e > limit:
                return None
            if e > now:
                return e
        return None

    def closed_reason(self, now: datetime) -> tuple[str, dict[str, str]]:
        """Why a closed entry is closed at ``now``: a closed date, a holiday or the hours.

        A date counts if it is today's local date or the start date of a
        cancelled window that would cover ``now`` (e.g. Friday's night window on
        Saturday 01:00 when Friday is a holiday).
        """
        today = self.local_date(now)
        days = [today]
        for offset in (-2, -1, 0, 1):
            day = today + timedelta(days=offset)
            for start, end in self.ranges(day):
                if self.instant(day, start) <= now < self.instant(day, end):
                    days.append(day)
        for day in days:
            if day in self.closed:
                return "closed_date", {"date": day.isoformat()}
        for day in days:
            name = self.holiday(day)
            if name is not None:
                en = _holidays_of_year(self.country, self.subdivision, day.year, english=True)
                # "holiday" in the country's language; "holiday_en" for English pages
                return "holiday", {
                    "holiday": name,
                    "holiday_en": en.get(day, name),
                    "date": day.isoformat(),
                }
        return "closed_hours", {}

    def format_local(self, when: datetime, now: datetime) -> str:
        """``"Mon 09:00"`` within the coming week, else ``"2026-12-26 09:00"``."""
        local = when.astimezone(self.zone)
        if (local.date() - self.local_date(now)).days > 6:
            return local.strftime("%Y-%m-%d %H:%M")
        return f"{_WEEKDAY_ABBR[local.weekday()]} {local:%H:%M}"


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


# ---------------------------------------------------------------- public queries


def is_open_at(policy: EntryPolicy, when: datetime) -> bool:
    """Whether the hours, holidays and closed dates let the entry be open at ``when``."""
    _aware(when)
    return _Calendar(policy).is_open(when)


def next_opening(policy: EntryPolicy, now: datetime, *, horizon_days: int = 366) -> datetime | None:
    """The first instant after ``now`` at which the entry goes from closed to open (UTC).

    None when it does not open within ``horizon_days`` (or is always open).
    """
    _aware(now)
    return _Calendar(policy).next_opening(now, horizon_days)


def next_closing(policy: EntryPolicy, now: datetime, *, horizon_days: int = 366) -> datetime | None:
    """The first instant after ``now`` at which the entry goes from open to closed (UTC).

    When closed now, that is the end of the next opening. None when it does not
    close within ``horizon_days``.
    """
    _aware(now)
    return _Calendar(policy).next_closing(now, horizon_days)


def evaluate(
    policy: EntryPolicy, now: datetime, page_url: str, claims: Claims, staffing: Staffing
) -> dict[str, Decision]:
    """One :class:`Decision` per channel in :data:`CHANNELS`, in that order.

    Expects a policy that passed :func:`validate`; an invalid one raises
    :class:`PolicyError` here too.
    """
    _aware(now)
    cal = _Calendar(policy)
    page = _page_reason(policy, page_url)
    # the time-based outcome is the same for every channel: work it out once
    timed = _timed(cal, now)
    busy = _busy(policy, staffing)
    out: dict[str, Decision] = {}
    for ch in CHANNELS:
        out[ch] = _channel(ch, policy, page, timed, claims, staffing, busy)
    return out


def _channel(
    ch: str,
    policy: EntryPolicy,
    page: str | None,
    timed: Decision,
    claims: Claims,
    staffing: Staffing,
    busy: dict[str, str] | None,
) -> Decision:
    """The first reason that applies to ``ch``, in the order of the module doc."""
    if ch not in policy.channels:
        return _decision("not_offered")
    if page is not None:
        return _decision(page)
    if not timed.open:
        return timed
    rule = policy.rules.get(ch, ChannelRule())
    if rule.tiers and claims.tier not in rule.tiers:
        return _decision("tier", {"tiers": ", ".join(rule.tiers)})
    if rule.needs_agent and staffing.agents_available <= 0:
        return _decision("no_agent")
    if busy is not None:
        return _decision("busy", busy)
    return timed


def _decision(
    reason: str, params: dict[str, str] | None = None, next_change: datetime | None = None
) -> Decision:
    return Decision(
        open=reason == "open",
        reason=reason,
        message_key=f"entry.reason.{reason}",
        params=params or {},
        next_change=next_change,
    )


def _page_reason(policy: EntryPolicy, page_url: str) -> str | None:
    url = page_url.split("#", 1)[0]
    if any(fnmatchcase(url, p) for p in policy.pages_exclude):
        return "page_excluded"
    if policy.pages_include and not (
        url and any(fnmatchcase(url, p) for p in policy.pages_include)
    ):
        return "page_not_included"
    return None


def _timed(cal: _Calendar, now: datetime) -> Decision:
    """The hours/holidays/closures outcome: ``open`` or a closed reason, with params."""
    params: dict[str, str] = {"timezone": cal.zone_name}
    if cal.is_open(now):
        closes = cal.next_closing(now, 366)
        if closes is not None:
            params["closes"] = cal.format_local(closes, now)
            params["closes_iso"] = closes.isoformat()
        return _decision("open", params if closes is not None else {}, closes)
    reason, extra = cal.closed_reason(now)
    params.update(extra)
    opens = cal.next_opening(now, 366)
    # always present, because the messages interpolate them; "" when the entry
    # does not open again within a year
    params["opens"] = cal.format_local(opens, now) if opens is not None else ""
    params["opens_iso"] = opens.isoformat() if opens is not None else ""
    return _decision(reason, params, opens)


def _busy(policy: EntryPolicy, staffing: Staffing) -> dict[str, str] | None:
    if policy.max_queue > 0 and staffing.queue_length >= policy.max_queue:
        return {"cause": "queue", "queue_length": str(staffing.queue_length)}
    wait = staffing.est_wait_s
    if policy.max_wait_s > 0 and wait is not None and wait > policy.max_wait_s:
        return {"cause": "wait", "wait_minutes": str(math.ceil(wait / 60))}
    return None
