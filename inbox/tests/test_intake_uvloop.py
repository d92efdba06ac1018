"""The intake server on the event loop ``main`` runs it on (uvloop)."""

from __future__ import annotations

import asyncio

from inbox import intake


def test_the_server_starts_and_stops_on_uvloop():
    """``main`` runs the intake on uvloop, whose Server takes no attributes of its own: the
    sweeper is kept beside it (the intake once died at start there)."""
    import uvloop

    async def main():
        listener, connections = await intake.start(intake.IntakeApp(), "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /nowhere HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        await intake.stop(listener, connections)
        return answer

    assert uvloop.run(main()).startswith(b"HTTP/1.1 4")
    assert not intake._SWEEPERS
