"""Never twice: a recipient is never sent twice, whatever dies when.

- a worker killed with SIGKILL in the middle of a campaign (a real process), then a new run;
- a send that succeeded but whose write-back was lost: the status webhooks (through the real
  webhook path, carrying ``biz_opaque_callback_data``) settle the recipient, no run resends it;
- a claim with no evidence at all ends ``unknown``, counted, never resent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignState, Recipient, RecipientState
from campaigns.tests.test_dispatch import _campaign, _recipients, _run, _start_and_launch, _state

ROOT = Path(__file__).resolve().parents[2]


def _deliver_statuses(committed, channel, graph, pump, statuses=("sent", "delivered")):
    """Feed Meta-format status webhooks for everything the stub accepted through the real
    webhook path (signature check, durable record, drain), as Meta would send them; then run
    the campaigns task the inbox's status hook queued."""
    from inbox.providers.meta import build_status_payload, meta_signature
    from inbox.services import webhook_events_process
    from inbox.webhooks import clear_cache, webhook_accept

    def deliver():
        import json

        from django.db import connection
        from django_tenants.utils import schema_context

        clear_cache()
        bodies = [b for b in graph.call(lambda: list(graph.sent)) if b.get("biz_opaque_callback_data")]
        for status in statuses:
            items = [
                {
                    "id": b["_wamid"],
                    "status": status,
                    "recipient_id": b["to"],
                    "biz_opaque_callback_data": b["biz_opaque_callback_data"],
                }
                for b in bodies
            ]
            for start in range(0, len(items), 100):
                payload = build_status_payload(
                    phone_number_id=channel.phone_number_id,
                    display_phone=channel.display_phone,
                    at=timezone.now(),
                    statuses=items[start : start + 100],
                )
                body = json.dumps(payload).encode()
                status_code, _text = webhook_accept(
                    channel_public_id=str(channel.public_id),
                    segment="whatsapp",
                    body=body,
                    headers={"X-Hub-Signature-256": meta_signature("meta-app-secret", body)},
                    url="",
                    form=None,
                )
                assert status_code == 200
        with schema_context(committed.schema):
            while webhook_events_process(limit=1000):
                pass
        connection.set_schema_to_public()

    committed(deliver, schema="public")
    assert pump() > 0


@pytest.fixture
def wamids(graph):
    """The stub keeps the wamid it answered in each recorded body (``_wamid``)."""
    original = graph._message

    def recording(phone_number_id, body):
        status, headers, payload = original(phone_number_id, body)
        if status == 200 and graph.sent and graph.sent[-1] is body:
            body["_wamid"] = payload["messages"][0]["id"]
        return status, headers, payload

    graph._message = recording
    yield
    graph._message = original


def test_lost_write_back_is_settled_by_status_webhooks_and_never_resent(committed, graph, wamids, pump):
    from campaigns.dispatch.claim import recipients_claim, recipients_sending
    from campaigns.dispatch.reconcile import callback_ref
    from inbox.providers import get_provider
    from inbox.providers.base import Outbound

    # given a campaign whose first 5 recipients were claimed and sent by a worker that died
    # before writing anything back
    channel = committed.channel("whatsapp_cloud", token=graph.token)
    contacts = committed.contacts(8)
    template = committed.template(channel)
    campaign = _campaign(committed, channel, contacts, template=template)
    _start_and_launch(committed, campaign)

    def send_and_die():
        rows = recipients_claim(campaign_id=campaign.pk, limit=5, owner="dead-worker")
        assert recipients_sending(ids=[r.id for r in rows], owner="dead-worker") == {r.id for r in rows}
        provider = get_provider(channel)
        items = [
            Outbound(
                ref=callback_ref(campaign.pk, r.id),
                to=r.phone,
                template={"name": template.name, "language": "pt_BR", "components": []},
            )
            for r in rows
        ]

        async def send():
            from inbox.providers.http import close_session

            try:
                return await provider.send_batch(items)
            finally:
                await close_session()

        outcomes = asyncio.run(send())
        assert all(o.error is None for o in outcomes)
        return [r.id for r in rows]

    lost = committed(send_and_die)
    # when Meta's status webhooks arrive (sent, delivered) carrying our callback data
    _deliver_statuses(committed, channel, graph, pump)
    # then those recipients are delivered, with Meta's id, and no longer claimed
    rows = {r.pk: r for r in _recipients(committed, campaign)}
    for pk in lost:
        assert rows[pk].state == RecipientState.DELIVERED
        assert rows[pk].provider_message_id.startswith("wamid.")
        assert rows[pk].lease_owner == ""
    # and a new run sends only the three others: nobody twice
    _run(committed, campaign)
    accepted = graph.call(lambda: dict(graph.accepted))
    assert sorted(accepted.values()) == [1] * 8
    final = _state(committed, campaign)
    assert final.state == CampaignState.COMPLETED
    assert (final.sent_count, final.delivered_count, final.unknown_count) == (8, 5, 0)


