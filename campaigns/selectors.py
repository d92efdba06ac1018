"""Reads of the campaigns pages and API: templates, the channels they belong to, contacts to
preview with."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_noop

from campaigns.models import MessageTemplate, TemplateOrigin, TemplateStatus
from crm.models import Contact
from inbox.models import Channel, ChannelKind

HIDDEN_STATUSES = (TemplateStatus.DELETED,)


def template_list(*, status: str = "", origin: str = "", query: str = "") -> QuerySet[MessageTemplate]:
    qs = MessageTemplate.objects.exclude(status__in=HIDDEN_STATUSES).select_related("channel")
    if status:
        qs = qs.filter(status=status)
    if origin in TemplateOrigin.values:
        qs = qs.filter(origin=origin)
    if query:
        qs = qs.filter(name__icontains=query.strip()[:100])
    return qs.order_by("name", "language", "pk")


def template_get(pk: int) -> MessageTemplate | None:
    return MessageTemplate.objects.exclude(status__in=HIDDEN_STATUSES).select_related("channel").filter(pk=pk).first()


def sendable_templates(*, channel: Channel | None = None) -> QuerySet[MessageTemplate]:
    """Templates a campaign or the inbox may send now through ``channel``: approved Meta
    templates of its WABA for a Cloud number, approved local templates otherwise."""
    qs = MessageTemplate.objects.filter(status=TemplateStatus.APPROVED)
    if channel is None:
        return qs.order_by("name", "language")
    if channel.kind == ChannelKind.WHATSAPP_CLOUD:
        qs = qs.filter(origin=TemplateOrigin.META, waba_id=str((channel.config or {}).get("waba_id", "")))
    else:
        qs = qs.filter(origin=TemplateOrigin.LOCAL)
    return qs.order_by("name", "language")


def template_channels() -> list[Channel]:
    """Active channels a template can be made for, Cloud numbers first."""
    order: dict[str, int] = {"whatsapp_cloud": 0, "whatsapp_web": 1, "sms": 2, "sandbox": 3}
    channels = list(Channel.objects.filter(is_active=True).order_by("name", "pk"))
    return sorted(channels, key=lambda c: order.get(c.kind, 9))


def cloud_channels_by_waba() -> list[Channel]:
    """One Cloud channel per WhatsApp Business account (templates are per WABA)."""
    seen: set[str] = set()
    out = []
    for channel in Channel.objects.filter(is_active=True, kind=ChannelKind.WHATSAPP_CLOUD).order_by("pk"):
        waba = str((channel.config or {}).get("waba_id", ""))
        if waba and waba not in seen:
            seen.add(waba)
            out.append(channel)
    return out


def preview_contacts(*, query: str = "", limit: int = 30) -> list[Contact]:
    """Contacts to preview a template with: the most recent, or those matching ``query``."""
    qs = Contact.objects.all()
    query = (query or "").strip()[:100]
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        condition = Q(name__icontains=query)
        if len(digits) >= 4:
            condition |= Q(phone__contains=digits)
        qs = qs.filter(condition)
    return list(qs.only("id", "name", "phone").order_by("-id")[:limit])


# --- campaigns -------------------------------------------------------------------------------


def pause_text(campaign) -> str:
    """Why a campaign is paused, in plain words (with the provider's own words after it)."""
    from campaigns.models import CampaignState, PauseReason

    if campaign.state != CampaignState.PAUSED or not campaign.pause_reason:
        return ""
    try:
        text = str(PauseReason(campaign.pause_reason).label)
    except ValueError:
        text = campaign.pause_reason
    if campaign.pause_detail:
        text = f"{text} — {campaign.pause_detail}"
    return text


WAITING_REASONS = {
    "window": gettext_noop("Outside the send window: it continues by itself at %(when)s."),
    "daily_cap": gettext_noop("The number's daily limit is used up: it continues by itself at %(when)s."),
    "tier": gettext_noop("The number's 24-hour messaging limit is used up: it continues by itself at %(when)s."),
}
WAITING_OTHER = gettext_noop("Waiting: it continues by itself at %(when)s.")


def waiting_text(campaign) -> str:
    """A running campaign that waits (window closed, caps), in plain words, in its time zone."""
    import zoneinfo

    from django.utils import timezone
    from django.utils.translation import gettext as _

    if not campaign.waiting_until:
        return ""
    local = timezone.localtime(campaign.waiting_until, zoneinfo.ZoneInfo(campaign.time_zone or "America/Sao_Paulo"))
    template = WAITING_REASONS.get(campaign.waiting_reason, WAITING_OTHER)
    return _(template) % {"when": local.strftime("%d/%m %H:%M")}


def estimate(campaign) -> dict:
    """What starting would do (the engine's ``campaign_estimate``), with what the page needs
    when the price table or the limiter cannot answer."""
    from campaigns.services import campaign_estimate

    data = campaign_estimate(campaign=campaign)
    excluded = data.get("excluded") or {}
    data["excluded_total"] = sum(int(v or 0) for v in excluded.values())
    return data


def rate_series(campaign, *, points: int = 60) -> list[dict]:
    """Messages per second sent, delivered and read over the campaign's life, in ``points``
    buckets (the chart's history when the page opens; live events extend it)."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    start = campaign.started_at or campaign.snapshot_at
    if start is None:
        return []
    end = campaign.completed_at or campaign.cancelled_at or timezone.now()
    span = max(1.0, (end - start).total_seconds())
    width = max(1.0, span / points)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT kind, floor(extract(epoch FROM at - %s) / %s)::int AS bucket, count(*)
            FROM (
                SELECT 's' AS kind, sent_at AS at FROM campaigns_recipient
                 WHERE campaign_id = %s AND sent_at IS NOT NULL
                UNION ALL
                SELECT 'd', delivered_at FROM campaigns_recipient
                 WHERE campaign_id = %s AND delivered_at IS NOT NULL
                UNION ALL
                SELECT 'r', read_at FROM campaigns_recipient WHERE campaign_id = %s AND read_at IS NOT NULL
            ) t
            WHERE at >= %s
            GROUP BY 1, 2
            """,
            [start, width, campaign.pk, campaign.pk, campaign.pk, start],
        )
        rows = cursor.fetchall()
    buckets = min(points, int(span // width) + 1)
    series = [{"sent": 0.0, "delivered": 0.0, "read": 0.0} for _ in range(buckets)]
    names = {"s": "sent", "d": "delivered", "r": "read"}
    for kind, bucket, count in rows:
        if 0 <= bucket < buckets:
            series[bucket][names[kind]] = round(count / width, 1)
    out = []
    for index, point in enumerate(series):
        at = timezone.localtime(start + dt.timedelta(seconds=index * width))
        out.append({"t": at.strftime("%H:%M:%S"), **point})
    return out


def failure_codes(campaign) -> list[tuple[str, int]]:
    """The failure codes of a campaign with how many recipients each (the table's filter)."""
    from django.db.models import Count

    from campaigns.models import Recipient, RecipientState

    rows = (
        Recipient.objects.filter(campaign=campaign, state=RecipientState.FAILED)
        .values_list("error_code")
        .annotate(n=Count("id"))
        .order_by("-n")[:50]
    )
    return [(code or "?", n) for code, n in rows]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a quote first."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def export_rows(campaign, queryset):
    """The CSV export, row by row (header first), in keyset batches."""
    import csv
    import io

    from django.utils import timezone
    from django.utils.translation import gettext as _

    from campaigns.errors import recipient_reason

    variants = {v.pk: v.key for v in campaign.variants.all()}
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return value

    def when(value) -> str:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    yield "\ufeff"
    writer.writerow(
        [
            _("Name"),
            _("Phone"),
            _("Variant"),
            _("Status"),
            _("Reason"),
            _("Error code"),
            _("Sent at"),
            _("Delivered at"),
            _("Read at"),
            _("Replied at"),
            _("First click"),
        ]
    )
    yield flush()
    last = 0
    while True:
        batch = list(queryset.filter(id__gt=last).order_by("id")[:2000])
        if not batch:
            break
        for r in batch:
            writer.writerow(
                [
                    csv_safe(r.name),
                    csv_safe(r.phone),
                    variants.get(r.variant_id, ""),
                    r.get_state_display(),
                    csv_safe(recipient_reason(r)),
                    csv_safe(r.error_code),
                    when(r.sent_at),
                    when(r.delivered_at),
                    when(r.read_at),
                    when(r.replied_at),
                    when(r.clicked_at),
                ]
            )
        last = batch[-1].id
        yield flush()


def sending_pace(channel: Channel, *, time_zone: str) -> dict:
    """How a WhatsApp Web number sends campaigns: the random pause between messages, the daily
    cap with its warm-up, today's cap and what it sent since local midnight (``time_zone``)."""
    from django.utils import timezone

    from campaigns.models import Recipient
    from campaigns.schedule import _zone, local_midnight, warmup_cap
    from inbox.models import SendingLimit

    row = SendingLimit.objects.filter(channel_id=channel.pk).first() or SendingLimit(channel_id=channel.pk)
    today = timezone.localdate(timezone.now(), timezone=_zone(time_zone))
    cap = row.daily_cap or 1000
    return {
        "min_delay_s": row.min_delay_s,
        "max_delay_s": max(row.min_delay_s, row.max_delay_s),
        "daily_cap": cap,
        "warmup_start": row.warmup_start,
        "warmup_growth_pct": row.warmup_growth_pct,
        "warmup_started_on": row.warmup_started_on,
        "today_cap": warmup_cap(
            daily_cap=cap,
            start=row.warmup_start,
            growth_pct=row.warmup_growth_pct,
            started_on=row.warmup_started_on,
            today=today,
        ),
        "sent_today": Recipient.objects.filter(
            campaign__channel_id=channel.pk, sent_at__gte=local_midnight(time_zone)
        ).count(),
    }
