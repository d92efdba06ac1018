"""What became of each send, by Meta's codes, and the bulk write-back.

Classification (``classify``), exactly as the campaigns issue lists it:

- **retry** with exponential backoff and jitter: 130429 (throughput; also slows the number's
  limiter down), 131056 (pair rate), 131057, 131000, 131016, Graph's transient 1/2/4/80007, any
  5xx, and network failures that never reached Meta;
- **final** (``failed`` with Meta's code, title and details): 131026, 131047, 131049, 131050,
  132000, 132001, 132012 and every other refusal;
- **pause** the campaign with a clear reason (the row goes back to the queue, it is not its
  fault): 131048 (spam rate), 132015 (template paused), 132016 (template disabled), 368
  (account restricted), token errors (190...), a WhatsApp Web session that is not open;
- **uncertain**: the request may have reached Meta (read timeout, connection dropped after
  writing): the row stays claimed; its lease runs out and ``reconcile`` decides from the status
  webhooks. It is never sent again blindly.

The write-back of one sub-batch is one transaction of set-based statements: conversations
upserted, messages and timeline events inserted, recipients updated, counters bumped.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import PauseReason
from core.db import binary_cursor

RETRY_CODES = {"130429", "131056", "131057", "131000", "131016", "1", "2", "4", "80007", "network", "throttled"}
FINAL_CODES = {"131026", "131047", "131049", "131050", "132000", "132001", "132012"}
PAUSE_CODES = {
    "131048": PauseReason.SPAM_RATE,
    "132015": PauseReason.TEMPLATE_PAUSED,
    "132016": PauseReason.TEMPLATE_DISABLED,
    "368": PauseReason.ACCOUNT_RESTRICTED,
    "190": PauseReason.TOKEN,
    "102": PauseReason.TOKEN,
    "463": PauseReason.TOKEN,
    "467": PauseReason.TOKEN,
    "session": PauseReason.DISCONNECTED,
}
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0

RETRY, FINAL, PAUSE, UNCERTAIN = "retry", "final", "pause", "uncertain"


def classify(error) -> str:
    """``retry`` / ``final`` / ``pause`` / ``uncertain`` for a ``ProviderError``."""
    code = error.code
    if code in PAUSE_CODES:
        return PAUSE
    if getattr(error, "uncertain", False):
        return UNCERTAIN
    if code in FINAL_CODES:
        return FINAL
    if code in RETRY_CODES or error.status >= 500 or (error.retryable and code not in FINAL_CODES):
        return RETRY
    return FINAL


def backoff(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: exponential with full jitter."""
    rng = rng or random.Random()
    ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return ceiling / 2 + rng.random() * ceiling / 2


@dataclass
class SentRow:
    recipient_id: int
    contact_id: int | None
    variant_id: int | None
    provider_message_id: str
    message_status: str  # "sent", or "queued" (WhatsApp Web: the session reports "sent")
    kind: str
    body: str
    payload: dict[str, Any]
    segments: int = 1
    to: str = ""


