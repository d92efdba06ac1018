"""The schedule arithmetic in America/Sao_Paulo: weekends, national and company holidays, the
hours window's edges, waits in every unit, and properties (always allowed, never earlier)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadences.schedule import Rules
from cadences.tests.conftest import TUESDAY

SP = ZoneInfo("America/Sao_Paulo")


def sp(y, m, d, h=0, mi=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=SP)


RULES = Rules(time_zone="America/Sao_Paulo", weekdays=frozenset(range(5)), start=dt.time(9), end=dt.time(20))


def test_inside_the_window_on_a_weekday_is_allowed_as_is():
    moment = sp(2026, 12, 1, 10, 15)  # a Tuesday
    assert RULES.allowed(moment)
    assert RULES.next_allowed(moment) == moment


def test_a_step_at_19_59_goes_and_one_at_20_00_waits_for_the_next_morning():
    assert RULES.next_allowed(sp(2026, 12, 1, 19, 59)) == sp(2026, 12, 1, 19, 59)
    assert RULES.next_allowed(sp(2026, 12, 1, 20, 0)) == sp(2026, 12, 2, 9, 0)


def test_before_the_window_opens_waits_for_the_same_morning():
    assert RULES.next_allowed(sp(2026, 12, 1, 6, 30)) == sp(2026, 12, 1, 9, 0)


def test_friday_evening_moves_to_monday_morning():
    assert RULES.next_allowed(sp(2026, 12, 4, 21, 0)) == sp(2026, 12, 7, 9, 0)
    assert RULES.next_allowed(sp(2026, 12, 5, 12, 0)) == sp(2026, 12, 7, 9, 0)  # Saturday


def test_a_national_holiday_is_skipped():
    # 2026-11-20 (Friday) is the national Black Awareness Day; 2026-09-07 (Monday) Independence.
    assert RULES.next_allowed(sp(2026, 11, 20, 10, 0)) == sp(2026, 11, 23, 9, 0)
    assert RULES.next_allowed(sp(2026, 9, 4, 20, 30)) == sp(2026, 9, 8, 9, 0)


def test_a_company_added_date_is_skipped_and_a_removed_holiday_is_worked():
    rules = Rules(
        weekdays=frozenset(range(5)),
        start=dt.time(9),
        end=dt.time(20),
        added=frozenset({dt.date(2026, 12, 2)}),
        removed=frozenset({dt.date(2026, 11, 20)}),
    )
    assert rules.next_allowed(sp(2026, 12, 2, 10, 0)) == sp(2026, 12, 3, 9, 0)
    assert rules.allowed(sp(2026, 11, 20, 10, 0))


def test_national_holidays_can_be_turned_off():
    rules = Rules(weekdays=frozenset(range(5)), start=dt.time(9), end=dt.time(20), national_holidays=False)
    assert rules.allowed(sp(2026, 11, 20, 10, 0))


def test_christmas_eve_evening_jumps_over_christmas_and_the_weekend():
    # 2026-12-24 Thursday 20:00 -> 25 holiday (Fri), 26-27 weekend -> Monday 28.
    assert RULES.next_allowed(sp(2026, 12, 24, 20, 0)) == sp(2026, 12, 28, 9, 0)


def test_without_an_hours_window_any_time_of_an_allowed_day_goes():
    rules = Rules(weekdays=frozenset(range(5)), start=None, end=None)
    assert rules.allowed(sp(2026, 12, 1, 3, 0))
    assert rules.next_allowed(sp(2026, 12, 5, 3, 0)) == sp(2026, 12, 7, 0, 0)


def test_waits_in_minutes_hours_and_days():
    start = sp(2026, 12, 1, 10, 0)
    assert RULES.wait_end(start, amount=30, unit="minutes") == sp(2026, 12, 1, 10, 30)
    assert RULES.wait_end(start, amount=5, unit="hours") == sp(2026, 12, 1, 15, 0)
    assert RULES.wait_end(start, amount=2, unit="days") == sp(2026, 12, 3, 10, 0)


def test_business_days_skip_weekends_and_holidays():
    # Thursday 2026-11-19 + 1 business day: 20 is a holiday, 21-22 weekend -> Monday 23.
    assert RULES.wait_end(sp(2026, 11, 19, 10, 0), amount=1, unit="business_days") == sp(2026, 11, 23, 10, 0)
    # Friday + 3 business days -> Wednesday.
    assert RULES.wait_end(sp(2026, 12, 4, 11, 0), amount=3, unit="business_days") == sp(2026, 12, 9, 11, 0)


def test_at_0930_on_the_next_allowed_day():
    # Day 1 (Monday 2026-11-30 at 14:00) + 1 day at 09:30 -> Tuesday 09:30.
    assert RULES.wait_end(sp(2026, 11, 30, 14, 0), amount=1, unit="days", at=dt.time(9, 30)) == sp(2026, 12, 1, 9, 30)
    # Friday + 1 day at 09:30 lands on Saturday -> Monday 09:30.
    assert RULES.wait_end(sp(2026, 12, 4, 14, 0), amount=1, unit="days", at=dt.time(9, 30)) == sp(2026, 12, 7, 9, 30)
    # 2 hours from 08:00 end at 10:00, past 09:30 -> the next day's 09:30.
    assert RULES.wait_end(sp(2026, 12, 1, 8, 0), amount=2, unit="hours", at=dt.time(9, 30)) == sp(2026, 12, 2, 9, 30)
    # 1 hour from 08:00 ends at 09:00, before 09:30 -> the same day.
    assert RULES.wait_end(sp(2026, 12, 1, 8, 0), amount=1, unit="hours", at=dt.time(9, 30)) == sp(2026, 12, 1, 9, 30)


def test_sao_paulo_has_no_dst_so_days_are_24_hours_even_in_old_dst_months():
    # Brazil dropped DST in 2019: a November wait is exactly 24 h per day, offset -03:00.
    end = RULES.wait_end(sp(2026, 11, 1, 10, 0), amount=1, unit="days")
    assert end.astimezone(dt.UTC) - sp(2026, 11, 1, 10, 0).astimezone(dt.UTC) == dt.timedelta(hours=24)
    assert end.utcoffset() == dt.timedelta(hours=-3)


def test_a_utc_moment_is_read_in_the_cadence_zone():
    # 22:30 UTC is 19:30 in Sao Paulo: inside the window.
    assert RULES.allowed(dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC))
    # 23:30 UTC is 20:30 local: next morning 09:00 local = 12:00 UTC.
    nxt = RULES.next_allowed(dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC))
    assert nxt == dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def test_a_zone_with_dst_keeps_the_wall_clock_for_day_waits():
    rules = Rules(
        time_zone="America/New_York", weekdays=frozenset(range(7)), start=None, end=None, national_holidays=False
    )
    ny = ZoneInfo("America/New_York")
    start = dt.datetime(2026, 3, 7, 10, 0, tzinfo=ny)  # DST starts on 2026-03-08
    end = rules.wait_end(start, amount=1, unit="days")
    assert end.astimezone(ny).hour == 10
    assert end.astimezone(dt.UTC) - start.astimezone(dt.UTC) == dt.timedelta(hours=23)


def test_no_allowed_day_at_all_raises():
    with pytest.raises(ValueError):
        Rules(weekdays=frozenset()).next_allowed(sp(2026, 12, 1, 10))


moments = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31), timezones=st.just(SP))
weekday_sets = st.frozensets(st.integers(0, 6), min_size=1)
hours = st.tuples(st.integers(0, 22), st.integers(1, 23)).filter(lambda t: t[0] < t[1])


@given(moment=moments, weekdays=weekday_sets, window=hours)
def test_next_allowed_is_always_allowed_and_never_earlier(moment, weekdays, window):
    rules = Rules(weekdays=weekdays, start=dt.time(window[0]), end=dt.time(window[1]))
    result = rules.next_allowed(moment)
    assert result >= moment
    assert rules.allowed(result)
    # and it is the earliest: one minute before it is not allowed, unless it is the moment itself
    if result != moment:
        assert not rules.allowed(result - dt.timedelta(minutes=1)) or result - dt.timedelta(minutes=1) < moment


@given(moment=moments, amount=st.integers(1, 30), unit=st.sampled_from(["minutes", "hours", "days", "business_days"]))
def test_a_wait_never_ends_before_it_started(moment, amount, unit):
    end = RULES.wait_end(moment, amount=amount, unit=unit)
    assert end > moment
    with_at = RULES.wait_end(moment, amount=amount, unit=unit, at=dt.time(9, 30))
    assert RULES.day_allowed(with_at.astimezone(SP).date())
    assert with_at.astimezone(SP).time() == dt.time(9, 30)


@pytest.mark.django_db
def test_the_schedule_preview_names_the_weekday_as_a_sentence_does_in_each_language(make_cadence):
    from django.utils import translation

    from cadences.selectors import schedule_preview

    cadence = make_cadence([("send", {"body": "Oi"})], time_zone="America/Sao_Paulo")
    with translation.override("pt-br"):
        (row,) = schedule_preview(cadence=cadence, start=TUESDAY)
        assert row["label"] == "dia 1 às 10:00 (terça-feira)"
    with translation.override("en"):
        (row,) = schedule_preview(cadence=cadence, start=TUESDAY)
        assert row["label"] == "day 1 at 10:00 (Tuesday)"
