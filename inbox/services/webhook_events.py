"""Webhook deliveries: accepting one (signature check, the durable and idempotent record, the
drain trigger) and the batch processing of what they carry (inbound messages and statuses) in
the worker. The public views (``inbox.webhooks``) resolve the company first; the sandbox feeds
its simulated deliveries straight in here."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

import redis
from django.db import connection, transaction
from django.utils import timezone

from core.redis import redis_client
from core.tasks import enqueue
from core.tenancy import require_tenant_schema
from inbox.models import Channel, ChannelKind, PendingStatus, RealtimeEvent, WebhookEvent
from inbox.providers import get_provider
from inbox.providers.base import StatusUpdate
from inbox.selectors import channel_webhook_url
from inbox.services.channels import channel_touch
from inbox.services.messages import inbound_message_receive
from inbox.services.statuses import message_statuses_apply

logger = logging.getLogger(__name__)

# One drain task per company while one is pending: the key is the "pending" flag. The drain
# task clears it before its last look, so no event is left behind (``webhook_drain_done``).
DRAIN_KEY = "inbox:webhook-drain:{schema}"
DRAIN_KEY_TTL = 60


def webhook_drain_trigger(schema: str) -> None:
    """Queue the company's drain task unless one is pending already."""
    try:
        if redis_client().set(DRAIN_KEY.format(schema=schema), "1", nx=True, ex=DRAIN_KEY_TTL):
            enqueue("inbox.webhook_drain", schema)
    except redis.RedisError:
        # The event is recorded; the periodic sweep (webhook_drain_all) will process it.
        logger.warning("could not queue webhook processing for %s", schema)


def webhook_drain_done(schema: str) -> None:
    """Clear the company's "pending" flag (the drain task, before it looks one last time)."""
    try:
        redis_client().delete(DRAIN_KEY.format(schema=schema))
    except redis.RedisError:  # the periodic sweep covers a Redis hiccup
        logger.warning("could not clear the drain flag of %s", schema)


def webhook_delivery_accept(
    *, channel: Channel, body: bytes, headers: Any, url: str = "", form: dict | None = None
) -> bool:
    """Verify one delivery for ``channel`` (in its company's schema) and record it; its
    processing is queued after commit. ``False``: the signature does not match (nothing kept).

    SMS providers sign the URL they posted to: the request's own, or (behind a proxy that
    rewrites it) the channel's webhook URL as we gave it to them.
    """
    provider = get_provider(channel)
    if channel.kind == ChannelKind.SMS:
        params = form or {}
        ok = provider.verify_signature(body=body, headers=headers, url=url, params=params) or (
            provider.verify_signature(body=body, headers=headers, url=channel_webhook_url(channel), params=params)
        )
    else:
        ok = provider.verify_signature(body=body, headers=headers)
    if not ok:
        return False
    if channel.kind == ChannelKind.SMS:
        canonical = json.dumps(form or {}, sort_keys=True).encode()
        key = "sms:" + hashlib.sha256(canonical).hexdigest()
        inserted = webhook_event_record(
            channel_id=channel.pk, provider="sms", body=canonical, dedupe_key=key, payload=form or {}
        )
    else:
        # The same key as the ASGI fast path and the intake server write (inbox.asgi).
        key = "meta:" + hashlib.sha256(body).hexdigest()
        inserted = webhook_event_record(channel_id=channel.pk, provider=channel.kind, body=body, dedupe_key=key)
    if inserted:
        schema = require_tenant_schema()
        transaction.on_commit(lambda: webhook_drain_trigger(schema))
    return True


