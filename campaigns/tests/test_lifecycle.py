"""Pause, resume and cancel across workers; scheduled starts by beat; A/B winner choice."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import AbPhase, CampaignState, PauseReason, RecipientState
from campaigns.tests.test_dispatch import _campaign, _recipients, _run, _start_and_launch, _state


def _limited(committed, channel, mps):
    from inbox.models import SendingLimit

    committed(lambda: SendingLimit.objects.create(channel_id=channel.pk, throughput_mps=mps, tier="TIER_UNLIMITED"))


def _run_in_background(committed, campaign):
    from campaigns.dispatch.run import CampaignRun

    result: dict = {}

    def target():
        result["verdict"] = committed(
            lambda: asyncio.run(CampaignRun(schema=committed.schema, campaign_id=campaign.pk).run())
        )

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_pause_reaches_every_worker_within_a_second_and_resume_continues(committed, graph):
    from campaigns.services import campaign_pause, campaign_resume

    channel = committed.channel("whatsapp_cloud", token=graph.token)
    _limited(committed, channel, 40)
    contacts = committed.contacts(200)
    campaign = _campaign(committed, channel, contacts, template=committed.template(channel))
    _start_and_launch(committed, campaign)
    # two workers share the campaign
    workers = [_run_in_background(committed, campaign) for _ in range(2)]
    deadline = time.monotonic() + 30
    while sum(graph.call(lambda: dict(graph.accepted)).values()) < 40:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    asked = time.time()
    committed(lambda: campaign_pause(campaign=campaign.pk, by=1))
    for thread, _result in workers:
        thread.join(10)
        assert not thread.is_alive()
    last = graph.call(lambda: graph.last_accepted[channel.phone_number_id])
    assert last - asked < 1.0
    assert all(result["verdict"].startswith("state paused") for _t, result in workers)
    paused = _state(committed, campaign)
    assert paused.state == CampaignState.PAUSED and paused.pause_reason == PauseReason.USER
    # nothing stays claimed: unsent claims went back to the queue
    rows = _recipients(committed, campaign)
    assert not [r for r in rows if r.state == RecipientState.CLAIMED]
    sent_before = sum(1 for r in rows if r.state == RecipientState.SENT)
    assert 40 <= sent_before < 200
    # resume continues where it stopped, and nobody gets the message twice
    committed(lambda: campaign_resume(campaign=campaign.pk))
    assert _run(committed, campaign) == "done"
    accepted = graph.call(lambda: dict(graph.accepted))
    assert len(accepted) == 200 and set(accepted.values()) == {1}
    assert _state(committed, campaign).state == CampaignState.COMPLETED


def test_cancel_skips_the_queued_recipients_and_stops_the_run(committed, graph):
    from campaigns.services import campaign_cancel, campaign_resume

    channel = committed.channel("whatsapp_cloud", token=graph.token)
    _limited(committed, channel, 40)
    contacts = committed.contacts(120)
    campaign = _campaign(committed, channel, contacts, template=committed.template(channel))
    _start_and_launch(committed, campaign)
    thread, result = _run_in_background(committed, campaign)
    while sum(graph.call(lambda: dict(graph.accepted)).values()) < 20:
        time.sleep(0.02)
    committed(lambda: campaign_cancel(campaign=campaign.pk))
    thread.join(10)
    assert result["verdict"] == "state cancelled"
    final = _state(committed, campaign)
    rows = _recipients(committed, campaign)
    sent = sum(1 for r in rows if r.state == RecipientState.SENT)
    skipped = [r for r in rows if r.state == RecipientState.SKIPPED]
    assert {r.reason for r in skipped} == {"cancelled"}
    assert (final.sent_count, final.skipped_count) == (sent, len(skipped))
    # claims given back after the cancel are skipped too: nothing stays queued
    assert sent + len(skipped) == 120
    assert final.state == CampaignState.CANCELLED
    with pytest.raises(ValidationError):
        committed(lambda: campaign_resume(campaign=campaign.pk))


def test_cancelling_a_large_campaign_skips_its_queued_recipients_in_a_task(committed, settings, queued_tasks):
    """A person's cancel returns at once: the state changes in the request (workers stop on
    it) and the queued rows are skipped by a task when there are more than the request takes."""
    from campaigns import tasks
    from campaigns.services import campaign_cancel

    settings.CAMPAIGN_CANCEL_INLINE_MAX = 5
    channel = committed.channel("sandbox")
    campaign = _campaign(committed, channel, committed.contacts(8), body="Oi")
    _start_and_launch(committed, campaign)
    committed(lambda: campaign_cancel(campaign=campaign.pk))
    cancelled = _state(committed, campaign)
    assert cancelled.state == CampaignState.CANCELLED
    assert cancelled.skipped_count == 0  # not in the request
    (task,) = [t for t in queued_tasks.tasks() if t.name == "campaigns.cancelled_skip"]
    assert committed(lambda: tasks.cancelled_skip(*task.args)) == 8
    final = _state(committed, campaign)
    assert (final.skipped_count, final.queued_count) == (8, 0)


def test_scheduled_campaign_starts_when_beat_ticks_after_its_time(committed):
    from campaigns.models import Campaign
    from campaigns.services import campaign_start, campaigns_tick

    channel = committed.channel("sandbox")
    contacts = committed.contacts(3)
    campaign = _campaign(committed, channel, contacts, body="Oi")
    at = timezone.now() + timedelta(hours=2)
    committed(lambda: campaign_start(campaign=campaign, at=at))
    assert _state(committed, campaign).state == CampaignState.SCHEDULED
    # a tick before the time does nothing; one after it (even long after: beat restarted) starts it
    assert committed(lambda: campaigns_tick(now=at - timedelta(minutes=1)))["started"] == 0
    assert committed(lambda: campaigns_tick(now=at + timedelta(hours=5)))["started"] == 1
    started = committed(lambda: Campaign.objects.get(pk=campaign.pk))
    assert started.state == CampaignState.RUNNING


def test_a_tick_with_nothing_due_is_one_statement_and_marks_the_scheduled_start(committed):
    """Beat visits a company marked due; when nothing is due yet (the campaign starts in two
    hours), the visit reads one statement and marks the company for the start."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.services import CAMPAIGNS, campaign_start, campaigns_tick
    from core import duework

    channel = committed.channel("sandbox")
    campaign = _campaign(committed, channel, committed.contacts(2), body="Oi")
    at = timezone.now() + timedelta(hours=2)
    committed(lambda: campaign_start(campaign=campaign, at=at))
    duework.clear(CAMPAIGNS, committed.schema)

    def quiet_tick():
        with CaptureQueriesContext(connection) as queries:
            done = campaigns_tick(now=at - timedelta(minutes=1))
        return done, [q["sql"] for q in queries.captured_queries if "campaigns_" in q["sql"]]

    done, statements = committed(quiet_tick)
    assert not any(done.values())
    assert len(statements) == 1, statements
    assert duework.marks(CAMPAIGNS)[committed.schema] == pytest.approx(at.timestamp())