def test_a_claim_without_any_evidence_ends_unknown_and_is_never_resent(committed, graph):
    from campaigns.dispatch.claim import recipients_claim, recipients_sending
    from campaigns.dispatch.reconcile import leases_reconcile

    channel = committed.channel("whatsapp_cloud", token=graph.token)
    contacts = committed.contacts(4)
    campaign = _campaign(committed, channel, contacts, template=committed.template(channel))
    _start_and_launch(committed, campaign)
    claimed = committed(lambda: recipients_claim(campaign_id=campaign.pk, limit=2, owner="vanished"))
    # marked as leaving, then the worker vanished: the requests may have gone out
    assert committed(lambda: recipients_sending(ids=[r.id for r in claimed], owner="vanished")) == {
        r.id for r in claimed
    }
    # the lease has not run out: nothing changes yet
    assert committed(lambda: leases_reconcile()) == 0
    # long after the lease and the grace period, with no status naming them: unknown
    later = timezone.now() + timedelta(minutes=5)
    assert committed(lambda: leases_reconcile(now=later)) == 2
    rows = _recipients(committed, campaign)
    unknown = [r for r in rows if r.state == RecipientState.UNKNOWN]
    assert len(unknown) == 2 and {r.reason for r in unknown} == {"no_evidence"}
    _run(committed, campaign)
    assert sum(graph.call(lambda: dict(graph.accepted)).values()) == 2  # only the two others
    final = _state(committed, campaign)
    assert (final.sent_count, final.unknown_count, final.queued_count) == (2, 2, 0)
    assert final.state == CampaignState.COMPLETED


def test_a_claim_never_marked_as_leaving_is_queued_again_and_sent_once(committed, graph):
    """A worker that died between its claim and its mark sent nothing: when the lease runs
    out (no grace needed), the rows go back to the queue with their attempt given back, and
    the next run sends each of them once. A mark after the lease ran out takes nothing."""
    from campaigns.dispatch.claim import recipients_claim, recipients_sending
    from campaigns.dispatch.reconcile import leases_reconcile

    channel = committed.channel("whatsapp_cloud", token=graph.token)
    contacts = committed.contacts(4)
    campaign = _campaign(committed, channel, contacts, template=committed.template(channel))
    _start_and_launch(committed, campaign)
    claimed = committed(lambda: recipients_claim(campaign_id=campaign.pk, limit=2, owner="vanished"))
    assert committed(lambda: leases_reconcile()) == 0  # still within the lease
    committed(lambda: Recipient.objects.filter(pk__in=[r.id for r in claimed]).update(lease_expires_at=timezone.now()))
    assert committed(lambda: leases_reconcile(now=timezone.now() + timedelta(seconds=1))) == 2
    # the vanished worker waking up late may not send them any more
    assert committed(lambda: recipients_sending(ids=[r.id for r in claimed], owner="vanished")) == set()
    rows = _recipients(committed, campaign)
    assert {r.state for r in rows} == {RecipientState.QUEUED} and {r.attempts for r in rows} == {0}
    _run(committed, campaign)
    accepted = graph.call(lambda: dict(graph.accepted))
    assert sorted(accepted.values()) == [1, 1, 1, 1]  # everyone, once
    final = _state(committed, campaign)
    assert (final.sent_count, final.unknown_count, final.queued_count) == (4, 0, 0)
    assert final.state == CampaignState.COMPLETED


