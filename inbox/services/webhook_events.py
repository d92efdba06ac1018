"""Recorded webhook deliveries: the durable, idempotent record and the batch processing of
what they carry (inbound messages and statuses) in the worker."""

from __future__ import annotations

import json
import logging

from django.db import connection, transaction
from django.utils import timezone

from inbox.models import Channel, WebhookEvent
from inbox.providers import get_provider
from inbox.providers.base import StatusUpdate
from inbox.services.channels import channel_touch
from inbox.services.messages import inbound_message_receive
from inbox.services.statuses import message_statuses_apply

logger = logging.getLogger(__name__)


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
