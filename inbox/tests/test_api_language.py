"""API messages in the company's language (pt-BR here), upstream ones included."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from inbox.models import Conversation

API = "/api/v1/inbox"


@pytest.fixture
def pt_client(tenant_client_factory, make_member, acme):
    def make(role="agent", email="pt@lang.test"):
        client = tenant_client_factory(acme, make_member(role, email=email))
        client.cookies["django_language"] = "pt-br"
        return client

    return make


@pytest.fixture
def conversation_pk(cloud_channel, contact):
    conversation = Conversation.objects.create(
        channel=cloud_channel, contact=contact, last_inbound_at=timezone.now(), last_message_at=timezone.now()
    )
    connection.set_schema_to_public()
    return conversation.pk


def test_media_message_without_a_file(pt_client, conversation_pk):
    response = pt_client().post(f"{API}/conversations/{conversation_pk}/messages/", {"type": "media"})
    assert response.status_code == 400
    assert response.json() == {"file": ["Escolha um arquivo para enviar."]}  # the page says the same


def test_assigning_someone_who_is_not_an_agent(pt_client, conversation_pk):
    response = pt_client().post(
        f"{API}/conversations/{conversation_pk}/assign/", {"assignee": 987654}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "Esta pessoa não é atendente da empresa." in str(response.json())


def test_simplejwt_messages_come_from_its_catalog(pt_client, tenant_client_factory, acme):
    client = tenant_client_factory(acme)
    client.cookies["django_language"] = "pt-br"
    response = client.get(f"{API}/conversations/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert "O token informado não é válido para qualquer tipo de token" in str(response.json())
