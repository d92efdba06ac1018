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


def test_every_demo_recipient_opens_with_its_reason(tenant, owner_client):
    """The campaign page's recipient drawer opens for every state of the demo campaign, and a
    failed recipient says why in plain words (a 500 here once left the drawer loading)."""
    from campaigns.demo import DEMO_CAMPAIGN, demo_campaigns_setup
    from campaigns.models import Campaign, Recipient
    from crm.demo import demo_contacts_setup
    from inbox.demo import demo_inbox_setup

    demo_contacts_setup()
    demo_inbox_setup()
    demo_campaigns_setup()
    campaign = Campaign.objects.get(name=DEMO_CAMPAIGN)
    seen = set()
    for recipient in Recipient.objects.filter(campaign=campaign).order_by("state", "-id"):
        if recipient.state in seen:
            continue
        seen.add(recipient.state)
        page = owner_client.get(f"/campaigns/{campaign.pk}/recipients/{recipient.pk}/", HTTP_HX_REQUEST="true")
        assert page.status_code == 200, (recipient.state, page.status_code)
        if recipient.state == "failed":
            assert 'data-testid="recipient-reason"' in page.content.decode()
    assert {"failed", "read"} <= seen
