"""The sending limiter (inbox.limits) on the real Redis, with a fake clock."""

from __future__ import annotations

import secrets

import pytest

from core.redis import redis_client
from inbox.limits import (
    LIMIT_HEADROOM,
    MIN_FACTOR,
    RECOVERY_PER_S,
    SLOW_EVERY_S,
    SLOWDOWN,
    NumberLimit,
    SendLimiter,
)


class Clock:
    def __init__(self, start: float = 1_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def make_limiter(clock, rate=100.0, burst=1, tier=None, schema=None):
    schema = schema or "t_" + secrets.token_hex(4)
    limiter = SendLimiter(
        schema=schema, channel_id=1, limit=NumberLimit(rate=rate, burst=burst, tier_users=tier), clock=clock
    )
    yield_keys.append(limiter)
    return limiter


yield_keys: list[SendLimiter] = []


@pytest.fixture(autouse=True)
def _cleanup():
    yield
    client = redis_client()
    for limiter in yield_keys:
        client.delete(limiter.key, limiter.tier_key, limiter.seeded_key, limiter.sent_key)
    yield_keys.clear()


def test_first_take_is_free_then_slots_follow_at_the_rate(clock):
    limiter = make_limiter(clock, rate=100)
    interval = 1 / (100 * LIMIT_HEADROOM)
    assert limiter.take(1) == 0
    # Reservations queue: the next ones wait one interval more each, without the clock moving.
    assert limiter.take(1) == pytest.approx(interval)
    assert limiter.take(1) == pytest.approx(2 * interval)


def test_taking_n_reserves_n_slots_and_waits_for_the_last(clock):
    limiter = make_limiter(clock, rate=50)
    interval = 1 / (50 * LIMIT_HEADROOM)
    assert limiter.take(10) == pytest.approx(9 * interval)
    assert limiter.take(1) == pytest.approx(10 * interval)


def test_idle_time_is_not_banked_beyond_the_burst(clock):
    limiter = make_limiter(clock, rate=10, burst=3)
    limiter.take(1)
    clock.advance(3600)  # an hour idle
    interval = 1 / (10 * LIMIT_HEADROOM)
    assert limiter.take(3) == 0  # a burst of 3 may go at once
    assert limiter.take(1) == pytest.approx(interval * 1)  # then the rate holds again


def test_simulated_second_never_exceeds_the_rate(clock):
    """Send whenever the limiter says so for 10 simulated seconds: no one-second window holds
    more than the configured rate."""
    rate = 80
    limiter = make_limiter(clock, rate=rate)
    sends: list[float] = []
    start = clock.now
    while clock.now - start < 10:
        wait = limiter.take(1)
        clock.advance(wait)
        sends.append(clock.now)
    for i, t in enumerate(sends):
        in_window = sum(1 for s in sends[i:] if s < t + 1.0)
        assert in_window <= rate
    achieved = len(sends) / (sends[-1] - sends[0])
    assert achieved == pytest.approx(rate * LIMIT_HEADROOM, rel=0.02)


def _interval(limiter) -> float:
    """The number's current spacing between two sends."""
    limiter.take(1)
    return limiter.take(1)


def test_130429_slows_the_rate_once_per_second_and_it_recovers(clock):
    limiter = make_limiter(clock, rate=100)
    # one overshoot: several workers see 130429 in the same second, the rate drops once
    assert limiter.slow_down() == pytest.approx(SLOWDOWN)
    clock.advance(0.3)
    assert limiter.slow_down() == pytest.approx(SLOWDOWN + 0.3 * RECOVERY_PER_S)
    clock.advance(0.6)
    assert limiter.slow_down() == pytest.approx(SLOWDOWN + 0.9 * RECOVERY_PER_S)
    # it recovers linearly: two seconds later, 0.8 + 2 x 0.05
    clock.advance(1.1)
    assert _interval(limiter) == pytest.approx(1 / (100 * LIMIT_HEADROOM * 0.9), rel=0.01)
    # a new overshoot, more than a second after the last decrease: a new decrease
    assert limiter.slow_down() == pytest.approx(0.9 * SLOWDOWN)
    # back to full speed within seconds, not half a minute
    clock.advance(6)
    assert _interval(limiter) == pytest.approx(1 / (100 * LIMIT_HEADROOM), rel=0.01)


def test_under_a_lower_ceiling_the_rate_settles_instead_of_collapsing(clock):
    """Meta answering 130429 every second (a number whose real ceiling is far below its
    configured rate): the factor settles where a second's recovery meets one decrease,
    (0.05 x 0.8) / (1 - 0.8) = 0.2, and never goes below MIN_FACTOR."""
    limiter = make_limiter(clock, rate=100)
    factors = []
    for _ in range(60):
        factors.append(limiter.slow_down())
        clock.advance(SLOW_EVERY_S)
    assert min(factors) >= MIN_FACTOR
    assert factors[-1] == pytest.approx(RECOVERY_PER_S * SLOWDOWN / (1 - SLOWDOWN), rel=0.01)


def test_tier_admits_up_to_the_limit_of_unique_users_in_24_hours(clock):
    limiter = make_limiter(clock, tier=3)
    assert limiter.tier_admit(["a", "b"]) is None  # never seeded (a fresh Redis): seed first
    limiter.tier_seed([("a", clock.now - 3600)])
    assert limiter.tier_admit(["a", "b", "c", "d"]) == [True, True, True, False]
    # A user already counted is admitted again (and counted once).
    assert limiter.tier_admit(["b", "e"]) == [True, False]
    assert limiter.tier_used() == 3
    clock.advance(24 * 3600 + 1)
    assert limiter.tier_admit(["e", "f", "g", "h"]) == [True, True, True, False]


def test_tier_seed_after_a_redis_restart_keeps_the_count(clock):
    limiter = make_limiter(clock, tier=2)
    limiter.tier_seed([])
    assert limiter.tier_admit(["a", "b"]) == [True, True]
    redis_client().delete(limiter.tier_key, limiter.seeded_key)  # what a restart loses
    assert limiter.tier_admit(["c"]) is None
    limiter.tier_seed([("a", clock.now), ("b", clock.now)])  # from the database
    assert limiter.tier_admit(["c"]) == [False]


def test_unlimited_tier_admits_everyone_without_redis(clock):
    limiter = make_limiter(clock, tier=None)
    assert limiter.tier_admit(["a"] * 5) == [True] * 5


def test_numbers_do_not_share_a_limiter(clock):
    a = make_limiter(clock, rate=10, schema="t_a" + secrets.token_hex(3))
    b = make_limiter(clock, rate=10, schema="t_b" + secrets.token_hex(3))
    a.take(5)
    assert b.take(1) == 0


async def test_async_take_shares_the_slots_of_sync_take(clock):
    limiter = make_limiter(clock, rate=100)
    limiter.take(1)
    assert await limiter.atake(1) == pytest.approx(1 / (100 * LIMIT_HEADROOM))
    assert await limiter.atier_admit(["x"]) == [True]  # no tier configured


async def test_second_look_holds_a_batch_that_follows_a_late_one_too_closely(clock):
    """Batches of 20 reserved ahead at the rate (the engine keeps a few sub-batches in flight);
    one leaves 15 ms late (a slow claim). The next, on time by its reservation, waits the
    difference, so no second of real sends passes the rate; an on-time stream never waits."""
    rate, n, batches = 1000, 20, 200
    limiter = make_limiter(clock, rate=rate)
    start = clock()
    slots = [start + await limiter.atake(n) for _ in range(batches)]  # reserved ahead
    sent: list[float] = []
    behind = 0.0
    for batch, slot in enumerate(slots):
        clock.now = max(clock(), slot)
        if batch % 7 == 3:
            clock.advance(0.015)  # this batch's claim was slow
            behind = 0.015
        hold = await limiter.aconform(n)
        if batch % 7 == 4:
            assert hold == pytest.approx(behind, abs=1e-6)  # right behind the late one
        elif batch % 7 != 3 and batch > 3:
            assert hold <= behind + 1e-6
        clock.advance(hold)
        sent += [clock()] * n
    for first in sent[::n]:
        assert sum(1 for t in sent if first <= t < first + 1) <= rate
    # the stream runs 15 ms behind its reservations from the first late batch on (a later
    # one as late adds nothing), and keeps their pace
    assert sent[-1] - sent[0] == pytest.approx(slots[-1] - slots[0] + 0.015, abs=1e-3)