def test_kill_9_mid_campaign_then_resume_sends_nobody_twice(committed, graph, wamids, pump):
    """A real worker process is SIGKILLed mid-campaign; the next run continues."""
    from campaigns.dispatch.reconcile import leases_reconcile
    from inbox.models import SendingLimit

    channel = committed.channel("whatsapp_cloud", token=graph.token)
    committed(lambda: SendingLimit.objects.create(channel_id=channel.pk, throughput_mps=100, tier="TIER_UNLIMITED"))
    contacts = committed.contacts(300)
    campaign = _campaign(committed, channel, contacts, template=committed.template(channel))
    _start_and_launch(committed, campaign)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "LIVE_TEST_DATABASE": "1",
        "WHATSAPP_GRAPH_URL": graph.url,
    }
    code = (
        "import django; django.setup(); from campaigns.dispatch.run import campaign_run; "
        f"campaign_run(schema={committed.schema!r}, campaign_id={campaign.pk})"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while sum(graph.call(lambda: dict(graph.accepted)).values()) < 100:
            assert worker.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    # the dead worker's claims settle from the status webhooks; those it never marked as
    # leaving go back to the queue; the next run sends them
    _deliver_statuses(committed, channel, graph, pump, statuses=("sent",))
    committed(lambda: leases_reconcile(now=timezone.now() + timedelta(minutes=5)))
    _run(committed, campaign)
    accepted = graph.call(lambda: dict(graph.accepted))
    assert max(accepted.values()) == 1  # nobody twice
    rows = _recipients(committed, campaign)
    assert all(r.state in (RecipientState.SENT, RecipientState.UNKNOWN) for r in rows)
    sent_phones = {r.phone.lstrip("+") for r in rows if r.state == RecipientState.SENT}
    assert sent_phones <= set(accepted)
    # unknown means "maybe": a row the stub never saw is lost; rows claimed but not yet marked
    # were queued again and sent, so that can only be a sub-batch marked in the instant of the
    # kill (between the mark's commit and the write: no await between them)
    lost = [r for r in rows if r.state == RecipientState.UNKNOWN and r.phone.lstrip("+") not in accepted]
    assert len(lost) <= 2
    final = committed(lambda: Campaign.objects.get(pk=campaign.pk))
    assert final.state == CampaignState.COMPLETED
    assert final.sent_count == len(sent_phones)
    assert final.unknown_count == len(rows) - len(sent_phones)
    assert committed(lambda: Recipient.objects.filter(campaign=campaign, state=RecipientState.CLAIMED).count()) == 0


def test_unmarked_claims_of_a_cancelled_campaign_end_skipped(committed, graph):
    from campaigns.dispatch.claim import recipients_claim
    from campaigns.dispatch.reconcile import leases_reconcile
    from campaigns.services import campaign_cancel

    channel = committed.channel("whatsapp_cloud", token=graph.token)
    contacts = committed.contacts(3)
    campaign = _campaign(committed, channel, contacts, template=committed.template(channel))
    _start_and_launch(committed, campaign)
    claimed = committed(lambda: recipients_claim(campaign_id=campaign.pk, limit=2, owner="vanished"))
    committed(lambda: campaign_cancel(campaign=campaign.pk))
    committed(lambda: Recipient.objects.filter(pk__in=[r.id for r in claimed]).update(lease_expires_at=timezone.now()))
    assert committed(lambda: leases_reconcile(now=timezone.now() + timedelta(seconds=1))) == 2
    rows = _recipients(committed, campaign)
    assert {(r.state, r.reason) for r in rows} == {(RecipientState.SKIPPED, "cancelled")}
    final = _state(committed, campaign)
    assert (final.skipped_count, final.queued_count, final.unknown_count) == (3, 0, 0)
