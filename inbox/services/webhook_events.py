"""Webhook deliveries: accepting one (signature check, the durable and idempotent record, the
drain trigger) and the batch processing of what they carry (inbound messages and statuses) in
the worker. The public views (``inbox.webhooks``) resolve the company first; the sandbox feeds
its simulated deliveries straight in here.

Every event is processed on its own terms. A part that does not have the documented shape is
skipped and noted (the event is processed, with the notes in ``error``). An event whose body
cannot be read at all is parked as dead at once. An event whose processing fails (an
exception: a bug, a database error) is marked with the error and retried with backoff, and
after ``MAX_ATTEMPTS`` failures it is parked as dead too. Either way it leaves the pending
queue, so the events after it are never held back; dead events are shown on the channel page
and in the support admin, which can send them back to the queue (``webhook_events_reprocess``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, connection, transaction
from django.utils import timezone

from core import duework
from core.jsonlimits import MAX_DEPTH, json_too_deep, pg_text
from core.tasks import enqueue, enqueue_on_commit
from core.tenancy import current_schema, require_tenant_schema
from crm.phones import InvalidPhoneError
from inbox import hooks, retention
from inbox.models import (
    ERR_FAILED,
    ERR_MALFORMED,
    ERR_NOT_STORED,
    ERR_TOO_DEEP,
    ERR_UNKNOWN_CHANNEL,
    ERR_UNREADABLE,
    Channel,
    ChannelKind,
    WebhookEvent,
)
from inbox.providers import get_provider
from inbox.providers.base import InboundMessage, ParsedEvent, StatusUpdate, TemplateUpdate
from inbox.selectors import channel_webhook_url
from inbox.services.channels import channel_touch
from inbox.services.messages import inbound_message_receive
from inbox.services.statuses import message_statuses_apply

logger = logging.getLogger(__name__)

assert str(MAX_DEPTH) in ERR_TOO_DEEP

# A failed event is tried again after each of these delays; the failure after the last one
# parks it as dead (5 attempts over about 40 minutes: long enough to outlast a deploy or a
# database restart, short enough that the company hears of it the same hour).
RETRY_DELAYS = (30, 120, 600, 1800)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Notes on skipped parts kept per event (a fuzzed body can have thousands of them).
MAX_NOTES = 20
MAX_ERROR = 1000


# The due-work kind (``core.duework``) of recorded events waiting to be processed. Its mark is
# also the "a drain is queued" flag: the delivery that makes the mark queues the company's drain,
# later ones see the mark and queue nothing, and the drain takes the mark off before its last
# look, so no event is left behind (``webhook_drain_done``). A mark still there DRAIN_GRACE
# seconds later (a drain lost with its worker, or a long backlog) is due, and the periodic sweep
# queues another drain.
WEBHOOKS = "webhooks"
DRAIN_GRACE = 60.0
# Events waiting for a later attempt (``retry_at``) have a kind of their own: their mark is due
# after the earliest attempt (plus the grace), when the drain queued with a countdown for it
# should have run; a mark of WEBHOOKS that far ahead would hold back the drain of new events.
WEBHOOK_RETRIES = "webhook_retries"
duework.register(WEBHOOKS)
duework.register(WEBHOOK_RETRIES)


def webhook_drain_trigger(schema: str) -> None:
    """Queue the company's drain task unless one is pending already. When Redis fails the event
    is recorded all the same, and the periodic sweep (``webhook_drain_all``) processes it."""
    if duework.mark(WEBHOOKS, schema, at=time.time() + DRAIN_GRACE):
        enqueue("inbox.webhook_drain", schema)


def webhook_drain_done(schema: str) -> None:
    """Clear the company's "pending" flag (the drain task, before it looks one last time). When
    Redis fails the mark stays, and the periodic sweep looks again."""
    duework.clear(WEBHOOKS, schema)


def webhook_drain_again(schema: str) -> None:
    """The sweep found events left behind: mark the company and queue a drain, unless a mark
    not due yet says one is queued already (by the intake, or by this beat's other sweep)."""
    if duework.mark(WEBHOOKS, schema, at=time.time() + DRAIN_GRACE) is not False:
        enqueue("inbox.webhook_drain", schema)


def webhook_retries_mark(schema: str, first_retry: datetime) -> None:
    """Events of the company wait for a later attempt, the first at ``first_retry``: the sweep
    looks after it (and the grace) in case the drain queued for it is lost."""
    duework.mark(WEBHOOK_RETRIES, schema, at=first_retry.timestamp() + DRAIN_GRACE)


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
        form = _storable_form(form or {})
        canonical = json.dumps(form, sort_keys=True).encode()
        key = "sms:" + hashlib.sha256(canonical).hexdigest()
        inserted = webhook_event_record(
            channel_id=channel.pk, provider="sms", body=canonical, dedupe_key=key, payload=form
        )
    else:
        # The same key as the ASGI fast path and the intake server write (inbox.asgi).
        key = "meta:" + hashlib.sha256(body).hexdigest()
        inserted = webhook_event_record(channel_id=channel.pk, provider=channel.kind, body=body, dedupe_key=key)
    if inserted:
        schema = require_tenant_schema()
        transaction.on_commit(lambda: webhook_drain_trigger(schema))
    return True


def _storable_form(value):
    """The form as recorded (its signature was checked on it as received): a NUL, the one
    character PostgreSQL cannot hold in JSON, becomes U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_storable_form(item) for item in value]
    return {_storable_form(k): _storable_form(v) for k, v in value.items()}


def webhook_event_record(*, channel_id: int, provider: str, body: bytes, dedupe_key: str, payload=None) -> bool:
    """Durably record one delivery; ``False`` when it was already recorded (a redelivery).

    One ``INSERT ... ON CONFLICT DO NOTHING``: the cheapest durable write, so the webhook can
    answer fast and a replay changes nothing. A body PostgreSQL cannot hold as JSON (nested too
    deep, ``NaN``, an escaped NUL, a lone surrogate) is kept as raw text and parked as dead: the
    provider got a valid signature from us and must not be told to send it again.
    """
    error = ""
    if payload is None:
        if json_too_deep(body):
            error = ERR_TOO_DEEP
        else:
            try:
                payload = json.loads(body.decode("utf-8", errors="replace"))
            except (ValueError, RecursionError):
                error = ERR_MALFORMED
    with transaction.atomic(), connection.cursor() as cursor:
        # The provider is answered 200 after this and never redelivers: flushed to disk even
        # where the server's default is asynchronous commit (see inbox.asgi).
        cursor.execute("SET LOCAL synchronous_commit = on")
        if not error:
            try:
                with transaction.atomic():
                    cursor.execute(
                        "INSERT INTO inbox_webhookevent"
                        " (provider, channel_id, dedupe_key, payload, body, received_at, error, attempts)"
                        " VALUES (%s, %s, %s, %s, '', now(), '', 0)"
                        " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                        [provider, channel_id, dedupe_key, json.dumps(payload)],
                    )
                    return cursor.fetchone() is not None
            except DataError:
                error = ERR_MALFORMED  # jsonb refuses NaN, an escaped NUL, a lone surrogate
            except DatabaseError as exc:
                logger.warning("webhook body refused by the database: %s", exc)
                error = ERR_NOT_STORED
        cursor.execute(
            "INSERT INTO inbox_webhookevent"
            " (provider, channel_id, dedupe_key, payload, body, received_at, error, attempts, processed_at, dead_at)"
            " VALUES (%s, %s, %s, NULL, %s, now(), %s, 0, now(), now())"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            [provider, channel_id, dedupe_key, pg_text(body.decode("utf-8", errors="replace")), error],
        )
        return cursor.fetchone() is not None


@dataclass
class _Work:
    """One claimed event that parsed, waiting to be applied."""

    pk: int
    attempts: int
    channel: Channel
    parsed: ParsedEvent
    notes: list[str] = field(default_factory=list)


@dataclass
class _Outcomes:
    notes: dict[int, str] = field(default_factory=dict)  # processed, with skipped parts
    failed: dict[int, tuple[int, str]] = field(default_factory=dict)  # pk -> (attempts before, error)
    dead: dict[int, str] = field(default_factory=dict)


def webhook_events_process(*, limit: int = 1000, now: datetime | None = None) -> int:
    """Process due webhook events in arrival order, in one batch (worker); returns how many
    were claimed.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers share the backlog; an
    event waiting for its next attempt is not due until its ``retry_at`` (``now`` is the
    clock: tests pass a later one). The batch is applied in one savepoint: inbound messages
    each in a savepoint of their own, statuses per channel in one statement. When the batch
    fails as a whole, it is applied again one event at a time, each in its own savepoint, so
    the failure is pinned on the event that caused it and the others are processed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, channel_id, payload::text, error, attempts FROM inbox_webhookevent"
                " WHERE processed_at IS NULL AND (retry_at IS NULL OR retry_at <= %s)"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [now, limit],
            )
            events = cursor.fetchall()
        if not events:
            return 0
        outcomes = _Outcomes()
        work = _parse(events, outcomes)
        _apply_isolated(work, outcomes)
        for item in work:
            if item.pk not in outcomes.failed and item.notes:
                outcomes.notes[item.pk] = _join(item.notes)
        _mark(events, outcomes, now)
        retention.logs_appeared(retention.WEBHOOK_EVENT_RETENTION)
        return len(events)


