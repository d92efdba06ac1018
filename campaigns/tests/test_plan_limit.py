"""The dispatch engine stops at the plan's messages of the month: it claims only the room left
(messages written plus rows on the wire), then pauses the campaign with the limit's message."""

from __future__ import annotations

import asyncio

from campaigns.models import AudienceKind, Campaign, CampaignState, PauseReason, Recipient, RecipientState


def _campaign(committed, channel, contacts):
    from campaigns.services import campaign_create
    from crm.models import ContactList, ContactListMember

    def make():
        contact_list = ContactList.objects.create(name="Lista " + committed.tag)
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list=contact_list, contact=c) for c in contacts]
        )
        return campaign_create(
            name="Campanha " + committed.tag,
            channel=channel,
            variants=[{"body": "Oi!", "split": 100}],
            audience_kind=AudienceKind.LISTS,
            list_ids=[contact_list.pk],
            window_days=list(range(7)),
            time_zone="America/Sao_Paulo",
        )

    return committed(make)


def _set_messages_limit(committed, value):
    from tenants.models import Company

    committed(lambda: Company.objects.filter(schema_name=committed.schema).update(limit_messages_month=value), None)


def test_campaign_sends_up_to_the_plan_limit_then_pauses(committed):
    from campaigns.dispatch.run import CampaignRun
    from campaigns.services import campaign_launch, campaign_start
    from inbox.selectors import messages_sent_count
    from tenants import limits
    from tenants.context import current_company

    channel = committed.channel("sandbox")
    contacts = committed.contacts(8)
    campaign = _campaign(committed, channel, contacts)
    already = committed(lambda: messages_sent_count(limits.month_start(current_company())))
    _set_messages_limit(committed, already + 3)
    try:
        committed(lambda: (campaign_start(campaign=campaign), campaign_launch(campaign_id=campaign.pk)))
        verdict = committed(lambda: asyncio.run(CampaignRun(schema=committed.schema, campaign_id=campaign.pk).run()))
        rows = committed(lambda: list(Recipient.objects.filter(campaign=campaign)))
        final = committed(lambda: Campaign.objects.get(pk=campaign.pk))
    finally:
        _set_messages_limit(committed, None)
    assert verdict == "paused: plan_limit"
    assert sum(1 for r in rows if r.state == RecipientState.SENT) == 3
    # nothing is lost: the others wait, queued, for next month or a higher limit
    assert sum(1 for r in rows if r.state == RecipientState.QUEUED) == 5
    assert final.state == CampaignState.PAUSED and final.pause_reason == PauseReason.PLAN_LIMIT
    assert "messages sent per month" in final.pause_detail or "mensagens" in final.pause_detail
