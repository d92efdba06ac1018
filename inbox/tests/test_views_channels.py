"""Channel settings pages: roles, connect forms, webhook URL and verify token, QR, simulate."""

from __future__ import annotations

from django.db import connection

from inbox.models import Channel, Message, WebhookEvent


def _client(tenant_client_factory, make_member, acme, role):
    return tenant_client_factory(acme, make_member(role, email=f"{role}@pages.test"))


def test_admin_connects_cloud_channel_and_sees_webhook_and_token(
    tenant, tenant_client_factory, make_member, acme, graph
):
    connection.set_schema_to_public()
    admin = _client(tenant_client_factory, make_member, acme, "admin")
    page = admin.get("/settings/channels/")
    assert page.status_code == 200 and b"connect-whatsapp_cloud" in page.content
    bad = admin.post("/settings/channels/new/whatsapp_cloud/", {"name": "Meta"})
    assert bad.status_code == 200
    connection.set_tenant(acme)
    assert Channel.objects.count() == 0
    connection.set_schema_to_public()
    response = admin.post(
        "/settings/channels/new/whatsapp_cloud/",
        {
            "name": "Meta",
            "phone_number_id": "1065550077",
            "waba_id": "99",
            "access_token": "t",
            "app_secret": "s",
            "verify_token": "meu-token",
        },
    )
    assert response.status_code == 302
    connection.set_tenant(acme)
    channel = Channel.objects.get()
    connection.set_schema_to_public()
    detail = admin.get(response["Location"])
    assert str(channel.public_id).encode() in detail.content and b"meu-token" in detail.content
    assert b'data-testid="channel-status"' in detail.content


def test_viewer_sees_list_but_not_secrets_or_connect(sandbox_channel, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    viewer = _client(tenant_client_factory, make_member, acme, "viewer")
    assert b"connect-sandbox" not in viewer.get("/settings/channels/").content
    detail = viewer.get(f"/settings/channels/{sandbox_channel.pk}/")
    assert detail.status_code == 200 and b"verify-token" not in detail.content
    assert viewer.get("/settings/channels/new/sandbox/").status_code == 403
    assert viewer.post(f"/settings/channels/{sandbox_channel.pk}/disconnect/").status_code == 403


def test_agent_simulates_customer_reply(sandbox_channel, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    agent = _client(tenant_client_factory, make_member, acme, "agent")
    response = agent.post(
        f"/settings/channels/{sandbox_channel.pk}/simulate/", {"phone": "11 98765-4321", "name": "Zé", "text": "Oi!"}
    )
    assert response.status_code == 302
    connection.set_tenant(acme)
    from inbox.services import webhook_events_process

    assert WebhookEvent.objects.count() == 1
    webhook_events_process()
    assert Message.objects.get().body == "Oi!"


def test_qr_svg_for_whatsapp_web(tenant, tenant_client_factory, make_member, acme):
    from inbox.services import channel_create

    channel = channel_create(kind="whatsapp_web", name="Loja")
    connection.set_schema_to_public()
    admin = _client(tenant_client_factory, make_member, acme, "admin")
    response = admin.get(f"/settings/channels/{channel.pk}/qr/", {"code": "2@abc,def"})
    assert (
        response.status_code == 200
        and response["Content-Type"] == "image/svg+xml"
        and b'<svg xmlns="http://www.w3.org/2000/svg"' in response.content
    )
    assert b"qr-box" in admin.get(f"/settings/channels/{channel.pk}/").content


def test_other_company_cannot_open_channel(sandbox_channel, tenant_client_factory, make_member, other_company):
    connection.set_schema_to_public()
    stranger = make_member("owner", company=other_company, email="o@other.test")
    client = tenant_client_factory(other_company, stranger)
    assert client.get(f"/settings/channels/{sandbox_channel.pk}/").status_code == 404
    assert client.post(f"/settings/channels/{sandbox_channel.pk}/disconnect/").status_code == 404


def test_disconnect_removes_route(sandbox_channel, tenant_client_factory, make_member, acme, public_client):
    connection.set_schema_to_public()
    admin = _client(tenant_client_factory, make_member, acme, "admin")
    assert admin.post(f"/settings/channels/{sandbox_channel.pk}/disconnect/").status_code == 302
    from tenants.models import WebhookRoute

    assert not WebhookRoute.objects.filter(channel_public_id=sandbox_channel.public_id).exists()
    response = public_client.post(
        f"/webhooks/whatsapp/{sandbox_channel.public_id}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_session_start_with_pairing_code_validates_phone(tenant, tenant_client_factory, make_member, acme):
    from inbox.services import ERR_PHONE_INVALID, channel_create

    channel = channel_create(kind="whatsapp_web", name="Loja")
    connection.set_schema_to_public()
    admin = _client(tenant_client_factory, make_member, acme, "admin")
    url = f"/settings/channels/{channel.pk}/session/"
    response = admin.post(url, {"action": "connect", "pair_phone": "123"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [ERR_PHONE_INVALID]
    connection.set_tenant(acme)
    channel.refresh_from_db()
    assert channel.session_state == ""
    connection.set_schema_to_public()
    admin.post(url, {"action": "connect", "pair_phone": "(11) 98765-4321"})
    connection.set_tenant(acme)
    channel.refresh_from_db()
    assert channel.session_state == "connecting"