@dataclass
class BatchResult:
    sent: list[SentRow] = field(default_factory=list)
    retry: list[tuple[int, datetime, str, str, str]] = field(default_factory=list)
    failed: list[tuple[int, str, str, str]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    uncertain: list[tuple[int, str, str, str]] = field(default_factory=list)
    gave_up: list[tuple[int, str, str, str]] = field(default_factory=list)


def size(result: BatchResult) -> int:
    """Rows a write-back of ``result`` changes."""
    return (
        len(result.sent)
        + len(result.retry)
        + len(result.failed)
        + len(result.released)
        + len(result.uncertain)
        + len(result.gave_up)
    )


def merge(results: list[BatchResult]) -> BatchResult:
    """Several sub-batches' outcomes as one write-back."""
    if len(results) == 1:
        return results[0]
    out = BatchResult()
    for result in results:
        out.sent += result.sent
        out.retry += result.retry
        out.failed += result.failed
        out.released += result.released
        out.uncertain += result.uncertain
        out.gave_up += result.gave_up
    return out


# --- counted transitions ---------------------------------------------------------------------

# Counters move with the recipient columns they count, in the statement that changes them:
# ``old`` locks the rows (in id order, so two writers cannot deadlock) and keeps their state
# before; ``d`` sums what changed per variant, and the same statement adds those sums to the
# campaign's and the variants' counters (one round trip for the whole transition).
_COUNTED = """
WITH v AS ({values}),
old AS (
    SELECT r.id, r.state, r.sent_at IS NOT NULL AS s, r.delivered_at IS NOT NULL AS d,
           r.read_at IS NOT NULL AS rd, r.replied_at IS NOT NULL AS rp, r.clicked_at IS NOT NULL AS ck
    FROM campaigns_recipient r JOIN v ON v.id = r.id
    WHERE r.campaign_id = %s {old_where}
    ORDER BY r.id
    FOR UPDATE OF r
), upd AS (
    UPDATE campaigns_recipient r SET {set}
    FROM v, old
    WHERE r.id = v.id AND old.id = v.id {upd_where}
    RETURNING r.id, r.variant_id, r.state, r.sent_at IS NOT NULL AS s, r.delivered_at IS NOT NULL AS d,
              r.read_at IS NOT NULL AS rd, r.replied_at IS NOT NULL AS rp, r.clicked_at IS NOT NULL AS ck
), d AS (
    SELECT upd.variant_id,
           sum((upd.s AND NOT old.s)::int) AS sent, sum((upd.d AND NOT old.d)::int) AS delivered,
           sum((upd.rd AND NOT old.rd)::int) AS read, sum((upd.rp AND NOT old.rp)::int) AS replied,
           sum((upd.state = 'failed')::int - (old.state = 'failed')::int) AS failed,
           sum((upd.state = 'skipped')::int - (old.state = 'skipped')::int) AS skipped,
           sum((upd.state = 'unknown')::int - (old.state = 'unknown')::int) AS unknown,
           sum((old.state IN ('queued', 'claimed'))::int - (upd.state IN ('queued', 'claimed'))::int) AS left_,
           sum((upd.ck AND NOT old.ck)::int) AS clicked,
           count(*) AS changed
    FROM upd JOIN old ON old.id = upd.id
    GROUP BY upd.variant_id
), bump AS (
    UPDATE campaigns_campaign c SET sent_count = c.sent_count + t.sent, delivered_count = c.delivered_count + t.delivered,
        read_count = c.read_count + t.read, replied_count = c.replied_count + t.replied,
        failed_count = c.failed_count + t.failed, skipped_count = c.skipped_count + t.skipped,
        unknown_count = c.unknown_count + t.unknown, queued_count = c.queued_count - t.left_,
        clicked_count = c.clicked_count + t.clicked
    FROM (SELECT sum(sent) AS sent, sum(delivered) AS delivered, sum(read) AS read, sum(replied) AS replied,
                 sum(failed) AS failed, sum(skipped) AS skipped, sum(unknown) AS unknown, sum(left_) AS left_,
                 sum(clicked) AS clicked
          FROM d HAVING count(*) > 0) t
    WHERE c.id = %s AND (t.sent <> 0 OR t.delivered <> 0 OR t.read <> 0 OR t.replied <> 0 OR t.failed <> 0
                         OR t.skipped <> 0 OR t.unknown <> 0 OR t.left_ <> 0 OR t.clicked <> 0)
), vbump AS (
    UPDATE campaigns_campaignvariant cv SET sent_count = cv.sent_count + d.sent,
        delivered_count = cv.delivered_count + d.delivered, read_count = cv.read_count + d.read,
        replied_count = cv.replied_count + d.replied, failed_count = cv.failed_count + d.failed,
        clicked_count = cv.clicked_count + d.clicked
    FROM d
    WHERE cv.id = d.variant_id
      AND (d.sent <> 0 OR d.delivered <> 0 OR d.read <> 0 OR d.replied <> 0 OR d.failed <> 0 OR d.clicked <> 0)
)
SELECT variant_id, sent, delivered, read, replied, failed, skipped, unknown, left_, clicked, changed FROM d
"""

COUNTERS = ("sent", "delivered", "read", "replied", "failed", "skipped", "unknown", "left", "clicked")


def counted_update(
    *,
    campaign_id: int,
    values: str,
    set_sql: str,
    params: list[Any],
    set_params: list[Any] | None = None,
    old_where: str = "",
    upd_where: str = "",
) -> dict[str, int]:
    """Run one counted transition (``values`` is a SELECT giving at least ``id``, with
    ``params``; ``set_sql`` may use ``set_params``); the same statement bumps the campaign's
    and variants' counters. Returns the campaign-wide deltas (``changed``: rows updated).
    Call inside a transaction when it must commit with other writes."""
    sql = _COUNTED.format(values=values, set=set_sql, old_where=old_where, upd_where=upd_where)
    # Not a prepared statement: the same text carries twenty ids or ten thousand (a cancel),
    # and a generic plan chosen for the few would be a disaster for the many.
    with binary_cursor() as cursor:
        cursor.execute(sql, [*params, campaign_id, *(set_params or []), campaign_id])
        rows = cursor.fetchall()
    total = dict.fromkeys((*COUNTERS, "changed"), 0)
    for _variant_id, *numbers in rows:
        for key, value in zip((*COUNTERS, "changed"), numbers, strict=True):
            total[key] += int(value or 0)
    return total


def counters_bump(*, campaign_id: int, rows: list[tuple]) -> dict[str, int]:
    total = dict.fromkeys((*COUNTERS, "changed"), 0)
    variant_sets: list[tuple] = []
    for variant_id, *numbers in rows:
        values = dict(zip((*COUNTERS, "changed"), (int(n or 0) for n in numbers), strict=True))
        for key, value in values.items():
            total[key] += value
        if variant_id is not None and any(
            values[k] for k in ("sent", "delivered", "read", "replied", "failed", "clicked")
        ):
            variant_sets.append((variant_id, values))
    if any(total[k] for k in COUNTERS):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE campaigns_campaign SET sent_count = sent_count + %s, delivered_count = delivered_count + %s,"
                " read_count = read_count + %s, replied_count = replied_count + %s,"
                " failed_count = failed_count + %s, skipped_count = skipped_count + %s,"
                " unknown_count = unknown_count + %s, queued_count = queued_count - %s,"
                " clicked_count = clicked_count + %s WHERE id = %s",
                [total[k] for k in COUNTERS] + [campaign_id],
            )
            for variant_id, values in variant_sets:
                cursor.execute(
                    "UPDATE campaigns_campaignvariant SET sent_count = sent_count + %s,"
                    " delivered_count = delivered_count + %s, read_count = read_count + %s,"
                    " replied_count = replied_count + %s, failed_count = failed_count + %s,"
                    " clicked_count = clicked_count + %s WHERE id = %s",
                    [values[k] for k in ("sent", "delivered", "read", "replied", "failed", "clicked")] + [variant_id],
                )
    return total


