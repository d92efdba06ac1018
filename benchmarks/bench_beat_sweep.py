"""A beat sweep with 1,000 companies of which 10 have work due, versus the same sweep visiting
every company (the baseline: what every sweep cost before the due-work index, and what the
hourly safety sweep still costs).

The headline figure is ``inbox.wake_snoozed`` (every minute): 10 companies each have a snoozed
conversation whose time has come; the sweep reopens the 10 conversations. The other sweeps are
timed with 10 companies marked due too. The companies are the ``fill-`` ones of the
company_create benchmark (made once, kept in the bench database).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from benchmarks.support import fill_companies, percentile, print_host_speed

COMPANIES = int(os.environ.get("BENCH_COMPANIES", "1000"))
WITH_WORK = 10
ROUNDS = 15
BASELINE_ROUNDS = 3


def _prepare(schemas: list[str]) -> dict[str, int]:
    """One sandbox channel, contact and conversation in each company with work (kept)."""
    from crm.models import Contact
    from inbox.models import Channel, Conversation
    from inbox.services import channel_create
    from tenants.models import Company

    conversations = {}
    for company in Company.objects.filter(schema_name__in=schemas):
        connection.set_tenant(company)
        channel = Channel.objects.filter(kind="sandbox").first() or channel_create(kind="sandbox", name="Sandbox")
        contact = Contact.objects.first() or Contact.objects.create(name="Cliente", phone="+5511987650000")
        conversation = Conversation.objects.filter(contact=contact).first() or Conversation.objects.create(
            channel=channel, contact=contact, last_inbound_at=timezone.now()
        )
        conversations[company.schema_name] = conversation.pk
    connection.set_schema_to_public()
    return conversations


def _snooze_due(conversations: dict[str, int]) -> None:
    """Each company's conversation was snoozed until a moment that has just passed."""
    from core import duework
    from inbox.models import Conversation, ConversationStatus
    from inbox.services import SNOOZED

    past = timezone.now() - timedelta(seconds=1)
    for schema, pk in conversations.items():
        with schema_context(schema):
            Conversation.objects.filter(pk=pk).update(status=ConversationStatus.SNOOZED, snoozed_until=past)
        duework.mark(SNOOZED, schema, past)


def _woken(conversations: dict[str, int]) -> int:
    from inbox.models import Conversation, ConversationStatus

    woken = 0
    for schema, pk in conversations.items():
        with schema_context(schema):
            woken += Conversation.objects.filter(pk=pk, status=ConversationStatus.OPEN).count()
    return woken


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def run(report) -> None:
    from ai_personas.agent import AI_REPLIES
    from ai_personas.tasks import replies_sweep_all
    from cadences.services import CADENCES
    from cadences.tasks import tick as cadences_tick
    from campaigns.services import CAMPAIGNS
    from campaigns.tasks import tick
    from core import duework
    from crm.services import CONTACTS_MAINTENANCE
    from crm.tasks import bulk_operations_purge_all
    from inbox import tasks
    from inbox.services import CHANNEL_TOKENS, INBOX_LOGS, SNOOZED, WEBHOOK_RETRIES, WEBHOOKS
    from kanban.tasks import ai_sweep_all
    from kanban.wiring import AI_DUE_KIND
    from tenants.models import Company

    fill = fill_companies(COMPANIES)
    existing = Company.objects.exclude(schema_name="public").count()
    with_work = fill[:: len(fill) // WITH_WORK][:WITH_WORK]
    conversations = _prepare(with_work)
    report("beat_sweep_companies", existing, "count")
    report("beat_sweep_companies_with_work", len(with_work), "count")

    # The headline: reopening snoozed conversations in the 10 companies due.
    duework.forget(SNOOZED)
    duework.full_sweep_due(SNOOZED)  # the safety sweep has just run
    samples = []
    for _ in range(ROUNDS):
        _snooze_due(conversations)
        samples.append(_timed(tasks.wake_snoozed))
        assert _woken(conversations) == WITH_WORK, "not every due conversation was reopened"
    report("beat_sweep_ms", percentile(samples, 50), "ms")
    report("beat_sweep_max_ms", max(samples), "ms")

    # Baseline: the same sweep visiting every company (the safety sweep; every sweep before).
    baseline = []
    for _ in range(BASELINE_ROUNDS):
        _snooze_due(conversations)
        duework.forget(SNOOZED)
        baseline.append(_timed(tasks.wake_snoozed))
        assert _woken(conversations) == WITH_WORK
    report("beat_sweep_ms.baseline", percentile(baseline, 50), "ms")

    # The other sweeps, 10 companies marked due each (little or nothing to do in them).
    sweeps = {
        "webhooks": (WEBHOOKS, tasks.webhook_drain_all),
        "webhook_retries": (WEBHOOK_RETRIES, tasks.webhook_drain_all),
        "channel_tokens": (CHANNEL_TOKENS, tasks.check_channel_tokens),
        "inbox_logs": (INBOX_LOGS, tasks.prune_logs),
        "contacts_maintenance": (CONTACTS_MAINTENANCE, bulk_operations_purge_all),
        "campaigns_tick": (CAMPAIGNS, tick),
        "ai_replies": (AI_REPLIES, replies_sweep_all),
        "cadences_tick": (CADENCES, cadences_tick),
        "kanban_ai": (AI_DUE_KIND, ai_sweep_all),
    }
    for kind, _task in sweeps.values():  # every safety sweep has just run (one task may sweep two kinds)
        duework.forget(kind)
        duework.full_sweep_due(kind)
    for name, (kind, task) in sweeps.items():
        samples = []
        for _ in range(5):
            for schema in with_work:
                duework.mark(kind, schema, time.time() - 1)
            samples.append(_timed(task))
        report(f"beat_sweep_{name}_ms", percentile(samples, 50), "ms")
    for kind, _task in sweeps.values():
        duework.forget(kind)
    print_host_speed()
