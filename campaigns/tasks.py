"""Celery tasks of the campaigns app: thin, tenant-explicit, one service call each.

``campaigns.run`` is one campaign run (many thousands of messages), never one message.
"""

from __future__ import annotations

from celery import shared_task
from django.utils.dateparse import parse_datetime

from tenants.tasks import TenantTask


@shared_task(base=TenantTask, name="campaigns.launch", ignore_result=True)
def launch(schema_name: str, campaign_id: int) -> None:
    from campaigns.services import campaign_launch

    campaign_launch(campaign_id=campaign_id)


@shared_task(base=TenantTask, name="campaigns.run", ignore_result=True, acks_late=True)
def run(schema_name: str, campaign_id: int) -> str:
    from campaigns.dispatch.run import campaign_run

    return campaign_run(schema=schema_name, campaign_id=campaign_id)


@shared_task(base=TenantTask, name="campaigns.cancelled_skip", ignore_result=True)
def cancelled_skip(schema_name: str, campaign_id: int) -> int:
    """The queued recipients of a large cancelled campaign become skipped (``campaign_cancel``)."""
    from campaigns.dispatch.control import cancelled_skip as skip
    from campaigns.realtime import progress_publish_on_commit

    skipped = skip(campaign_id=campaign_id)
    progress_publish_on_commit(campaign_id)
    return skipped


@shared_task(base=TenantTask, name="campaigns.statuses", ignore_result=True)
def statuses(schema_name: str, payload: dict) -> None:
    """``inbox.hooks.ON_MESSAGE_STATUS``: a batch of provider statuses was applied."""
    from campaigns.dispatch.reconcile import statuses_apply

    statuses_apply(
        channel_id=int(payload["channel"]),
        statuses=list(payload.get("statuses") or []),
        callbacks=list(payload.get("callbacks") or []),
    )


@shared_task(base=TenantTask, name="campaigns.reply", ignore_result=True)
def reply(schema_name: str, payload: dict) -> None:
    """``inbox.hooks.ON_INBOUND_MESSAGE``: a customer wrote; a recent recipient replied."""
    from django.utils import timezone

    from campaigns.dispatch.reconcile import replies_apply

    at = parse_datetime(str(payload.get("at") or "")) or timezone.now()
    replies_apply(channel_id=int(payload["channel"]), contact_id=int(payload["contact"]), at=at)


@shared_task(name="campaigns.tick", ignore_result=True)
def tick() -> None:
    """Beat: scheduled starts, send windows, lease reconciliation, A/B winners, completion."""
    from campaigns.services import CAMPAIGNS, campaigns_tick
    from core.tasks import for_each_company

    for_each_company(lambda schema: campaigns_tick(), work=CAMPAIGNS)


# --- message templates ----------------------------------------------------------------------


@shared_task(base=TenantTask, name="campaigns.template_updates_apply", ignore_result=True)
def template_updates_apply(schema_name: str, payload: dict) -> int:
    """Meta's template status and quality webhooks, handed up by the inbox
    (``inbox.hooks.ON_TEMPLATE_UPDATE``: ``{"channel": id, "updates": [...]}``)."""
    from campaigns.message_templates import template_updates_apply as apply
    from inbox.models import Channel

    channel = Channel.objects.filter(pk=int(payload.get("channel") or 0)).first()
    if channel is None:
        return 0
    return apply(channel=channel, updates=list(payload.get("updates") or []))
