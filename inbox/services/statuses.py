"""Delivery statuses: provider reports applied forward-only in one statement, and statuses
that arrived before their message was stored (``PendingStatus``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from core.db import binary_cursor
from inbox import hooks, realtime, retention
from inbox.models import STATUS_RANK, Channel, Message, MessageStatus, PendingStatus
from inbox.providers.base import StatusUpdate


def _reduce_statuses(statuses: list[StatusUpdate]) -> dict[str, StatusUpdate]:
    """One winner per message: the most advanced status, where a failure never beats a
    delivery or read report of the same message."""
    best: dict[str, StatusUpdate] = {}
    for update in statuses:
        current = best.get(update.provider_message_id)
        if current is None:
            best[update.provider_message_id] = update
            continue
        if update.status == MessageStatus.FAILED and current.status in (MessageStatus.DELIVERED, MessageStatus.READ):
            continue
        if current.status == MessageStatus.FAILED and update.status in (MessageStatus.DELIVERED, MessageStatus.READ):
            best[update.provider_message_id] = update
            continue
        if STATUS_RANK[update.status] > STATUS_RANK[current.status]:
            best[update.provider_message_id] = update
    return best


# The rank of the stored status, from the same table as the Python side (``STATUS_RANK``); a
# status outside it (``received``: inbound) ranks above every report, so nothing moves it.
_STATUS_RANK_SQL = (
    "CASE m.status "
    + " ".join(f"WHEN '{status}' THEN {rank:d}" for status, rank in STATUS_RANK.items())
    + " ELSE 99 END"
)
_APPLY_SQL = f"""
WITH v AS (
    SELECT * FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::int[])
        AS v(pid, status, ts, code, title, details, rank)
), upd AS (
    UPDATE inbox_message AS m SET
        status = v.status,
        status_at = COALESCE(v.ts, now()),
        error_code = CASE WHEN v.status = 'failed' THEN v.code ELSE m.error_code END,
        error_title = CASE WHEN v.status = 'failed' THEN v.title ELSE m.error_title END,
        error_details = CASE WHEN v.status = 'failed' THEN v.details ELSE m.error_details END
    FROM v
    WHERE m.channel_id = %b
      AND m.direction = 'out'
      AND m.provider_message_id = v.pid
      AND v.rank > ({_STATUS_RANK_SQL})
      AND NOT (v.status = 'failed' AND m.status IN ('delivered', 'read'))
    RETURNING m.id, m.conversation_id, m.status, m.error_code, m.error_title, m.error_details, m.status_at
), ev AS (
    INSERT INTO inbox_realtimeevent (type, op, payload, conversation_id, user_ids, created_at)
    SELECT 'message', 'status',
           jsonb_build_object('message', jsonb_build_object(
               'id', id, 'conversation', conversation_id, 'status', status,
               'error_code', error_code, 'error_title', error_title, 'error_details', error_details)),
           conversation_id, '[]'::jsonb, now()
    FROM upd ORDER BY id
    RETURNING id, (payload -> 'message' ->> 'id')::bigint AS message_id
)
-- The changed columns come back as columns, not as the stored payload: Django's connection
-- reads jsonb as text, and decoding a thousand payloads would cost the worker more than the join.
SELECT ev.id, upd.conversation_id, upd.id, upd.status, upd.error_code, upd.error_title, upd.error_details,
       upd.status_at
