"""The campaigns websocket (/ws/campaigns/): members only, coalesced progress events of their own
company only."""

from __future__ import annotations

import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django_tenants.utils import schema_context

from config.asgi import application
from tests.conftest_helpers import session_key_for


@pytest.fixture
def members(django_db_blocker):
    """``members(company, role)`` -> a saved session key (the consumer reads it from its own
    connection, so the member is written for real and removed after the test)."""
    from django.contrib.sessions.backends.db import SessionStore

    from tenants.models import Membership, User

    made = []

    def make(company, role="viewer"):
        with django_db_blocker.unblock():
            user = User.objects.create_user(email=f"cws-{uuid.uuid4().hex[:8]}@example.com", password="x")
            Membership.objects.create(user=user, company=company, role=role)
            key = session_key_for(user)
        made.append((key, user))
        return key

    yield make

    def remove():
        from django.db import connection

        try:
            for key, user in made:
                SessionStore(session_key=key).delete()
                user.delete()
        finally:
            connection.close()

    with django_db_blocker.unblock():
        worker = threading.Thread(target=remove)
        worker.start()
        worker.join()


def _socket(company, key=None):
    host = f"{company.slug}.{settings.BASE_DOMAIN}"
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode())]
    if key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()))
    return WebsocketCommunicator(application, "/ws/campaigns/", headers=headers)


async def _connected(company, key):
    communicator = _socket(company, key)
    ok, code = await communicator.connect()
    assert ok, code
    assert (await communicator.receive_json_from())["op"] == "ready"
    return communicator


@pytest.fixture
def publish(django_db_blocker):
    """``publish(company, force=...)``: a running campaign written for real (the test's
    transaction is another connection's business here), its progress published; removed after."""
    made = []

    def make(company, *, force=True):
        from campaigns.models import Campaign
        from campaigns.realtime import progress_publish
        from inbox.models import Channel

        with django_db_blocker.unblock(), schema_context(company.schema_name):
            channel = Channel.objects.create(kind="sandbox", name="WS")
            campaign = Campaign.objects.create(
                name="Ao vivo", channel=channel, state="running", total_count=10, queued_count=4, sent_count=6
            )
            made.append((company.schema_name, campaign.pk, channel.pk))
            return campaign.pk, progress_publish(campaign.pk, force=force)

    yield make

    def remove():
        from django.db import connection

        from campaigns.models import Campaign
        from inbox.models import Channel

        try:
            for schema, campaign_id, channel_id in made:
                with schema_context(schema):
                    Campaign.objects.filter(pk=campaign_id).delete()
                    Channel.objects.filter(pk=channel_id).delete()
        finally:
            connection.close()

    with django_db_blocker.unblock():
        worker = threading.Thread(target=remove)
        worker.start()
        worker.join()


async def test_progress_reaches_members_of_the_same_company_only(members, publish, acme, other_company):
    acme_key = await sync_to_async(members)(acme)
    other_key = await sync_to_async(members)(other_company)
    acme_socket = await _connected(acme, acme_key)
    other_socket = await _connected(other_company, other_key)

    campaign_id, _sent = await sync_to_async(publish)(acme)

    event = await acme_socket.receive_json_from(timeout=3)
    assert event["type"] == "campaign" and event["op"] == "progress" and event["id"] == campaign_id
    assert event["counters"]["sent"] == 6 and event["counters"]["queued"] == 4 and event["state"] == "running"
    assert await other_socket.receive_nothing(timeout=0.3)
    await acme_socket.disconnect()
    await other_socket.disconnect()


async def test_progress_events_are_coalesced(members, publish, acme):
    from campaigns.realtime import progress_publish

    key = await sync_to_async(members)(acme)
    communicator = await _connected(acme, key)
    campaign_id, _ = await sync_to_async(publish)(acme, force=False)

    def burst():
        with schema_context(acme.schema_name):
            return [progress_publish(campaign_id) for _ in range(50)]

    sent = await sync_to_async(burst)()

    assert sum(sent) <= 1  # one event per interval, whatever the number of changes
    await communicator.receive_json_from(timeout=3)
    await communicator.disconnect()


async def test_non_members_and_anonymous_are_refused(members, acme, other_company):
    stranger = await sync_to_async(members)(other_company, "owner")
    for key in (stranger, None):
        communicator = _socket(acme, key)
        ok, code = await communicator.connect()
        assert not ok and code == 4403
        await communicator.disconnect()
