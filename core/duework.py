"""The due-work index: which companies have periodic work due, by kind of work, in Redis.

A periodic sweep (Celery beat) visits only the companies whose work is due, so it costs in
proportion to the companies with work, not to all companies. One sorted set per kind of work
(``"webhooks"``, ``"snoozed"``, ...): the members are company schemas, the score the moment the
work falls due (Unix seconds). The services mark work where it appears::

    duework.mark_on_commit("snoozed", schema, at=conversation.snoozed_until)

and ``core.tasks.for_each_company(fn, work="snoozed")`` visits the due companies: it takes their
marks off before calling ``fn`` for each, and ``fn`` marks again whatever it leaves for later
(the next snooze, say). Only a kind that its app has registered (:func:`register`, once it
marks its work everywhere the work appears) narrows a sweep; a sweep of any other kind visits
every company. A mark is the earliest moment anything is due: marking a company again
with a later moment changes nothing (``ZADD LT``).

Losing a mark never loses work, it only delays it: the work itself is in PostgreSQL, and
every kind of work gets a full sweep over every company at least once per ``safety_sweep``
(an hour unless the kind registers another), which marks again what it finds. A Redis that lost
its data (restarted without persistence, flushed) has also lost the memory of those full sweeps,
so the next sweep of each kind is a full one. When Redis does not answer, a sweep visits every
company and a mark is skipped with a warning.

Keys carry the database name (``due:<database>:<kind>``), so the test and bench databases never
see each other's marks in a shared Redis. Core imports no project app: kinds are plain strings,
named by the app that owns the work.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from core.redis import async_redis_client, redis_client

logger = logging.getLogger(__name__)

_safety_sweep: dict[str, float] = {}

# Take every due mark off and return it, atomically (a mark made meanwhile is either taken and
# visited, or left for the next sweep).
_POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #due > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
return due
"""


def register(kind: str, *, safety_sweep: timedelta = timedelta(hours=1)) -> None:
    """Sweeps of ``kind`` visit only the companies marked due, and every company at least once
    per ``safety_sweep``. Register a kind once its work is marked wherever it appears; a kind
    whose beat runs once a day gives a day or more, or every run would be a full one."""
    _safety_sweep[kind] = safety_sweep.total_seconds()


def indexed(kind: str) -> bool:
    """Whether sweeps of ``kind`` are narrowed by the index (the kind is registered)."""
    return kind in _safety_sweep


def _key(kind: str) -> str:
    return f"due:{settings.DATABASES['default']['NAME']}:{kind}"


def _score(at: datetime | float | None) -> float:
    if at is None:
        return time.time()
    if isinstance(at, datetime):
        return at.timestamp()
    return float(at)


def mark(kind: str, schema: str, at: datetime | float | None = None) -> bool | None:
    """Work of ``kind`` falls due for ``schema`` at ``at`` (now by default). Returns whether the
    company had no mark of that kind (the mark is new), ``None`` when Redis failed: the failure
    is logged and swallowed, and the full sweep finds the work."""
    return _zadd(kind, schema, _score(at))


def _zadd(kind: str, schema: str, score: float) -> bool | None:
    """``ZADD LT``: whether the mark is new, ``None`` when Redis failed."""
    try:
        return bool(redis_client().zadd(_key(kind), {schema: score}, lt=True))
    except redis.RedisError:
        logger.warning("could not mark %s work due for %s; the full sweep will find it", kind, schema)
        return None


async def amark(kind: str, schema: str, at: datetime | float | None = None) -> bool | None:
    """:func:`mark` for async code (the webhook intake): one Redis command."""
    try:
        return bool(await async_redis_client().zadd(_key(kind), {schema: _score(at)}, lt=True))
    except redis.RedisError:
        logger.warning("could not mark %s work due for %s; the full sweep will find it", kind, schema)
        return None


def mark_on_commit(kind: str, schema: str, at: datetime | float | None = None) -> None:
    """:func:`mark` once the current transaction commits (so a sweep never looks before the
    work is visible); nothing if it rolls back."""
    transaction.on_commit(lambda: mark(kind, schema, at))


# (kind, schema) -> (when this process last marked, the due time it marked)
_recent: dict[tuple[str, str], tuple[float, float]] = {}
THROTTLE = 3600.0


def mark_on_commit_throttled(kind: str, schema: str, at: datetime | float) -> None:
    """:func:`mark_on_commit` for work that appears often (every realtime event is a row to trim
    one day): skipped when this process marked the company, for this kind, a due time no later
    than ``at`` less than an hour ago.

    Only for work due more than an hour after it appears, which is what makes the skip safe: the
    row behind the earlier mark is still there when the skipped row commits (it is due later
    than that), so whichever visit takes the earlier mark off finds the skipped row too and
    marks the company again."""
    score = _score(at)
    now = time.time()
    if score - now <= THROTTLE:
        raise ValueError("throttled marks are for work due more than an hour after it appears")
    last = _recent.get((kind, schema))
    if last is not None and now - last[0] < THROTTLE and last[1] <= score:
        return

    def marked() -> None:
        if _zadd(kind, schema, score) is not None:
            _recent[(kind, schema)] = (time.time(), score)

    transaction.on_commit(marked)


def clear(kind: str, schema: str) -> None:
    """Take the company's mark off (its work is done)."""
    try:
        redis_client().zrem(_key(kind), schema)
    except redis.RedisError:
        logger.warning("could not clear the %s mark of %s", kind, schema)


def _names(members: Any) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


def due(kind: str, now: float | None = None) -> list[str]:
    """The schemas whose ``kind`` work is due at ``now``, earliest first (marks left in place)."""
    return _names(redis_client().zrangebyscore(_key(kind), "-inf", _score(now)))


def pop_due(kind: str, now: float | None = None) -> list[str]:
    """Take off and return the marks of ``kind`` due at ``now``: a sweep calls this before its
    visits, and each visit marks again what it leaves for later. Raises ``redis.RedisError``
    (the caller then visits every company)."""
    return _names(redis_client().eval(_POP_DUE, 1, _key(kind), _score(now)))


def full_sweep_due(kind: str) -> bool:
    """Whether this sweep of ``kind`` must visit every company: true once per safety-sweep
    interval, on the first sweep after Redis lost its data, and whenever Redis fails."""
    interval = _safety_sweep.get(kind, 3600.0)
    try:
        return bool(redis_client().set(_key(kind) + ":full", "1", nx=True, ex=max(1, int(interval))))
    except redis.RedisError:
        logger.warning("Redis unavailable: the %s sweep visits every company", kind)
        return True


def forget_all() -> None:
    """Drop every due-work key of this database (tests)."""
    client = redis_client()
    keys = list(client.scan_iter(match=_key("*"), count=1000))
    if keys:
        client.delete(*keys)
    _recent.clear()


def forget(kind: str) -> None:
    """Drop the index of ``kind`` and the memory of its last full sweep (tests, benchmarks)."""
    redis_client().delete(_key(kind), _key(kind) + ":full")


def marks(kind: str) -> dict[str, float]:
    """Every mark of ``kind``: schema -> due time (tests, benchmarks, support)."""
    pairs: Any = redis_client().zrange(_key(kind), 0, -1, withscores=True)
    return {_names([member])[0]: float(score) for member, score in pairs}