def test_ab_test_sends_the_test_share_then_the_winner_to_the_rest(committed):
    from campaigns.models import Campaign, CampaignVariant, Recipient
    from campaigns.services import ab_winner_choose, campaign_create, campaign_launch, campaign_start
    from crm.models import ContactList, ContactListMember

    channel = committed.channel("sandbox")
    contacts = committed.contacts(100)

    def make():
        contact_list = ContactList.objects.create(name="AB " + committed.tag)
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list=contact_list, contact=c) for c in contacts]
        )
        campaign = campaign_create(
            name="AB",
            channel=channel,
            variants=[{"body": "Versão A", "split": 50}, {"body": "Versão B", "split": 50}],
            audience_kind="lists",
            list_ids=[contact_list.pk],
            ab_test_share=30,
            ab_winner_metric="read",
            ab_wait=timedelta(hours=1),
            window_days=list(range(7)),
        )
        campaign_start(campaign=campaign)
        return campaign_launch(campaign_id=campaign.pk)

    campaign = committed(make)
    assert campaign.ab_phase == AbPhase.TESTING
    rows = _recipients(committed, campaign)
    test_rows = [r for r in rows if r.variant_id is not None]
    held = [r for r in rows if r.variant_id is None]
    assert 15 <= len(test_rows) <= 45 and len(held) == 100 - len(test_rows)
    assert len({r.variant_id for r in test_rows}) == 2
    # only the test share is sent
    assert _run(committed, campaign) == "ab"
    assert sum(1 for r in _recipients(committed, campaign) if r.state == RecipientState.SENT) == len(test_rows)
    variants = committed(lambda: {v.key: v for v in CampaignVariant.objects.filter(campaign=campaign)})

    # B is read more often
    def reads():
        b = Recipient.objects.filter(campaign=campaign, variant=variants["B"], state="sent")
        Recipient.objects.filter(pk__in=list(b.values_list("pk", flat=True)[:5])).update(state="read")
        CampaignVariant.objects.filter(pk=variants["B"].pk).update(read_count=5)

    committed(reads)
    now = timezone.now()
    assert committed(lambda: ab_winner_choose(campaign_id=campaign.pk, now=now)) is None  # the wait starts
    assert committed(lambda: ab_winner_choose(campaign_id=campaign.pk, now=now + timedelta(minutes=30))) is None
    winner = committed(lambda: ab_winner_choose(campaign_id=campaign.pk, now=now + timedelta(hours=2)))
    assert winner.key == "B"
    assert _run(committed, campaign) == "done"
    rows = _recipients(committed, campaign)
    assert all(r.state in (RecipientState.SENT, RecipientState.READ) for r in rows)
    assert {r.variant_id for r in rows if r.pk in {h.pk for h in held}} == {variants["B"].pk}
    final = committed(lambda: Campaign.objects.get(pk=campaign.pk))
    assert final.ab_winner_id == variants["B"].pk and final.state == CampaignState.COMPLETED
