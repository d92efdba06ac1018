"""How long the inbox keeps its logs, and trimming them (the daily ``inbox.prune_logs``).

Catch-up after a reconnect needs recent realtime events only; raw webhook deliveries are kept a
month for inspection; statuses parked for a message we never learn about (another tool sharing
the number sent it) are dropped after a day. A company is visited only when some row of its
becomes old enough (the ``inbox_logs`` due-work mark, set where the rows appear).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Min
from django.utils import timezone

from core import duework
from core.tenancy import require_tenant_schema
from inbox.models import PendingStatus, RealtimeEvent, WebhookEvent

INBOX_LOGS = "inbox_logs"
REALTIME_EVENT_RETENTION = timedelta(days=7)
WEBHOOK_EVENT_RETENTION = timedelta(days=30)
PENDING_STATUS_RETENTION = timedelta(days=1)
# The task runs daily: a full sweep over every company once a week is the safety net.
duework.register(INBOX_LOGS, safety_sweep=timedelta(days=7))


def logs_appeared(retention: timedelta) -> None:
    """Rows kept for ``retention`` were written in the current company: mark the company for
    trimming when they come of age (after commit; at most once an hour per process, see
    ``duework.mark_on_commit_throttled``: every retention is longer than that hour)."""
    duework.mark_on_commit_throttled(INBOX_LOGS, require_tenant_schema(), timezone.now() + retention)


def inbox_logs_prune(*, now: datetime | None = None) -> int:
    """Trim the current company's logs; mark the company again for when the oldest row left
    comes of age. Returns the rows deleted."""
    now = now or timezone.now()
    deleted = 0
    deleted += RealtimeEvent.objects.filter(created_at__lt=now - REALTIME_EVENT_RETENTION).delete()[0]
    # One statement: QuerySet.delete() loads every row first here (django-tenants listens to
    # every model's post_delete, which rules out Django's fast delete), and these are many, some
    # with a payload Python cannot even read (see ERR_UNREADABLE).
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM inbox_webhookevent WHERE processed_at < %s", [now - WEBHOOK_EVENT_RETENTION])
        deleted += cursor.rowcount
    deleted += PendingStatus.objects.filter(created_at__lt=now - PENDING_STATUS_RETENTION).delete()[0]
    next_due = []
    oldest_event = RealtimeEvent.objects.aggregate(at=Min("created_at"))["at"]
    if oldest_event:
        next_due.append(oldest_event + REALTIME_EVENT_RETENTION)
    # By id, the oldest delivery first (the primary key's order; processed_at has no index).
    oldest_delivery = WebhookEvent.objects.filter(processed_at__isnull=False).order_by("id").first()
    if oldest_delivery is not None and oldest_delivery.processed_at is not None:
        next_due.append(oldest_delivery.processed_at + WEBHOOK_EVENT_RETENTION)
    oldest_pending = PendingStatus.objects.aggregate(at=Min("created_at"))["at"]
    if oldest_pending:
        next_due.append(oldest_pending + PENDING_STATUS_RETENTION)
    if next_due:
        duework.mark_on_commit(INBOX_LOGS, require_tenant_schema(), min(next_due))
    return deleted
