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


# Share of sandbox campaign recipients who "answer" (through the real inbound webhook path).
SANDBOX_REPLY_SHARE = 0.05
SANDBOX_REPLIES = ["Quero saber mais!", "Obrigado!", "Qual o preço?", "Tenho interesse"]


def sandbox_statuses_schedule(*, channel: Channel, sent: list[tuple[str, str, str]]) -> None:
    """The sandbox's remote side for bulk sends: after commit, report sent / delivered / read of
    ``sent`` (``(provider id, recipient wa_id, callback data)``) as signed Meta webhooks, several
    statuses per delivery, and let a few recipients reply. Queued by task name, one task per
    stage and batch (never one per message)."""
    from core.tasks import enqueue_on_commit
    from core.tenancy import require_tenant_schema
    from inbox.providers.sandbox import STATUS_DELAYS

    if channel.kind != ChannelKind.SANDBOX or not sent:
        return
    schema = require_tenant_schema()
    rows = [list(row) for row in sent]
    for status, delay in STATUS_DELAYS:
        enqueue_on_commit("inbox.sandbox_emit_statuses", schema, channel.pk, status, rows, countdown=delay)
    rng = secrets.SystemRandom()
    replies = [[row[1], rng.choice(SANDBOX_REPLIES)] for row in rows if rng.random() < SANDBOX_REPLY_SHARE]
    if replies:
        enqueue_on_commit("inbox.sandbox_emit_replies", schema, channel.pk, replies, countdown=4.0)


def sandbox_emit_statuses(*, channel: Channel, status: str, rows: list[list[str]]) -> bool:
    """One signed delivery carrying ``status`` for every ``(provider id, wa_id, callback)``."""
    from inbox.providers.meta import build_status_payload

    statuses = []
    for pid, wa_id, callback in rows:
        one = {"id": pid, "status": status, "recipient_id": wa_id}
        if callback:
            one["biz_opaque_callback_data"] = callback
        statuses.append(one)
    payload = build_status_payload(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        at=timezone.now(),
        statuses=statuses,
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
