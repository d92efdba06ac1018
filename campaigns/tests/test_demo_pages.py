"""The demo company's templates and scheduled campaign (beside the engine's finished one)."""

from __future__ import annotations

from campaigns.demo_pages import SCHEDULED_CAMPAIGN, demo_pages_setup
from campaigns.models import Campaign, CampaignState, MessageTemplate, TemplateStatus


def test_demo_adds_templates_and_a_scheduled_campaign_once(sandbox_channel):
    from crm.models import Segment

    Segment.objects.create(name="Todos", filters={})

    from campaigns.pricing.models import MessagePrice

    prices = 0 if MessagePrice.objects.exists() else 3
    assert demo_pages_setup() == 3 + prices
    assert MessagePrice.objects.filter(country="BR", kind="whatsapp", category="MARKETING").exists()
    assert demo_pages_setup() == 0

    names = set(MessageTemplate.objects.filter(status=TemplateStatus.APPROVED).values_list("name", flat=True))
    assert {"lembrete_pagamento", "dia_das_maes"} <= names
    campaign = Campaign.objects.get(name=SCHEDULED_CAMPAIGN)
    assert campaign.state == CampaignState.SCHEDULED and campaign.scheduled_at is not None
    assert campaign.has_window and campaign.links.count() == 1
