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
    413: b"Content Too Large",
    500: b"Internal Server Error",
}


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

    def __init__(self, app: IntakeApp, connections: set):
        self.app = app
        self.connections = connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.answers: deque[tuple[asyncio.Future, bool]] = deque()
        self.paused = False
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.host = b""
        self.signature = b""
        self.chunks: list[bytes] = []
        self.size = 0

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.connections.discard(self)
        self.transport = None  # requests already read are still recorded; nobody to answer

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, b"upgrade not supported")
        except httptools.HttpParserError:
            self._refuse(400, b"bad request")

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"host":
            self.host = value
        elif name == b"x-hub-signature-256":
            self.signature = value

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= MAX_BODY:
            self.chunks.append(body)
        else:
            self.chunks = []

    def on_message_complete(self) -> None:
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
        if self.transport is not None:
            self.transport.write(http_response(status, text, keep_alive=False))
            self.transport.close()
            self.transport = None

    @property
    def idle(self) -> bool:
        return not self.answers


async def start(app: IntakeApp, host: str, port: int) -> tuple[asyncio.Server, set]:
    """Listen; returns the server and the live connections (for a graceful stop)."""
    connections: set[IntakeProtocol] = set()
    server = await asyncio.get_running_loop().create_server(
        lambda: IntakeProtocol(app, connections), host, port, reuse_port=True, backlog=2048
    )
    return server, connections


async def stop(server: asyncio.Server, connections: set, timeout: float = 10.0) -> None:
    """Stop listening, let every request already read get its answer, then close."""
    server.close()
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Meta webhook intake server")
    parser.add_argument("--host", default=os.environ.get("INTAKE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("INTAKE_PORT", "8001")))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    import uvloop

    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
