"""Celery tasks of the cadences app: thin, tenant-explicit, one service call each.

``cadences.tick`` is the only periodic task: one sweep over the companies with due cadence
work, each company's due enrolments in batches; never a task per enrolment.
"""

from __future__ import annotations

from celery import shared_task
from django.utils.dateparse import parse_datetime

from tenants.tasks import TenantTask


@shared_task(name="cadences.tick", ignore_result=True)
def tick() -> None:
    """Beat: outcomes of fresh sends, contact changes, due enrolments (see ``cadences.engine``)."""
    from cadences.engine import cadences_tick
    from cadences.services import CADENCES
    from core.tasks import for_each_company

    for_each_company(lambda schema: cadences_tick(), work=CADENCES)


@shared_task(base=TenantTask, name="cadences.inbound", ignore_result=True)
def inbound(schema_name: str, payload: dict) -> None:
    """``inbox.hooks.ON_INBOUND_MESSAGE``: stop on reply; keyword and new-conversation triggers."""
    from django.utils import timezone

    from cadences.enrolment import inbound_apply

    at = parse_datetime(str(payload.get("at") or "")) or timezone.now()
    inbound_apply(
        contact_id=int(payload["contact"]),
        channel_id=int(payload["channel"]),
        at=at,
        message_id=int(payload["message"]) if payload.get("message") else None,
        conversation_created=bool(payload.get("conversation_created")),
    )


@shared_task(base=TenantTask, name="cadences.statuses", ignore_result=True)
def statuses(schema_name: str, payload: dict) -> None:
    """``inbox.hooks.ON_MESSAGE_STATUS``: a permanent failure after the send exits the enrolment."""
    from cadences.enrolment import failures_apply

    failed = [
        int(s["message"]) for s in payload.get("statuses") or [] if s.get("status") == "failed" and s.get("message")
    ]
    callbacks = [str(c.get("callback", "")) for c in payload.get("callbacks") or [] if c.get("status") == "failed"]
    if failed or callbacks:
        failures_apply(message_ids=failed, callbacks=callbacks)
