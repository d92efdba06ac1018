"""What the engine asks and tells between sub-batches: the campaign's state changes it makes
itself (pause on Meta's codes, wait for a window or a cap, complete), the quality guard, the
tier seed, the WhatsApp Web pace and daily cap.

Here, not in ``campaigns.services``, so that the engine (``campaigns.dispatch``) never imports
the services that start it: ``campaigns.services`` re-exports what pages and the API call.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.lock_objects import campaign_for_update
from campaigns.models import Campaign, CampaignState, PauseReason, Recipient, RecipientState, SkipReason
from core import duework
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

ERR_NOT_PAUSABLE = gettext_noop("Only a sending campaign can be paused.")

# The due-work kind (``core.duework``) of beat's ``campaigns.tick``: a company is due when a
# campaign becomes scheduled (at its time) or running (now); each tick marks the company again
# for what it leaves (``campaigns_tick``): the next tick while a campaign sends, the earliest
# wake-up, scheduled start or lease to reconcile otherwise.
CAMPAIGNS = "campaigns"
duework.register(CAMPAIGNS)


def _campaign(campaign: Campaign | int) -> Campaign:
    return campaign if isinstance(campaign, Campaign) else Campaign.objects.get(pk=campaign)


def _set_state(campaign: Campaign, state: str, **fields: Any) -> None:
    campaign.state = state
    campaign.state_changed_at = timezone.now()
    for key, value in fields.items():
        setattr(campaign, key, value)
    campaign.save(update_fields=["state", "state_changed_at", "updated_at", *fields])
    if state == CampaignState.SCHEDULED:
        duework.mark_on_commit(CAMPAIGNS, require_tenant_schema(), campaign.scheduled_at)
    elif state == CampaignState.RUNNING:
        duework.mark_on_commit(CAMPAIGNS, require_tenant_schema())
    from campaigns.realtime import progress_publish_on_commit

    progress_publish_on_commit(campaign.pk, force=True)


@transaction.atomic
def campaign_pause(*, campaign: Campaign | int, reason: str = PauseReason.USER, detail: str = "", by=None) -> Campaign:
    """Pause sending: every worker sees it at its next look (within ``STATE_EVERY``), finishes
    what is in flight and stops. Pausing a paused campaign keeps the first reason."""
    campaign = campaign_for_update(_campaign(campaign).pk)
    if campaign.state == CampaignState.PAUSED:
        return campaign
    if campaign.state not in (CampaignState.RUNNING, CampaignState.SCHEDULED):
        if by is None:
            return campaign  # the engine, racing a person's cancel or the end: nothing to do
        raise ValidationError(_(ERR_NOT_PAUSABLE))
    _set_state(campaign, CampaignState.PAUSED, pause_reason=reason, pause_detail=(detail or "")[:500])
    return campaign


def campaign_pause_plan_limit(*, campaign_id: int) -> Campaign:
    """The engine found the plan's messages of the month used up: pause, with the message that
    names the limit and how to raise it, in the company's language."""
    from django.utils import translation

    from tenants import limits
    from tenants.context import current_company

    company = current_company()
    with translation.override(company.locale or "pt-br"):
        detail = limits.limit_message(company, limits.usage_of(company, limits.MESSAGES))
    return campaign_pause(campaign=campaign_id, reason=PauseReason.PLAN_LIMIT, detail=detail)


