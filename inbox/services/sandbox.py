"""The sandbox number's simulated customer: replies typed on the page arrive as signed Meta
webhooks, through the same path a real provider's deliveries take."""

from __future__ import annotations

import json
import secrets

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.phones import InvalidPhoneError, normalize_phone
from inbox.models import Channel, ChannelKind
from inbox.providers.meta import build_status_payload, build_text_message_payload, meta_signature
from inbox.services.channels import ERR_PHONE_INVALID
from inbox.services.messages import ERR_TEXT_EMPTY
from inbox.services.webhook_events import webhook_delivery_accept

ERR_SANDBOX_ONLY = gettext_noop("Customer replies can only be simulated on the sandbox channel.")


def sandbox_ingest(*, channel: Channel, payload: dict) -> bool:
    """Feed a Meta-format payload, signed with the channel's app secret, through the same
    verification and recording path as a real webhook delivery (in the channel's company)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"X-Hub-Signature-256": meta_signature(channel.app_secret, body)}
    return webhook_delivery_accept(channel=channel, body=body, headers=headers)


def sandbox_status_report(*, channel_id: int, provider_message_id: str, status: str, recipient: str) -> bool:
    """The sandbox's provider side: report a status of a sent message as a signed Meta webhook
    (scheduled by ``message_deliver`` from the send's ``SendResult.reports``)."""
    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is None:
        return False
    payload = build_status_payload(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        provider_message_id=provider_message_id,
        status=status,
        recipient=recipient,
        at=timezone.now(),
    )
    return sandbox_ingest(channel=channel, payload=payload)


def sandbox_simulate_reply(*, channel: Channel, contact_phone: str, text: str, name: str = "") -> bool:
    """The "simulate customer reply" control: the customer behind ``contact_phone`` writes ``text``."""
    if channel.kind != ChannelKind.SANDBOX:
        raise ValidationError(_(ERR_SANDBOX_ONLY))
    text = (text or "").strip()
    if not text:
        raise ValidationError(_(ERR_TEXT_EMPTY))
    try:
        phone = normalize_phone(contact_phone)
    except InvalidPhoneError as exc:
        raise ValidationError(_(ERR_PHONE_INVALID)) from exc
    payload = build_text_message_payload(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        provider_message_id="wamid.SIM" + secrets.token_hex(12).upper(),
        wa_id=phone.lstrip("+"),
        name=name,
        text=text,
        at=timezone.now(),
    )
    return sandbox_ingest(channel=channel, payload=payload)
