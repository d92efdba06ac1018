"""The schedule arithmetic of a cadence: when may a step go out, and when is a wait over.

Every moment is an aware datetime; the rules are read in the cadence's time zone (the
company's, copied at creation). A moment is *allowed* when its local day is an allowed weekday
that is not a holiday and its local time is inside the hours window ``[start, end)``.
Holidays are the ``holidays`` package's national calendar of Brazil by default, with the
company's own dates added or removed.

Waits are counted from the moment the previous step ran:

- ``minutes`` / ``hours``: elapsed time;
- ``days``: calendar days at the same wall-clock time (``America/Sao_Paulo`` has had no DST
  since 2019, but zones with DST keep the wall-clock time, not 24 h multiples);
- ``business_days``: allowed days (weekday allowed, not a holiday), same wall-clock time;
- optionally ``at`` (``"09:30"``): the wait ends at that local time on the day it lands on, or
  the next allowed day (for minute and hour waits: the first ``at`` not before the wait's end).

A send that falls outside the rules moves to :meth:`Rules.next_allowed`. Nothing here reads the
database: the services build :class:`Rules` from a ``Cadence`` (``rules_for``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

WAIT_UNITS = ("minutes", "hours", "days", "business_days")
# Far enough for any real calendar (every weekday excluded is refused by validation), short
# enough that a broken rule set cannot loop forever.
MAX_DAYS_AHEAD = 800


@lru_cache(maxsize=64)
def _national(country: str, year: int) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year).keys())


@dataclass(frozen=True)
class Rules:
    time_zone: str = "America/Sao_Paulo"
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # 0 = Monday
    start: dt.time | None = dt.time(9, 0)
    end: dt.time | None = dt.time(18, 0)
    national_holidays: bool = True
    country: str = "BR"
    added: frozenset[dt.date] = field(default_factory=frozenset)
    removed: frozenset[dt.date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def has_window(self) -> bool:
        return self.start is not None and self.end is not None and self.start < self.end

    def is_holiday(self, day: dt.date) -> bool:
        if day in self.removed:
            return False
        if day in self.added:
            return True
        return self.national_holidays and day in _national(self.country, day.year)

    def day_allowed(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and not self.is_holiday(day)

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    def _at(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=self.tz)

    def allowed(self, moment: dt.datetime) -> bool:
        local = self.local(moment)
        if not self.day_allowed(local.date()):
            return False
        if not self.has_window:
            return True
        assert self.start is not None and self.end is not None
        return self.start <= local.time() < self.end

    def next_allowed(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` itself when allowed, else the opening of the next allowed period."""
        if self.allowed(moment):
            return moment
        local = self.local(moment)
        opening = self.start if self.has_window else dt.time(0, 0)
        assert opening is not None
        day = local.date()
        if self.day_allowed(day) and local.time() < opening:
            return self._at(day, opening)
        for _i in range(MAX_DAYS_AHEAD):
            day += dt.timedelta(days=1)
            if self.day_allowed(day):
                return self._at(day, opening)
        raise ValueError("no allowed moment in the cadence's rules")

    def next_allowed_day(self, day: dt.date) -> dt.date:
        """``day`` when allowed, else the next allowed day."""
        for _i in range(MAX_DAYS_AHEAD):
            if self.day_allowed(day):
                return day
            day += dt.timedelta(days=1)
        raise ValueError("no allowed day in the cadence's rules")

    def wait_end(self, moment: dt.datetime, *, amount: int, unit: str, at: dt.time | None = None) -> dt.datetime:
        """When a wait of ``amount`` ``unit`` started at ``moment`` is over (not yet moved into
        the send window: :meth:`next_allowed` does that for a send)."""
        amount = max(0, int(amount))
        local = self.local(moment)
        if unit == "minutes":
            end = moment + dt.timedelta(minutes=amount)
        elif unit == "hours":
            end = moment + dt.timedelta(hours=amount)
        elif unit == "days":
            # Wall-clock arithmetic: an aware datetime plus days keeps the local time.
            end = self._at(local.date() + dt.timedelta(days=amount), local.timetz().replace(tzinfo=None))
        elif unit == "business_days":
            day = local.date()
            left = amount
            for _i in range(MAX_DAYS_AHEAD):
                if left <= 0:
                    break
                day += dt.timedelta(days=1)
                if self.day_allowed(day):
                    left -= 1
            end = self._at(day, local.time())
        else:
            raise ValueError(f"unknown wait unit {unit!r}")
        if at is None:
            return end
        end_local = self.local(end)
        day = end_local.date()
        if unit in ("minutes", "hours") and self._at(day, at) < end:
            day += dt.timedelta(days=1)
        return self._at(self.next_allowed_day(day), at)


def parse_time(value: str | dt.time | None) -> dt.time | None:
    """``"09:30"`` -> ``time(9, 30)``; empty -> None; anything else raises ``ValueError``."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.time):
        return value
    hours, _sep, minutes = str(value).strip().partition(":")
    return dt.time(int(hours), int(minutes or 0))
