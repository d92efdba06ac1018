"""The one pooled keep-alive HTTP client of a worker process (aiohttp), for the providers.

Why aiohttp: measured on this 2-core machine against one asyncio stub with 64 keep-alive
connections (``benchmarks/bench_campaigns.py`` prints the figures each run), httpx's
``AsyncClient`` did 336-410 requests/s and aiohttp's ``ClientSession`` 4,061-6,558 (4,885-7,294
on uvloop): httpx's pure-Python connection pool and h11 parser cost more per request than the
request itself, aiohttp parses with C (llhttp) and reuses connections with little overhead.
The campaign engine's ceiling is the client's, so the engine uses aiohttp.

One ``ClientSession`` per event loop (a worker process runs one loop per campaign run; the
session is created on first use and kept), with ``POOL_SIZE`` keep-alive connections per host.
Sync callers (single sends from ``message_deliver``) can use :func:`run_sync`, which runs the
coroutine on the process's own background loop with its session.

Network failures become ``ProviderError``\\ s that say whether the request may have reached the
provider: a failed connect never did (``uncertain=False``, safe to retry), a read timeout or a
connection dropped after the request was written may have (``uncertain=True``: the engine
reconciles it from status webhooks instead of sending again).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from inbox.providers.base import ProviderError

POOL_SIZE = int(os.environ.get("PROVIDER_HTTP_POOL", "64"))
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=20)

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()
T = TypeVar("T")


def session() -> aiohttp.ClientSession:
    """The pooled session of the running event loop."""
    loop = asyncio.get_running_loop()
    current = _sessions.get(loop)
    if current is None or current.closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=POOL_SIZE, keepalive_timeout=60, ttl_dns_cache=300)
        current = _sessions[loop] = aiohttp.ClientSession(connector=connector, timeout=TIMEOUT)
    return current


async def close_session() -> None:
    """Close the running loop's session (end of a campaign run or of a test)."""
    current = _sessions.pop(asyncio.get_running_loop(), None)
    if current is not None and not current.closed:
        await current.close()


async def request(
    method: str,
    url: str,
    *,
    json: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    what: str = "the provider",
) -> tuple[int, Any]:
    """One request; returns ``(status, decoded JSON or None)``. Raises ``ProviderError`` on
    network failures (see the module docstring for ``uncertain``)."""
    basic = aiohttp.BasicAuth(*auth) if auth else None
    try:
        async with session().request(method, url, json=json, data=data, headers=headers, auth=basic) as response:
            raw = await response.read()
            status = response.status
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise ProviderError(
            f"Could not reach {what}.", code="network", details=str(exc), retryable=True, uncertain=False
        ) from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ProviderError(
            f"No answer from {what}.",
            code="timeout",
            details=str(exc) or type(exc).__name__,
            retryable=True,
            uncertain=True,
        ) from exc
    if not raw:
        return status, None
    try:
        import json as _json

        return status, _json.loads(raw)
    except ValueError:
        return status, None


# --- sync callers ---------------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="provider-http", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_sync(factory: Callable[[], Awaitable[T]], *, timeout: float = 60.0) -> T:
    """Run ``factory()`` on the process's HTTP loop (its pooled session) and wait for it."""

    async def runner() -> T:
        return await factory()

    return asyncio.run_coroutine_threadsafe(runner(), _background_loop()).result(timeout)