def _parse(events: list[tuple], outcomes: _Outcomes) -> list[_Work]:
    channels = {c.pk: c for c in Channel.objects.filter(pk__in={e[1] for e in events if e[1]})}
    work = []
    for pk, channel_id, payload_text, recorded_error, attempts in events:
        channel = channels.get(channel_id)
        if channel is None:
            outcomes.dead[pk] = ERR_UNKNOWN_CHANNEL
            continue
        if payload_text is None:
            outcomes.dead[pk] = recorded_error or ERR_MALFORMED
            continue
        try:
            # jsonb holds what Python's parser refuses (integers past its digit limit, nesting
            # past its recursion limit): such a body can never be processed.
            payload = json.loads(payload_text)
        except (ValueError, RecursionError):
            outcomes.dead[pk] = ERR_UNREADABLE
            continue
        try:
            parsed = get_provider(channel).parse(payload)
        except Exception as exc:  # noqa: BLE001 - a parser bug costs this event only
            logger.exception("webhook event %s could not be parsed", pk)
            outcomes.failed[pk] = (attempts, _describe(exc))
            continue
        work.append(_Work(pk=pk, attempts=attempts, channel=channel, parsed=parsed, notes=list(parsed.ignored)))
    return work


def _apply_isolated(work: list[_Work], outcomes: _Outcomes) -> None:
    """Apply the whole batch in one savepoint (the fast path); if it fails as a whole, each
    event again in a savepoint of its own."""
    if not work:
        return
    try:
        with transaction.atomic():
            failed = _apply(work)
    except Exception:  # noqa: BLE001 - isolate the event that broke the batch
        logger.warning("webhook batch failed as a whole; applying its %d events one by one", len(work), exc_info=True)
        failed = {}
        for item in work:
            item.notes = list(item.parsed.ignored)  # the batch's attempt added some
            try:
                with transaction.atomic():
                    failed.update(_apply([item]))
            except Exception as exc:  # noqa: BLE001 - this event's failure, recorded on it
                logger.exception("webhook event %s failed", item.pk)
                failed[item.pk] = _describe(exc)
    for item in work:
        if item.pk in failed:
            outcomes.failed[item.pk] = (item.attempts, failed[item.pk])


