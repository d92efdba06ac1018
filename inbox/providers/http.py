"""The pooled keep-alive HTTP clients of a worker process, for the providers.

Two clients, one per kind of request:

- ``post``: the campaign hot path, a POST of a ready JSON body to one host (a Cloud API send).
  A pool of bare asyncio protocols per origin with httptools parsing the answers (the C parser
  uvicorn uses). Measured on this 2-core machine against the Graph stub: about 30
  microseconds of client CPU per request, against about 150 with aiohttp, whose request and
  response objects, header multidicts, cookie jar and tracing hooks cost more than the request
  itself (``benchmarks/bench_campaigns.py`` prints the engine's CPU per message every run).
- ``request`` (aiohttp): everything else (forms, basic auth, other methods and hosts). httpx's
  ``AsyncClient`` did 336-410 requests/s here against aiohttp's 4,061-7,294: its pure-Python
  pool and h11 parser cost more per request than the request itself.

Both keep one pool per event loop (a worker process runs one loop per campaign run; the pool
is created on first use and kept), with ``POOL_SIZE`` keep-alive connections per host. Sync
callers (single sends from ``message_deliver``) can use :func:`run_sync`, which runs the
coroutine on the process's own background loop with its pools.

Network failures become ``ProviderError``\\ s that say whether the request may have reached the
provider: a failed connect never did (``uncertain=False``, safe to retry), a read timeout or a
connection dropped after the request was written may have (``uncertain=True``: the engine
reconciles it from status webhooks instead of sending again).
"""

from __future__ import annotations

import asyncio
import collections
import json as _json
import os
import ssl
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import httptools

from inbox.providers.base import ProviderError

POOL_SIZE = int(os.environ.get("PROVIDER_HTTP_POOL", "64"))
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=20)
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
KEEPALIVE_S = 30.0  # an idle connection older than this is closed rather than reused

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
    """Close the running loop's session and keep-alive pools (end of a campaign run or of a
    test)."""
    loop = asyncio.get_running_loop()
    current = _sessions.pop(loop, None)
    if current is not None and not current.closed:
        await current.close()
    for pool in (_pools.pop(loop, None) or {}).values():
        pool.close()


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
        return status, _json.loads(raw)
    except ValueError:
        return status, None


# --- the campaign hot path: keep-alive POSTs of ready JSON bodies --------------------------------
#
# aiohttp's ``ClientSession`` costs about 150 microseconds of CPU per request on this machine
# (request and response objects, header multidicts, cookie jar, tracing hooks, its payload
# writers); a campaign at 1,000 messages per second spends most of a core there. The engine's
# requests are always the same shape: a POST of a ready JSON body to one host, on keep-alive
# connections, answered with a small JSON. ``post`` sends exactly that over a pool of bare
# asyncio protocols, parsing the answer with httptools (the C parser uvicorn uses): about 30
# microseconds per request. Everything else (media uploads, forms, basic auth, other methods)
# stays on aiohttp above.


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self, pool: _Pool):
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.chunks: list[bytes] = []
        self.done = False
        self.reusable = True
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - never asked for
            self._fail(ConnectionResetError("unexpected upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(ConnectionResetError(f"unparsable answer: {exc}"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.chunks = []

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def usable(self, now: float) -> bool:
        return (
            self.reusable
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < KEEPALIVE_S
        )

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """Keep-alive connections to one origin (scheme, host, port), at most ``size`` at once."""

    def __init__(self, scheme: str, host: str, port: int, size: int):
        self.host, self.port, self.size = host, port, size
        self.ssl = ssl.create_default_context() if scheme == "https" else None
        self.idle: list[_Connection] = []
        self.busy = 0
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        authority = host if port in (80, 443) else f"{host}:{port}"
        self.host_header = f"Host: {authority}\r\n".encode("latin-1")

    async def acquire(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        while True:
            now = loop.time()
            while self.idle:
                conn = self.idle.pop()
                if conn.usable(now):
                    self.busy += 1
                    return conn
                conn.close()
            if self.busy < self.size:
                self.busy += 1
                try:
                    _transport, conn = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: _Connection(self),
                            self.host,
                            self.port,
                            ssl=self.ssl,
                            server_hostname=self.host if self.ssl else None,
                        ),
                        CONNECT_TIMEOUT_S,
                    )
                except BaseException:
                    self.busy -= 1
                    self._wake()
                    raise
                return conn
            waiter = loop.create_future()
            self.waiting.append(waiter)
            await waiter

    def take_idle(self, n: int, loop: asyncio.AbstractEventLoop) -> list[_Connection]:
        """Up to ``n`` idle connections that can be used now (no waiting, no connecting)."""
        now = loop.time()
        out: list[_Connection] = []
        while self.idle and len(out) < n:
            conn = self.idle.pop()
            if conn.usable(now):
                self.busy += 1
                out.append(conn)
            else:
                conn.close()
        return out

    def release(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.busy -= 1
        if conn.reusable and conn.transport is not None and not conn.transport.is_closing():
            conn.idle_since = loop.time()
            self.idle.append(conn)
        else:
            conn.close()
        self._wake()

    def _wake(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, int], _Pool]] = (
    weakref.WeakKeyDictionary()
)


