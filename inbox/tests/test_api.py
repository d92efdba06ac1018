"""Inbox API: roles, filters, idempotent sending, tenant isolation of every endpoint."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from inbox.models import Conversation, Label, Message
from inbox.services import ERR_OUTSIDE_WINDOW, ERR_TEMPLATE_REQUIRED

API = "/api/v1/inbox"


@pytest.fixture
def setup(cloud_channel, contact):
    conversation = Conversation.objects.create(
        channel=cloud_channel, contact=contact, last_inbound_at=timezone.now(), last_message_at=timezone.now()
    )
    connection.set_schema_to_public()
    return conversation


def client_for(tenant_client_factory, make_member, acme, role):
    return tenant_client_factory(acme, make_member(role, email=f"{role}@api.test"))


def test_viewer_reads_but_cannot_send_or_manage(setup, tenant_client_factory, make_member, acme):
    viewer = client_for(tenant_client_factory, make_member, acme, "viewer")
    assert viewer.get(f"{API}/conversations/").status_code == 200
    assert viewer.get(f"{API}/channels/").status_code == 200
    assert viewer.post(f"{API}/conversations/{setup.pk}/messages/", {"text": "x"}).status_code == 403
    assert viewer.post(f"{API}/conversations/{setup.pk}/status/", {"status": "resolved"}).status_code == 403


def test_agent_works_conversations_but_cannot_manage_channels(setup, tenant_client_factory, make_member, acme):
    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    response = agent.post(
        f"{API}/conversations/{setup.pk}/status/", {"status": "resolved"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    response = agent.post(f"{API}/channels/", {"kind": "sandbox", "name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert agent.post(f"{API}/labels/", {"name": "VIP"}, content_type="application/json").status_code == 403


def test_admin_connects_channel_and_reads_health(tenant, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    admin = client_for(tenant_client_factory, make_member, acme, "admin")
    response = admin.post(f"{API}/channels/", {"kind": "sandbox", "name": "Teste"}, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["webhook_url"].endswith(f"/webhooks/whatsapp/{body['public_id']}/")
    assert "app_secret" not in body and "access_token" not in body
    health = admin.get(f"{API}/channels/{body['id']}/health/").json()
    assert health["status"] == "connected"
    missing = admin.post(
        f"{API}/channels/", {"kind": "whatsapp_cloud", "name": "Meta"}, content_type="application/json"
    )
    assert missing.status_code == 400 and "phone_number_id" in missing.json()


def test_send_text_is_idempotent(setup, tenant_client_factory, make_member, acme):
    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    url = f"{API}/conversations/{setup.pk}/messages/"
    first = agent.post(url, {"text": "Olá"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="abc-1")
    again = agent.post(url, {"text": "Olá"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    connection.set_tenant(acme)
    assert Message.objects.filter(conversation=setup).count() == 1


def test_send_outside_window_and_template_give_clear_messages(setup, tenant_client_factory, make_member, acme):
    connection.set_tenant(acme)
    Conversation.objects.filter(pk=setup.pk).update(last_inbound_at=timezone.now() - timezone.timedelta(days=2))
    connection.set_schema_to_public()
    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    url = f"{API}/conversations/{setup.pk}/messages/"
    response = agent.post(url, {"text": "Olá"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"] == [ERR_OUTSIDE_WINDOW]
    response = agent.post(
        url, {"type": "template", "template": "hello", "language": ""}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["detail"] == [ERR_TEMPLATE_REQUIRED]


def test_send_media_multipart(setup, tenant_client_factory, make_member, acme):
    from django.core.files.uploadedfile import SimpleUploadedFile

    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    upload = SimpleUploadedFile("foto.jpg", b"\xff\xd8\xff fake", content_type="image/jpeg")
    response = agent.post(
        f"{API}/conversations/{setup.pk}/messages/", {"type": "media", "file": upload, "caption": "olha"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "image" and response.json()["media_url"]


def test_assign_filter_labels_notes(setup, tenant_client_factory, make_member, acme):
    agent_user = make_member("agent", email="agent-x@api.test")
    agent = tenant_client_factory(acme, agent_user)
    url = f"{API}/conversations/{setup.pk}"
    assert agent.post(f"{url}/assign/", {"assignee": agent_user.pk}, content_type="application/json").status_code == 200
    mine = agent.get(f"{API}/conversations/?assignee=me").json()["results"]
    assert [c["id"] for c in mine] == [setup.pk]
    assert agent.get(f"{API}/conversations/?assignee=none").json()["results"] == []
    outsider = make_member("agent", company=None, email="x@other.test")
    from tenants.models import Membership

    Membership.objects.filter(user=outsider).delete()
    bad = agent.post(f"{url}/assign/", {"assignee": outsider.pk}, content_type="application/json")
    assert bad.status_code == 400
    connection.set_tenant(acme)
    label = Label.objects.create(name="VIP")
    connection.set_schema_to_public()
    response = agent.post(f"{url}/labels/", {"labels": [label.pk]}, content_type="application/json")
    assert [lb["name"] for lb in response.json()["labels"]] == ["VIP"]
    assert agent.get(f"{API}/conversations/?label={label.pk}").json()["results"][0]["id"] == setup.pk
    note = agent.post(f"{url}/notes/", {"body": "cliente VIP"}, content_type="application/json")
    assert note.status_code == 201 and note.json()["kind"] == "note"


def test_conversation_list_query_count(setup, tenant_client_factory, make_member, acme, django_assert_max_num_queries):
    from crm.services import contact_upsert_from_channel

    connection.set_tenant(acme)
    for i in range(10):
        contact = contact_upsert_from_channel(phone=f"+55119800000{i:02d}", wa_id=None, name=f"C{i}", source="test")
        Conversation.objects.create(channel=setup.channel, contact=contact, last_message_at=timezone.now())
    connection.set_schema_to_public()
    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    with django_assert_max_num_queries(12):
        response = agent.get(f"{API}/conversations/")
    assert len(response.json()["results"]) == 11


def test_other_company_sees_nothing(setup, tenant_client_factory, make_member, other_company):
    stranger = make_member("owner", company=other_company, email="boss@other.test")
    client = tenant_client_factory(other_company, stranger)
    assert client.get(f"{API}/conversations/").json()["results"] == []
    assert client.get(f"{API}/conversations/{setup.pk}/").status_code == 404
    assert client.get(f"{API}/conversations/{setup.pk}/messages/").status_code == 404
    assert client.post(f"{API}/conversations/{setup.pk}/messages/", {"text": "x"}).status_code == 404
    assert client.post(f"{API}/conversations/{setup.pk}/status/", {"status": "resolved"}).status_code == 404
    assert client.get(f"{API}/channels/").json() == []
    # and a member of acme cannot use acme credentials on other's domain
    acme_owner = make_member("owner", email="own@acme.test")
    assert tenant_client_factory(other_company, acme_owner).get(f"{API}/conversations/").status_code == 404


def test_canned_responses_and_labels(tenant, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    admin = client_for(tenant_client_factory, make_member, acme, "admin")
    ok = admin.post(f"{API}/canned-responses/", {"shortcut": "/ola", "body": "Olá!"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["shortcut"] == "ola"
    dup = admin.post(f"{API}/canned-responses/", {"shortcut": "ola", "body": "x"}, content_type="application/json")
    assert dup.status_code == 400
    assert [c["shortcut"] for c in admin.get(f"{API}/canned-responses/?q=ol").json()] == ["ola"]
    assert admin.post(f"{API}/labels/", {"name": "Urgente"}, content_type="application/json").status_code == 201
    assert admin.post(f"{API}/labels/", {"name": "urgente"}, content_type="application/json").status_code == 400


def test_agents_capacity_and_availability(tenant, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    admin_user = make_member("admin", email="adm@agents.test")
    agent_user = make_member("agent", email="ag@agents.test")
    other_agent = make_member("agent", email="ag2@agents.test")
    admin = tenant_client_factory(acme, admin_user)
    agent = tenant_client_factory(acme, agent_user)
    rows = {r["email"]: r for r in admin.get(f"{API}/agents/").json()}
    assert rows["ag@agents.test"]["is_available"] is False
    response = admin.patch(
        f"{API}/agents/{agent_user.pk}/", {"capacity": 3, "is_available": True}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["capacity"] == 3
    # an agent switches their own availability, not their capacity nor a colleague's
    own = agent.patch(f"{API}/agents/{agent_user.pk}/", {"is_available": False}, content_type="application/json")
    assert own.status_code == 200 and own.json()["is_available"] is False
    assert (
        agent.patch(f"{API}/agents/{agent_user.pk}/", {"capacity": 99}, content_type="application/json").status_code
        == 403
    )
    assert (
        agent.patch(
            f"{API}/agents/{other_agent.pk}/", {"is_available": True}, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        admin.patch(f"{API}/agents/{agent_user.pk}/", {"capacity": 999}, content_type="application/json").status_code
        == 400
    )


def test_idempotency_key_reused_for_another_conversation_is_refused(setup, tenant_client_factory, make_member, acme):
    from crm.services import contact_upsert_from_channel
    from inbox.services import ERR_IDEMPOTENCY_KEY_REUSED

    connection.set_tenant(acme)
    contact = contact_upsert_from_channel(phone="+5511955554444", wa_id=None, name="Outro", source="test")
    second = Conversation.objects.create(channel=setup.channel, contact=contact, last_inbound_at=timezone.now())
    connection.set_schema_to_public()
    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    ok = agent.post(
        f"{API}/conversations/{setup.pk}/messages/",
        {"text": "a"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert ok.status_code == 201
    bad = agent.post(
        f"{API}/conversations/{second.pk}/messages/",
        {"text": "a"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert bad.status_code == 400 and bad.json()["detail"] == [ERR_IDEMPOTENCY_KEY_REUSED]


def test_setting_labels_with_an_unknown_id_is_a_400_and_changes_nothing(
    setup, tenant_client_factory, make_member, acme
):
    connection.set_tenant(acme)
    vip = Label.objects.create(name="VIP")
    setup.labels.add(vip)
    connection.set_schema_to_public()
    agent = client_for(tenant_client_factory, make_member, acme, "agent")
    url = f"{API}/conversations/{setup.pk}/labels/"
    for ids in ([vip.pk, 999999], [999999], [2**70], [0]):
        response = agent.post(url, {"labels": ids}, content_type="application/json")
        assert response.status_code == 400, ids
    assert "Unknown label." in str(agent.post(url, {"labels": [999999]}, content_type="application/json").json())
    connection.set_tenant(acme)
    assert list(setup.labels.values_list("pk", flat=True)) == [vip.pk]