def _apply(work: list[_Work]) -> dict[int, str]:
    """Apply parsed events; returns the events that failed (pk -> error). Inbound messages run
    in savepoints of their own: a message that cannot be stored as such (not a phone number)
    is a note on its event, any other failure fails the event (to be retried). Statuses are
    applied per channel in one statement; a failure there raises (the caller isolates)."""
    failed: dict[int, str] = {}
    statuses: dict[int, list[StatusUpdate]] = {}
    templates: dict[int, list[TemplateUpdate]] = {}
    channels: dict[int, Channel] = {}
    for item in work:
        channels[item.channel.pk] = item.channel
        statuses.setdefault(item.channel.pk, []).extend(item.parsed.statuses)
        if item.parsed.templates:
            templates.setdefault(item.channel.pk, []).extend(item.parsed.templates)
        for inbound in item.parsed.messages:
            error = _receive(item.channel, inbound)
            if error is None:
                continue
            if isinstance(error, str):
                item.notes.append(error)
            else:
                failed[item.pk] = f"message {inbound.provider_message_id}: {_describe(error)}"
    for channel_id, updates in statuses.items():
        if updates:
            message_statuses_apply(channel=channels[channel_id], statuses=updates)
            channel_touch(channels[channel_id], timezone.now())
    for channel_id, changes in templates.items():
        # Templates belong to the campaigns app, above the inbox: handed upward after commit.
        hooks.fire(
            hooks.ON_TEMPLATE_UPDATE,
            {"channel": channel_id, "updates": [_json_ready(asdict(change)) for change in changes]},
        )
    return failed


def _json_ready(data: dict) -> dict:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in data.items()}


def _receive(channel: Channel, inbound: InboundMessage) -> str | Exception | None:
    """``None`` when stored (or a redelivery), a note when the message cannot be stored as
    sent, the exception when storing it failed."""
    try:
        with transaction.atomic():
            inbound_message_receive(channel=channel, inbound=inbound)
    except (InvalidPhoneError, ValidationError) as exc:
        return f"message {inbound.provider_message_id}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one bad message must not lose the batch
        logger.exception("inbound message %s failed", inbound.provider_message_id)
        return exc
    return None


