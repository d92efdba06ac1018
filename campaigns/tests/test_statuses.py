"""Statuses and replies reach campaign recipients through the inbox's webhook path and its
hooks: the sandbox's signed status deliveries (several statuses per delivery, carrying our
callback data), and an inbound customer message within the reply window."""

from __future__ import annotations

from contextlib import contextmanager

from campaigns.models import Campaign, RecipientState
from campaigns.tests.test_dispatch import _campaign, _recipients, _run, _start_and_launch


@contextmanager
def hooks_applied_inline():
    """Listen on the inbox hooks like the campaigns app does, but apply in-process (the app's
    own listeners queue Celery tasks, which no worker runs in the tests)."""
    from campaigns.dispatch.reconcile import replies_apply, statuses_apply
    from inbox import hooks

    seen: dict[str, list] = {"statuses": [], "inbound": []}

    def on_statuses(schema, channel_id, changed, callbacks):
        seen["statuses"].append((channel_id, changed, callbacks))

    def on_inbound(schema, channel_id, contact_id, message_id, at):
        seen["inbound"].append((channel_id, contact_id, at))

    hooks.on_statuses(on_statuses)
    hooks.on_inbound(on_inbound)

    def apply():
        from django.utils.dateparse import parse_datetime

        for channel_id, changed, callbacks in seen["statuses"]:
            statuses_apply(channel_id=channel_id, changed=changed, callbacks=callbacks)
        for channel_id, contact_id, at in seen["inbound"]:
            replies_apply(channel_id=channel_id, contact_id=contact_id, at=parse_datetime(at))
        seen["statuses"].clear()
        seen["inbound"].clear()

    try:
        yield apply
    finally:
        hooks._status_hooks.remove(on_statuses)
        hooks._inbound_hooks.remove(on_inbound)


def test_sandbox_statuses_and_a_reply_move_recipients_and_counters(committed):
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
    with hooks_applied_inline() as apply:

        def report():
            clear_cache()
            live = Channel.objects.get(pk=channel.pk)
            assert sandbox_emit_statuses(channel=live, status="delivered", rows=delivered)
            assert sandbox_emit_statuses(channel=live, status="read", rows=delivered[:4])
            webhook_events_process(limit=100)
            apply()
            # a recipient answers (the real inbound path)
            sandbox_simulate_reply(channel=live, contact_phone=rows[0].phone, text="Quero!")
            webhook_events_process(limit=100)
            apply()

        committed(report)
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
