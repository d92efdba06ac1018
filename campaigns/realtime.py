"""Live progress of campaigns over the websocket, coalesced: at most one event per campaign
every ``PROGRESS_INTERVAL`` seconds across all workers (a Redis ``SET NX PX`` gate), never one
per message. The event carries the counters as they are committed; a client that missed one
simply shows the next.

Event: ``{"type": "campaign", "op": "progress", "id": 7, "state": "running",
"counters": {"total": .., "queued": .., "sent": .., "delivered": .., "read": .., "replied": ..,
"failed": .., "skipped": .., "unknown": .., "clicked": ..}}`` to the company's
``campaigns`` group (``progress_group()``), scoped to the company's schema by
``core.realtime`` so no other company can receive it.
"""

from __future__ import annotations

import logging

from django.db import transaction

from core.realtime import send_event
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25
COUNTER_FIELDS = ("total", "queued", "sent", "delivered", "read", "replied", "failed", "skipped", "unknown", "clicked")


def progress_group() -> str:
    """The group (inside the company's scope) that campaign pages subscribe to."""
    return "campaigns"


def progress_event(campaign) -> dict:
    return {
        "type": "campaign",
        "op": "progress",
        "id": campaign.pk,
        "state": campaign.state,
        "pause_reason": campaign.pause_reason,
        "counters": {name: getattr(campaign, f"{name}_count") for name in COUNTER_FIELDS},
    }


def progress_publish(campaign_id: int, *, force: bool = False) -> bool:
    """Send the campaign's counters unless another worker did within the interval."""
    from campaigns.models import Campaign
    from core.redis import redis_client

    schema = require_tenant_schema()
    if not force:
        try:
            gate = redis_client().set(
                f"camp:progress:{schema}:{campaign_id}", "1", nx=True, px=int(PROGRESS_INTERVAL * 1000)
            )
        except Exception:  # noqa: BLE001 - progress is best effort
            gate = True
        if not gate:
            return False
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return False
    send_event(progress_event(campaign), groups=[progress_group()])
    return True


def progress_publish_on_commit(campaign_id: int, *, force: bool = False) -> None:
    transaction.on_commit(lambda: progress_publish(campaign_id, force=force))