def webhook_event_record(*, channel_id: int, provider: str, body: bytes, dedupe_key: str, payload=None) -> bool:
    """Durably record one delivery; ``False`` when it was already recorded (a redelivery).

    One ``INSERT ... ON CONFLICT DO NOTHING``: the cheapest durable write, so the webhook can
    answer fast and a replay changes nothing.
    """
    text = body.decode("utf-8", errors="replace")
    error = ""
    if payload is None:
        try:
            payload = json.loads(text)
        except ValueError:
            payload, error = None, "malformed JSON"
    with transaction.atomic(), connection.cursor() as cursor:
        # The provider is answered 200 after this and never redelivers: flushed to disk even
        # where the server's default is asynchronous commit (see inbox.asgi).
        cursor.execute("SET LOCAL synchronous_commit = on")
        cursor.execute(
            "INSERT INTO inbox_webhookevent (provider, channel_id, dedupe_key, payload, body, received_at, error)"
            " VALUES (%s, %s, %s, %s, %s, now(), %s) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            [
                provider,
                channel_id,
                dedupe_key,
                json.dumps(payload) if payload is not None else None,
                text if payload is None else "",
                error,
            ],
        )
        inserted = cursor.fetchone() is not None
    if inserted and error:
        # Nothing to process: mark it done right away (kept for inspection).
        WebhookEvent.objects.filter(dedupe_key=dedupe_key).update(processed_at=timezone.now())
    return inserted


def inbox_logs_prune(*, events_before: datetime, deliveries_before: datetime, pending_before: datetime) -> None:
    """Trim the realtime event log (catch-up needs recent events only), processed webhook
    deliveries (kept a while for inspection) and statuses that never found their message
    (those of messages sent by other tools sharing the number)."""
    RealtimeEvent.objects.filter(created_at__lt=events_before).delete()
    WebhookEvent.objects.filter(processed_at__lt=deliveries_before).delete()
    PendingStatus.objects.filter(created_at__lt=pending_before).delete()


def webhook_events_process(*, limit: int = 1000) -> int:
    """Process pending webhook events in arrival order, in one batch (worker).

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers share the backlog.
    Statuses of the whole batch are applied per channel in one statement; each inbound message
    runs in its own savepoint, so one bad part never loses the good parts of the batch.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, channel_id, payload::text, error FROM inbox_webhookevent"
                " WHERE processed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [limit],
            )
            events = cursor.fetchall()
        if not events:
            return 0
        channels = {c.pk: c for c in Channel.objects.filter(pk__in={e[1] for e in events if e[1]})}
        statuses: dict[int, list[StatusUpdate]] = {}
        errors: dict[int, str] = {}
        for pk, channel_id, payload_text, recorded_error in events:
            channel = channels.get(channel_id)
            if channel is None:
                errors[pk] = "unknown channel"
                continue
            if payload_text is None:
                errors[pk] = recorded_error or "malformed JSON"
                continue
            parsed = get_provider(channel).parse(json.loads(payload_text))
            if parsed.ignored:
                errors[pk] = "; ".join(parsed.ignored)[:1000]
            statuses.setdefault(channel.pk, []).extend(parsed.statuses)
            for inbound in parsed.messages:
                try:
                    with transaction.atomic():
                        inbound_message_receive(channel=channel, inbound=inbound)
                except Exception as exc:  # noqa: BLE001 - one bad message must not lose the batch
                    logger.exception("inbound message %s failed", inbound.provider_message_id)
                    errors[pk] = f"{errors.get(pk, '')} message {inbound.provider_message_id}: {exc}"[:1000]
        for channel_id, updates in statuses.items():
            if updates:
                message_statuses_apply(channel=channels[channel_id], statuses=updates)
                channel_touch(channels[channel_id], timezone.now())
        ok_ids = [e[0] for e in events if e[0] not in errors]
        with connection.cursor() as cursor:
            if ok_ids:
                cursor.execute(
                    "UPDATE inbox_webhookevent SET processed_at = clock_timestamp() WHERE id = ANY(%s)", [ok_ids]
                )
            for pk, error in errors.items():
                cursor.execute(
                    "UPDATE inbox_webhookevent SET processed_at = clock_timestamp(), error = %s WHERE id = %s",
                    [error.strip(), pk],
                )
        return len(events)
