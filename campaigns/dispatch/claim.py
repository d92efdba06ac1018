"""Claiming recipients: a batch of due queued rows becomes ``claimed`` by one worker, with a
lease, in one statement. ``FOR UPDATE SKIP LOCKED`` lets any number of workers on any number of
machines claim from the same campaign at once without waiting on each other or taking the same
row twice; the claim commits before the sends, so the lease (not a held lock) is what marks
the row as taken.

A claim counts as an attempt. Right before its request goes out, the engine marks the row as
leaving (``recipients_sending`` sets ``claimed_at``, committed, still within the lease) and
sends only the rows that mark took. So when a lease runs out, a row never marked provably
never left: the reconciler puts it back in the queue. A marked one may be on the wire: it is
never simply re-queued (see ``reconcile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction

from campaigns.rendering import row_values
from core.db import binary_cursor

LEASE = timedelta(seconds=float(getattr(settings, "CAMPAIGN_LEASE_S", 30)))

_CLAIM_SQL = """
WITH picked AS (
    SELECT id FROM campaigns_recipient
    WHERE campaign_id = %b AND state = 'queued' AND next_attempt_at <= now()
      -- Only while the campaign is running: rows given back at a pause or cancel are seen only
      -- by statements that also see the new state, so no worker can take them again.
      AND EXISTS (SELECT 1 FROM campaigns_campaign c WHERE c.id = %b AND c.state = 'running')
    ORDER BY next_attempt_at, id
    LIMIT %b
    FOR UPDATE SKIP LOCKED
)
UPDATE campaigns_recipient r
SET state = 'claimed', lease_owner = %b, lease_expires_at = now() + %b * interval '1 second', claimed_at = NULL,
    attempts = r.attempts + 1
FROM picked WHERE r.id = picked.id
RETURNING r.id, r.variant_id, r.contact_id, r.phone, r.wa_id, r.name, r.variables::text, r.attempts
"""

# Only rows still ours and within the lease: after it ran out the reconciler may have given
# the row to another worker.
_SENDING_SQL = """
UPDATE campaigns_recipient SET claimed_at = now()
WHERE id = ANY(%b::bigint[]) AND state = 'claimed' AND lease_owner = %b AND lease_expires_at > now()
RETURNING id
"""

_RELEASE_SQL = """
UPDATE campaigns_recipient
SET state = 'queued', lease_owner = '', lease_expires_at = NULL, attempts = GREATEST(attempts - 1, 0)
WHERE id = ANY(%s) AND state = 'claimed' AND lease_owner = %s
"""


@dataclass
class Claimed:
    id: int
    variant_id: int | None
    contact_id: int | None
    phone: str
    wa_id: str
    name: str
    variables: dict
    attempts: int


def recipients_claim(*, campaign_id: int, limit: int, owner: str, lease: timedelta = LEASE) -> list[Claimed]:
    """Claim up to ``limit`` due recipients of the campaign for ``owner`` (committed on return)."""
    import json

    # One statement: in autocommit it is its own transaction (no COMMIT round trip); inside
    # the caller's transaction (the plan's lock) it is part of that one.
    with binary_cursor(prepared=True) as cursor:
        cursor.execute(_CLAIM_SQL, [campaign_id, campaign_id, limit, owner, lease.total_seconds()])
        rows = cursor.fetchall()
    rows.sort(key=lambda r: r[0])
    return [
        Claimed(
            id=r[0],
            variant_id=r[1],
            contact_id=r[2],
            phone=r[3],
            wa_id=r[4],
            name=r[5],
            variables=row_values(name=r[5], phone=r[3], variables=json.loads(r[6]) if r[6] else {}),
            attempts=r[7],
        )
        for r in rows
    ]


def recipients_sending(*, ids: list[int], owner: str) -> set[int]:
    """Mark claimed rows as leaving now (committed on return); returns the ids marked, the
    only ones the caller may send."""
    if not ids:
        return set()
    with binary_cursor(prepared=True) as cursor:  # one statement: committed as it returns
        cursor.execute(_SENDING_SQL, [ids, owner])
        return {r[0] for r in cursor.fetchall()}


def recipients_release(*, ids: list[int], owner: str) -> int:
    """Give back claimed rows that were never sent (the campaign was paused or cancelled
    between the claim and the send)."""
    if not ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, [ids, owner])
        return cursor.rowcount


# The plan's messages of the month (``tenants.limits``): claims of every campaign of a company
# go one at a time through this transaction lock, and each claims at most the room left, counted
# as the month's messages plus the rows claimed and not yet written (on the wire).
_PLAN_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':campaigns.plan_messages'))"
_IN_FLIGHT_SQL = "SELECT count(*) FROM campaigns_recipient WHERE state = 'claimed'"


def recipients_claim_within_plan(
    *, campaign_id: int, limit: int, owner: str, messages_limit: int | None, lease: timedelta = LEASE
) -> tuple[list[Claimed], bool]:
    """``recipients_claim`` under the plan's messages limit; returns ``(rows, plan_full)``."""
    if messages_limit is None:
        return recipients_claim(campaign_id=campaign_id, limit=limit, owner=owner, lease=lease), False
    from inbox.selectors import messages_sent_count
    from tenants import limits
    from tenants.context import current_company

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_PLAN_LOCK_SQL)
            cursor.execute(_IN_FLIGHT_SQL)
            in_flight = cursor.fetchone()[0]
        used = messages_sent_count(limits.month_start(current_company())) + in_flight
        room = messages_limit - used
        if room <= 0:
            return [], True
        return recipients_claim(campaign_id=campaign_id, limit=min(limit, room), owner=owner, lease=lease), False
