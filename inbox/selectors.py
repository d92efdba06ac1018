"""Reads of the inbox: the conversation list and its counts, the thread, the 24-hour window,
agents and their load, event payloads, webhook URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Prefetch, Q, QuerySet
from django.utils import timezone

from inbox.models import (
    AgentSettings,
    CannedResponse,
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Label,
    Message,
    WebhookEvent,
)
from tenants.models import Company
from tenants.selectors import company_agents

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


def webhook_events_next_retry() -> datetime | None:
    """When the earliest delivery waiting for a later attempt is due (``None``: none waits)."""
    waiting = WebhookEvent.objects.filter(processed_at__isnull=True, retry_at__isnull=False)
    return waiting.aggregate(at=Min("retry_at"))["at"]


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
    message ids (``inbox.models.ERR_*``); what follows "Processing failed:"
    (an exception's text) and notes on skipped parts are shown as stored."""
    from django.utils.translation import gettext

    from inbox.models import ERR_FAILED

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


# The work queue: what the inbox lists when no status is asked for.
QUEUE_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING)
THREAD_SIZE = 60


def _by_status(qs: QuerySet[Conversation], status: str) -> QuerySet[Conversation]:
    """``""``: the work queue (open + pending); ``"any"``: every status; else that status."""
    if status == "":
        return qs.filter(status__in=QUEUE_STATUSES)
    if status == "any":
        return qs
    return qs.filter(status=status) if status in ConversationStatus.values else qs.none()


def conversation_search_q(term: str) -> Q:
    """What a search for ``term`` matches, on the inbox page and in the API alike: the contact's
    name or e-mail, the last message's text, or (three digits or more) the phone."""
    term = (term or "").strip()
    match = Q(contact__name__icontains=term) | Q(contact__email__icontains=term)
    match |= Q(last_message_preview__icontains=term)
    digits = "".join(ch for ch in term if ch.isdigit())
    if len(digits) >= 3:
        match |= Q(contact__phone__contains=digits)
    return match


CHANNEL_SECRETS = tuple(
    f"channel__{name}" for name in ("access_token", "app_secret", "verify_token", "auth_token", "session_data")
)


def conversation_list(
    *,
    user_id: int | None = None,
    view: str = "all",
    status: str = "",
    channel_id: int | None = None,
    label_id: int | None = None,
    assignee_id: int | None = None,
    search: str = "",
) -> QuerySet[Conversation]:
    """Conversations, newest activity first. ``view``: ``mine`` (assigned to ``user_id``),
    ``unassigned`` or ``all``; ``status`` as in ``_by_status``; ``search`` as in
    ``conversation_search_q``."""
    qs = _by_status(Conversation.objects.all(), status)
    if view == "mine":
        qs = qs.filter(assignee_id=user_id or 0)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    if assignee_id:
        qs = qs.filter(assignee_id=assignee_id)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    if label_id:
        qs = qs.filter(labels__id=label_id)
    if (search or "").strip():
        qs = qs.filter(conversation_search_q(search))
    return (
        qs.select_related("contact", "channel", "assignee")
        # A list shows the channel's name, not its secrets: fifty rows would decrypt (AES-GCM)
        # each channel's tokens and a WhatsApp Web session blob fifty times over.
        .defer(*CHANNEL_SECRETS)
        .prefetch_related(Prefetch("labels", queryset=Label.objects.order_by("name")))
        .order_by("-last_message_at", "-id")
    )


def conversation_counts(
    *, user_id: int, status: str = "", channel_id: int | None = None, label_id: int | None = None
) -> dict[str, int]:
    """Conversations and unread ones per queue (the tabs' badges), in one query.

    The counts follow the status, channel and label filters, so a tab's number is what the
    list shows when that tab is picked (search aside)."""
    qs = _by_status(Conversation.objects.all(), status)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    if label_id:
        qs = qs.filter(labels__id=label_id)
    mine = Q(assignee_id=user_id)
    unassigned = Q(assignee__isnull=True)
    unread = Q(unread_count__gt=0)
    return qs.aggregate(
        all=Count("id"),
        mine=Count("id", filter=mine),
        unassigned=Count("id", filter=unassigned),
        unread_all=Count("id", filter=unread),
        unread_mine=Count("id", filter=mine & unread),
        unread_unassigned=Count("id", filter=unassigned & unread),
    )


