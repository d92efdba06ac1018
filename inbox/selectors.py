"""Reads of the inbox: lists, the 24-hour window, event payloads, webhook URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from inbox.models import (
    CannedResponse,
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Label,
    Message,
    WebhookEvent,
)

# Meta's customer service window: free-form messages only within 24 h of the customer's last message.
SERVICE_WINDOW = timedelta(hours=24)
# Kinds that follow WhatsApp's window rule (the sandbox imitates the Cloud API).
WINDOW_KINDS = {ChannelKind.WHATSAPP_CLOUD, ChannelKind.SANDBOX}


def public_base_url() -> str:
    port = settings.SITE_PORT
    default = {"http": "80", "https": "443"}.get(settings.SITE_SCHEME)
    suffix = f":{port}" if port and port != default else ""
    return f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{suffix}"


def channel_webhook_url(channel: Channel) -> str:
    """The URL to paste into Meta / the SMS provider (public domain, per channel)."""
    segment = "sms" if channel.kind == ChannelKind.SMS else "whatsapp"
    return f"{public_base_url()}/webhooks/{segment}/{channel.public_id}/"


def whatsapp_web_channels_to_resume() -> list[int]:
    """Ids of the company's WhatsApp Web channels whose saved session should be reopened."""
    channels = Channel.objects.filter(kind=ChannelKind.WHATSAPP_WEB, is_active=True).exclude(session_state="logged_out")
    return [c.pk for c in channels if c.session_data]


def webhook_events_pending(*, now: datetime | None = None) -> bool:
    """Whether the company has webhook deliveries to process now (not processed yet, and not
    waiting for a later attempt)."""
    now = now or timezone.now()
    return (
        WebhookEvent.objects.filter(processed_at__isnull=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .exists()
    )


@dataclass(frozen=True)
class DeadWebhooks:
    """Deliveries of a channel that could not be processed: how many, and the latest."""

    count: int
    last_error: str = ""
    last_at: datetime | None = None


def channel_dead_webhooks(channel: Channel) -> DeadWebhooks:
    """The channel page's count of dead deliveries and the reason of the latest one (both read
    ``inbox_webhook_dead``, an index of the dead rows only)."""
    dead = WebhookEvent.objects.filter(channel=channel, dead_at__isnull=False)
    count = dead.count()
    if not count:
        return DeadWebhooks(count=0)
    last = dead.order_by("-id").only("error", "dead_at").first()
    if last is None:  # parked events were sent back to the queue meanwhile
        return DeadWebhooks(count=0)
    return DeadWebhooks(count=count, last_error=webhook_error_display(last.error), last_at=last.dead_at)


def webhook_error_display(error: str) -> str:
    """A stored processing error in the reader's language: the reasons we write are English
    message ids (``inbox.services.webhook_events.ERR_*``); what follows "Processing failed:"
    (an exception's text) and notes on skipped parts are shown as stored."""
    from django.utils.translation import gettext

    from inbox.services.webhook_events import ERR_FAILED

    if error.startswith(ERR_FAILED):
        return gettext(ERR_FAILED) + error[len(ERR_FAILED) :]
    return gettext(error) if error else ""


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.filter(is_active=True).order_by("name", "id")


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When the free-text window closes (None: no customer message yet or no window rule)."""
    if conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + SERVICE_WINDOW


def window_is_open(conversation: Conversation, *, now: datetime | None = None) -> bool:
    if conversation.channel.kind not in WINDOW_KINDS:
        return True
    closes = window_closes_at(conversation)
    return closes is not None and closes > (now or timezone.now())


def conversation_list(
    *,
    user_id: int | None = None,
    mine: bool = False,
    unassigned: bool = False,
    status: str | None = None,
    channel_id: int | None = None,
    label_id: int | None = None,
    search: str = "",
) -> QuerySet[Conversation]:
    qs = Conversation.objects.select_related("contact", "channel").prefetch_related("labels")
    if mine and user_id:
        qs = qs.filter(assignee_id=user_id)
    if unassigned:
        qs = qs.filter(assignee_id__isnull=True)
    if status in ConversationStatus.values:
        qs = qs.filter(status=status)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    if label_id:
        qs = qs.filter(labels__id=label_id)
    search = (search or "").strip()
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        q = Q(contact__name__icontains=search)
        if len(digits) >= 3:
            q |= Q(contact__phone__contains=digits)
        qs = qs.filter(q)
    return qs.order_by("-last_message_at", "-id")


def message_list(*, conversation: Conversation, include_notes: bool = True) -> QuerySet[Message]:
    qs = Message.objects.filter(conversation=conversation)
    if not include_notes:
        qs = qs.exclude(kind="note")
    return qs.order_by("created_at", "id")


def label_list() -> QuerySet[Label]:
    return Label.objects.order_by("name")


def canned_response_list(*, query: str = "") -> QuerySet[CannedResponse]:
    qs = CannedResponse.objects.order_by("shortcut")
    query = (query or "").strip().lstrip("/")
    if query:
        qs = qs.filter(Q(shortcut__istartswith=query) | Q(title__icontains=query))
    return qs


# --- event payloads (what realtime events and the API say about an object) ---------------------


def serialize_message(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "direction": message.direction,
        "kind": message.kind,
        "body": message.body,
        "status": message.status,
        "error_code": message.error_code,
        "error_title": message.error_title,
        "error_details": message.error_details,
        "media_url": f"/inbox/c/{message.conversation_id}/messages/{message.pk}/media/" if message.media else "",
        "media_mime": message.media_mime,
        "media_filename": message.media_filename,
        "reply_to": message.reply_to_id,
        "sent_by": message.sent_by_id,
        "created_at": message.created_at.isoformat(),
    }


def serialize_conversation(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "contact": conversation.contact_id,
        "channel": conversation.channel_id,
        "status": conversation.status,
        "snoozed_until": conversation.snoozed_until.isoformat() if conversation.snoozed_until else None,
        "assignee": conversation.assignee_id,
        "unread_count": conversation.unread_count,
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "last_message_preview": conversation.last_message_preview,
        "last_inbound_at": conversation.last_inbound_at.isoformat() if conversation.last_inbound_at else None,
    }
