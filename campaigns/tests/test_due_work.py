"""Beat's campaign tick visits only the companies with a campaign to move (``core.duework``)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignState
from campaigns.tests.test_dispatch import _campaign, _state
from core import duework


def test_the_tick_visits_a_company_when_a_campaign_is_due_and_while_it_sends(committed):
    from campaigns import tasks
    from campaigns.models import Campaign
    from campaigns.services import CAMPAIGNS, campaign_cancel, campaign_start

    duework.forget(CAMPAIGNS)
    duework.full_sweep_due(CAMPAIGNS)  # the safety sweep has run: only marks count now
    schema = committed.schema
    channel = committed.channel("sandbox")
    campaign = _campaign(committed, channel, committed.contacts(3), body="Oi")
    at = timezone.now() + timedelta(hours=2)
    committed(lambda: campaign_start(campaign=campaign, at=at))
    assert duework.marks(CAMPAIGNS) == {schema: pytest.approx(at.timestamp())}

    # Its time has come in the table but the mark is gone: the tick does not visit the company.
    committed(
        lambda: Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    )
    duework.clear(CAMPAIGNS, schema)
    committed(tasks.tick, schema=None)
    assert _state(committed, campaign).state == CampaignState.SCHEDULED

    # Marked due: the tick starts it, and marks the company for the next tick while it sends.
    duework.mark(CAMPAIGNS, schema, at=time.time() - 1)
    committed(tasks.tick, schema=None)
    assert _state(committed, campaign).state == CampaignState.RUNNING
    assert duework.marks(CAMPAIGNS) == {schema: pytest.approx(time.time(), abs=30)}

    # Nothing left to move: the next tick leaves no mark.
    committed(lambda: campaign_cancel(campaign=campaign.pk))
    committed(tasks.tick, schema=None)
    assert _state(committed, campaign).state == CampaignState.CANCELLED
    assert duework.marks(CAMPAIGNS) == {}
