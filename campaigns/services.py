"""Writes of the campaigns app: the campaign lifecycle the pages, the API and beat call, and the
small services the engine calls between sub-batches.

Lifecycle: ``campaign_create`` -> ``campaign_estimate`` (read only) -> ``campaign_start`` (now or
scheduled) -> ``campaign_pause`` / ``campaign_resume`` / ``campaign_cancel``; beat's
``campaigns_tick`` starts due campaigns, wakes waiting ones, reconciles expired leases, picks A/B
winners, completes finished campaigns and makes sure running ones have workers.

Services trust their callers' authorization (views and API check roles first), are
keyword-only, and queue work by task name (``core.tasks``), never importing tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.dispatch.control import (
    CAMPAIGNS,
    ERR_NOT_PAUSABLE,
    _set_state,
    campaign_complete_if_done,
    campaign_pause,
    campaign_progress_check,
    campaign_wait,
    campaign_window_check,
    cancelled_skip,
    channel_recent_recipients,
    daily_cap_left,
    pace_range,
    quality_guard_record,
)
from campaigns.lock_objects import campaign_for_update
from campaigns.models import (
    OPEN_STATES,
    AbPhase,
    AudienceKind,
    Campaign,
    CampaignKind,
    CampaignState,
    CampaignVariant,
    MessageTemplate,
    PauseReason,
    Recipient,
    RecipientState,
    WinnerMetric,
)
from core import duework
from core.tasks import enqueue_on_commit
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

ERR_NAME = gettext_noop("Give the campaign a name.")
ERR_CHANNEL = gettext_noop("Choose a connected channel to send from.")
ERR_NO_CONTENT = gettext_noop("Choose an approved template or write the message.")
ERR_TEMPLATE_REQUIRED = gettext_noop("WhatsApp Cloud API campaigns send approved templates only.")
ERR_TEMPLATE_NOT_APPROVED = gettext_noop("This template is not approved by WhatsApp yet.")
ERR_SPLITS = gettext_noop("The variants' shares must add up to 100%.")
ERR_TOO_MANY_VARIANTS = gettext_noop("A campaign can test at most 3 variants.")
ERR_AUDIENCE = gettext_noop("Choose who receives the campaign.")
ERR_SCHEDULE_PAST = gettext_noop("Choose a moment in the future to send.")
ERR_WINDOW = gettext_noop("Give the send window both a start and an end time.")
ERR_RATE = gettext_noop("The rate must be between 1 and %(max)s messages per second for this number.")
ERR_NOT_STARTABLE = gettext_noop("Only a draft campaign can be started.")
ERR_NOT_RESUMABLE = gettext_noop("Only a paused campaign can be resumed.")
ERR_NOT_CANCELLABLE = gettext_noop("This campaign has already finished.")
ERR_AB_WAIT = gettext_noop("Say how long to wait before choosing the winner.")

MAX_VARIANTS = 3
RUNS_PER_CAMPAIGN = int(getattr(settings, "CAMPAIGN_RUNS_PER_CAMPAIGN", 1))


def _campaign(campaign: Campaign | int) -> Campaign:
    return campaign if isinstance(campaign, Campaign) else Campaign.objects.get(pk=campaign)


__all__ = [
    "CAMPAIGNS",
    "ERR_NOT_PAUSABLE",
    "ab_winner_choose",
    "campaign_cancel",
    "campaign_complete_if_done",
    "campaign_create",
    "campaign_estimate",
    "campaign_launch",
    "campaign_pause",
    "campaign_progress_check",
    "campaign_resume",
    "campaign_start",
    "campaign_wait",
    "campaign_window_check",
    "campaigns_tick",
    "cancelled_skip",
    "channel_recent_recipients",
    "daily_cap_left",
    "pace_range",
    "quality_guard_record",
]


# --- create and estimate ----------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    name: str,
    channel,
    variants: list[dict[str, Any]],
    audience_kind: str = AudienceKind.SEGMENTS,
    segment_ids: list[int] | None = None,
    list_ids: list[int] | None = None,
    tag_ids: list[int] | None = None,
    upload=None,
    variables: dict[str, Any] | None = None,
    window_start: dt.time | None = None,
    window_end: dt.time | None = None,
    window_days: list[int] | None = None,
    rate_mps: int | None = None,
    ab_test_share: int = 0,
    ab_winner_metric: str = WinnerMetric.READ,
    ab_wait: dt.timedelta | None = None,
    reply_window: dt.timedelta | None = None,
    kind: str = CampaignKind.BROADCAST,
    time_zone: str | None = None,
    by=None,
    idempotency_key: str | None = None,
) -> Campaign:
    """A draft campaign with its variants (each ``{"template": MessageTemplate | None,
    "body": str, "split": int, "variables": dict}``). Validates everything a start needs, so a
    draft that exists can be started. The same ``idempotency_key`` returns the same draft."""
    from inbox.limits import limit_for

    if idempotency_key:
        existing = Campaign.objects.filter(create_key=idempotency_key).first()
        if existing is not None:
            return existing
    name = (name or "").strip()
    if not name:
        raise ValidationError(_(ERR_NAME))
    if channel is None or not channel.is_active:
        raise ValidationError(_(ERR_CHANNEL))
    if not variants:
        raise ValidationError(_(ERR_NO_CONTENT))
    if len(variants) > MAX_VARIANTS:
        raise ValidationError(_(ERR_TOO_MANY_VARIANTS))
    if sum(int(v.get("split", 0) or 0) for v in variants) != 100:
        raise ValidationError(_(ERR_SPLITS))
    for variant in variants:
        template: MessageTemplate | None = variant.get("template")
        if channel.kind == "whatsapp_cloud" and template is None:
            raise ValidationError(_(ERR_TEMPLATE_REQUIRED))
        if template is not None and not template.is_sendable:
            raise ValidationError(_(ERR_TEMPLATE_NOT_APPROVED))
        if template is None and not (variant.get("body") or "").strip():
            raise ValidationError(_(ERR_NO_CONTENT))
    if audience_kind == AudienceKind.SEGMENTS and not segment_ids:
        raise ValidationError(_(ERR_AUDIENCE))
    if audience_kind == AudienceKind.LISTS and not list_ids:
        raise ValidationError(_(ERR_AUDIENCE))
    if audience_kind == AudienceKind.TAGS and not tag_ids:
        raise ValidationError(_(ERR_AUDIENCE))
    if audience_kind == AudienceKind.UPLOAD and upload is None:
        raise ValidationError(_(ERR_AUDIENCE))
    if (window_start is None) != (window_end is None):
        raise ValidationError(_(ERR_WINDOW))
    top = int(limit_for(channel).rate)
    if rate_mps is not None and not (1 <= int(rate_mps) <= top):
        raise ValidationError(_(ERR_RATE) % {"max": top})
    if ab_test_share and len(variants) > 1 and not ab_wait:
        raise ValidationError(_(ERR_AB_WAIT))
    if time_zone is None:
        from tenants.context import current_company

        company = current_company()
        time_zone = getattr(company, "time_zone", "") or "America/Sao_Paulo"
    try:
        campaign = Campaign.objects.create(
            kind=kind,
            name=name[:120],
            channel=channel,
            variables=variables or {},
            audience_kind=audience_kind,
            segment_ids=list(segment_ids or []),
            list_ids=list(list_ids or []),
            tag_ids=list(tag_ids or []),
            upload=upload,
            window_start=window_start,
            window_end=window_end,
            window_days=list(window_days) if window_days is not None else [0, 1, 2, 3, 4, 5],
            rate_mps=rate_mps,
            ab_test_share=int(ab_test_share or 0) if len(variants) > 1 else 0,
            ab_winner_metric=ab_winner_metric,
            ab_wait=ab_wait,
            reply_window=reply_window or dt.timedelta(days=3),
            time_zone=time_zone,
            created_by_id=getattr(by, "pk", by),
            create_key=idempotency_key or None,
        )
    except IntegrityError:
        return Campaign.objects.get(create_key=idempotency_key)
    for key, variant in zip("ABC", variants, strict=False):
        CampaignVariant.objects.create(
            campaign=campaign,
            key=key,
            template=variant.get("template"),
            body=(variant.get("body") or "").strip(),
            variables=variant.get("variables") or {},
            split=int(variant.get("split", 100)),
        )
    return campaign


def campaign_estimate(*, campaign: Campaign) -> dict[str, Any]:
    """What starting now would do: the audience after exclusions, the estimated cost from the
    price table, and whether the number's remaining 24 h messaging limit covers it."""
    from campaigns.dispatch.snapshot import audience_filters
    from campaigns.pricing.models import ANY_COUNTRY, MessagePrice, PriceKind
    from crm.selectors import audience_opted_out_count, marketing_audience
    from inbox.limits import LimiterUnavailable, limiter_for

    filters = audience_filters(campaign)
    reachable = marketing_audience(**filters).count()
    opted_out = audience_opted_out_count(**filters)
    variant = campaign.variants.select_related("template").order_by("key").first()
    category = variant.template.category if variant is not None and variant.template is not None else "MARKETING"
    kind = PriceKind.SMS if campaign.channel.kind == "sms" else PriceKind.WHATSAPP
    if kind == PriceKind.SMS:
        category = "SMS"
    from tenants.context import company_country

    country = company_country().upper()
    # The price table is a shared (public) table: the tenant search_path reaches it.
    prices = list(
        MessagePrice.objects.filter(
            kind=kind, category=category, country__in=[country, ANY_COUNTRY], valid_from__lte=timezone.localdate()
        ).order_by("-valid_from")
    )
    price = next((p for p in prices if p.country == country), None) or next(iter(prices), None)
    segments = 1
    if kind == PriceKind.SMS and variant is not None:
        from inbox.providers.sms import sms_segments

        segments = sms_segments(variant.body)[1]
    cost = (price.price * reachable * segments) if price is not None else None
    tier_left = None
    limiter = limiter_for(campaign.channel)
    if limiter.limit.tier_users is not None:
        try:
            tier_left = max(0, limiter.limit.tier_users - limiter.tier_used())
        except LimiterUnavailable:
            tier_left = None
    return {
        "recipients": reachable,
        "excluded": {"opted_out": opted_out},
        "price": price.price if price is not None else None,
        "currency": price.currency if price is not None else "BRL",
        "segments": segments,
        "estimated_cost": cost.quantize(Decimal("0.01")) if cost is not None else None,
        "tier_users": limiter.limit.tier_users,
        "tier_left": tier_left,
        "exceeds_tier": tier_left is not None and reachable > tier_left,
    }


