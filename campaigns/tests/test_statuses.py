"""Statuses and replies reach campaign recipients through the inbox's webhook path and its
hooks: the sandbox's signed status deliveries (several statuses per delivery, carrying our
callback data), and an inbound customer message within the reply window."""

from __future__ import annotations

from campaigns.models import Campaign, RecipientState
from campaigns.tests.test_dispatch import _campaign, _recipients, _run, _start_and_launch


def test_sandbox_statuses_and_a_reply_move_recipients_and_counters(committed, pump):
    from inbox.models import Channel, Message
    from inbox.services import sandbox_emit_statuses, sandbox_simulate_reply, webhook_events_process
    from inbox.webhooks import clear_cache

    channel = committed.channel("sandbox")
    contacts = committed.contacts(6)
    campaign = _campaign(
        committed, channel, contacts, body="Oferta para {{1}}", variables={"1": {"source": "contact.first_name"}}
    )
    _start_and_launch(committed, campaign)
    assert _run(committed, campaign) == "done"
    rows = _recipients(committed, campaign)
    # what the sandbox's remote side reports: every one delivered, four read (one delivery each)
    delivered = [[r.provider_message_id, r.wa_id or r.phone.lstrip("+"), f"mia:c{campaign.pk}:r{r.pk}"] for r in rows]

    def report():
        clear_cache()
        live = Channel.objects.get(pk=channel.pk)
        assert sandbox_emit_statuses(channel=live, status="delivered", rows=delivered)
        assert sandbox_emit_statuses(channel=live, status="read", rows=delivered[:4])
        webhook_events_process(limit=100)

    committed(report)
    assert pump() >= 1

    def reply():
        # a recipient answers (the real inbound path)
        clear_cache()
        sandbox_simulate_reply(channel=Channel.objects.get(pk=channel.pk), contact_phone=rows[0].phone, text="Quero!")
        webhook_events_process(limit=100)

    committed(reply)
    assert pump() >= 1
    final = committed(lambda: Campaign.objects.get(pk=campaign.pk))
    assert (final.sent_count, final.delivered_count, final.read_count, final.replied_count) == (6, 6, 4, 1)
    states = {r.pk: r.state for r in _recipients(committed, campaign)}
    assert states[rows[0].pk] == RecipientState.REPLIED
    assert [states[r.pk] for r in rows[1:4]] == [RecipientState.READ] * 3
    assert [states[r.pk] for r in rows[4:]] == [RecipientState.DELIVERED] * 2
    # the conversation messages got their ticks through the inbox's own status path
    ticks = committed(
        lambda: sorted(Message.objects.filter(channel_id=channel.pk, direction="out").values_list("status", flat=True))
    )
    assert ticks == ["delivered", "delivered", "read", "read", "read", "read"]