def _mark(events: list[tuple], outcomes: _Outcomes, now: datetime) -> None:
    """Record every claimed event's outcome: processed (with its notes), failed (retry at a
    later time) or dead. Every text is made storable first: this must not fail."""
    done = {pk for pk, *_rest in events} - outcomes.failed.keys() - outcomes.dead.keys() - outcomes.notes.keys()
    retry_ids: list[int] = []
    retry_at: list[datetime] = []
    retry_errors: list[str] = []
    dead_ids: list[int] = []
    dead_errors: list[str] = []
    dead_attempts: list[int | None] = []
    for pk, (attempts, error) in outcomes.failed.items():
        if attempts + 1 >= MAX_ATTEMPTS:
            dead_ids.append(pk)
            dead_errors.append(error)
            dead_attempts.append(attempts + 1)
        else:
            retry_ids.append(pk)
            retry_at.append(now + timedelta(seconds=RETRY_DELAYS[attempts]))
            retry_errors.append(error)
    for pk, error in outcomes.dead.items():
        dead_ids.append(pk)
        dead_errors.append(error)
        dead_attempts.append(None)  # keeps the attempts it had
    with connection.cursor() as cursor:
        if done:
            cursor.execute(
                "UPDATE inbox_webhookevent SET processed_at = clock_timestamp(), retry_at = NULL, error = ''"
                " WHERE id = ANY(%s)",
                [sorted(done)],
            )
        if outcomes.notes:
            cursor.execute(
                "UPDATE inbox_webhookevent AS e SET processed_at = clock_timestamp(), retry_at = NULL, error = v.error"
                " FROM unnest(%s::bigint[], %s::text[]) AS v(id, error) WHERE e.id = v.id",
                [list(outcomes.notes), [pg_text(e, MAX_ERROR) for e in outcomes.notes.values()]],
            )
        if retry_ids:
            cursor.execute(
                "UPDATE inbox_webhookevent AS e SET attempts = e.attempts + 1, retry_at = v.at, error = v.error"
                " FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS v(id, at, error) WHERE e.id = v.id",
                [retry_ids, retry_at, [pg_text(e, MAX_ERROR) for e in retry_errors]],
            )
            # The sweep would find them too (WEBHOOK_RETRIES); this is sooner.
            schema, first = current_schema(), min(retry_at)
            enqueue_on_commit("inbox.webhook_drain", schema, countdown=(first - now).total_seconds())
            transaction.on_commit(lambda: webhook_retries_mark(schema, first))
        if dead_ids:
            cursor.execute(
                "UPDATE inbox_webhookevent AS e SET processed_at = clock_timestamp(), dead_at = clock_timestamp(),"
                " retry_at = NULL, error = v.error, attempts = COALESCE(v.attempts, e.attempts),"
                # A payload Python cannot read (an integer past its digit limit) would fail
                # every later read of the row through Django (the admin, a delete): kept as
                # text instead, like the bodies that were never JSON.
                " body = CASE WHEN v.error = %s THEN e.payload::text ELSE e.body END,"
                " payload = CASE WHEN v.error = %s THEN NULL ELSE e.payload END"
                " FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS v(id, error, attempts) WHERE e.id = v.id",
                [
                    ERR_UNREADABLE,
                    ERR_UNREADABLE,
                    dead_ids,
                    [pg_text(e, MAX_ERROR) for e in dead_errors],
                    dead_attempts,
                ],
            )
        for pk in dead_ids:
            logger.warning("webhook event %s parked as dead: %s", pk, outcomes.dead.get(pk) or "failed")


def _describe(exc: BaseException) -> str:
    return f"{ERR_FAILED} {type(exc).__name__}: {exc}"[:MAX_ERROR]


def _join(notes: list[str]) -> str:
    text = "; ".join(notes[:MAX_NOTES])
    if len(notes) > MAX_NOTES:
        text += f"; and {len(notes) - MAX_NOTES} more"
    return text


@transaction.atomic
def webhook_events_reprocess(*, event_ids: list[int]) -> int:
    """Send dead events back to the queue (support staff, once the cause is fixed): they are
    processed as new, with a fresh count of attempts. Returns how many were requeued."""
    # ``error`` stays: for a body kept as raw text it is the reason, and processing
    # overwrites it in every other case.
    count = WebhookEvent.objects.filter(pk__in=event_ids, dead_at__isnull=False).update(
        processed_at=None, dead_at=None, retry_at=None, attempts=0
    )
    if count:
        schema = current_schema()
        transaction.on_commit(lambda: webhook_drain_trigger(schema))
    return count
