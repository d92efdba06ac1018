"""The demo company's sandbox campaign: completed, with delivered, read and replied counts, and
the messages in the contacts' conversations."""

from __future__ import annotations


def test_demo_campaign_shows_the_whole_story_once(tenant):
    from campaigns.demo import DEMO_CAMPAIGN, demo_campaigns_setup
    from campaigns.models import Campaign, Recipient
    from crm.demo import demo_contacts_setup
    from crm.models import TimelineEvent
    from inbox.demo import demo_inbox_setup
    from inbox.models import Message

    demo_contacts_setup()
    channel = demo_inbox_setup()
    sent = demo_campaigns_setup()
    campaign = Campaign.objects.get(name=DEMO_CAMPAIGN)
    assert campaign.state == "completed"
    assert sent == campaign.sent_count > 200  # the demo contacts minus the opted-out ones
    assert campaign.excluded["opted_out"] > 0
    assert 0 < campaign.read_count < campaign.delivered_count < campaign.sent_count
    assert 0 < campaign.failed_count and 0 < campaign.replied_count
    assert campaign.queued_count == 0
    assert (
        Recipient.objects.filter(campaign=campaign, state="failed", error_code="131026").count()
        == campaign.failed_count
    )
    messages = Message.objects.filter(channel=channel, payload__campaign=campaign.pk)
    assert messages.count() == sent
    assert messages.filter(body__startswith="Olá ").count() == sent
    assert TimelineEvent.objects.filter(kind="campaign.sent").count() >= sent
    assert demo_campaigns_setup() == 0