# --- the write-back of one sub-batch --------------------------------------------------------

_CONVERSATIONS_SQL = """
INSERT INTO inbox_conversation (contact_id, channel_id, status, unread_count, last_message_at,
                                last_message_preview, created_at, updated_at, resolved_at)
SELECT DISTINCT ON (u.contact) u.contact, %b, 'resolved', 0, %b, u.preview, %b, %b, %b
FROM unnest(%b::bigint[], %b::text[]) AS u(contact, preview)
ORDER BY u.contact
ON CONFLICT (channel_id, contact_id) DO UPDATE SET
    last_message_at = GREATEST(inbox_conversation.last_message_at, EXCLUDED.last_message_at),
    last_message_preview = EXCLUDED.last_message_preview,
    updated_at = EXCLUDED.updated_at
RETURNING contact_id, id
"""

# The messages, and whether a status of theirs arrived before them (parked by the inbox as a
# ``PendingStatus``): asked in the same statement, so the usual write-back asks nothing more.
_MESSAGES_SQL = """
WITH m AS (
    INSERT INTO inbox_message (conversation_id, channel_id, direction, kind, body, payload, media,
                               media_mime, media_filename, provider_media_id, provider_message_id,
                               status, status_at, error_code, error_title, error_details, created_at)
    SELECT u.conversation, %b, 'out', u.kind, u.body, u.payload::jsonb, '', '', '', '', u.pid,
           u.status, %b, '', '', '', %b
    FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[])
         AS u(conversation, kind, body, payload, pid, status)
    RETURNING id, channel_id, provider_message_id
)
SELECT m.id, m.provider_message_id,
       EXISTS (SELECT 1 FROM inbox_pendingstatus p
               WHERE p.channel_id = m.channel_id AND p.provider_message_id = m.provider_message_id)
FROM m
"""

_TIMELINE_SQL = """
INSERT INTO crm_timelineevent (contact_id, kind, data, at)
SELECT u.contact, 'campaign.sent', u.data::jsonb, %b
FROM unnest(%b::bigint[], %b::text[]) AS u(contact, data)
"""


