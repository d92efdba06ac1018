"""Celery tasks of the inbox: thin wrappers that enter the company schema and call a service."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

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
    from inbox import webhooks
    from inbox.services import webhook_events_process
    from inbox.webhooks import DRAIN_KEY

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
        try:
            webhooks._redis_client().delete(DRAIN_KEY.format(schema=schema_name))
        except Exception:  # noqa: BLE001 - the periodic sweep covers a Redis hiccup
            logger.warning("could not clear the drain flag of %s", schema_name)
        done = webhook_events_process(limit=BATCH)
        total += done
        if not done:
            return total


@shared_task(name="inbox.webhook_drain_all", ignore_result=True)
def webhook_drain_all() -> None:
    """Safety net (beat): queue a drain for every company with events left unprocessed."""
    from inbox.models import WebhookEvent

    for company in get_tenant_model().objects.exclude(schema_name="public").filter(is_active=True):
        with schema_context(company.schema_name):
            pending = WebhookEvent.objects.filter(processed_at__isnull=True).exists()
        if pending:
            webhook_drain.delay(company.schema_name)


@shared_task(
    base=TenantTask,
    bind=True,
    name="inbox.deliver_message",
    ignore_result=True,
    max_retries=6,
)
def deliver_message(self, schema_name: str, message_id: int) -> None:
    from inbox import realtime
    from inbox.models import Message, MessageStatus
    from inbox.services import message_deliver

    try:
        message_deliver(message_id=message_id)
    except ProviderError as exc:
        if self.request.retries >= self.max_retries:
            message = Message.objects.get(pk=message_id)
            message.status = MessageStatus.FAILED
            message.error_code, message.error_title, message.error_details = exc.code[:20], exc.title[:255], exc.details
            message.status_at = timezone.now()
            message.save(update_fields=["status", "error_code", "error_title", "error_details", "status_at"])
            realtime.emit_message(message, "status")
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
    from inbox.models import Channel
    from inbox.providers.meta import build_status_payload
    from inbox.services import sandbox_ingest

    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is None:
        return
    payload = build_status_payload(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        provider_message_id=provider_message_id,
        status=status,
        recipient=recipient,
        at=timezone.now(),
    )
    sandbox_ingest(channel=channel, payload=payload)


@shared_task(name="inbox.check_channel_tokens", ignore_result=True)
def check_channel_tokens() -> None:
    """Beat: ask Meta about every Cloud API channel's access token (expiry warning 7 days ahead)."""
    from inbox.models import Channel, ChannelKind
    from inbox.services import channel_check_token

    for company in get_tenant_model().objects.exclude(schema_name="public").filter(is_active=True):
        with schema_context(company.schema_name):
            for channel in Channel.objects.filter(kind=ChannelKind.WHATSAPP_CLOUD, is_active=True):
                try:
                    channel_check_token(channel=channel)
                except Exception:  # noqa: BLE001 - one company's failure must not stop the others
                    logger.exception("token check failed for channel %s in %s", channel.pk, company.schema_name)


@shared_task(name="inbox.wake_snoozed", ignore_result=True)
def wake_snoozed() -> None:
    """Beat: reopen snoozed conversations whose time has come."""
    from inbox.services import conversations_wake_snoozed

    for company in get_tenant_model().objects.exclude(schema_name="public").filter(is_active=True):
        with schema_context(company.schema_name):
            conversations_wake_snoozed()


# Catch-up needs recent events only; raw webhook deliveries are kept a month for inspection.
REALTIME_EVENT_RETENTION_DAYS = 7
WEBHOOK_EVENT_RETENTION_DAYS = 30


@shared_task(name="inbox.prune_logs", ignore_result=True)
def prune_logs() -> None:
    """Beat: trim the realtime event log and processed webhook deliveries of every company."""
    from datetime import timedelta

    from inbox.models import PendingStatus, RealtimeEvent, WebhookEvent

    now = timezone.now()
    for company in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(company.schema_name):
            RealtimeEvent.objects.filter(created_at__lt=now - timedelta(days=REALTIME_EVENT_RETENTION_DAYS)).delete()
            WebhookEvent.objects.filter(processed_at__lt=now - timedelta(days=WEBHOOK_EVENT_RETENTION_DAYS)).delete()
            # Statuses of messages sent by other tools sharing the number never find theirs.
            PendingStatus.objects.filter(created_at__lt=now - timedelta(days=1)).delete()
