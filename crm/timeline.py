"""The contact timeline: what happened to a contact, written by every app that touches one
(``message.in``, ``campaign.sent``, ...)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from crm.models import Contact, TimelineEvent
from tenants.context import require_tenant_schema


def actor_id(actor) -> int | None:
    """The user id behind ``actor`` (a user, a user id or ``None``)."""
    if actor is None:
        return None
    return actor if isinstance(actor, int) else getattr(actor, "pk", None)


def timeline_record(
    *, contact: Contact, kind: str, data: dict | None = None, actor=None, at: dt.datetime | None = None
) -> TimelineEvent:
    """Add an event to the contact's timeline (``kind`` like ``contact.created``,
    ``message.in``, ``campaign.sent``; ``data`` is JSON; ``actor`` a user or user id)."""
    require_tenant_schema()
    return TimelineEvent.objects.create(
        contact_id=contact.pk, kind=kind, data=data or {}, actor_id=actor_id(actor), at=at or timezone.now()
    )