def batch_write(
    *, campaign_id: int, campaign_name: str, channel_id: int, result: BatchResult, now: datetime | None = None
) -> dict[str, int]:
    """Write one sub-batch's outcomes in one transaction. Returns the counter deltas."""
    now = now or timezone.now()
    totals = dict.fromkeys((*COUNTERS, "changed"), 0)

    def add(deltas: dict[str, int]) -> None:
        for key, value in deltas.items():
            totals[key] += value

    with transaction.atomic():
        if result.sent:
            add(_write_sent(campaign_id, campaign_name, channel_id, result.sent, now))
        if result.retry:
            ids, nexts, codes, titles, details = (list(x) for x in zip(*result.retry, strict=True))
            add(
                counted_update(
                    campaign_id=campaign_id,
                    values="SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::text[], %b::text[])"
                    " AS v(id, next_at, code, title, details)",
                    set_sql="state = 'queued', lease_owner = '', lease_expires_at = NULL, next_attempt_at = v.next_at,"
                    " error_code = v.code, error_title = v.title, error_details = v.details",
                    params=[ids, nexts, codes, titles, details],
                    upd_where="AND old.state = 'claimed'",
                )
            )
        for rows, state, reason in ((result.failed, "failed", ""), (result.gave_up, "failed", "retries")):
            if not rows:
                continue
            ids, codes, titles, details = (list(x) for x in zip(*rows, strict=True))
            add(
                counted_update(
                    campaign_id=campaign_id,
                    values="SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[])"
                    " AS v(id, code, title, details)",
                    set_sql=f"state = '{state}', reason = '{reason}', lease_owner = '', lease_expires_at = NULL,"
                    " failed_at = %b, error_code = v.code, error_title = v.title, error_details = v.details",
                    params=[ids, codes, titles, details],
                    set_params=[now],
                    upd_where="AND old.state IN ('claimed', 'unknown')",
                )
            )
        if result.uncertain:
            # Still claimed (the lease decides); keep what the network said for the table.
            with binary_cursor() as cursor:
                ids, codes, titles, details = (list(x) for x in zip(*result.uncertain, strict=True))
                cursor.execute(
                    "UPDATE campaigns_recipient r SET error_code = v.code, error_title = v.title,"
                    " error_details = v.details FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[])"
                    " AS v(id, code, title, details) WHERE r.id = v.id AND r.state = 'claimed'",
                    [ids, codes, titles, details],
                )
        if result.released:
            with connection.cursor() as plain:
                plain.execute(
                    "UPDATE campaigns_recipient SET state = 'queued', lease_owner = '', lease_expires_at = NULL,"
                    " attempts = GREATEST(attempts - 1, 0) WHERE id = ANY(%s) AND state = 'claimed'",
                    [result.released],
                )
    return totals


def _write_sent(campaign_id: int, campaign_name: str, channel_id: int, sent: list[SentRow], now: datetime) -> dict:
    from inbox.models import Channel
    from inbox.services import pending_statuses_apply_many

    with_contact = [row for row in sent if row.contact_id is not None]
    message_ids: dict[str, int] = {}
    parked: list[str] = []
    if with_contact:
        previews = [(row.body or f"[{row.kind}]")[:200] for row in with_contact]
        with binary_cursor(prepared=True) as cursor:
            cursor.execute(
                _CONVERSATIONS_SQL,
                [channel_id, now, now, now, now, [row.contact_id for row in with_contact], previews],
            )
            conversation_of = dict(cursor.fetchall())
            cursor.execute(
                _MESSAGES_SQL,
                [
                    channel_id,
                    now,
                    now,
                    [conversation_of[row.contact_id] for row in with_contact],
                    [row.kind for row in with_contact],
                    [row.body for row in with_contact],
                    [json.dumps(row.payload) for row in with_contact],
                    [row.provider_message_id for row in with_contact],
                    [row.message_status for row in with_contact],
                ],
            )
            inserted = cursor.fetchall()
            message_ids = {pid: mid for mid, pid, _parked in inserted}
            parked = [pid for _mid, pid, waiting in inserted if waiting]
            cursor.execute(
                _TIMELINE_SQL,
                [
                    now,
                    [row.contact_id for row in with_contact],
                    [
                        json.dumps(
                            {
                                "campaign": campaign_id,
                                "name": campaign_name,
                                "message": message_ids.get(row.provider_message_id),
                                "conversation": conversation_of[row.contact_id],
                                "text": row.body[:200],
                                "channel_id": channel_id,
                            }
                        )
                        for row in with_contact
                    ],
                ],
            )
    deltas = counted_update(
        campaign_id=campaign_id,
        values="SELECT * FROM unnest(%b::bigint[], %b::text[], %b::bigint[], %b::smallint[]) AS v(id, pid, mid, seg)",
        set_sql="state = CASE WHEN old.state IN ('claimed', 'unknown', 'queued') THEN 'sent' ELSE r.state END,"
        " reason = '', provider_message_id = v.pid, message_id = v.mid, segments = v.seg,"
        " sent_at = COALESCE(r.sent_at, %b), lease_owner = '', lease_expires_at = NULL,"
        " error_code = CASE WHEN r.state = 'failed' THEN r.error_code ELSE '' END,"
        " error_title = CASE WHEN r.state = 'failed' THEN r.error_title ELSE '' END,"
        " error_details = CASE WHEN r.state = 'failed' THEN r.error_details ELSE '' END",
        params=[
            [row.recipient_id for row in sent],
            [row.provider_message_id for row in sent],
            [message_ids.get(row.provider_message_id) for row in sent],
            [row.segments for row in sent],
        ],
        set_params=[now],
    )
    # Statuses that arrived before these provider ids were stored were parked by the inbox.
    if parked:
        pending_statuses_apply_many(channel=Channel(pk=channel_id), provider_message_ids=parked)
    return deltas


def next_attempt_at(attempts: int, *, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=backoff(attempts))
