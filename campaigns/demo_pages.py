"""Demo data that the campaign and template pages show beside the engine's finished demo
campaign (``campaigns.demo``): a few more local templates (one for SMS-length texts, one
utility reminder) and a campaign scheduled for next week with a send window, so the list shows
every kind of state; and a campaign that sends live, slowly, from the moment the demo is
created (``demo_live_campaign_setup``), so its page shows the counters and the chart moving
without anyone configuring anything. Idempotent."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db import transaction
from django.utils import timezone

SCHEDULED_CAMPAIGN = "Dia das Mães (agendada)"
LIVE_CAMPAIGN = "Novidades da semana (ao vivo)"
# One message a second: the demo's 300 contacts take about five minutes, long enough to watch.
LIVE_RATE_MPS = 1
TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "lembrete_pagamento",
        "category": "UTILITY",
        "body": "Oi {{1}}, sua fatura de {{2}} vence amanhã. Pague pelo app ou responda AJUDA.",
        "variables": {
            "1": {"source": "contact.first_name", "fallback": "cliente"},
            "2": {"source": "field.valor_gasto", "fallback": "este mês"},
        },
    },
    {
        "name": "dia_das_maes",
        "category": "MARKETING",
        "body": "{{1}}, o Dia das Mães está chegando! Presentes com até 20% de desconto na loja de {{2}}. "
        "Confira: https://loja.exemplo.com.br/maes",
        "variables": {
            "1": {"source": "contact.first_name", "fallback": "Olá"},
            "2": {"source": "field.cidade", "fallback": "sua cidade"},
        },
    },
    {
        "name": "novidades_semana",
        "category": "MARKETING",
        "body": "Oi {{1}}! Chegaram as novidades da semana. Veja a vitrine: https://loja.exemplo.com.br/novidades",
        "variables": {"1": {"source": "contact.first_name", "fallback": "cliente"}},
    },
]


# Reference prices for a demo whose price table support staff have not filled yet (BRL; what
# Meta charged in Brazil in 2025, rounded): the review page then shows an estimated cost.
DEMO_PRICES = [("whatsapp", "MARKETING", "0.3500"), ("whatsapp", "UTILITY", "0.0400"), ("sms", "SMS", "0.0600")]
# Meta's per-message pricing started on 2025-07-01; a row support staff add later wins.
DEMO_PRICES_FROM = dt.date(2025, 7, 1)


def _demo_prices() -> int:
    from decimal import Decimal

    from campaigns.pricing.models import MessagePrice

    if MessagePrice.objects.exists():
        return 0
    for kind, category, price in DEMO_PRICES:
        MessagePrice.objects.create(
            kind=kind,
            category=category,
            country="BR",
            price=Decimal(price),
            valid_from=DEMO_PRICES_FROM,
            notes="demo reference price",
        )
    return len(DEMO_PRICES)


@transaction.atomic
def demo_pages_setup() -> int:
    """The extra templates, the scheduled campaign and (when the table is empty) reference
    prices; returns how many things were created."""
    from campaigns.links import campaign_links_prepare
    from campaigns.models import AudienceKind, Campaign, MessageTemplate, TemplateOrigin, TemplateStatus
    from campaigns.services import campaign_create, campaign_start
    from crm.models import Segment
    from inbox.models import Channel, ChannelKind

    created = _demo_prices()
    templates = {}
    for spec in TEMPLATES:
        template, made = MessageTemplate.objects.get_or_create(
            waba_id="",
            name=spec["name"],
            language="pt_BR",
            defaults={
                "origin": TemplateOrigin.LOCAL,
                "category": spec["category"],
                "status": TemplateStatus.APPROVED,
                "components": [{"type": "BODY", "text": spec["body"]}],
                "variables": spec["variables"],
            },
        )
        templates[spec["name"]] = template
        created += int(made)
    if Campaign.objects.filter(name=SCHEDULED_CAMPAIGN).exists():
        return created
    channel = Channel.objects.filter(kind=ChannelKind.SANDBOX, is_active=True).order_by("pk").first()
    if channel is None:
        return created
    template = templates["dia_das_maes"]
    segment = Segment.objects.order_by("pk").first()
    body = str((template.component("BODY") or {}).get("text", ""))
    campaign = campaign_create(
        name=SCHEDULED_CAMPAIGN,
        channel=channel,
        variants=[{"template": template, "body": body, "split": 100}],
        audience_kind=AudienceKind.SEGMENTS if segment else AudienceKind.ALL,
        segment_ids=[segment.pk] if segment else [],
        window_start=dt.time(9, 0),
        window_end=dt.time(20, 0),
        window_days=[0, 1, 2, 3, 4, 5],
    )
    campaign_links_prepare(campaign=campaign)
    zone = zoneinfo.ZoneInfo(campaign.time_zone or "America/Sao_Paulo")
    day = timezone.localtime(timezone.now(), zone).date() + dt.timedelta(days=7)
    campaign_start(campaign=campaign, at=dt.datetime.combine(day, dt.time(10, 0), tzinfo=zone))
    return created + 1


@transaction.atomic
def demo_live_campaign_setup() -> int:
    """A sandbox campaign to every demo contact, started now at ``LIVE_RATE_MPS``: the worker
    sends it as soon as it runs (its launch waits in the queue until then), the sandbox brings
    statuses and a few replies back, and its page moves live. Created once; returns 1 when
    created. Needs the templates of ``demo_pages_setup``."""
    from campaigns.links import campaign_links_prepare
    from campaigns.models import AudienceKind, Campaign, MessageTemplate
    from campaigns.services import campaign_create, campaign_start
    from inbox.models import Channel, ChannelKind

    if Campaign.objects.filter(name=LIVE_CAMPAIGN).exists():
        return 0
    channel = Channel.objects.filter(kind=ChannelKind.SANDBOX, is_active=True).order_by("pk").first()
    template = MessageTemplate.objects.filter(waba_id="", name="novidades_semana", language="pt_BR").first()
    if channel is None or template is None:
        return 0
    body = str((template.component("BODY") or {}).get("text", ""))
    campaign = campaign_create(
        name=LIVE_CAMPAIGN,
        channel=channel,
        variants=[{"template": template, "body": body, "split": 100}],
        audience_kind=AudienceKind.ALL,
        rate_mps=LIVE_RATE_MPS,
        window_days=list(range(7)),
    )
    campaign_links_prepare(campaign=campaign)
    campaign_start(campaign=campaign)
    return 1