def window_state(conversation: Conversation) -> dict[str, Any]:
    """The 24-hour customer service window as the composer shows it."""
    if conversation.channel.kind not in WINDOW_KINDS:
        return {"applies": False, "open": True}
    expires_at = window_closes_at(conversation)
    if expires_at is None:
        return {"applies": True, "open": False, "expires_at": None, "seconds_left": 0}
    seconds_left = int((expires_at - timezone.now()).total_seconds())
    return {"applies": True, "open": seconds_left > 0, "expires_at": expires_at, "seconds_left": max(seconds_left, 0)}


def thread_messages(conversation: Conversation, *, after: int | None = None, before: int | None = None):
    """The thread's messages in display order: the latest ``THREAD_SIZE`` (with whether there
    are older ones), the ones older than ``before`` (the same), or the ones after ``after``."""
    qs = Message.objects.filter(conversation=conversation).select_related("sent_by")
    if after:
        return list(qs.filter(id__gt=after).order_by("created_at", "id")[:THREAD_SIZE])
    if before:
        # Keyset on the display order (created_at, id), starting at the oldest message shown.
        edge = Message.objects.filter(conversation=conversation, pk=before).values("created_at", "id").first()
        if edge is None:
            return [], False
        qs = qs.filter(Q(created_at__lt=edge["created_at"]) | Q(created_at=edge["created_at"], id__lt=edge["id"]))
    latest = list(qs.order_by("-created_at", "-id")[: THREAD_SIZE + 1])
    has_more = len(latest) > THREAD_SIZE
    return list(reversed(latest[:THREAD_SIZE])), has_more


def agent_rows(*, company: Company, user_id: int | None = None) -> list[dict[str, Any]]:
    """The company's agents with their round-robin settings and current load (open and pending
    conversations assigned to them), by e-mail."""
    memberships = company_agents(company=company)
    if user_id is not None:
        memberships = memberships.filter(user_id=user_id)
    rows = list(memberships.order_by("user__email"))
    ids = [m.user_id for m in rows]
    settings_by_user = {a.user_id: a for a in AgentSettings.objects.filter(user_id__in=ids)}
    load = dict(
        Conversation.objects.filter(assignee_id__in=ids, status__in=QUEUE_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    default_capacity = AgentSettings._meta.get_field("capacity").default
    return [
        {
            "user_id": m.user_id,
            "email": m.user.email,
            "name": m.user.display_name,
            "role": m.role,
            "capacity": settings_by_user[m.user_id].capacity if m.user_id in settings_by_user else default_capacity,
            "is_available": settings_by_user[m.user_id].is_available if m.user_id in settings_by_user else False,
            "open_conversations": load.get(m.user_id, 0),
        }
        for m in rows
    ]


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


# --- plan usage (``tenants.limits`` counters) ---------------------------------------------------
# Messages that count against the plan: everything sent to a customer (agents, API, AI,
# campaigns), not private notes. Counted from the partial index inbox_msg_out_created.
COUNTED_OUT = Q(direction="out") & ~Q(kind="note")


def channels_connected_query(_month_start: datetime | None = None) -> tuple[str, list]:
    from tenants.limits import count_query

    return count_query(Channel.objects.filter(is_active=True))


def messages_sent_query(month_start: datetime) -> tuple[str, list]:
    from tenants.limits import count_query

    return count_query(Message.objects.filter(COUNTED_OUT, created_at__gte=month_start))


def messages_sent_count(month_start: datetime) -> int:
    return Message.objects.filter(COUNTED_OUT, created_at__gte=month_start).count()
