"""The dedicated webhook intake server, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
import pytest_asyncio

from inbox import intake, webhooks
from inbox.asgi import WebhookIntake
from inbox.providers.meta import meta_signature

# The server fixture listens on the loop the tests run on.
pytestmark = pytest.mark.asyncio(loop_scope="session")


class Recorder:
    """Stands in for the group writer; ``hold`` keeps a key's answer until released."""

    def __init__(self):
        self.rows = []
        self.held: dict[str, asyncio.Future] = {}
        self.hold: set[str] = set()

    def insert(self, schema, provider, channel_id, key, body):
        self.rows.append((schema, provider, channel_id, key, body))
        future = asyncio.get_running_loop().create_future()
        if key in self.hold:
            self.held[key] = future
        else:
            future.set_result(True)
        return future


@pytest_asyncio.fixture(loop_scope="session")
async def server(cloud_channel):
    from django.db import connection

    webhooks._cache[str(cloud_channel.public_id)] = webhooks._Target(
        company=None, schema=connection.schema_name, channel=cloud_channel, expires=time.monotonic() + 60
    )
    accepter = WebhookIntake()
    accepter.writer = Recorder()
    triggered = []

    async def trigger(schema):
        triggered.append(schema)

    accepter._trigger_drain = trigger
    app = intake.IntakeApp(accepter)
    listener, connections = await intake.start(app, "127.0.0.1", 0)
    listener.port = listener.sockets[0].getsockname()[1]
    listener.writer, listener.triggered, listener.connections = accepter.writer, triggered, connections
    listener.path = f"/webhooks/whatsapp/{cloud_channel.public_id}/"
    yield listener
    await intake.stop(listener, connections, timeout=1)
    webhooks.clear_cache()


def _post(path: str, body: bytes, signature: str | None, host: str = "localhost", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if signature is not None:
        head += f"X-Hub-Signature-256: {signature}\r\n"
    return (head + extra + "\r\n").encode() + body


async def _responses(reader: asyncio.StreamReader, count: int) -> list[tuple[int, bytes, bytes]]:
    """``count`` responses as (status, head, body)."""
    out = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        out.append((int(head[9:12]), head, body))
    return out


async def _exchange(server, *requests: bytes, expect: int | None = None):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"".join(requests))
        await writer.drain()
        return await _responses(reader, expect if expect is not None else len(requests))
    finally:
        writer.close()


def _delivery(n: int) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": str(n)}]}).encode()


async def test_signed_deliveries_on_one_keep_alive_connection_are_recorded(server, cloud_channel):
    bodies = [_delivery(1), _delivery(2)]
    answers = await _exchange(server, *(_post(server.path, b, meta_signature("meta-app-secret", b)) for b in bodies))
    assert [(status, body) for status, _head, body in answers] == [(200, b"ok"), (200, b"ok")]
    assert [row[1:] for row in server.writer.rows] == [
        ("whatsapp_cloud", cloud_channel.pk, "meta:" + hashlib.sha256(b).hexdigest(), b) for b in bodies
    ]
    assert server.triggered == [server.writer.rows[0][0]] * 2


async def test_wrong_or_missing_signature_is_401_and_records_nothing(server):
    body = _delivery(1)
    answers = await _exchange(
        server,
        _post(server.path, body, "sha256=" + "0" * 64),
        _post(server.path, body, None),
        _post(server.path, body, ""),
    )
    assert [status for status, _head, _body in answers] == [401, 401, 401]
    assert server.writer.rows == []


async def test_pipelined_answers_leave_in_request_order(server):
    slow, fast = _delivery(1), b"{}"
    server.writer.hold.add("meta:" + hashlib.sha256(slow).hexdigest())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_post(server.path, slow, meta_signature("meta-app-secret", slow)) + _post(server.path, fast, None))
    await writer.drain()
    while not server.writer.held:
        await asyncio.sleep(0)
    # The second request is answered (401) only after the first, however long the first takes.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.05)
    next(iter(server.writer.held.values())).set_result(True)
    assert [status for status, _head, _body in await _responses(reader, 2)] == [200, 401]
    writer.close()


async def test_other_hosts_paths_and_methods_are_refused(server):
    body = _delivery(1)
    signed = meta_signature("meta-app-secret", body)
    answers = await _exchange(
        server,
        _post(server.path, body, signed, host="acme.localhost"),
        _post("/webhooks/sms/x/", body, signed),
        _post("/webhooks/whatsapp/not-a-uuid/", body, signed),
        f"DELETE {server.path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n".encode(),
        b"GET /healthz HTTP/1.1\r\nHost: anything\r\n\r\n",
    )
    assert [status for status, _head, _body in answers] == [404, 404, 404, 405, 200]
    assert server.writer.rows == []


async def test_unknown_channel_is_404(server):
    body = _delivery(1)
    path = "/webhooks/whatsapp/00000000-0000-0000-0000-000000000000/"

    answers = await _exchange(server, _post(path, body, meta_signature("meta-app-secret", body)))
    assert answers[0][0] == 404 and server.writer.rows == []


async def test_too_large_body_is_413_and_not_recorded(server, monkeypatch):
    monkeypatch.setattr(intake, "MAX_BODY", 100)
    body = b'{"x": "' + b"a" * 200 + b'"}'
    answers = await _exchange(server, _post(server.path, body, meta_signature("meta-app-secret", body)))
    assert answers[0][0] == 413 and server.writer.rows == []


async def test_chunked_body_is_accepted(server):
    body = _delivery(3)
    signature = meta_signature("meta-app-secret", body)
    request = (
        f"POST {server.path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        f"X-Hub-Signature-256: {signature}\r\n\r\n"
    ).encode()
    request += b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    answers = await _exchange(server, request)
    assert answers[0][0] == 200 and server.writer.rows[0][4] == body


async def test_garbage_is_400_and_the_connection_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    status, head, _body = (await _responses(reader, 1))[0]
    assert status == 400 and b"connection: close" in head
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    writer.close()


async def test_connection_close_is_honoured(server):
    body = _delivery(4)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_post(server.path, body, meta_signature("meta-app-secret", body), extra="Connection: close\r\n"))
    await writer.drain()
    status, head, _body = (await _responses(reader, 1))[0]
    assert status == 200 and b"connection: close" in head
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_meta_verification_handshake(server):
    path = server.path
    ok = f"GET {path}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    bad = f"GET {path}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    answers = await _exchange(server, ok.encode(), bad.encode())
    assert [(status, body) for status, _head, body in answers] == [(200, b"1158201444"), (403, b"verification failed")]


async def test_stop_answers_requests_already_read(server):
    body = _delivery(5)
    key = "meta:" + hashlib.sha256(body).hexdigest()
    server.writer.hold.add(key)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_post(server.path, body, meta_signature("meta-app-secret", body)))
    await writer.drain()
    while key not in server.writer.held:
        await asyncio.sleep(0)
    stopping = asyncio.ensure_future(intake.stop(server, server.connections, timeout=5))
    await asyncio.sleep(0.01)
    server.writer.held[key].set_result(True)
    assert (await _responses(reader, 1))[0][0] == 200
    await stopping
    writer.close()


async def test_odd_request_targets_get_a_4xx_never_a_500(server):
    """An absolute-form target without a path made ``handle`` fail (500)."""
    targets = [b"http://localhost", b"http://localhost?x=1", b"*", b"//", b"/%zz"]
    requests = [b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target for target in targets]
    answers = await _exchange(server, *requests)
    assert [status for status, _head, _body in answers] == [404] * len(targets)