# --- start, pause, resume, cancel -----------------------------------------------------------------


@transaction.atomic
def campaign_start(
    *, campaign: Campaign, at: dt.datetime | None = None, by=None, idempotency_key: str | None = None
) -> Campaign:
    """Send now (the snapshot is taken by a task, then the runs start) or at ``at`` (aware;
    beat starts it, also after a restart). A repeated ``idempotency_key`` is a no-op."""
    campaign = campaign_for_update(campaign.pk)
    if idempotency_key and campaign.start_key == idempotency_key:
        return campaign
    if campaign.state != CampaignState.DRAFT:
        raise ValidationError(_(ERR_NOT_STARTABLE))
    if at is not None and at <= timezone.now():
        at = None
    campaign.start_key = idempotency_key or None
    if at is not None:
        _set_state(campaign, CampaignState.SCHEDULED, scheduled_at=at, start_key=campaign.start_key)
        return campaign
    _set_state(campaign, CampaignState.RUNNING, started_at=timezone.now(), start_key=campaign.start_key)
    enqueue_on_commit("campaigns.launch", require_tenant_schema(), campaign.pk)
    return campaign


@transaction.atomic
def campaign_launch(*, campaign_id: int) -> Campaign | None:
    """Take the audience snapshot of a running campaign (once) and queue its runs (worker)."""
    from campaigns.dispatch.snapshot import snapshot_take

    campaign = campaign_for_update(campaign_id)
    if campaign.state not in (CampaignState.RUNNING, CampaignState.PAUSED):
        return campaign
    if campaign.snapshot_at is None:
        counts = snapshot_take(campaign)
        skipped = counts["invalid"] + counts["duplicate"]
        campaign.total_count = counts["queued"] + skipped
        campaign.queued_count = counts["queued"]
        campaign.skipped_count = skipped
        campaign.excluded = {k: counts[k] for k in ("opted_out", "invalid", "duplicate")}
        campaign.snapshot_at = timezone.now()
        fields = ["total_count", "queued_count", "skipped_count", "excluded", "snapshot_at"]
        if campaign.ab_test_share and campaign.variants.count() > 1:
            campaign.ab_phase = AbPhase.TESTING
            fields.append("ab_phase")
        campaign.save(update_fields=fields)
    if campaign.state == CampaignState.RUNNING:
        _queue_runs(campaign, RUNS_PER_CAMPAIGN)
    return campaign


