"""The pooled keep-alive POST of the campaign hot path (``inbox.providers.http.post``) against
real loopback servers: connections reused, answers parsed (sized and chunked), and network
failures classified as the engine needs them (never opened: retry; may have arrived: uncertain)."""

from __future__ import annotations

import asyncio
import json

import pytest

from inbox.providers import http
from inbox.providers.base import ProviderError


class Server:
    """A loopback HTTP/1.1 server whose behaviour each test picks: ``answer`` (keep-alive
    JSON), ``chunked``, ``close`` (answers with Connection: close), ``drop`` (reads the request,
    closes without answering), ``silent`` (reads it, never answers)."""

    def __init__(self, mode: str = "answer"):
        self.mode = mode
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v21.0/1/messages"
        return self

    async def __aexit__(self, *exc):
        await http.close_session()
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))[15:])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                n = len(self.requests)
                if self.mode == "drop":
                    writer.close()
                    return
                if self.mode == "silent":
                    await reader.read()
                    return
                data = json.dumps({"messages": [{"id": f"wamid.{n}"}]}).encode()
                if self.mode == "chunked":
                    half = len(data) // 2
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, data[:half], len(data) - half, data[half:])
                    )
                else:
                    extra = b"Connection: close\r\n" if self.mode == "close" else b""
                    writer.write(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (extra, len(data), data))
                await writer.drain()
                if self.mode == "close":
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return


HEADERS = http.header_lines({"Authorization": "Bearer t"})


async def test_sequential_posts_reuse_one_keep_alive_connection():
    async with Server() as server:
        answers = [await http.post(server.url, b'{"to":"1"}', headers=HEADERS) for _ in range(5)]
    assert [a[1]["messages"][0]["id"] for a in answers] == [f"wamid.{n}" for n in range(1, 6)]
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v21.0/1/messages HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in first and first.endswith(b'\r\n\r\n{"to":"1"}')


async def test_concurrent_posts_stay_within_the_pool(monkeypatch):
    monkeypatch.setattr(http, "POOL_SIZE", 4)
    async with Server() as server:
        answers = await asyncio.gather(*(http.post(server.url, b"{}", headers=HEADERS) for _ in range(40)))
    assert all(status == 200 for status, _data in answers)
    assert server.connections <= 4
    assert len({a[1]["messages"][0]["id"] for a in answers}) == 40


async def test_chunked_answers_are_parsed():
    async with Server("chunked") as server:
        status, data = await http.post(server.url, b"{}")
    assert status == 200 and data == {"messages": [{"id": "wamid.1"}]}


async def test_connection_close_is_honoured_and_the_next_post_reconnects():
    async with Server("close") as server:
        for _ in range(3):
            status, _data = await http.post(server.url, b"{}")
            assert status == 200
    assert server.connections == 3


async def test_a_server_that_is_not_there_is_safe_to_retry():
    async with Server() as server:
        url = server.url
    server.server.close()
    await server.server.wait_closed()
    with pytest.raises(ProviderError) as raised:
        await http.post(url, b"{}")
    assert raised.value.code == "network" and raised.value.uncertain is False and raised.value.retryable


async def test_a_connection_dropped_after_the_request_may_have_reached_the_provider():
    async with Server("drop") as server:
        with pytest.raises(ProviderError) as raised:
            await http.post(server.url, b"{}")
    assert raised.value.uncertain is True and len(server.requests) == 1


async def test_no_answer_in_time_is_uncertain(monkeypatch):
    monkeypatch.setattr(http, "READ_TIMEOUT_S", 0.2)
    async with Server("silent") as server:
        with pytest.raises(ProviderError) as raised:
            await http.post(server.url, b"{}")
    assert raised.value.code == "timeout" and raised.value.uncertain is True


async def test_post_many_answers_in_order_on_reused_connections():
    async with Server() as server:
        first = await http.post_many(server.url, [b'{"n":%d}' % n for n in range(10)])
        second = await http.post_many(server.url, [b'{"n":%d}' % n for n in range(10)])
    assert [status for status, _data in first + second] == [200] * 20
    assert len({data["messages"][0]["id"] for _status, data in first + second}) == 20
    assert server.connections == 10  # the second batch found the first one's connections idle
    bodies = [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests]
    assert sorted(bodies) == sorted([b'{"n":%d}' % n for n in range(10)] * 2)


async def test_post_many_reports_each_failure_as_an_error_in_its_place():
    async with Server("drop") as server:
        answers = await http.post_many(server.url, [b"{}", b"{}", b"{}"])
    assert all(isinstance(a, ProviderError) and a.uncertain for a in answers)
