from __future__ import annotations

import pytest

from tests.stubs.graph import GraphStub
from tests.stubs.twilio import TwilioStub


@pytest.fixture(autouse=True)
def _inbox_isolation(settings, tmp_path):
    from inbox import webhooks

    settings.MEDIA_ROOT = str(tmp_path / "media")
    webhooks.clear_cache()
    yield
    webhooks.clear_cache()


@pytest.fixture(scope="session")
def _graph_server():
    server = GraphStub().start()
    yield server
    server.stop()


@pytest.fixture
def graph(_graph_server, settings):
    _graph_server.requests.clear()
    _graph_server.sent.clear()
    _graph_server.fail_to.clear()
    _graph_server.media.clear()
    _graph_server.media_urls.clear()
    _graph_server.next_ids.clear()
    _graph_server.token_info = {"is_valid": True, "expires_at": 0, "scopes": ["whatsapp_business_messaging"]}
    settings.WHATSAPP_GRAPH_URL = _graph_server.url
    settings.WHATSAPP_GRAPH_VERSION = _graph_server.version
    return _graph_server


@pytest.fixture(scope="session")
def _twilio_server():
    server = TwilioStub().start()
    yield server
    server.stop()


@pytest.fixture
def twilio(_twilio_server, settings):
    _twilio_server.requests.clear()
    _twilio_server.invalid_to.clear()
    _twilio_server.redirects.clear()
    settings.SMS_API_URL = _twilio_server.url
    return _twilio_server


@pytest.fixture
def cloud_channel(tenant, graph):
    from inbox.services import channel_create

    return channel_create(
        kind="whatsapp_cloud",
        name="Atendimento",
        config={"phone_number_id": "1065550001", "waba_id": "2025550001", "display_phone": "+55 11 3000-0000"},
        credentials={"access_token": graph.token, "app_secret": "meta-app-secret", "verify_token": "verify-me"},
    )


@pytest.fixture
def sandbox_channel(tenant):
    from inbox.services import channel_create

    return channel_create(kind="sandbox", name="Sandbox")


@pytest.fixture
def sms_channel(tenant, twilio):
    from inbox.services import channel_create

    return channel_create(
        kind="sms",
        name="SMS",
        config={"account_sid": twilio.account_sid, "from_number": "+5511940001000"},
        credentials={"auth_token": twilio.auth_token},
    )


@pytest.fixture
def contact(tenant):
    from crm.services import contact_upsert_from_channel

    return contact_upsert_from_channel(phone="+5511987654321", wa_id="5511987654321", name="Maria", source="test")


@pytest.fixture
def conversation(cloud_channel, contact):
    from django.utils import timezone

    from inbox.models import Conversation

    return Conversation.objects.create(channel=cloud_channel, contact=contact, last_inbound_at=timezone.now())


@pytest.fixture(autouse=True)
def _english():
    """Inbox tests assert the English message constants (the default language is pt-BR)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def tenant_client_factory(tenant_client_factory):
    """Clients that ask for English, whatever the company's language."""
    from django.conf import settings

    def make(company, user=None):
        client = tenant_client_factory(company, user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make
