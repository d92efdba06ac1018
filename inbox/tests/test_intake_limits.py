"""The webhook intake server faces the internet unauthenticated (audit M7): request lines and
headers are capped (414 / 431) instead of buffered, slow or idle clients are cut off, and one
process holds a bounded number of connections. Over real sockets on loopback, with the
timeouts shortened so the slow clients take a fraction of a second."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio

from inbox import intake

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMITS = intake.Limits(
    max_url=2048,
    max_head=16 * 1024,
    header_timeout=0.3,
    body_timeout=0.3,
    idle_timeout=0.3,
    max_connections=4,
)


class Answering:
    """Stands in for IntakeApp: every complete request is answered 200."""

    def __init__(self):
        self.requests = 0

    async def handle(self, method, url, host, signature, body):
        self.requests += 1
        return 200, b"ok"


@pytest_asyncio.fixture(loop_scope="session")
async def server():
    app = Answering()
    listener, connections = await intake.start(app, "127.0.0.1", 0, limits=LIMITS)
    listener.port = listener.sockets[0].getsockname()[1]
    listener.app, listener.connections = app, connections
    yield listener
    await intake.stop(listener, connections, timeout=1)


async def _status_then_closed(reader: asyncio.StreamReader) -> int:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    rest = await asyncio.wait_for(reader.read(), 5)
    assert rest.endswith(b"") and b"connection: close" in head
    return int(head[9:12])


class Sender:
    """Writes chunks until done or cut off; ``sent`` says how far it got."""

    def __init__(self, writer: asyncio.StreamWriter, chunks):
        self.sent = 0
        self.task = asyncio.ensure_future(self._run(writer, chunks))

    async def _run(self, writer, chunks):
        try:
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass


async def test_a_20_mb_request_line_is_refused_with_414_unbuffered(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    sender = Sender(writer, [b"GET /" + b"a" * 65536] + [b"a" * 65536] * 320)  # 20 MiB
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 414") and b"connection: close" in head
    assert sender.sent < 8 * 1024 * 1024  # answered long before the end (socket buffers hold a few MB)
    assert not any(len(c.url) > LIMITS.max_url for c in server.connections)  # nothing kept
    assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"url too long")
    await sender.task
    writer.close()


async def test_20_mb_of_headers_are_refused_with_431(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = b"POST /webhooks/whatsapp/x/ HTTP/1.1\r\nHost: localhost\r\nX-Padding: "
    sender = Sender(writer, [head] + [b"b" * 65536] * 320)
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert answer.startswith(b"HTTP/1.1 431")
    assert sender.sent < 8 * 1024 * 1024
    await sender.task
    writer.close()


async def test_many_small_headers_count_as_well(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 100) for n in range(400))  # ~44 KiB in small lines
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + lines + b"\r\n")
    await writer.drain()
    assert await _status_then_closed(reader) == 431
    writer.close()


async def test_a_slow_loris_client_is_cut_off(server):
    """Headers dribbled a byte at a time never complete: the header deadline does not move."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    writer.write(b"POST /webhooks/whatsapp/x/ HTTP/1.1\r\nHost: localhost\r\n")

    async def dribble():
        try:
            for _ in range(100):  # 5 s worth, if nobody stopped it
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionResetError, BrokenPipeError):
            pass

    dribbling = asyncio.ensure_future(dribble())
    assert await _status_then_closed(reader) == 408
    assert time.monotonic() - started < 2
    dribbling.cancel()
    writer.close()


async def test_a_body_that_never_arrives_is_cut_off(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /webhooks/whatsapp/x/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{")
    await writer.drain()
    assert await _status_then_closed(reader) == 408
    writer.close()


async def test_an_idle_connection_is_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(reader.readexactly(2), 5)
    # keep-alive, then nothing: closed quietly after the idle timeout
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_connections_beyond_the_cap_are_refused_with_503(server):
    held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(LIMITS.max_connections)]
    for reader, writer in held:  # each is alive and answers
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        await reader.readexactly(2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await _status_then_closed(reader) == 503
    writer.close()
    # once one leaves, a new client gets in
    held[0][1].close()
    await held[0][1].wait_closed()
    while len(server.connections) >= LIMITS.max_connections:
        await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
    for _reader, other in held[1:]:
        other.close()


async def test_requests_within_the_limits_are_served(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    url = b"/healthz?" + b"q" * 1500
    writer.write(b"GET " + url + b" HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"p" * 8000 + b"\r\n\r\n")
    await writer.drain()
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
