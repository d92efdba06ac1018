"""The inbox's periodic work visits only the companies that have some (``core.duework``)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import duework
from inbox import retention, tasks
from inbox.models import Conversation, ConversationStatus, RealtimeEvent, WebhookEvent
from inbox.services import WEBHOOK_RETRIES, WEBHOOKS, conversation_snooze, webhook_drain_trigger
from inbox.services.channels import CHANNEL_TOKENS
from inbox.services.conversations import SNOOZED
from inbox.services.webhook_events import DRAIN_GRACE


@pytest.fixture
def regular_sweeps(db):
    """Every inbox kind has had its full (safety) sweep: sweeps visit marked companies only."""
    for kind in (SNOOZED, WEBHOOKS, WEBHOOK_RETRIES, CHANNEL_TOKENS, retention.INBOX_LOGS):
        duework.forget(kind)
        duework.full_sweep_due(kind)


def _visited(queries) -> set[str]:
    return {q["sql"].split('"')[1] for q in queries if q["sql"].startswith('SET search_path = "c_')}


def _conversation() -> Conversation:
    from crm.tests.factories import ContactFactory
    from inbox.models import Channel
    from inbox.services import channel_create

    channel = Channel.objects.filter(kind="sandbox").first() or channel_create(kind="sandbox", name="Sandbox")
    return Conversation.objects.create(channel=channel, contact=ContactFactory(), last_inbound_at=timezone.now())


def _snoozed(company, until):
    connection.set_tenant(company)
    conversation = _conversation()
    conversation_snooze(conversation=conversation, until=until)
    connection.set_schema_to_public()
    return conversation


def _time_comes(company, conversation):
    """The snooze's moment has come (instead of waiting for it): the row and its mark."""
    connection.set_tenant(company)
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    connection.set_schema_to_public()
    duework.mark(SNOOZED, company.schema_name, at=time.time() - 1)


def _status(company, conversation) -> str:
    connection.set_tenant(company)
    try:
        return Conversation.objects.get(pk=conversation.pk).status
    finally:
        connection.set_schema_to_public()


