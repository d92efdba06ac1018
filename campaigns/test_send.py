"""A campaign's test send: its first variant, rendered for the person's own number, sent
through the inbox's single send (``inbox.services.message_send_template``: the rule that only
the engine loops over recipients, every other send is one inbox call). It lands in that
number's conversation like any other message."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns import rendering
from campaigns.models import Campaign
from campaigns.preview import contact_values

ERR_PHONE = gettext_noop("Enter your phone number with area code, e.g. +55 11 99999-0000.")
ERR_NOTHING = gettext_noop("This campaign has nothing to send yet.")


@transaction.atomic
def campaign_test_send(*, campaign: Campaign, phone: str, by) -> str:
    """Queue the test message; returns the number it goes to (E.164)."""
    from crm.phones import try_normalize_phone
    from crm.services import contact_upsert_from_channel
    from inbox.services import conversation_get_or_create, message_send_template
    from tenants.context import company_country

    e164 = try_normalize_phone(phone or "", company_country())
    if not e164:
        raise ValidationError(_(ERR_PHONE))
    variant = campaign.variants.select_related("template").order_by("key").first()
    if variant is None:
        raise ValidationError(_(ERR_NOTHING))
    contact = contact_upsert_from_channel(
        phone=e164, wa_id=e164.lstrip("+"), name=getattr(by, "display_name", "") or None, source="campaign_test"
    )
    conversation, _created = conversation_get_or_create(channel=campaign.channel, contact=contact)
    template = variant.template
    mapping = {**((template.variables or {}) if template else {}), **(campaign.variables or {}), **variant.variables}
    values = contact_values(contact)
    if template is not None and campaign.channel.kind == "whatsapp_cloud":
        message_send_template(
            conversation=conversation,
            name=template.name,
            language=template.language,
            components=rendering.template_components(template, mapping, values),
            body=rendering.template_body_text(template, mapping, values),
            by=by,
        )
        return e164
    body = variant.body or (str((template.component("BODY") or {}).get("text", "")) if template else "")
    message_send_template(
        conversation=conversation,
        name=template.name if template else f"campaign_{campaign.pk}",
        language=template.language if template else "pt_BR",
        body=rendering.render_text(body, mapping, values),
        by=by,
    )
    return e164