def _queue_runs(campaign: Campaign, count: int) -> None:
    schema = require_tenant_schema()
    for _i in range(max(0, count)):
        enqueue_on_commit("campaigns.run", schema, campaign.pk)


@transaction.atomic
def campaign_resume(*, campaign: Campaign | int, by=None) -> Campaign:
    """Continue where it stopped (queued rows are still queued; nothing is taken again)."""
    campaign = campaign_for_update(_campaign(campaign).pk)
    if campaign.state != CampaignState.PAUSED:
        raise ValidationError(_(ERR_NOT_RESUMABLE))
    _set_state(campaign, CampaignState.RUNNING, pause_reason="", pause_detail="", waiting_until=None, waiting_reason="")
    schema = require_tenant_schema()
    if campaign.snapshot_at is None:
        enqueue_on_commit("campaigns.launch", schema, campaign.pk)
    else:
        _queue_runs(campaign, RUNS_PER_CAMPAIGN)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign | int, by=None) -> Campaign:
    """Stop for good: queued recipients become skipped (cancelled). Claims in flight finish
    and are written; the reconciler settles any the workers cannot."""
    campaign = campaign_for_update(_campaign(campaign).pk)
    if campaign.state not in OPEN_STATES:
        raise ValidationError(_(ERR_NOT_CANCELLABLE))
    _set_state(campaign, CampaignState.CANCELLED, cancelled_at=timezone.now())
    if campaign.queued_count > getattr(settings, "CAMPAIGN_CANCEL_INLINE_MAX", 20_000):
        # Workers stop at the state change; skipping a million queued rows takes tens of
        # seconds, which a person's request must not wait for.
        enqueue_on_commit("campaigns.cancelled_skip", require_tenant_schema(), campaign.pk)
    else:
        cancelled_skip(campaign_id=campaign.pk)
    return campaign


