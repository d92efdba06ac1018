"""Demo data: an active follow-up cadence on the sandbox number with a few enrolments
(``demo_company_ready``). The beat then runs it for real through the campaign engine and the
sandbox, so the demo shows steps going out, waits and exits. Idempotent."""

from __future__ import annotations

from django.db import transaction

DEMO_CADENCE = "Follow-up de orçamento (demonstração)"
DEMO_TAG = "seguiu-cadencia"
DEMO_ENROLMENTS = 20


def demo_cadence_setup() -> int:
    """Create the demo cadence once and enrol some demo contacts. Returns the enrolments."""
    from cadences import services
    from cadences.models import Cadence
    from crm.models import ConsentStatus, Contact
    from crm.tags import tags_ensure
    from inbox.models import Channel, ChannelKind

    if Cadence.objects.filter(name=DEMO_CADENCE).exists():
        return 0
    channel = Channel.objects.filter(kind=ChannelKind.SANDBOX, is_active=True).first()
    if channel is None:
        return 0
    (tag_id,) = tags_ensure(names=[DEMO_TAG])
    with transaction.atomic():
        cadence = services.cadence_create(
            name=DEMO_CADENCE,
            description="Três toques em uma semana; para quando o cliente responde.",
            channel=channel,
        )
        services.step_add(
            cadence=cadence,
            kind="send",
            config={"body": "Olá {{first_name}}! Vi que você pediu um orçamento. Posso ajudar com alguma dúvida?"},
        )
        services.step_add(cadence=cadence, kind="wait", config={"amount": 2, "unit": "business_days", "at": "09:30"})
        services.step_add(
            cadence=cadence,
            kind="send",
            config={"body": "Oi {{first_name}}, passando para lembrar do seu orçamento. Ele vale até sexta!"},
        )
        services.step_add(cadence=cadence, kind="wait", config={"amount": 3, "unit": "business_days", "at": "09:30"})
        services.step_add(cadence=cadence, kind="action", config={"action": "add_tag", "tag_id": tag_id})
        services.step_add(
            cadence=cadence,
            kind="send",
            config={"body": "{{first_name}}, último lembrete: quer que um consultor ligue para você?"},
        )
        services.cadence_set_status(cadence=cadence, status="active")
        ids = list(
            Contact.objects.exclude(consent_status=ConsentStatus.OPTED_OUT)
            .order_by("id")
            .values_list("id", flat=True)[:DEMO_ENROLMENTS]
        )
        return services.enrol(cadence=cadence, contact_ids=ids)
