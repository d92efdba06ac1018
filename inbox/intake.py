"""The webhook intake server: Meta deliveries on a port and a process of their own.

``python -m inbox.intake --port 8001`` serves ``/webhooks/whatsapp/<channel uuid>/`` of the public
domain and nothing else: ``POST`` deliveries (signature checked, recorded with group commit, by
the same ``WebhookIntake`` as the web process's ASGI fast path) and Meta's ``GET`` verification.
Production routes that path to it (see the README); the web process accepts the same requests,
so a deployment without the route still works, only at a lower rate.

Why a server of its own: a status delivery is small and answered with two bytes, so a
general-purpose ASGI server spends more on each one than the delivery itself costs (an ASGI
scope, a task, two ``send`` calls and two socket writes per response). Here one parser object
lives per connection, the callbacks keep only what the intake needs, and the response is one
pre-built write. Several processes can listen on the same port (``SO_REUSEPORT``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qs

import httptools

logger = logging.getLogger("inbox.intake")  # also when run as __main__

MAX_BODY = 1024 * 1024
# Requests a client may pipeline on one connection before we stop reading from it.
MAX_PIPELINE = 64
REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class Limits:
    """What one unauthenticated client may hold of a process (the port faces the internet).

    httptools buffers the request line and every header without limit, so they are counted
    here; the timers cut off clients that send slowly (slow loris) or sit idle."""

    max_url: int = 2048  # Meta's URLs are ~90 bytes
    max_head: int = 16 * 1024  # request line and headers together
    header_timeout: float = 10.0  # first byte of a request to the end of its headers
    body_timeout: float = 30.0  # end of the headers to the end of the body
    idle_timeout: float = 60.0  # keep-alive with nothing in flight
    max_connections: int = 1024  # per process (Meta keeps a few dozen open)

    @classmethod
    def from_environment(cls) -> Limits:
        return cls(max_connections=int(os.environ.get("INTAKE_MAX_CONNECTIONS", cls.max_connections)))


# Seconds a refused connection is still read (and dropped) before it is closed.
LINGER = 1.0


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that was answered already."""


def http_response(status: int, text: bytes, keep_alive: bool = True) -> bytes:
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"")),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(text),
            b"" if keep_alive else b"connection: close\r\n",
            b"\r\n",
            text,
        ]
    )


OK = http_response(200, b"ok")


class IntakeApp:
    """What a complete request gets: ``(status, text)``."""

    def __init__(self, intake=None):
        from inbox.asgi import PATH_RE, WebhookIntake, on_public_domain

        self.intake = intake or WebhookIntake()
        self.path_re = PATH_RE
        self.on_public_domain = on_public_domain

    async def handle(self, method: bytes, url: bytes, host: bytes, signature: bytes, body: bytes | None):
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return 400, b"bad request"
        # An absolute-form target (``POST http://host/path``) may have no path at all.
        path = (parsed.path or b"/").decode("latin-1")
        if path == "/healthz" and method in (b"GET", b"HEAD"):
            return 200, b"ok"  # for the load balancer
        match = self.path_re.match(path)
        if match is None or not self.on_public_domain(host):
            return 404, b"not found"
        if method == b"POST":
            if body is None:
                return 413, b"too large"
            return await self.intake.accept(match.group(1), body, signature)
        if method == b"GET":
            return await self._verify(match.group(1), parsed.query or b"")
        return 405, b"method not allowed"

    @staticmethod
    async def _verify(channel_public_id: str, query: bytes) -> tuple[int, bytes]:
        from asgiref.sync import sync_to_async

        from inbox.webhooks import verify_subscription

        params = parse_qs(query.decode("latin-1"))
        status, text = await sync_to_async(verify_subscription, thread_sensitive=True)(
            channel_public_id,
            mode=params.get("hub.mode", [""])[0],
            token=params.get("hub.verify_token", [""])[0],
            challenge=params.get("hub.challenge", [""])[0],
        )
        return status, text.encode()


class IntakeProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: keep-alive, pipelining (answers leave in request order),
    ``Content-Length`` or chunked bodies (httptools decodes both)."""

    def __init__(self, app: IntakeApp, connections: set, limits: Limits | None = None):
        self.app = app
        self.connections = connections
        self.limits = limits or Limits()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.answers: deque[tuple[asyncio.Future, bool]] = deque()
        self.paused = False
        self.phase = "idle"  # idle -> head -> body -> idle
        # When the current phase must be over (checked by the server's sweep, ``sweep``: one
        # timer per process instead of a timer per request on the hot path).
        self.deadline = 0.0
        self.lingering: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.url_parts: list[bytes] = []
        self.url_size = 0
        self.head_size = 0
        self.host = b""
        self.signature = b""
        self.chunks: list[bytes] = []
        self.size = 0

    @property
    def url(self) -> bytes:
        return b"".join(self.url_parts)

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        full = len(self.connections) >= self.limits.max_connections
        self.connections.add(self)  # a refused one too: the sweep ends its lingering close
        if full:
            self._refuse(503, b"too many connections")
            return
        self._arm(self.limits.idle_timeout)

    def connection_lost(self, exc) -> None:
        self.connections.discard(self)
        self.lingering = None
        self.transport = None  # requests already read are still recorded; nobody to answer

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return  # refused: the rest of what the client sends is dropped
        if self.phase == "head":
            # httptools keeps a header until it is complete: count what arrives while the
            # head is open (a chunk that ends the head may carry body bytes, so it passes).
            self.head_size += len(data)
            if self.head_size > self.limits.max_head and b"\r\n\r\n" not in data:
                self._refuse(431, b"headers too large")
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, b"upgrade not supported")
        except httptools.HttpParserError:
            self._refuse(400, b"bad request")

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset()
        self.phase = "head"
        self._arm(self.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self.url_size += len(url)
        self.head_size += len(url)
        if self.url_size > self.limits.max_url:
            self._refuse(414, b"url too long")
            raise _Refused
        self.url_parts.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        if self.head_size > self.limits.max_head:
            self._refuse(431, b"headers too large")
            raise _Refused
        name = name.lower()
        if name == b"host":
            self.host = value
        elif name == b"x-hub-signature-256":
            self.signature = value

    def on_headers_complete(self) -> None:
        self.phase = "body"
        self._arm(self.limits.body_timeout)

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= MAX_BODY:
            self.chunks.append(body)
        else:
            self.chunks = []

    def on_message_complete(self) -> None:
        self.phase = "idle"
        self._arm(self.limits.idle_timeout)
        body = b"".join(self.chunks) if self.size <= MAX_BODY else None
        task = asyncio.ensure_future(
            self.app.handle(self.parser.get_method(), self.url, self.host, self.signature, body)
        )
        self.answers.append((task, self.parser.should_keep_alive()))
        task.add_done_callback(self._flush)
        if len(self.answers) >= MAX_PIPELINE and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True

    # answers

    def _flush(self, _task=None) -> None:
        while self.answers and self.answers[0][0].done():
            task, keep_alive = self.answers.popleft()
            if task.cancelled() or task.exception() is not None:
                if not task.cancelled():
                    logger.error("webhook intake failed", exc_info=task.exception())
                status, text = 500, b"error"
            else:
                status, text = task.result()
            if self.transport is None:
                continue
            if status == 200 and text == b"ok" and keep_alive:
                self.transport.write(OK)
            else:
                self.transport.write(http_response(status, text, keep_alive))
            if not keep_alive:
                self.transport.close()
                self.transport = None
        if self.paused and len(self.answers) < MAX_PIPELINE // 2 and self.transport is not None:
            self.transport.resume_reading()
            self.paused = False

    def _refuse(self, status: int, text: bytes) -> None:
        """Answer and hang up. The client may still be sending (a huge URL): closing at once
        with its bytes unread would reset the connection and lose the answer, so the write
        side is shut and what arrives is dropped for a moment first (a lingering close)."""
        transport, self.transport = self.transport, None
        if transport is None:
            return
        transport.write(http_response(status, text, keep_alive=False))
        if transport.can_write_eof():
            transport.write_eof()
            self.lingering = transport
            self.deadline = asyncio.get_running_loop().time() + LINGER
        else:
            transport.close()

    # deadlines

    def _arm(self, seconds: float) -> None:
        self.deadline = asyncio.get_running_loop().time() + seconds

    def check(self, now: float) -> None:
        """Called by the sweep: end whatever overstayed its phase."""
        if now < self.deadline:
            return
        if self.lingering is not None:
            self.lingering.close()
            self.lingering = None
        elif self.transport is None:
            return
        elif self.phase != "idle":
            self._refuse(408, b"request timeout")
        elif self.answers:
            self._arm(self.limits.idle_timeout)  # answers still being written: not idle
        else:
            self.transport.close()
            self.transport = None

    @property
    def idle(self) -> bool:
        return not self.answers


async def start(app, host: str, port: int, limits: Limits | None = None) -> tuple[asyncio.Server, set]:
    """Listen; returns the server and the live connections (for a graceful stop)."""
    connections: set[IntakeProtocol] = set()
    limits = limits or Limits.from_environment()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: IntakeProtocol(app, connections, limits), host, port, reuse_port=True, backlog=2048
    )
    # Kept beside the server, not on it: uvloop's Server (what ``main`` runs) takes no new
    # attributes, and the intake died at start there with an AttributeError.
    _SWEEPERS[id(server)] = loop.create_task(sweep(connections, limits))
    return server, connections


_SWEEPERS: dict[int, asyncio.Task] = {}


async def sweep(connections: set, limits: Limits) -> None:
    """Cut off the connections that overstayed (slow, idle, lingering), a few times a second."""
    loop = asyncio.get_running_loop()
    interval = min(limits.header_timeout, limits.body_timeout, limits.idle_timeout, LINGER) / 3
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        for connection in list(connections):
            connection.check(now)


async def stop(server: asyncio.Server, connections: set, timeout: float = 10.0) -> None:
    """Stop listening, let every request already read get its answer, then close."""
    server.close()
    sweeper = _SWEEPERS.pop(id(server), None)
    if sweeper is not None:
        sweeper.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(not c.idle for c in connections) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for conn in list(connections):
        if conn.transport is not None:
            conn.transport.close()
    await server.wait_closed()


async def serve(host: str, port: int) -> None:
    app = IntakeApp()
    server, connections = await start(app, host, port)
    logger.warning("webhook intake listening on %s:%s", host, port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await stop(server, connections)


def configure() -> None:
    """Set Django up; unset DJANGO_SETTINGS_MODULE means production (never DEBUG and dev keys)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Meta webhook intake server")
    parser.add_argument("--host", default=os.environ.get("INTAKE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("INTAKE_PORT", "8001")))
    args = parser.parse_args(argv)
    configure()
    import uvloop

    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