# --- A/B -----------------------------------------------------------------------------------------


@transaction.atomic
def ab_winner_choose(*, campaign_id: int, now: dt.datetime | None = None) -> CampaignVariant | None:
    """After the test share went out and ``ab_wait`` passed: the variant with the best rate by
    ``ab_winner_metric`` (ties: the earlier variant) gets every held recipient."""
    from campaigns.dispatch.outcomes import counters_bump

    now = now or timezone.now()
    campaign = campaign_for_update(campaign_id)
    if campaign.ab_phase not in (AbPhase.TESTING, AbPhase.WAITING) or campaign.ab_winner_id:
        return None
    if Recipient.objects.filter(
        campaign=campaign, state__in=[RecipientState.QUEUED, RecipientState.CLAIMED], variant__isnull=False
    ).exists():
        return None  # the test share is still going out
    if campaign.ab_phase == AbPhase.TESTING:
        campaign.ab_phase = AbPhase.WAITING
        campaign.ab_decide_at = now + (campaign.ab_wait or dt.timedelta(hours=1))
        campaign.save(update_fields=["ab_phase", "ab_decide_at"])
        return None
    if campaign.ab_decide_at and campaign.ab_decide_at > now:
        return None
    metric = {"read": "read_count", "reply": "replied_count", "click": "clicked_count"}[campaign.ab_winner_metric]
    variants = list(campaign.variants.order_by("key"))
    winner = max(variants, key=lambda v: (getattr(v, metric) / v.sent_count if v.sent_count else 0.0, -ord(v.key)))
    held = Recipient.objects.filter(campaign=campaign, state=RecipientState.QUEUED, variant__isnull=True)
    held.update(variant=winner, next_attempt_at=Now())  # due at once, whatever clock the caller passed
    campaign.ab_winner = winner
    campaign.ab_phase = AbPhase.WINNER
    campaign.save(update_fields=["ab_winner", "ab_phase"])
    counters_bump(campaign_id=campaign.pk, rows=[])
    if campaign.state == CampaignState.RUNNING:
        _queue_runs(campaign, RUNS_PER_CAMPAIGN)
    return winner


