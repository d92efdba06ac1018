"""Sending limits per number: a GCRA rate limiter, its adaptive slowdown on Meta's 130429, and
the 24-hour unique-users tier check, each one atomic Lua script in Redis.

Every send takes tokens here first: the campaign engine for its batches and
``inbox.services.message_deliver`` for single sends (agents, AI, automations), so both share
the number's rate however many workers and machines send at once.

**GCRA** (generic cell rate algorithm, "virtual scheduling"): one value per number, the
theoretical arrival time (``tat``) of the next message. Taking ``n`` tokens reserves the next
``n`` slots of ``1/rate`` seconds and answers how long the caller must wait before sending
them. Reserving (rather than refusing) keeps several workers in one queue without polling: each
gets its own slot, in the order it asked. ``burst`` slots may be used at once after an idle
period. The limiter paces at ``LIMIT_HEADROOM`` (98 %) of the configured rate: requests leave
on time but reach Meta with network jitter, and Meta counts by arrival.

**Two looks**: a caller that reserves before it has something to send (the campaign engine
takes its tokens, waits for its slot, then claims the rows) can still send late: a claim that
took longer than usual, a stalled process. A late batch then leaves right before the next one,
and the two can put more than the rate into one second as Meta counts it. So right before a
batch goes on the wire, ``aconform`` checks the same GCRA on the times sends really leave
(a key of its own): a batch that would follow a late one too closely waits the difference.
Normally the wait is zero (the first look already paced it).

**Adaptive slowdown** (additive increase, multiplicative decrease): a 130429 ("rate limit
hit") answer takes ``SLOWDOWN`` off the number's effective rate (x0.8, never below
``MIN_FACTOR``), at most once per ``SLOW_EVERY_S`` however many workers and batches see 130429
in that second: Meta answers every request of an overshooting second with it, and one
overshoot is one decrease. The rate recovers linearly (``RECOVERY_PER_S``, 5 points a second)
while nothing goes wrong: back to full speed 4 s after one decrease. Under a ceiling lower than
the configured rate, the rate settles just under it instead of halving for half a minute at
each collision with other load.

**Tier**: Meta lets a number start conversations with at most 250 / 2K / 10K / 100K unique
users in a rolling 24 hours. A sorted set per number holds who was messaged when; admitting a
batch adds the members that fit and answers which ones did. After a Redis restart the set is
gone: the script says so (``None``) and the caller seeds it from the database (who was sent
in the last 24 hours) before going on, so a restart never lets a number exceed its tier.

Time comes from Redis (``TIME``) so machines with drifting clocks agree; tests pass a fake
clock instead.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from django.conf import settings

from core.redis import async_redis_client, redis_client

LIMIT_HEADROOM = float(getattr(settings, "SEND_LIMIT_HEADROOM", 0.98))
MIN_FACTOR = 0.1
SLOWDOWN = 0.8
SLOW_EVERY_S = 1.0  # 130429 answers within a second of the last decrease are the same overshoot
RECOVERY_PER_S = 0.05  # from one decrease (x0.8) back to full speed in 4 s without another 130429
TIER_WINDOW_S = 24 * 3600
KEY_TTL_S = 3600

# KEYS[1]: the number's hash (tat, factor, slowed_at)
# ARGV: now (seconds, "" = Redis TIME), rate/s, burst, n, recovery/s, ttl
# Returns the wait in seconds (a string: Lua numbers become integers on the way out).
_TAKE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local recovery = tonumber(ARGV[5])
local h = redis.call('HMGET', KEYS[1], 'tat', 'factor', 'slowed_at')
local tat = tonumber(h[1]) or now
local factor = tonumber(h[2]) or 1
if factor < 1 then
  factor = math.min(1, factor + (now - (tonumber(h[3]) or now)) * recovery)
end
local interval = 1 / (rate * factor)
if tat < now then tat = now end
local wait = tat + (n - 1) * interval - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
redis.call('HSET', KEYS[1], 'tat', string.format('%.17g', tat + n * interval))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return string.format('%.17g', wait)
"""

# KEYS[1]: the number's hash. ARGV: now ("" = TIME), slowdown, min factor, recovery/s, ttl,
# the least seconds between two decreases. Returns the factor (unchanged within that time).
_SLOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local h = redis.call('HMGET', KEYS[1], 'factor', 'slowed_at')
local factor = tonumber(h[1]) or 1
local slowed_at = tonumber(h[2])
if factor < 1 then
  factor = math.min(1, factor + (now - (slowed_at or now)) * tonumber(ARGV[4]))
