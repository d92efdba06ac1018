"""Recipients moved by what the provider says after the send, and claims whose outcome is
unknown.

- ``statuses_apply``: the status webhooks (through the inbox's normal path and its
  ``on_statuses`` hook). A status that carries our ``biz_opaque_callback_data`` names the
  recipient directly, so it lands even when our own write-back was lost or has not committed
  yet (Meta can report "sent" before the send's answer reached us); statuses without it (SMS,
  WhatsApp Web) find the recipient through the inbox message they moved.
- ``replies_apply``: an inbound message from a recipient within the campaign's reply window.
- ``leases_reconcile``: a claim whose lease ran out and that was never marked as leaving
  (``claimed_at`` empty: the worker died between its claim and its send) goes back to the
  queue at once, its attempt given back: it provably never left. One marked as leaving whose
  lease ran out ``GRACE`` ago with no status naming it becomes ``unknown`` (counted and
  shown), never sent again: the send may have happened. A late status still moves it to
  sent / delivered / read.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.dispatch.outcomes import counted_update

GRACE = timedelta(seconds=float(getattr(settings, "CAMPAIGN_RECONCILE_GRACE_S", 30)))
RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 9}


def callback_ref(campaign_id: int, recipient_id: int) -> str:
    """The ``biz_opaque_callback_data`` of a campaign send."""
    return f"mia:c{campaign_id}:r{recipient_id}"


def parse_ref(value: str) -> tuple[int, int] | None:
    if not value.startswith("mia:c"):
        return None
    try:
        campaign, recipient = value[len("mia:c") :].split(":r", 1)
        return int(campaign), int(recipient)
    except ValueError:
        return None


def _better(new: tuple, old: tuple | None) -> bool:
    """Status reduction (the inbox's rule): forward only, failed never beats delivered/read."""
    if old is None:
        return True
    if new[0] == "failed" and old[0] in ("delivered", "read"):
        return False
    if old[0] == "failed" and new[0] in ("delivered", "read"):
        return True
    return RANK[new[0]] > RANK[old[0]]


_STATUS_SET = """
state = CASE
    WHEN v.status = 'failed' THEN CASE WHEN old.state IN ('delivered', 'read', 'replied') THEN r.state ELSE 'failed' END
    WHEN old.state IN ('replied', 'failed') THEN r.state
    WHEN v.rank > (CASE old.state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)
        THEN v.status
    ELSE r.state END,
reason = CASE WHEN old.state = 'unknown' THEN '' ELSE r.reason END,
sent_at = CASE WHEN v.status <> 'failed' THEN COALESCE(r.sent_at, v.ts) ELSE r.sent_at END,
delivered_at = CASE WHEN v.status IN ('delivered', 'read') AND old.state <> 'failed'
    THEN COALESCE(r.delivered_at, v.ts) ELSE r.delivered_at END,
read_at = CASE WHEN v.status = 'read' AND old.state <> 'failed' THEN COALESCE(r.read_at, v.ts) ELSE r.read_at END,
failed_at = CASE WHEN v.status = 'failed' AND old.state NOT IN ('delivered', 'read', 'replied')
    THEN COALESCE(r.failed_at, v.ts) ELSE r.failed_at END,
error_code = CASE WHEN v.status = 'failed' AND old.state NOT IN ('delivered', 'read', 'replied') THEN v.code
    ELSE r.error_code END,
error_title = CASE WHEN v.status = 'failed' AND old.state NOT IN ('delivered', 'read', 'replied') THEN v.title
    ELSE r.error_title END,
error_details = CASE WHEN v.status = 'failed' AND old.state NOT IN ('delivered', 'read', 'replied') THEN v.details
    ELSE r.error_details END,
provider_message_id = CASE WHEN r.provider_message_id = '' THEN v.pid ELSE r.provider_message_id END,
lease_owner = CASE WHEN old.state IN ('claimed', 'unknown') THEN '' ELSE r.lease_owner END,
lease_expires_at = CASE WHEN old.state IN ('claimed', 'unknown') THEN NULL ELSE r.lease_expires_at END
"""


def statuses_apply(*, channel_id: int, statuses: list[dict], callbacks: list[dict]) -> int:
    """Apply provider statuses to recipients (see module docstring). ``statuses`` and
    ``callbacks`` are the lists of the inbox's ``ON_MESSAGE_STATUS`` payload. Returns rows
    changed."""
    by_recipient: dict[int, tuple] = {}
    campaign_of: dict[int, int] = {}
    for item in callbacks:
        ref, pid, status = item.get("callback", ""), item.get("provider_message_id", ""), item.get("status", "")
        at, code = item.get("at", ""), item.get("error_code", "")
        title, details = item.get("error_title", ""), item.get("error_details", "")
        parsed = parse_ref(str(ref))
        if parsed is None or status not in RANK:
            continue
        campaign_id, recipient_id = parsed
        candidate = (status, _ts(at), str(code)[:20], str(title)[:255], str(details), str(pid)[:128])
        if _better(candidate, by_recipient.get(recipient_id)):
            by_recipient[recipient_id] = candidate
            campaign_of[recipient_id] = campaign_id
    by_message = {
        int(row["message"]): (
            row["message"],
            row.get("status", ""),
            row.get("at", ""),
            row.get("error_code", ""),
            row.get("error_title", ""),
            row.get("error_details", ""),
        )
        for row in statuses
        if row.get("status") in RANK
    }
    if by_message:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, campaign_id, message_id FROM campaigns_recipient WHERE message_id = ANY(%s)",
                [list(by_message)],
            )
            for recipient_id, campaign_id, message_id in cursor.fetchall():
                _mid, status, at, code, title, details = by_message[message_id]
                candidate = (status, _ts(at), str(code)[:20], str(title)[:255], str(details), "")
                if _better(candidate, by_recipient.get(recipient_id)):
                    by_recipient[recipient_id] = candidate
                    campaign_of[recipient_id] = campaign_id
    if not by_recipient:
        return 0
    groups: dict[int, list[int]] = defaultdict(list)
    for recipient_id, campaign_id in campaign_of.items():
        groups[campaign_id].append(recipient_id)
    changed_rows = 0
    with transaction.atomic():
        for campaign_id, ids in sorted(groups.items()):
            ids.sort()
            items = [by_recipient[i] for i in ids]
            deltas = counted_update(
                campaign_id=campaign_id,
                values="SELECT * FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::text[], %b::text[],"
                " %b::text[], %b::text[], %b::int[]) AS v(id, status, ts, code, title, details, pid, rank)",
                params=[
                    ids,
                    [i[0] for i in items],
                    [i[1] for i in items],
                    [i[2] for i in items],
                    [i[3] for i in items],
                    [i[4] for i in items],
                    [i[5] for i in items],
                    [RANK[i[0]] for i in items],
                ],
                set_sql=_STATUS_SET,
            )
            changed_rows += deltas["changed"]
            _progress(campaign_id)
    return changed_rows


