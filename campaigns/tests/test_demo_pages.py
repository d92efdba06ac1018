"""The demo company's templates and scheduled campaign (beside the engine's finished one)."""

from __future__ import annotations

from campaigns.demo_pages import (
    LIVE_CAMPAIGN,
    LIVE_RATE_MPS,
    SCHEDULED_CAMPAIGN,
    demo_live_campaign_setup,
    demo_pages_setup,
)
from campaigns.models import Campaign, CampaignState, MessageTemplate, TemplateStatus


def test_demo_adds_templates_and_a_scheduled_campaign_once(sandbox_channel):
    from crm.models import Segment

    Segment.objects.create(name="Todos", filters={})

    from campaigns.pricing.models import MessagePrice

    prices = 0 if MessagePrice.objects.exists() else 3
    assert demo_pages_setup() == 4 + prices
    assert MessagePrice.objects.filter(country="BR", kind="whatsapp", category="MARKETING").exists()
    assert demo_pages_setup() == 0

    names = set(MessageTemplate.objects.filter(status=TemplateStatus.APPROVED).values_list("name", flat=True))
    assert {"lembrete_pagamento", "dia_das_maes", "novidades_semana"} <= names
    campaign = Campaign.objects.get(name=SCHEDULED_CAMPAIGN)
    assert campaign.state == CampaignState.SCHEDULED and campaign.scheduled_at is not None
    assert campaign.has_window and campaign.links.count() == 1


def test_demo_has_a_campaign_that_sends_live_once_the_worker_runs(
    sandbox_channel, queued_tasks, django_capture_on_commit_callbacks
):
    from campaigns.models import Recipient
    from campaigns.services import campaign_launch
    from crm.models import Contact

    Contact.objects.bulk_create([Contact(name=f"Cliente {i}", phone=f"+5511988800{i:03d}") for i in range(4)])
    assert demo_live_campaign_setup() == 0  # without the demo templates there is nothing to send
    demo_pages_setup()
    with django_capture_on_commit_callbacks(execute=True):
        assert demo_live_campaign_setup() == 1
    assert demo_live_campaign_setup() == 0

    campaign = Campaign.objects.get(name=LIVE_CAMPAIGN)
    assert campaign.state == CampaignState.RUNNING and campaign.started_at is not None
    assert campaign.rate_mps == LIVE_RATE_MPS and campaign.channel_id == sandbox_channel.pk
    assert campaign.links.count() == 1  # its link is tracked: clicks show on the page too
    launches = [t.args for t in queued_tasks.tasks("campaigns.launch")]
    assert [args[1] for args in launches] == [campaign.pk]

    # what the worker does with it first: the whole demo base, snapshotted and queued
    campaign_launch(campaign_id=campaign.pk)
    assert Recipient.objects.filter(campaign=campaign, state="queued").count() == Contact.objects.count()
