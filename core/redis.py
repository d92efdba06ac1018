"""The one application Redis client (``settings.REDIS_APP_URL``), sync and async.

Application keys (webhook drain flags, watched conversations, rate limiters, the WhatsApp Web
command bus) live in their own Redis database, apart from the broker, the cache and the
channel layer. Every key carries the company schema where it holds company data.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

_sync: redis.Redis | None = None
_sync_pid: int | None = None
_sync_lock = threading.Lock()
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def _url() -> str:
    return settings.REDIS_APP_URL  # type: ignore[misc]  # set by configure_stores


def redis_client() -> redis.Redis:
    """The process's sync client (a connection pool; thread-safe; rebuilt after a fork)."""
    global _sync, _sync_pid
    with _sync_lock:
        if _sync is None or _sync_pid != os.getpid():
            _sync, _sync_pid = redis.Redis.from_url(_url()), os.getpid()
        return _sync


def async_redis_client() -> aioredis.Redis:
    """One async client per running event loop (a server runs one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    client = _async.get(loop)
    if client is None:
        client = _async[loop] = aioredis.Redis.from_url(_url())
    return client


def reset_clients() -> None:
    """Forget the clients (tests that restart Redis, or change its URL)."""
    global _sync
    with _sync_lock:
        _sync = None
    _async.clear()