FROM ev JOIN upd ON upd.id = ev.message_id
ORDER BY ev.id
"""


@transaction.atomic
def message_statuses_apply(*, channel: Channel, statuses: list[StatusUpdate]) -> int:
    """Apply provider status reports in one statement. Statuses only move forward
    (queued < sent < delivered < read); ``failed`` keeps the provider's code, title and details.

    The same statement writes the realtime event of every message that changed (a CTE), so a
    batch of thousands of statuses costs one round trip.
    """
    reduced = list(_reduce_statuses(statuses).values())
    if not reduced:
        return 0
    params: list[Any] = [
        [u.provider_message_id for u in reduced],
        [u.status for u in reduced],
        [u.timestamp for u in reduced],
        [u.error_code[:20] for u in reduced],
        [u.error_title[:255] for u in reduced],
        [u.error_details for u in reduced],
        [STATUS_RANK[u.status] for u in reduced],
        channel.pk,
    ]
    # Binary parameters: these arrays hold up to a thousand values each (see core.db).
    with binary_cursor() as cursor:
        cursor.execute(_APPLY_SQL, params)
        rows = cursor.fetchall()
    _keep_unmatched(channel, reduced, changed=len(rows))
    realtime.statuses_send_on_commit(
        [
            (
                event_id,
                conversation_id,
                {
                    "id": message_id,
                    "conversation": conversation_id,
                    "status": status,
                    "error_code": code,
                    "error_title": title,
                    "error_details": details,
                },
            )
            for event_id, conversation_id, message_id, status, code, title, details, _at in rows
        ]
    )
    # Statuses that carried our biz_opaque_callback_data (a campaign's recipient), whether or not
    # their message is known yet: a campaign settles its recipients by them even when its own
    # write-back was lost or has not committed.
    callbacks = [
        {
            "callback": u.callback_data,
            "provider_message_id": u.provider_message_id,
            "status": u.status,
            "at": _iso(u.timestamp),
            "error_code": u.error_code,
            "error_title": u.error_title,
            "error_details": u.error_details,
        }
        for u in statuses
        if u.callback_data
    ]
    if (rows or callbacks) and hooks.listeners(hooks.ON_MESSAGE_STATUS):
        hooks.fire(
            hooks.ON_MESSAGE_STATUS,
            {
                "channel": channel.pk,
                "statuses": [
                    {
                        "message": message_id,
                        "conversation": conversation_id,
                        "status": status,
                        "error_code": code,
                        "error_title": title,
                        "error_details": details,
                        "at": _iso(at),
                    }
                    for _event_id, conversation_id, message_id, status, code, title, details, at in rows
                ],
                "callbacks": callbacks,
            },
        )
    return len(rows)


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def _keep_unmatched(channel: Channel, updates: list[StatusUpdate], *, changed: int) -> None:
    """Park statuses of provider ids we do not know yet (see ``PendingStatus``)."""
    if changed == len(updates):
        return  # every status found its message
    pids = [u.provider_message_id for u in updates]
    known = set(
        Message.objects.filter(channel=channel, provider_message_id__in=pids).values_list(
            "provider_message_id", flat=True
        )
    )
    PendingStatus.objects.bulk_create(
        [
            PendingStatus(
                channel=channel,
                provider_message_id=u.provider_message_id,
                status=u.status,
                status_at=u.timestamp,
                error_code=u.error_code[:20],
                error_title=u.error_title[:255],
                error_details=u.error_details,
            )
            for u in updates
            if u.provider_message_id not in known
        ]
    )
    retention.logs_appeared(retention.PENDING_STATUS_RETENTION)


def pending_statuses_apply(*, channel: Channel, provider_message_id: str) -> None:
    """Apply the statuses that arrived before ``provider_message_id`` was stored."""
    pending = list(PendingStatus.objects.filter(channel=channel, provider_message_id=provider_message_id))
    if not pending:
        return
    message_statuses_apply(
        channel=channel,
        statuses=[
            StatusUpdate(
                provider_message_id=p.provider_message_id,
                status=p.status,
                timestamp=p.status_at,
                error_code=p.error_code,
                error_title=p.error_title,
                error_details=p.error_details,
            )
            for p in pending
        ],
    )
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()


def pending_statuses_apply_many(*, channel: Channel, provider_message_ids: list[str]) -> int:
    """``pending_statuses_apply`` for many messages stored at once (the campaign engine's bulk
    write-back): one query for the parked statuses, one statement to apply them."""
    if not provider_message_ids:
        return 0
    pending = list(PendingStatus.objects.filter(channel=channel, provider_message_id__in=provider_message_ids))
    if not pending:
        return 0
    changed = message_statuses_apply(
        channel=channel,
        statuses=[
            StatusUpdate(
                provider_message_id=p.provider_message_id,
                status=p.status,
                timestamp=p.status_at,
                error_code=p.error_code,
                error_title=p.error_title,
                error_details=p.error_details,
            )
            for p in pending
        ],
    )
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()
    return changed
