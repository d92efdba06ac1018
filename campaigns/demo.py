"""Demo data of the campaigns app: a local template and a finished sandbox campaign to the
demo contacts, with its conversation messages and timeline written by the engine's own
write-back and delivered / read / replied counts from sandbox statuses, so the demo company
shows a campaign's whole story. Idempotent: a second run adds nothing."""

from __future__ import annotations

import random

from django.db import transaction
from django.utils import timezone

DEMO_CAMPAIGN = "Black Friday (demonstração)"
DEMO_TEMPLATE = "black_friday_demo"


def demo_campaigns_setup() -> int:
    """Create the demo template and campaign once. Returns the recipients sent."""
    from campaigns.dispatch import outcomes as oc
    from campaigns.dispatch.reconcile import callback_ref, replies_apply, statuses_apply
    from campaigns.models import (
        AudienceKind,
        Campaign,
        CampaignState,
        MessageTemplate,
        Recipient,
        TemplateCategory,
        TemplateOrigin,
        TemplateStatus,
    )
    from campaigns.rendering import render_text
    from campaigns.services import campaign_create, campaign_launch, campaign_start
    from inbox.models import Channel, ChannelKind
    from inbox.providers.sandbox import sandbox_message_id

    if Campaign.objects.filter(name=DEMO_CAMPAIGN).exists():
        return 0
    channel = Channel.objects.filter(kind=ChannelKind.SANDBOX, is_active=True).first()
    if channel is None:
        return 0
    body = "Olá {{1}}! A Black Friday chegou: 30% de desconto em {{2}} até domingo. Responda QUERO para saber mais."
    template, _created = MessageTemplate.objects.get_or_create(
        waba_id="",
        name=DEMO_TEMPLATE,
        language="pt_BR",
        defaults={
            "origin": TemplateOrigin.LOCAL,
            "category": TemplateCategory.MARKETING,
            "status": TemplateStatus.APPROVED,
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Black Friday"},
                {"type": "BODY", "text": body, "example": {"body_text": [["Ana", "São Paulo"]]}},
                {"type": "FOOTER", "text": "Responda SAIR para não receber mais"},
            ],
            "variables": {
                "1": {"source": "contact.first_name", "fallback": "cliente"},
                "2": {"source": "field.cidade", "fallback": "todas as lojas"},
            },
        },
    )
    with transaction.atomic():
        campaign = campaign_create(
            name=DEMO_CAMPAIGN,
            channel=channel,
            variants=[{"template": template, "body": body, "split": 100}],
            audience_kind=AudienceKind.ALL,
            window_days=list(range(7)),
        )
        campaign_start(campaign=campaign)
        launched = campaign_launch(campaign_id=campaign.pk)
    if launched is None:
        return 0
    campaign = launched
    rows = list(Recipient.objects.filter(campaign=campaign, state="queued").order_by("id"))
    mapping = template.variables
    result = oc.BatchResult()
    for row in rows:
        result.sent.append(
            oc.SentRow(
                recipient_id=row.pk,
                contact_id=row.contact_id,
                variant_id=row.variant_id,
                provider_message_id=sandbox_message_id(),
                message_status="sent",
                kind="template",
                body=render_text(body, mapping, row.values),
                payload={"template": {"name": template.name, "language": "pt_BR"}, "campaign": campaign.pk},
                to=row.wa_id or row.phone,
            )
        )
    # The engine's own write-back (recipients, conversation messages, timeline, counters).
    Recipient.objects.filter(pk__in=[r.pk for r in rows]).update(state="claimed", attempts=1)
    oc.batch_write(campaign_id=campaign.pk, campaign_name=campaign.name, channel_id=channel.pk, result=result)
    # What the sandbox's webhooks would report: most delivered, many read, a few replies.
    rng = random.Random(2026)
    now = timezone.now().isoformat()
    callbacks = []
    for sent in result.sent:
        ref = callback_ref(campaign.pk, sent.recipient_id)
        roll = rng.random()
        base = {"callback": ref, "provider_message_id": sent.provider_message_id, "at": now}
        if roll < 0.04:
            callbacks.append(
                {**base, "status": "failed", "error_code": "131026", "error_title": "Message undeliverable"}
            )
            continue
        callbacks.append({**base, "status": "delivered"})
        if roll < 0.7:
            callbacks.append({**base, "status": "read"})
    statuses_apply(channel_id=channel.pk, statuses=[], callbacks=callbacks)
    for sent in result.sent[:: max(1, len(result.sent) // 12)]:
        if sent.contact_id:
            replies_apply(channel_id=channel.pk, contact_id=sent.contact_id, at=timezone.now())
    Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.COMPLETED, completed_at=timezone.now())
    return len(result.sent)
