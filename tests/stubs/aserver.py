"""A fast loopback HTTP/1.1 server for stubs that must keep up with benchmarks (thousands of
requests per second on two cores): asyncio + httptools (uvloop when installed), keep-alive and
pipelining, one parser per connection, the route called synchronously in the loop.

Runs in a background thread of the test process (``start()``/``stop()``), or as the main
loop of a process of its own (``serve()``) when a benchmark must not share the GIL with it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any
from urllib.parse import parse_qs

import httptools

from tests.stubs.http import Recorded

REASONS = {200: b"OK", 201: b"Created", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 429: b"Too Many"}


class Headers(dict):
    """Request headers as sent, looked up without regard to case (as HTTP wants)."""

    def __init__(self, items: list[tuple[str, str]]):
        super().__init__(items)
        self._lower = {k.lower(): v for k, v in items}

    def get(self, key, default=None):  # type: ignore[override]
        return self._lower.get(key.lower(), default)

    def __getitem__(self, key):
        return self._lower[key.lower()]

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and key.lower() in self._lower


def _encode(status: int, headers: dict[str, str], payload: Any) -> bytes:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    lines = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"Status"))]
    if "Content-Type" not in headers:
        lines.append(b"Content-Type: application/json")
    for key, value in headers.items():
        lines.append(f"{key}: {value}".encode("latin-1"))
    lines.append(b"Content-Length: %d" % len(data))
    return b"\r\n".join(lines) + b"\r\n\r\n" + data


class _Protocol(asyncio.Protocol):
    def __init__(self, server: AsyncStubServer):
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.chunks = b"", [], []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        parsed = httptools.parse_url(self.url)
        query = parse_qs(parsed.query.decode("latin-1")) if parsed.query else {}
        record = Recorded(
            self.parser.get_method().decode(),
            parsed.path.decode("latin-1"),
            Headers(self.headers),
            b"".join(self.chunks),
            query,
        )
        try:
            status, headers, payload = self.server.handle(record)
        except Exception as exc:  # a stub bug must show, not hang the client
            status, headers, payload = 500, {}, {"error": {"message": repr(exc), "code": 1}}
        if self.transport is not None:
            self.transport.write(_encode(status, headers, payload))
            if not self.parser.should_keep_alive():
                self.transport.close()


class AsyncStubServer:
    """Subclasses implement ``route(record) -> (status, headers, payload)``.

    ``record_requests`` keeps every request in ``requests`` (tests read them); benchmarks turn
    it off so a 100,000-message run does not hold every body in memory.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, record_requests: bool = True):
        self.host, self.port = host, port
        self.record_requests = record_requests
        self.requests: list[Recorded] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.url = ""
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    def handle(self, record: Recorded):
        if self.record_requests:
            self.requests.append(record)
        return self.route(record)

    def route(self, record: Recorded):  # pragma: no cover - overridden
        return 404, {}, {}

    async def listen(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._server = await self.loop.create_server(
            lambda: _Protocol(self), self.host, self.port, backlog=2048, reuse_address=True
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        await self.started()

    async def started(self) -> None:
        """Hook: background tasks of the stub (webhook senders) start here."""

    async def serve(self) -> None:
        await self.listen()
        assert self._server is not None
        await self._server.serve_forever()

    def start(self):
        ready = threading.Event()

        def run():
            loop = _new_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.listen())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}-loop", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop = self.loop
        if loop is None:
            return

        async def close():
            if self._server is not None:
                self._server.close()
            await self.stopping()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def stopping(self) -> None:
        """Hook: close background tasks."""

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the stub's loop and return its result (thread-safe state reads)."""
        assert self.loop is not None

        async def wrapper():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