end
if slowed_at and now - slowed_at < tonumber(ARGV[6]) then
  return string.format('%.17g', factor)
end
factor = math.max(tonumber(ARGV[3]), factor * tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'factor', string.format('%.17g', factor), 'slowed_at', string.format('%.17g', now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return string.format('%.17g', factor)
"""

# KEYS[1]: sorted set member -> last send time; KEYS[2]: "seeded" marker
# ARGV: now ("" = TIME), window s, limit, member...
# Returns {-1} when the set must be seeded first, else one 1/0 per member.
_TIER = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local out = {}
for i = 4, #ARGV do
  local m = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], m) then
    redis.call('ZADD', KEYS[1], now, m)
    out[#out + 1] = 1
  elseif count < limit then
    redis.call('ZADD', KEYS[1], now, m)
    count = count + 1
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[1], window + 60)
return out
"""

# KEYS[1]: the set, KEYS[2]: the marker. ARGV: window, then (score, member) pairs.
_SEED = """
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'GT', ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]) + 60)
return 1
"""


# Redis names scripts by their SHA-1 (an identifier, not a security measure).
_SHA = {
    source: hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest() for source in (_TAKE, _SLOW, _TIER, _SEED)
}


def _eval(client: redis.Redis, source: str, keys: int, *args):
    """EVALSHA (the script is sent only when Redis does not know it yet, after a restart)."""
    try:
        return client.evalsha(_SHA[source], keys, *args)
    except redis.exceptions.NoScriptError:
        return client.eval(source, keys, *args)


async def _aeval(source: str, keys: int, *args):
    client = async_redis_client()
    try:
        return await client.evalsha(_SHA[source], keys, *args)
    except redis.exceptions.NoScriptError:
        return await client.eval(source, keys, *args)


class LimiterUnavailable(Exception):
    """Redis could not be reached: nobody may send on this number until it can."""


@dataclass(frozen=True)
class NumberLimit:
    """What a number may do: ``rate`` messages per second with ``burst`` at once, and
    ``tier_users`` unique users per 24 hours (``None``: unlimited)."""

    rate: float
    burst: int = 1
    tier_users: int | None = None


def _keys(schema: str, channel_id: int) -> tuple[str, str, str, str]:
    base = f"lim:{schema}:{channel_id}"
    return base, f"{base}:tier", f"{base}:tier:seeded", f"{base}:sent"


class SendLimiter:
    """The limiter of one sending number (``schema``, ``channel_id``).

    ``clock`` (seconds, any origin) replaces Redis's ``TIME`` in tests; ``client`` replaces the
    app Redis client. Sync methods for workers' single sends, ``a``-prefixed ones for the
    engine's event loop.
    """

    def __init__(
        self,
        *,
        schema: str,
        channel_id: int,
        limit: NumberLimit,
        clock: Callable[[], float] | None = None,
        client: redis.Redis | None = None,
    ):
        self.key, self.tier_key, self.seeded_key, self.sent_key = _keys(schema, channel_id)
        self.limit = limit
        self.clock = clock
        self._client = client

    # --- helpers

    def _now(self) -> str:
        return repr(self.clock()) if self.clock is not None else ""

    def _take_args(self, n: int, burst: int | None = None) -> list:
        rate = max(self.limit.rate * LIMIT_HEADROOM, 0.001)
        burst = max(1, self.limit.burst if burst is None else burst)
        return [self._now(), repr(rate), burst, max(1, n), RECOVERY_PER_S, KEY_TTL_S]

    def _slow_args(self) -> list:
        return [self._now(), SLOWDOWN, MIN_FACTOR, RECOVERY_PER_S, KEY_TTL_S, SLOW_EVERY_S]

    def _tier_args(self, members: list[str]) -> list:
        return [self._now(), TIER_WINDOW_S, self.limit.tier_users or 0, *members]

    @staticmethod
    def _seed_args(sent: Iterable[tuple[str, float]]) -> list:
        args: list = [TIER_WINDOW_S]
        for member, at in sent:
            args += [repr(float(at)), member]
        return args

    def _sync(self) -> redis.Redis:
        return self._client if self._client is not None else redis_client()

    # --- sync

    def take(self, n: int = 1) -> float:
        """Reserve ``n`` sends; returns the seconds to wait before making them."""
        try:
            return float(_eval(self._sync(), _TAKE, 1, self.key, *self._take_args(n)))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    def slow_down(self) -> float:
        """Meta answered 130429: slow the number down (see the module docstring). Returns the
        factor now in force."""
        try:
            return float(_eval(self._sync(), _SLOW, 1, self.key, *self._slow_args()))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    def tier_admit(self, members: list[str]) -> list[bool] | None:
        """Which of ``members`` (recipient phones) fit in the number's 24 h tier, counting them
        as messaged now. ``None``: the tier set must be seeded first (``tier_seed``)."""
        if self.limit.tier_users is None or not members:
            return [True] * len(members)
        try:
            out = _eval(self._sync(), _TIER, 2, self.tier_key, self.seeded_key, *self._tier_args(members))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return None if out == [-1] else [bool(x) for x in out]

    def tier_seed(self, sent: Iterable[tuple[str, float]]) -> None:
        """Load who was messaged in the last 24 hours (``(phone, unix time)`` pairs)."""
        try:
            _eval(self._sync(), _SEED, 2, self.tier_key, self.seeded_key, *self._seed_args(sent))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    def tier_used(self) -> int:
        """Unique users messaged in the last 24 hours (for the campaign estimate's warning)."""
        now = self.clock() if self.clock is not None else time.time()
        try:
            return int(self._sync().zcount(self.tier_key, now - TIER_WINDOW_S, "+inf"))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    def wait(self, n: int = 1, *, max_wait: float | None = None, sleep: Callable[[float], None] = time.sleep) -> float:
        """``take`` and sleep the wait (single sends). With ``max_wait`` the reservation is
        still made, and the caller gets the wait back without sleeping when it is longer."""
        delay = self.take(n)
        if max_wait is not None and delay > max_wait:
            return delay
        if delay > 0:
            sleep(delay)
        return 0.0

    # --- async (the engine)

    async def atake(self, n: int = 1) -> float:
        try:
            return float(await _aeval(_TAKE, 1, self.key, *self._take_args(n)))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    async def aconform(self, n: int = 1) -> float:
        """The second look (see the module docstring), right before ``n`` sends leave at once:
        the seconds to wait so that the sends really leaving stay within the rate. A batch
        may leave ``n`` slots after the previous one (a burst of ``n``, no more: what a late
        batch lost is not caught up)."""
        try:
            return float(await _aeval(_TAKE, 1, self.sent_key, *self._take_args(n, burst=max(n, self.limit.burst))))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    async def aslow_down(self) -> float:
        try:
            return float(await _aeval(_SLOW, 1, self.key, *self._slow_args()))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc

    async def atier_admit(self, members: list[str]) -> list[bool] | None:
        if self.limit.tier_users is None or not members:
            return [True] * len(members)
        try:
            out = await _aeval(_TIER, 2, self.tier_key, self.seeded_key, *self._tier_args(members))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return None if out == [-1] else [bool(x) for x in out]

    async def atier_seed(self, sent: Iterable[tuple[str, float]]) -> None:
        try:
            await _aeval(_SEED, 2, self.tier_key, self.seeded_key, *self._seed_args(sent))
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc


# --- the limits of a channel ---------------------------------------------------------------------

# Defaults by channel kind when a number has no ``SendingLimit`` row: Meta's standard 80 mps
# and the 2K tier of a number with a verified business; SMS long codes send about 10 per
# second; the sandbox has no remote side to protect. WhatsApp Web is paced per message by the
# engine (a phone's pace), so its rate here is only a ceiling.
DEFAULT_RATE = {"whatsapp_cloud": 80, "sandbox": 1000, "sms": 10, "whatsapp_web": 1}
DEFAULT_TIER = {"whatsapp_cloud": 2000}


def limit_for(channel) -> NumberLimit:
    """The limits of ``channel`` (an ``inbox.Channel``), from its ``SendingLimit`` row or the
    defaults of its kind. Call inside the channel's company schema."""
    from inbox.models import SendingLimit

    row = SendingLimit.objects.filter(channel_id=channel.pk).first()
    if row is None:
        rate = DEFAULT_RATE.get(channel.kind, 10)
        return NumberLimit(rate=rate, burst=1, tier_users=DEFAULT_TIER.get(channel.kind))
    tier = row.tier_users if channel.kind == "whatsapp_cloud" else None
    return NumberLimit(rate=float(row.throughput_mps or DEFAULT_RATE.get(channel.kind, 10)), burst=1, tier_users=tier)


def limiter_for(channel, *, clock: Callable[[], float] | None = None) -> SendLimiter:
    from core.tenancy import require_tenant_schema

    return SendLimiter(schema=require_tenant_schema(), channel_id=channel.pk, limit=limit_for(channel), clock=clock)