# --- beat -----------------------------------------------------------------------------------------


def campaigns_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat (every few seconds, per company with campaigns): start due scheduled campaigns,
    wake waiting ones, reconcile expired leases, choose A/B winners, complete finished
    campaigns and queue runs for running campaigns that have none."""
    from campaigns.dispatch.reconcile import leases_reconcile
    from campaigns.dispatch.run import live_runs

    now = now or timezone.now()
    schema = require_tenant_schema()
    done = {"started": 0, "woken": 0, "reconciled": 0, "completed": 0, "runs": 0}
    moments = _TickMoments.read()
    if not moments.due(now):  # a quiet visit: one statement, and the mark for the next moment
        moments.mark_next(schema)
        return done
    for campaign in Campaign.objects.filter(state=CampaignState.SCHEDULED, scheduled_at__lte=now).order_by("id"):
        with transaction.atomic():
            locked = campaign_for_update(campaign.pk)
            if locked.state == CampaignState.SCHEDULED:
                _set_state(locked, CampaignState.RUNNING, started_at=now)
                enqueue_on_commit("campaigns.launch", schema, locked.pk)
                done["started"] += 1
    done["woken"] = Campaign.objects.filter(state=CampaignState.RUNNING, waiting_until__lte=now).update(
        waiting_until=None, waiting_reason=""
    )
    done["reconciled"] = leases_reconcile(now=now)
    running = list(
        Campaign.objects.filter(state=CampaignState.RUNNING, snapshot_at__isnull=False, waiting_until__isnull=True)
    )
    for campaign in running:
        if campaign.ab_phase in (AbPhase.TESTING, AbPhase.WAITING):
            ab_winner_choose(campaign_id=campaign.pk, now=now)
        verdict = campaign_progress_check(campaign_id=campaign.pk)
        if verdict == "done":
            done["completed"] += 1
            continue
        due = Recipient.objects.filter(
            campaign=campaign, state=RecipientState.QUEUED, next_attempt_at__lte=now
        ).exists()
        if due and live_runs(schema, campaign.pk) == 0:
            with transaction.atomic():
                _queue_runs(campaign, RUNS_PER_CAMPAIGN)
            done["runs"] += 1
    _TickMoments.read().mark_next(schema)
    return done


@dataclass(frozen=True)
class _TickMoments:
    """What a company's campaigns wait for, read in one statement: the earliest scheduled
    start, the earliest wake-up of a waiting campaign, whether one is sending, and the earliest
    lease of a claimed recipient (to reconcile once it runs out)."""

    scheduled_at: dt.datetime | None
    waiting_until: dt.datetime | None
    sending: bool
    lease_expires_at: dt.datetime | None

    @classmethod
    def read(cls) -> _TickMoments:
        campaigns, recipients = Campaign._meta.db_table, Recipient._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT (SELECT min(scheduled_at) FROM {campaigns} WHERE state = %s),
                       (SELECT min(waiting_until) FROM {campaigns} WHERE state = %s),
                       EXISTS (SELECT 1 FROM {campaigns} WHERE state = %s AND waiting_until IS NULL),
                       (SELECT min(lease_expires_at) FROM {recipients} WHERE state = %s)
                """,
                [CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.RUNNING, RecipientState.CLAIMED],
            )
            return cls(*cursor.fetchone())

    def due(self, now: dt.datetime) -> bool:
        """Whether a tick at ``now`` has anything to do."""
        return self.sending or any(
            at is not None and at <= now for at in (self.scheduled_at, self.waiting_until, self.lease_expires_at)
        )

    def mark_next(self, schema: str) -> None:
        """Mark the company due (``CAMPAIGNS``) for what this tick leaves: the next tick while a
        campaign sends, else the earliest wake-up, scheduled start or lease to reconcile."""
        from campaigns.dispatch.reconcile import GRACE

        if self.sending:
            duework.mark_on_commit(CAMPAIGNS, schema)
            return
        lease = self.lease_expires_at + GRACE if self.lease_expires_at is not None else None
        moments = [at for at in (self.waiting_until, self.scheduled_at, lease) if at is not None]
        if moments:
            duework.mark_on_commit(CAMPAIGNS, schema, min(moments))


