"""Uploads are capped before they reach the disk (audit L2): Django's ASGI handler spools a
whole body to a temporary file before any view runs, and nothing limited multipart uploads."""

from __future__ import annotations

import pytest
from asgiref.testing import ApplicationCommunicator

from config.asgi import application

pytestmark = pytest.mark.asyncio


def _scope(headers: list[tuple[bytes, bytes]], path: str = "/imports/") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"acme.localhost"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def _response(communicator) -> tuple[int, bytes]:
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    return start["status"], body["body"]


async def test_a_body_declared_too_large_is_refused_unread(settings):
    settings.REQUEST_BODY_MAX_MB = 1
    communicator = ApplicationCommunicator(
        application, _scope([(b"content-length", str(200 * 1024 * 1024).encode()), (b"content-type", b"x/y")])
    )
    await communicator.send_input({"type": "http.request", "body": b"x" * 1000, "more_body": True})
    status, body = await _response(communicator)
    assert status == 413 and b"1 MB" in body


async def test_a_body_that_grows_past_the_cap_is_refused(settings):
    settings.REQUEST_BODY_MAX_MB = 1
    communicator = ApplicationCommunicator(
        application, _scope([(b"transfer-encoding", b"chunked"), (b"content-type", b"multipart/form-data; boundary=x")])
    )
    for _ in range(20):  # 2.5 MB in 128 KiB pieces, with no declared length
        await communicator.send_input({"type": "http.request", "body": b"y" * 131072, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    status, _body = await _response(communicator)
    assert status == 413


async def test_a_body_under_the_cap_reaches_django(settings):
    settings.REQUEST_BODY_MAX_MB = 1
    # /healthz answers before the tenant routing: no database needed to see the body through
    communicator = ApplicationCommunicator(application, _scope([(b"content-length", b"5")], "/healthz"))
    await communicator.send_input({"type": "http.request", "body": b"a=b&c", "more_body": False})
    status, body = await _response(communicator)
    assert (status, body) == (200, b"ok")