@transaction.atomic
def cancelled_skip(*, campaign_id: int) -> int:
    """Queued recipients of a cancelled campaign become skipped (cancelled). Run at the cancel
    and again when a worker stops: claims it gave back after the cancel are queued again."""
    from campaigns.dispatch.outcomes import counted_update

    ids = list(
        Recipient.objects.filter(campaign_id=campaign_id, state=RecipientState.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    total = 0
    for start in range(0, len(ids), 10000):
        total += counted_update(
            campaign_id=campaign_id,
            values="SELECT * FROM unnest(%b::bigint[]) AS v(id)",
            params=[ids[start : start + 10000]],
            set_sql=f"state = 'skipped', reason = '{SkipReason.CANCELLED}', next_attempt_at = NULL",
            upd_where="AND old.state = 'queued'",
        )["changed"]
    return total


@transaction.atomic
def campaign_wait(
    *, campaign_id: int, reason: str, seconds: float | None = None, until: dt.datetime | None = None
) -> None:
    """A running campaign that may not send now (window closed, tier or daily cap used up):
    it stays running and beat wakes it at ``until``."""
    until = until or timezone.now() + dt.timedelta(seconds=seconds or 60)
    Campaign.objects.filter(pk=campaign_id, state=CampaignState.RUNNING).update(
        waiting_until=until, waiting_reason=reason[:20], updated_at=timezone.now()
    )


def campaign_window_check(*, campaign_id: int) -> bool:
    """True when the campaign is outside its send window (it then waits for the opening)."""
    from campaigns.schedule import campaign_window_next_open

    campaign = (
        Campaign.objects.filter(pk=campaign_id).only("time_zone", "window_start", "window_end", "window_days").first()
    )
    if campaign is None:
        return True
    opens = campaign_window_next_open(campaign)
    if opens is None:
        return False
    campaign_wait(campaign_id=campaign_id, reason="window", until=opens)
    return True


# A run whose claim came back empty stays for retries due within this many seconds (the
# backoff of the first attempts) rather than leaving them to beat's next tick and a new run.
RETRY_HOLD_S = float(getattr(settings, "CAMPAIGN_RETRY_HOLD_S", 10))


def campaign_progress_check(*, campaign_id: int) -> str:
    """After an empty claim: ``wait`` (retries due soon, or rows claimed by other workers),
    ``retries later`` (beat queues a run when they are due), ``ab`` (the rest waits for the
    A/B winner), ``draining`` (claims of gone workers: the reconciler settles them) or
    ``done`` (the campaign is completed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE state = 'queued' AND next_attempt_at <= now() + %s * interval '1 second'),"
            " count(*) FILTER (WHERE state = 'queued' AND next_attempt_at < '9000-01-01 00:00:00+00'),"
            " count(*) FILTER (WHERE state = 'queued' AND next_attempt_at >= '9000-01-01 00:00:00+00'),"
            " count(*) FILTER (WHERE state = 'claimed' AND lease_expires_at > now()),"
            " count(*) FILTER (WHERE state = 'claimed')"
            " FROM campaigns_recipient WHERE campaign_id = %s AND state IN ('queued', 'claimed')",
            [RETRY_HOLD_S, campaign_id],
        )
        due_soon, queued, held, leased, claimed = cursor.fetchone()
    if due_soon or leased:
        return "wait"
    if queued:
        return "retries later"  # beat queues a run again when they are due
    if held:
        return "ab"
    if claimed:
        return "draining"
    campaign_complete_if_done(campaign_id=campaign_id)
    return "done"


@transaction.atomic
def campaign_complete_if_done(*, campaign_id: int) -> bool:
    campaign = campaign_for_update(campaign_id)
    if campaign.state != CampaignState.RUNNING or campaign.snapshot_at is None:
        return False
    if Recipient.objects.filter(
        campaign_id=campaign_id, state__in=[RecipientState.QUEUED, RecipientState.CLAIMED]
    ).exists():
        return False
    _set_state(campaign, CampaignState.COMPLETED, completed_at=timezone.now())
    return True


QUALITY_KEY = "camp:quality:{schema}:{campaign}"


def quality_guard_record(*, campaign_id: int, sent: int, failed: int) -> bool:
    """Record the last sends' outcomes (a Redis list of the last ``quality_window``) and pause
    the campaign when more than ``quality_threshold`` percent of them failed."""
    from core.redis import redis_client

    campaign = Campaign.objects.filter(pk=campaign_id).only("quality_window", "quality_threshold", "state").first()
    if campaign is None or not campaign.quality_window or not campaign.quality_threshold:
        return False
    key = QUALITY_KEY.format(schema=require_tenant_schema(), campaign=campaign_id)
    try:
        client = redis_client()
        pipe = client.pipeline()
        if sent:
            pipe.lpush(key, *(["0"] * min(sent, campaign.quality_window)))
        if failed:
            pipe.lpush(key, *(["1"] * min(failed, campaign.quality_window)))
        pipe.ltrim(key, 0, campaign.quality_window - 1)
        pipe.expire(key, 24 * 3600)
        pipe.lrange(key, 0, -1)
        window = pipe.execute()[-1]
    except Exception:  # noqa: BLE001 - the guard is a safety net, never a reason to stop
        return False
    if len(window) < campaign.quality_window:
        return False
    failures = sum(1 for x in window if x == b"1")
    if failures * 100 > campaign.quality_threshold * len(window):
        campaign_pause(
            campaign=campaign_id,
            reason=PauseReason.QUALITY_GUARD,
            detail=_("%(failed)s of the last %(total)s messages failed.") % {"failed": failures, "total": len(window)},
        )
        return True
    return False


def channel_recent_recipients(*, channel_id: int) -> list[tuple[str, float]]:
    """Who this number messaged in the last 24 hours (seeds the tier set after a Redis restart)."""
    since = timezone.now() - dt.timedelta(hours=24)
    rows = (
        Recipient.objects.filter(campaign__channel_id=channel_id, sent_at__gte=since)
        .values_list("phone", "sent_at")
        .order_by()
    )
    return [(phone, at.timestamp()) for phone, at in rows if at is not None]


def pace_range(*, channel_id: int) -> tuple[float, float]:
    from inbox.models import SendingLimit

    row = SendingLimit.objects.filter(channel_id=channel_id).first()
    if row is None:
        return 4.0, 12.0
    return float(row.min_delay_s), float(max(row.min_delay_s, row.max_delay_s))


@transaction.atomic
def daily_cap_left(*, campaign_id: int) -> int:
    """How many more messages a WhatsApp Web number may send today (its warm-up cap minus
    what it sent since local midnight). At zero the campaign waits for tomorrow."""
    from campaigns.schedule import local_midnight, next_local_midnight, warmup_cap
    from inbox.models import SendingLimit

    campaign = Campaign.objects.select_related("channel").get(pk=campaign_id)
    row, _created = SendingLimit.objects.get_or_create(
        channel_id=campaign.channel_id, defaults={"throughput_mps": 1, "daily_cap": 1000}
    )
    today = timezone.localdate(timezone.now(), timezone=_tz(campaign.time_zone))
    if row.warmup_started_on is None:
        row.warmup_started_on = today
        row.save(update_fields=["warmup_started_on", "updated_at"])
    cap = warmup_cap(
        daily_cap=row.daily_cap,
        start=row.warmup_start,
        growth_pct=row.warmup_growth_pct,
        started_on=row.warmup_started_on,
        today=today,
    )
    sent_today = Recipient.objects.filter(
        campaign__channel_id=campaign.channel_id, sent_at__gte=local_midnight(campaign.time_zone)
    ).count()
    left = cap - sent_today
    if left <= 0:
        campaign_wait(campaign_id=campaign_id, reason="daily_cap", until=next_local_midnight(campaign.time_zone))
    return left


def _tz(name: str):
    import zoneinfo

    return zoneinfo.ZoneInfo(name or "America/Sao_Paulo")