# --- a WhatsApp Web number's pace -----------------------------------------------------------------

ERR_PACE_DELAY = gettext_noop("The pauses must be between 1 and 300 seconds, the shortest no longer than the longest.")
ERR_PACE_CAP = gettext_noop("The daily cap must be between 1 and 100,000 messages.")
ERR_PACE_WARMUP = gettext_noop("The first day's cap must be between 1 and the daily cap.")
ERR_PACE_GROWTH = gettext_noop("The growth per day must be between 1% and 100%.")
ERR_PACE_KIND = gettext_noop("Only WhatsApp Web numbers have a pace to set.")


@transaction.atomic
def sending_pace_update(
    *,
    channel,
    min_delay_s: float,
    max_delay_s: float,
    daily_cap: int,
    warmup_start: int,
    warmup_growth_pct: int,
):
    """Set how a WhatsApp Web number sends campaigns (``inbox.SendingLimit``): a random pause
    of ``min_delay_s``-``max_delay_s`` between messages, and a daily cap that starts at
    ``warmup_start`` and grows by ``warmup_growth_pct`` a day up to ``daily_cap``. Running
    campaigns read it before their next message. Bad values change nothing."""
    from inbox.models import ChannelKind, SendingLimit

    errors: dict[str, str] = {}
    if channel.kind != ChannelKind.WHATSAPP_WEB:
        raise ValidationError(_(ERR_PACE_KIND))
    if not (1 <= min_delay_s <= max_delay_s <= 300):
        errors["delay"] = _(ERR_PACE_DELAY)
    if not (1 <= daily_cap <= 100_000):
        errors["daily_cap"] = _(ERR_PACE_CAP)
    elif not (1 <= warmup_start <= daily_cap):
        errors["warmup_start"] = _(ERR_PACE_WARMUP)
    if not (1 <= warmup_growth_pct <= 100):
        errors["warmup_growth_pct"] = _(ERR_PACE_GROWTH)
    if errors:
        raise ValidationError(errors)
    row, _created = SendingLimit.objects.select_for_update().get_or_create(
        channel_id=channel.pk, defaults={"throughput_mps": 1}
    )
    row.min_delay_s = float(min_delay_s)
    row.max_delay_s = float(max_delay_s)
    row.daily_cap = int(daily_cap)
    row.warmup_start = int(warmup_start)
    row.warmup_growth_pct = int(warmup_growth_pct)
    row.save(
        update_fields=["min_delay_s", "max_delay_s", "daily_cap", "warmup_start", "warmup_growth_pct", "updated_at"]
    )
    return row


# --- Company suspension (``tenants.signals``) -------------------------------------------------


def campaigns_pause_for_suspension() -> int:
    """Pause every running or scheduled campaign of the current company (it was suspended);
    returns how many. Their queued recipients stay queued: nothing is lost."""
    ids = list(
        Campaign.objects.filter(state__in=[CampaignState.RUNNING, CampaignState.SCHEDULED]).values_list("pk", flat=True)
    )
    for campaign_id in ids:
        campaign_pause(campaign=campaign_id, reason=PauseReason.SUSPENDED)
    return len(ids)


def campaigns_resume_after_suspension() -> int:
    """Resume the campaigns the suspension paused (not those a person or the engine paused)."""
    ids = list(
        Campaign.objects.filter(state=CampaignState.PAUSED, pause_reason=PauseReason.SUSPENDED).values_list(
            "pk", flat=True
        )
    )
    for campaign_id in ids:
        campaign_resume(campaign=campaign_id)
    return len(ids)