def _pool_for(loop: asyncio.AbstractEventLoop, url: str) -> tuple[_Pool, bytes]:
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    pool = pools.get((scheme, host, port))
    if pool is None:
        pool = pools[(scheme, host, port)] = _Pool(scheme, host, port, POOL_SIZE)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return pool, target.encode("latin-1")


def header_lines(headers: dict[str, str]) -> bytes:
    """Headers encoded once for many ``post`` calls (``Name: value`` lines)."""
    return b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers.items())


async def post(url: str, body: bytes, *, headers: bytes = b"", what: str = "the provider") -> tuple[int, Any]:
    """POST the JSON ``body`` on a pooled keep-alive connection; returns ``(status, decoded JSON
    or None)``. ``headers``: ``header_lines(...)``. Network failures raise ``ProviderError``
    exactly as ``request`` does: a connection that never opened is safe to retry
    (``uncertain=False``); once the request was written, a timeout or a dropped connection
    may have reached the provider (``uncertain=True``)."""
    loop = asyncio.get_running_loop()
    pool, target = _pool_for(loop, url)
    try:
        conn = await pool.acquire(loop)
    except (OSError, TimeoutError) as exc:
        raise ProviderError(
            f"Could not reach {what}.",
            code="network",
            details=str(exc) or type(exc).__name__,
            retryable=True,
            uncertain=False,
        ) from exc
    waiter = conn.waiter = loop.create_future()
    timer = loop.call_later(READ_TIMEOUT_S, conn._fail, TimeoutError("no answer in time"))
    try:
        assert conn.transport is not None
        conn.transport.write(
            b"POST %s HTTP/1.1\r\n%s%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (target, pool.host_header, headers, len(body), body)
        )
        status, raw = await waiter
    except (OSError, TimeoutError, AssertionError) as exc:
        conn.close()
        raise ProviderError(
            f"No answer from {what}.",
            code="timeout",
            details=str(exc) or type(exc).__name__,
            retryable=True,
            uncertain=True,
        ) from exc
    finally:
        timer.cancel()
        pool.release(conn, loop)
    if not raw:
        return status, None
    try:
        return status, _json.loads(raw)
    except ValueError:
        return status, None


async def post_many(
    url: str, bodies: list[bytes], *, headers: bytes = b"", what: str = "the provider"
) -> list[tuple[int, Any] | ProviderError]:
    """``post`` for many bodies at once, one answer (or ``ProviderError``) per body, in order.

    The requests that find an idle keep-alive connection are written right away, one after
    another in this call, with no task or coroutine per request (the campaign engine's
    claim-to-wire window is this loop); the others wait for a connection as ``post`` does.
    """
    loop = asyncio.get_running_loop()
    pool, target = _pool_for(loop, url)
    prefix = b"POST %s HTTP/1.1\r\n%s%sContent-Type: application/json\r\nContent-Length: " % (
        target,
        pool.host_header,
        headers,
    )
    conns = pool.take_idle(len(bodies), loop)
    waiters: list[asyncio.Future] = []
    for conn, body in zip(conns, bodies, strict=False):
        waiter = conn.waiter = loop.create_future()
        assert conn.transport is not None
        conn.transport.write(b"%s%d\r\n\r\n%s" % (prefix, len(body), body))
        waiters.append(waiter)
    rest = [asyncio.ensure_future(post(url, body, headers=headers, what=what)) for body in bodies[len(conns) :]]

    def expire() -> None:
        for conn in conns:
            if conn.waiter is not None:
                conn._fail(TimeoutError("no answer in time"))

    timer = loop.call_later(READ_TIMEOUT_S, expire)
    try:
        await asyncio.wait([*waiters, *rest])
    finally:
        timer.cancel()
    out: list[tuple[int, Any] | ProviderError] = []
    for conn, waiter in zip(conns, waiters, strict=True):
        exc = waiter.exception()
        if exc is not None:
            conn.close()
            out.append(
                ProviderError(
                    f"No answer from {what}.",
                    code="timeout",
                    details=str(exc) or type(exc).__name__,
                    retryable=True,
                    uncertain=True,
                )
            )
        else:
            status, raw = waiter.result()
            try:
                out.append((status, _json.loads(raw) if raw else None))
            except ValueError:
                out.append((status, None))
        pool.release(conn, loop)
    for task in rest:
        exc = task.exception()
        out.append(exc if isinstance(exc, ProviderError) else task.result())
    return out


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
