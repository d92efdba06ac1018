"""Send windows and daily caps, in the campaign's (company's) time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "America/Sao_Paulo")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("America/Sao_Paulo")


def window_next_open(
    *,
    time_zone: str,
    start: dt.time | None,
    end: dt.time | None,
    days: list[int] | None,
    now: dt.datetime | None = None,
) -> dt.datetime | None:
    """``None`` when sending is allowed at ``now``; else the next moment the window opens.

    ``start``-``end`` are local wall times (``end`` exclusive; an ``end`` before ``start`` spans
    midnight), ``days`` the weekdays (0 = Monday) on which the window *starts*. No times: any
    time on the allowed days. Daylight-saving changes are handled by building each local
    opening from the date and the wall time.
    """
    now = now or timezone.now()
    zone = _zone(time_zone)
    local = now.astimezone(zone)
    allowed = set(days) if days else set(range(7))
    if start is None or end is None:
        if local.weekday() in allowed:
            return None
        for ahead in range(1, 8):
            day = local.date() + dt.timedelta(days=ahead)
            if day.weekday() in allowed:
                return dt.datetime.combine(day, dt.time(0, 0), zone)
        return None
    for back in (1, 0):  # a window that spans midnight may have started yesterday
        day = local.date() - dt.timedelta(days=back)
        if day.weekday() not in allowed:
            continue
        opens = dt.datetime.combine(day, start, zone)
        closes = dt.datetime.combine(day + dt.timedelta(days=1) if end <= start else day, end, zone)
        if opens <= local < closes:
            return None
    for ahead in range(0, 8):
        day = local.date() + dt.timedelta(days=ahead)
        if day.weekday() not in allowed:
            continue
        opens = dt.datetime.combine(day, start, zone)
        if opens > local:
            return opens.astimezone(dt.UTC)
    return None


def campaign_window_next_open(campaign, now: dt.datetime | None = None) -> dt.datetime | None:
    return window_next_open(
        time_zone=campaign.time_zone,
        start=campaign.window_start,
        end=campaign.window_end,
        days=list(campaign.window_days or []),
        now=now,
    )


def next_local_midnight(time_zone: str, now: dt.datetime | None = None) -> dt.datetime:
    zone = _zone(time_zone)
    local = (now or timezone.now()).astimezone(zone)
    return dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0, 0), zone).astimezone(dt.UTC)


def local_midnight(time_zone: str, now: dt.datetime | None = None) -> dt.datetime:
    zone = _zone(time_zone)
    local = (now or timezone.now()).astimezone(zone)
    return dt.datetime.combine(local.date(), dt.time(0, 0), zone).astimezone(dt.UTC)


def warmup_cap(
    *, daily_cap: int | None, start: int, growth_pct: int, started_on: dt.date | None, today: dt.date
) -> int:
    """Today's cap of a WhatsApp Web number: ``start`` on its first day of bulk sending, growing
    by ``growth_pct`` each day after, up to ``daily_cap`` (default 1,000)."""
    cap = daily_cap or 1000
    if started_on is None:
        return min(cap, start)
    days = max(0, (today - started_on).days)
    value = float(start)
    for _ in range(min(days, 365)):
        value *= 1 + growth_pct / 100
        if value >= cap:
            return cap
    return min(cap, int(value))