def _ts(value) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value or "")) if value else None
    return parsed or timezone.now()


def replies_apply(*, channel_id: int, contact_id: int, at: datetime) -> int:
    """Mark the contact's recent recipients on this channel as replied (within each campaign's
    reply window). Returns rows changed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.id, r.campaign_id FROM campaigns_recipient r JOIN campaigns_campaign c ON c.id = r.campaign_id"
            " WHERE r.contact_id = %s AND r.sent_at IS NOT NULL AND r.replied_at IS NULL AND c.channel_id = %s"
            # Meta stamps messages to the second: a reply in the same second as the send is one.
            " AND r.sent_at <= %s + interval '2 seconds' AND r.sent_at >= %s - c.reply_window",
            [contact_id, channel_id, at, at],
        )
        rows = cursor.fetchall()
    if not rows:
        return 0
    groups: dict[int, list[int]] = defaultdict(list)
    for recipient_id, campaign_id in rows:
        groups[campaign_id].append(recipient_id)
    total = 0
    with transaction.atomic():
        for campaign_id, ids in sorted(groups.items()):
            deltas = counted_update(
                campaign_id=campaign_id,
                values="SELECT * FROM unnest(%b::bigint[]) AS v(id)",
                params=[sorted(ids)],
                set_sql="replied_at = %b, state = CASE WHEN old.state IN ('sent', 'delivered', 'read')"
                " THEN 'replied' ELSE r.state END",
                set_params=[at],
            )
            total += deltas["changed"]
            _progress(campaign_id)
    return total


def leases_reconcile(*, now: datetime | None = None, grace: timedelta = GRACE, limit: int = 10000) -> int:
    """Claims whose lease ran out: back to the queue when never marked as leaving, ``unknown``
    when marked, ``grace`` after the lease, with no status naming them. Returns rows moved."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, campaign_id, claimed_at IS NULL FROM campaigns_recipient"
            " WHERE state = 'claimed' AND lease_expires_at < %s AND (claimed_at IS NULL OR lease_expires_at < %s)"
            " ORDER BY id LIMIT %s",
            [now, now - grace, limit],
        )
        rows = cursor.fetchall()
    if not rows:
        return 0
    groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for recipient_id, campaign_id, unsent in rows:
        groups[(campaign_id, unsent)].append(recipient_id)
    total = 0
    with transaction.atomic():
        for (campaign_id, unsent), ids in sorted(groups.items()):
            if unsent:
                # Never left: queued again now, the attempt given back (still unmarked: the
                # statement re-checks, a mark that raced this read keeps the row claimed).
                set_sql = (
                    "state = 'queued', lease_owner = '', lease_expires_at = NULL, next_attempt_at = %b,"
                    " attempts = GREATEST(r.attempts - 1, 0)"
                )
                where, set_params = "AND old.state = 'claimed' AND r.claimed_at IS NULL", [timezone.now()]
            else:
                set_sql = "state = 'unknown', reason = 'no_evidence', lease_owner = '', lease_expires_at = NULL"
                where, set_params = "AND old.state = 'claimed'", []
            deltas = counted_update(
                campaign_id=campaign_id,
                values="SELECT * FROM unnest(%b::bigint[]) AS v(id)",
                params=[ids],
                set_sql=set_sql,
                set_params=set_params,
                upd_where=where,
            )
            total += deltas["changed"]
            _progress(campaign_id)
        # Rows given back to a campaign cancelled meanwhile are skipped like its other queued ones.
        requeued = sorted({campaign_id for campaign_id, unsent in groups if unsent})
        if requeued:
            from campaigns.dispatch.control import cancelled_skip
            from campaigns.models import Campaign, CampaignState

            for campaign_id in Campaign.objects.filter(pk__in=requeued, state=CampaignState.CANCELLED).values_list(
                "pk", flat=True
            ):
                cancelled_skip(campaign_id=campaign_id)
    return total


def _progress(campaign_id: int) -> None:
    from campaigns.realtime import progress_publish_on_commit

    progress_publish_on_commit(campaign_id)
