"""Reads of the campaigns pages and API: templates, the channels they belong to, contacts to
preview with."""

from __future__ import annotations

from django.db.models import Q, QuerySet

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
    order = {ChannelKind.WHATSAPP_CLOUD: 0, ChannelKind.WHATSAPP_WEB: 1, ChannelKind.SMS: 2, ChannelKind.SANDBOX: 3}
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