def test_a_snooze_marks_its_company_and_only_companies_due_are_visited(
    regular_sweeps, acme, other_company, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mine = _snoozed(acme, timezone.now() + timedelta(minutes=5))
        theirs = _snoozed(other_company, timezone.now() + timedelta(days=1))
    marks = duework.marks(SNOOZED)
    assert marks == {
        "c_acme": pytest.approx(mine.snoozed_until.timestamp()),
        "c_other": pytest.approx(theirs.snoozed_until.timestamp()),
    }
    _time_comes(acme, mine)

    with CaptureQueriesContext(connection) as queries:
        tasks.wake_snoozed()

    assert _status(acme, mine) == ConversationStatus.OPEN
    assert _status(other_company, theirs) == ConversationStatus.SNOOZED
    assert _visited(queries) == {"c_acme"}  # other's schema was never entered
    assert duework.marks(SNOOZED).keys() == {"c_other"}


def test_a_lost_snooze_mark_is_caught_by_the_safety_sweep(
    regular_sweeps, acme, other_company, django_capture_on_commit_callbacks
):
    mine = _snoozed(acme, timezone.now() + timedelta(minutes=5))  # never committed: no mark
    later = _snoozed(acme, timezone.now() + timedelta(hours=3))
    _time_comes(acme, mine)
    duework.clear(SNOOZED, acme.schema_name)  # the mark is lost

    tasks.wake_snoozed()
    assert _status(acme, mine) == ConversationStatus.SNOOZED  # the regular sweep cannot know

    duework.redis_client().delete(duework._key(SNOOZED) + ":full")  # an hour later
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        tasks.wake_snoozed()

    assert _status(acme, mine) == ConversationStatus.OPEN
    assert {"c_acme", "c_other"} <= _visited(queries)
    # and the company is marked again for the snooze it still has
    assert duework.marks(SNOOZED) == {"c_acme": pytest.approx(later.snoozed_until.timestamp())}


def test_a_delivery_marks_its_company_once_and_queues_one_drain(regular_sweeps, acme, queued_tasks):
    webhook_drain_trigger(acme.schema_name)
    webhook_drain_trigger(acme.schema_name)

    assert [(t.name, t.args) for t in queued_tasks.tasks()] == [("inbox.webhook_drain", ["c_acme"])]
    assert duework.marks(WEBHOOKS) == {"c_acme": pytest.approx(time.time() + DRAIN_GRACE, abs=5)}

    tasks.webhook_drain(acme.schema_name)  # nothing left to process: the flag goes
    assert duework.marks(WEBHOOKS) == {}


async def test_the_intake_marks_with_one_redis_command(regular_sweeps, queued_tasks):
    from inbox.asgi import WebhookIntake

    await WebhookIntake()._set_flag("c_acme")

    assert [(t.name, t.args) for t in queued_tasks.tasks()] == [("inbox.webhook_drain", ["c_acme"])]
    assert set(duework.marks(WEBHOOKS)) == {"c_acme"}


def test_the_sweep_queues_a_drain_for_events_left_behind_only(regular_sweeps, acme, other_company, queued_tasks):
    connection.set_tenant(acme)
    WebhookEvent.objects.create(provider="sandbox", dedupe_key="left-behind")  # its drain died
    connection.set_schema_to_public()
    duework.mark(WEBHOOKS, acme.schema_name, at=time.time() - 1)  # the grace is over
    duework.mark(WEBHOOKS, other_company.schema_name, at=time.time() - 1)  # drained

    with CaptureQueriesContext(connection) as queries:
        tasks.webhook_drain_all()

    assert [(t.name, t.args) for t in queued_tasks.tasks()] == [("inbox.webhook_drain", ["c_acme"])]
    assert _visited(queries) == {"c_acme", "c_other"}
    assert set(duework.marks(WEBHOOKS)) == {"c_acme"}  # due again if this drain dies too


def test_tokens_are_checked_in_companies_with_a_cloud_channel_only(regular_sweeps, cloud_channel, graph, other_company):
    # (cloud_channel's transaction never commits in a test: mark it as its commit would)
    duework.mark(CHANNEL_TOKENS, "c_acme", at=time.time() - 1)
    connection.set_schema_to_public()

    with CaptureQueriesContext(connection) as queries:
        tasks.check_channel_tokens()

    assert any("debug_token" in request.path for request in graph.requests)
    assert _visited(queries) == {"c_acme"}
    next_check = duework.marks(CHANNEL_TOKENS)["c_acme"]
    assert next_check == pytest.approx(time.time() + (6 * 3600 - 1800), abs=30)


def test_connecting_a_cloud_channel_marks_the_token_check(
    regular_sweeps, tenant, graph, django_capture_on_commit_callbacks
):
    from inbox.services import channel_create

    with django_capture_on_commit_callbacks(execute=True):
        channel_create(
            kind="whatsapp_cloud",
            name="Vendas",
            config={"phone_number_id": "1065550009", "waba_id": "2025550009"},
            credentials={"access_token": graph.token, "app_secret": "s"},
        )
        channel_create(kind="sandbox", name="Sandbox")

    assert set(duework.marks(CHANNEL_TOKENS)) == {"c_acme"}


def test_old_logs_are_trimmed_where_they_are_due(
    regular_sweeps, acme, other_company, django_capture_on_commit_callbacks
):
    from inbox import realtime

    with django_capture_on_commit_callbacks(execute=True):
        connection.set_tenant(acme)
        realtime.emit(type="x", op="y", payload={})
        old = RealtimeEvent.objects.create(type="x", op="old", payload={})
        RealtimeEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
        connection.set_tenant(other_company)
        kept = RealtimeEvent.objects.create(type="x", op="old", payload={})  # not marked: not visited
        RealtimeEvent.objects.filter(pk=kept.pk).update(created_at=timezone.now() - timedelta(days=8))
        connection.set_schema_to_public()
    assert duework.marks(retention.INBOX_LOGS)["c_acme"] == pytest.approx(time.time() + 7 * 86400, abs=30)
    duework.mark(retention.INBOX_LOGS, "c_acme", at=time.time() - 1)  # a week later

    with django_capture_on_commit_callbacks(execute=True):
        tasks.prune_logs()

    connection.set_tenant(acme)
    assert not RealtimeEvent.objects.filter(pk=old.pk).exists()
    # (the kept test database may hold events other tests committed earlier)
    oldest_left = RealtimeEvent.objects.order_by("created_at").values_list("created_at", flat=True)[0]
    connection.set_tenant(other_company)
    assert RealtimeEvent.objects.filter(pk=kept.pk).exists()
    connection.set_schema_to_public()
    # due again when the oldest event left in acme comes of age, not before
    due = duework.marks(retention.INBOX_LOGS)["c_acme"]
    assert due == pytest.approx(oldest_left.timestamp() + 7 * 86400) and due > time.time() + 6 * 86400
