"""Tracked links through the real engine: a sandbox campaign's texts go out with each
recipient's own short address, and opening one counts the click."""

from __future__ import annotations

from campaigns.tests.test_dispatch import _campaign, _run, _start_and_launch


def test_sent_texts_carry_each_recipients_short_link_and_a_click_counts(committed, acme):
    from campaigns import links
    from campaigns.models import Campaign, CampaignLink, Recipient
    from inbox.models import Message

    channel = committed.channel("sandbox")
    contacts = committed.contacts(3)
    campaign = _campaign(committed, channel, contacts, body="Oi! Ofertas em https://loja.com.br/ofertas hoje.")
    committed(lambda: links.campaign_links_prepare(campaign=campaign))
    _start_and_launch(committed, campaign)

    assert _run(committed, campaign) == "done"

    link = committed(lambda: CampaignLink.objects.get(campaign=campaign))
    recipients = committed(lambda: list(Recipient.objects.filter(campaign=campaign).order_by("id")))
    bodies = committed(lambda: dict(Message.objects.filter(channel_id=channel.pk).values_list("id", "body")))
    for recipient in recipients:
        code = links.link_code(committed.schema, link.pk, recipient.pk)
        assert bodies[recipient.message_id] == f"Oi! Ofertas em http://{acme.slug}.localhost:8000/l/{code} hoje."
    assert "loja.com.br" not in " ".join(bodies.values())

    # the redirect's own service, on a connection of its own as a web process has (the view is
    # tested in test_links)
    first = recipients[0]
    code = links.link_code(committed.schema, link.pk, first.pk)
    assert committed(lambda: links.link_click(code=code)) == ("https://loja.com.br/ofertas", True)
    assert committed(lambda: Campaign.objects.get(pk=campaign.pk).clicked_count) == 1
    assert committed(lambda: Recipient.objects.get(pk=first.pk).clicked_at) is not None
