"""Celery tasks of the inbox: thin wrappers that enter the company schema and call a service.

Periodic sweeps visit companies through ``core.tasks.for_each_company``, each with its own
``work`` name (the due-work index of the platform issue narrows a sweep by that name).
"""

from __future__ import annotations

import logging
import time

from celery import shared_task

from core.tasks import for_each_company
from inbox.providers.base import ProviderError
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)

BATCH = 1000
# During a burst (a batch of at least BURST events, but not a full one: more are arriving) the
# drain waits DRAIN_PAUSE before the next batch: a few large batches instead of hundreds of tiny
# ones, which would take CPU from the web processes accepting the burst, well inside the
# 2-second status lag budget. A lone customer message (a batch of one) is never held back.
BURST = 20
DRAIN_PAUSE = 0.05


@shared_task(base=TenantTask, name="inbox.webhook_drain", ignore_result=True)
def webhook_drain(schema_name: str) -> int:
    """Process this company's recorded webhook events until none is left."""
    from inbox.services import webhook_drain_done, webhook_events_process

    total = 0
    while True:
        done = webhook_events_process(limit=BATCH)
        total += done
        if done:
            if BURST <= done < BATCH:
                time.sleep(DRAIN_PAUSE)
            continue
        # Clear the "pending" flag, then look once more: an event recorded after our last
        # batch either sees the flag gone (and queues a new drain) or is found here.
        webhook_drain_done(schema_name)
        done = webhook_events_process(limit=BATCH)
        total += done
        if not done:
            return total


@shared_task(name="inbox.webhook_drain_all", ignore_result=True)
def webhook_drain_all() -> None:
    """Safety net (beat): queue a drain for the companies whose recorded events have waited
    longer than ``DRAIN_GRACE`` (a drain lost with its worker, or a long backlog) or whose
    events waiting for a later attempt are past it (the drain queued for the attempt was
    lost), as the due-work index says; every company once an hour."""
    from inbox.selectors import webhook_events_next_retry, webhook_events_pending
    from inbox.services import WEBHOOK_RETRIES, WEBHOOKS, webhook_drain_again, webhook_retries_mark

    def sweep(schema: str) -> None:
        if webhook_events_pending():
            webhook_drain_again(schema)
        first_retry = webhook_events_next_retry()
        if first_retry is not None:
            webhook_retries_mark(schema, first_retry)

    for_each_company(sweep, work=WEBHOOKS)
    for_each_company(sweep, work=WEBHOOK_RETRIES)


@shared_task(
    base=TenantTask,
    bind=True,
    name="inbox.deliver_message",
    ignore_result=True,
    max_retries=6,
)
def deliver_message(self, schema_name: str, message_id: int) -> None:
    from inbox.models import Message
    from inbox.services import message_deliver, message_fail

    try:
        message_deliver(message_id=message_id)
    except ProviderError as exc:
        if self.request.retries >= self.max_retries:
            message = Message.objects.filter(pk=message_id).first()
            if message is not None:
                message_fail(message=message, error=exc)
            return
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 120)) from exc


@shared_task(base=TenantTask, bind=True, name="inbox.download_media", ignore_result=True, max_retries=5)
def download_media(self, schema_name: str, message_id: int, media_id: str) -> None:
    from inbox.services import message_media_store

    try:
        message_media_store(message_id=message_id, media_id=media_id)
    except ProviderError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 120)) from exc
        logger.warning("media of message %s could not be downloaded: %s", message_id, exc.title)


@shared_task(base=TenantTask, name="inbox.provider_mark_read", ignore_result=True)
def provider_mark_read(schema_name: str, message_id: int) -> None:
    from inbox.models import Message
    from inbox.services import message_mark_read

    message = Message.objects.select_related("channel").filter(pk=message_id).first()
    if message is not None:
        message_mark_read(message=message)


@shared_task(base=TenantTask, name="inbox.sandbox_emit_status", ignore_result=True)
def sandbox_emit_status(schema_name: str, channel_id: int, provider_message_id: str, status: str, recipient: str):
    """The sandbox's provider side: report a status as a signed Meta webhook."""
    from inbox.services import sandbox_status_report

    sandbox_status_report(
        channel_id=channel_id, provider_message_id=provider_message_id, status=status, recipient=recipient
    )


@shared_task(base=TenantTask, name="inbox.sandbox_emit_statuses", ignore_result=True)
def sandbox_emit_statuses(schema_name: str, channel_id: int, status: str, rows: list[list[str]]) -> None:
    """The sandbox's provider side for campaign batches: one webhook with many statuses."""
    from inbox.models import Channel
    from inbox.services import sandbox_emit_statuses as emit

    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is not None:
        for start in range(0, len(rows), 200):
            emit(channel=channel, status=status, rows=rows[start : start + 200])


@shared_task(base=TenantTask, name="inbox.sandbox_emit_replies", ignore_result=True)
def sandbox_emit_replies(schema_name: str, channel_id: int, replies: list[list[str]]) -> None:
    """Simulated customers answering a sandbox campaign (the real inbound webhook path)."""
    from inbox.models import Channel
    from inbox.services import sandbox_simulate_reply

    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is not None:
        for wa_id, text in replies:
            sandbox_simulate_reply(channel=channel, contact_phone="+" + wa_id.lstrip("+"), text=text)


@shared_task(name="inbox.check_channel_tokens", ignore_result=True)
def check_channel_tokens() -> None:
    """Beat: ask Meta about the Cloud API access tokens of the companies due a check (expiry
    warning 7 days ahead)."""
    from inbox.services import CHANNEL_TOKENS, channel_tokens_check

    def check(schema: str) -> int:
        return channel_tokens_check()

    for_each_company(check, work=CHANNEL_TOKENS)


@shared_task(name="inbox.wake_snoozed", ignore_result=True)
def wake_snoozed() -> None:
    """Beat: reopen snoozed conversations whose time has come, in the companies due."""
    from inbox.services import SNOOZED, conversations_wake_snoozed

    def wake(schema: str) -> int:
        return conversations_wake_snoozed()

    for_each_company(wake, work=SNOOZED)


@shared_task(name="inbox.prune_logs", ignore_result=True)
def prune_logs() -> None:
    """Beat: trim the realtime event log, processed webhook deliveries and parked statuses of
    the companies with rows old enough (inactive ones too: their logs still take room)."""
    from inbox.services import INBOX_LOGS, inbox_logs_prune

    def prune(schema: str) -> int:
        return inbox_logs_prune()

    for_each_company(prune, work=INBOX_LOGS, include_inactive=True)
