"""Support staff's campaigns admin: every company's figures, a company's campaigns and
templates, and pausing a running campaign with the reason written on it."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context


@pytest.fixture
def staff_client(public_client, make_user):
    staff = make_user(email="suporte@masteria.app", is_staff=True, is_superuser=True)
    public_client.force_login(staff)
    return public_client


def test_staff_see_companies_and_pause_a_running_campaign(staff_client, acme):
    from campaigns.models import Campaign, CampaignState, MessageTemplate, PauseReason, TemplateStatus
    from inbox.models import Channel

    with schema_context(acme.schema_name):
        channel = Channel.objects.create(kind="sandbox", name="Sandbox")
        campaign = Campaign.objects.create(name="Black Friday", channel=channel, state=CampaignState.RUNNING)
        MessageTemplate.objects.create(name="promo", status=TemplateStatus.REJECTED, rejection_reason="PROMOTIONAL")
    connection.set_schema_to_public()

    listing = staff_client.get("/admin/campaign_pricing/companycampaigns/")
    assert listing.status_code == 200 and "Acme Ltda" in listing.content.decode()

    overview = staff_client.get(f"/admin/campaign_pricing/companycampaigns/{acme.pk}/overview/").content.decode()
    assert "Black Friday" in overview and "promo" in overview and "PROMOTIONAL" in overview

    url = f"/admin/campaign_pricing/companycampaigns/{acme.pk}/campaigns/{campaign.pk}/pause/"
    assert staff_client.post(url, {"reason": ""}).status_code == 302  # refused: no reason
    with schema_context(acme.schema_name):
        assert Campaign.objects.get(pk=campaign.pk).state == CampaignState.RUNNING
    assert staff_client.post(url, {"reason": "Denúncias de spam"}).status_code == 302
    with schema_context(acme.schema_name):
        campaign.refresh_from_db()
    assert campaign.state == CampaignState.PAUSED and campaign.pause_reason == PauseReason.USER
    assert "Master IA" in campaign.pause_detail and campaign.pause_detail.endswith(": Denúncias de spam")
    assert staff_client.post(url, {"reason": "de novo"}).status_code == 302  # already paused: no error page


def test_members_who_are_not_staff_cannot_open_it(public_client, make_user, acme):
    user = make_user(email="dono@acme.test")
    public_client.force_login(user)
    response = public_client.get(f"/admin/campaign_pricing/companycampaigns/{acme.pk}/overview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
