"""Websockets: the company comes from the Host; unknown hosts and non-members are refused,
and events of one company never reach another's sockets."""

from __future__ import annotations

import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from config.asgi import application
from tests.conftest_helpers import session_key_for


@pytest.fixture
def committed_member(django_db_blocker, acme):
    """A member of acme written for real (the consumer reads it from another connection)."""
    from django.contrib.sessions.backends.db import SessionStore

    from tenants.models import Membership, User

    created = []

    def make(company, role="agent"):
        with django_db_blocker.unblock():
            user = User.objects.create_user(email=f"ws-{uuid.uuid4().hex[:8]}@example.com", password="x")
            Membership.objects.create(user=user, company=company, role=role)
            key = session_key_for(user)
            created.append((user, SessionStore(session_key=key)))
        return key

    yield make

    # The rows were written (and committed) by the async-to-sync executor thread's connection;
    # delete them from a connection of our own too, outside the test's rolled-back transaction.
    def cleanup():
        from django.db import connection

        try:
            for user, session in created:
                session.delete()
                User.objects.filter(pk=user.pk).delete()
        finally:
            connection.close()

    with django_db_blocker.unblock():
        worker = threading.Thread(target=cleanup)
        worker.start()
        worker.join()


def _communicator(host: str, session_key: str | None, origin: str | None = "same"):
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", (f"http://{host}" if origin == "same" else origin).encode()))
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def test_member_connects_and_receives_company_events(committed_member, acme):
    key = await sync_to_async(committed_member)(acme)
    communicator = _communicator("acme.localhost", key)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["op"] == "ready"
    await communicator.disconnect()


async def test_unknown_host_is_refused(committed_member, acme):
    key = await sync_to_async(committed_member)(acme)
    communicator = _communicator("ghost.localhost", key)
    connected, code = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_member_of_another_company_is_refused(committed_member, acme, other_company):
    key = await sync_to_async(committed_member)(other_company)
    communicator = _communicator("acme.localhost", key)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403
    await communicator.disconnect()


async def test_anonymous_is_refused(acme):
    communicator = _communicator("acme.localhost", None)
    connected, code = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_events_stay_inside_their_company(committed_member, acme, other_company):
    from core.realtime import send_event

    acme_socket = _communicator("acme.localhost", await sync_to_async(committed_member)(acme))
    other_socket = _communicator("other.localhost", await sync_to_async(committed_member)(other_company))
    assert (await acme_socket.connect())[0]
    assert (await other_socket.connect())[0]
    await acme_socket.receive_json_from()
    await other_socket.receive_json_from()

    def emit():
        from django_tenants.utils import schema_context

        with schema_context("c_acme"):
            send_event({"type": "probe", "op": "ping"})

    await sync_to_async(emit)()
    assert await acme_socket.receive_json_from(timeout=2) == {"type": "probe", "op": "ping"}
    assert await other_socket.receive_nothing(timeout=0.3)
    await acme_socket.disconnect()
    await other_socket.disconnect()


async def test_removed_member_is_disconnected_and_role_change_reconnects(committed_member, acme, django_db_blocker):
    """A member removed while a socket is open stops receiving events at once (4403, the
    client gives up); a role change closes with 4001 so the client reconnects under its new role."""
    from core.realtime import CLOSE_MEMBER_REMOVED, CLOSE_ROLE_CHANGED

    owner_key = await sync_to_async(committed_member)(acme, "owner")
    agent_key = await sync_to_async(committed_member)(acme, "agent")
    viewer_key = await sync_to_async(committed_member)(acme, "viewer")
    sockets = {}
    for name, key in (("owner", owner_key), ("agent", agent_key), ("viewer", viewer_key)):
        sockets[name] = _communicator("acme.localhost", key)
        assert (await sockets[name].connect())[0]
        await sockets[name].receive_json_from()

    def change():
        from django.contrib.sessions.backends.db import SessionStore

        from tenants import services
        from tenants.models import Membership

        with django_db_blocker.unblock():

            def membership(key):
                user_id = SessionStore(session_key=key)["_auth_user_id"]
                return Membership.objects.select_related("company").get(user_id=user_id, company=acme)

            by = membership(owner_key)
            services.membership_remove(membership=membership(agent_key), by=by)
            services.membership_set_role(membership=membership(viewer_key), role="agent", by=by)

    await sync_to_async(change)()

    assert await sockets["agent"].receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_MEMBER_REMOVED}
    assert await sockets["viewer"].receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_ROLE_CHANGED}
    assert await sockets["owner"].receive_nothing(timeout=0.3)
    # The removed member cannot come back.
    again = _communicator("acme.localhost", agent_key)
    connected, code = await again.connect()
    assert not connected and code == 4403
    # Closed by the server or refused: end every application instance (no task left pending).
    for communicator in (again, *sockets.values()):
        await communicator.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        "http://other.localhost",  # another company's page (audit M1: it replayed this one's events)
        "http://localhost",  # the public domain
        "http://acme.localhost:9999",  # another port is another origin
        "https://acme.localhost",  # and so is another scheme's
        "http://evil.example",
        "null",
        None,  # no Origin: not a browser page of this host
    ],
)
async def test_only_the_hosts_own_pages_may_open_a_socket(committed_member, acme, origin):
    key = await sync_to_async(committed_member)(acme)
    communicator = _communicator("acme.localhost", key, origin=origin)
    connected, _code = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_same_origin_with_a_port_connects(committed_member, acme):
    key = await sync_to_async(committed_member)(acme)
    communicator = _communicator("acme.localhost:8000", key)
    connected, _code = await communicator.connect()
    assert connected
    await communicator.disconnect()
