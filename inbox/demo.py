"""The demo company's inbox: a connected sandbox number, labels, canned responses and a
couple of conversations (registered in ``InboxConfig.ready``, like ``crm.demo``)."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.services import contact_upsert_from_channel
from inbox.models import (
    CannedResponse,
    Channel,
    ChannelKind,
    Conversation,
    Direction,
    Label,
    Message,
    MessageKind,
    MessageStatus,
)
from inbox.services import channel_create, conversation_get_or_create


@transaction.atomic
def demo_inbox_setup() -> Channel:
    """The demo company's sandbox channel and a couple of conversations (idempotent)."""
    channel = Channel.objects.filter(kind=ChannelKind.SANDBOX, is_active=True).order_by("pk").first()
    if channel is None:
        channel = channel_create(kind=ChannelKind.SANDBOX, name=_("Sandbox WhatsApp"))
    if not Label.objects.exists():
        for name, color in ((_("Sales"), "emerald"), (_("Support"), "sky"), (_("VIP"), "amber")):
            Label.objects.create(name=name, color=color)
    if not CannedResponse.objects.exists():
        CannedResponse.objects.create(shortcut="ola", title=_("Greeting"), body=_("Hello! How can I help you today?"))
        CannedResponse.objects.create(
            shortcut="obrigado", title=_("Thanks"), body=_("Thank you for your message. Have a great day!")
        )
    if not Conversation.objects.filter(channel=channel).exists():
        samples = (
            ("+5511987654321", "Maria Silva", _("Hi! Do you deliver to Campinas?")),
            ("+5521998765432", "João Souza", _("Good morning, I would like a quote for 20 units.")),
        )
        now = timezone.now()
        for phone, name, text in samples:
            contact = contact_upsert_from_channel(phone=phone, wa_id=phone.lstrip("+"), name=name, source="demo")
            conversation, _created = conversation_get_or_create(channel=channel, contact=contact)
            Message.objects.create(
                conversation=conversation,
                channel=channel,
                direction=Direction.INBOUND,
                kind=MessageKind.TEXT,
                body=text,
                provider_message_id="wamid.DEMO" + secrets.token_hex(10).upper(),
                status=MessageStatus.RECEIVED,
                created_at=now,
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=now, last_inbound_at=now, last_message_preview=text[:200], unread_count=1
            )
    return channel
