"""Support over a company's data from the admin: behind the audited reason step, staff browse
contacts, conversations (read-only thread), channels (never their secrets), imports,
campaigns, personas, documents and invitations, and take the few actions support needs; every
page and action is audited and the access ends with its window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from tenants.models import Invitation, SupportAccess, SupportAction

ADMIN = {"HTTP_HOST": "localhost"}


@pytest.fixture
def staff(make_user):
    user = make_user(email="suporte@masteria.test", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="open_workspace"))
    return user


@pytest.fixture
def support(client, staff, acme):
    client.force_login(staff)
    client.cookies["django_language"] = "en"
    base = f"/admin/tenants/company/{acme.pk}/support/"
    assert "reason" in client.get(base, **ADMIN).content.decode()
    response = client.post(base, {"reason": "Ticket 4521: cliente sem mensagens"}, **ADMIN)
    assert response.status_code == 302
    client.base = base
    return client


def _in(company, fn):
    connection.set_tenant(company)
    try:
        return fn()
    finally:
        connection.set_schema_to_public()


def _data(company, *, name="Maria Souza", phone="+5511987654321", token="EAAG-secret-token-123"):
    from crm.services import contact_upsert_from_channel
    from inbox.models import Conversation, Direction, Message, MessageStatus
    from inbox.services import channel_create

    def make():
        channel = channel_create(
            kind="sms",
            name="SMS Loja",
            config={"account_sid": "AC123", "from_number": "+5511940001000"},
            credentials={"auth_token": token},
        )
        contact = contact_upsert_from_channel(phone=phone, wa_id=phone.lstrip("+"), name=name, source="t")
        conversation = Conversation.objects.create(channel=channel, contact=contact, last_message_at=timezone.now())
        Message.objects.create(
            conversation=conversation,
            channel=channel,
            direction=Direction.INBOUND,
            body="Meu pedido não chegou",
            status=MessageStatus.RECEIVED,
        )
        return channel, contact, conversation

    return _in(company, make)


def test_reason_step_then_browse_and_search_only_this_company(support, acme, other_company):
    _channel, contact, conversation = _data(acme)
    _data(other_company, name="Cliente da Outra", phone="+5521987650000")
    page = support.get(support.base + "contacts/", **ADMIN).content.decode()
    assert "Maria Souza" in page and "Cliente da Outra" not in page
    assert 'data-testid="support-banner"' in page and "Ticket 4521" in page
    found = support.get(support.base + "contacts/", {"q": "98765-4321"}, **ADMIN).content.decode()
    assert "Maria Souza" in found
    missing = support.get(support.base + "contacts/", {"q": "Ninguém"}, **ADMIN).content.decode()
    assert "Maria Souza" not in missing and "Nothing found." in missing
    thread = support.get(support.base + f"conversations/{conversation.pk}/", **ADMIN).content.decode()
    assert "Meu pedido não chegou" in thread and 'data-testid="support-thread"' in thread
    assert "<textarea" not in thread  # read-only: nothing to write with
    # another company's conversation is not reachable through this company's pages
    _c, _k, foreign = _data(other_company, name="Outra 2", phone="+5521987650001")
    assert support.get(support.base + f"conversations/{foreign.pk}/", **ADMIN).status_code == 404 or (
        foreign.pk == conversation.pk
    )
    for key in ("imports", "campaigns", "personas", "documents", "invitations", "channels"):
        assert support.get(support.base + f"{key}/", **ADMIN).status_code == 200, key


def test_channels_show_health_never_secrets(support, acme):
    channel, _contact, _conversation = _data(acme, token="EAAG-secret-token-123")
    listing = support.get(support.base + "channels/", **ADMIN).content.decode()
    detail = support.get(support.base + f"channels/{channel.pk}/", **ADMIN).content.decode()
    assert "SMS Loja" in listing and "Last activity" in detail
    for html in (listing, detail):
        assert "EAAG-secret-token-123" not in html


def test_every_page_and_action_is_audited(support, acme, staff):
    channel, _contact, _conversation = _data(acme)
    support.get(support.base + "contacts/", **ADMIN)
    support.get(support.base + f"channels/{channel.pk}/", **ADMIN)
    support.post(support.base + f"channels/{channel.pk}/disconnect/", **ADMIN)
    access = SupportAccess.objects.get(staff=staff, company=acme)
    assert access.reason == "Ticket 4521: cliente sem mensagens"
    logged = list(SupportAction.objects.filter(access=access).order_by("id").values_list("method", "path", "status"))
    assert ("GET", support.base + "contacts/", 200) in logged
    assert ("GET", support.base + f"channels/{channel.pk}/", 200) in logged
    assert ("POST", support.base + f"channels/{channel.pk}/disconnect/", 302) in logged
    assert _in(acme, lambda: type(channel).objects.get(pk=channel.pk).is_active) is False


def test_actions_pause_campaign_resend_invitation_reprocess_webhooks(
    support, acme, owner, mailoutbox, django_capture_on_commit_callbacks
):
    from campaigns.models import AudienceKind, Campaign, CampaignState
    from campaigns.services import campaign_create
    from inbox.models import WebhookEvent

    channel, _contact, _conversation = _data(acme)

    def make_campaign():
        campaign = campaign_create(
            name="Natal",
            channel=channel,
            variants=[{"body": "Oi", "split": 100}],
            audience_kind=AudienceKind.ALL,
            window_days=list(range(7)),
            time_zone="America/Sao_Paulo",
        )
        Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.RUNNING)
        dead = WebhookEvent.objects.create(
            provider="sms",
            channel=channel,
            dedupe_key="dead-1",
            body=b"{}",
            dead_at=timezone.now(),
            attempts=5,
        )
        return campaign, dead

    campaign, dead = _in(acme, make_campaign)
    support.post(support.base + f"campaigns/{campaign.pk}/pause/", **ADMIN)
    assert _in(acme, lambda: Campaign.objects.get(pk=campaign.pk).state) == CampaignState.PAUSED
    support.post(support.base + f"channels/{channel.pk}/reprocess/", **ADMIN)
    assert _in(acme, lambda: WebhookEvent.objects.get(pk=dead.pk).dead_at) is None
    invitation = Invitation.objects.create(
        company=acme,
        email="nova@acme.test",
        role="agent",
        token_hash="old",
        invited_by=owner,
        expires_at=timezone.now() - timedelta(days=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(support.base + f"invitations/{invitation.pk}/resend/", **ADMIN)
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.token_hash != "old" and invitation.is_pending
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["nova@acme.test"]


def test_access_ends_with_its_window_and_needs_the_permission(support, acme, staff, client, make_user):
    _data(acme)
    assert "Maria Souza" in support.get(support.base + "contacts/", **ADMIN).content.decode()
    SupportAccess.objects.filter(staff=staff).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = support.get(support.base + "contacts/", **ADMIN).content.decode()
    assert "Maria Souza" not in expired and "has ended" in expired
    plain = make_user(email="estagiario@masteria.test", is_staff=True)
    other = type(client)()
    other.force_login(plain)
    assert other.get(support.base, **ADMIN).status_code == 403
