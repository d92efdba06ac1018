"""Writes of the inbox: channels, conversations, messages, webhooks and realtime events.

Services are keyword-only and trust their inputs' authorization (views and the API check roles
first). Every change that agents should see writes a ``RealtimeEvent`` row and sends the event
after commit to the company's ``inbox`` group and the conversation's group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import secrets
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.db import binary_cursor
from core.realtime import send_event_on_commit
from inbox.models import (
    MEDIA_KINDS,
    STATUS_RANK,
    AgentSettings,
    CannedResponse,
    Channel,
    ChannelKind,
    ChannelStatus,
    Conversation,
    ConversationStatus,
    Direction,
    Label,
    Message,
    MessageKind,
    MessageStatus,
    RealtimeEvent,
    SessionState,
    WebhookEvent,
)
from inbox.providers import get_provider
from inbox.providers.base import InboundMessage, ProviderError, StatusUpdate
from inbox.selectors import serialize_conversation, serialize_message, window_is_open
from tenants.context import current_schema, require_tenant_schema
from tenants.roles import Role, role_at_least

logger = logging.getLogger(__name__)

# User-facing messages (tests assert on these constants).
ERR_TEXT_EMPTY = gettext_noop("Write a message before sending.")
ERR_TEXT_TOO_LONG = gettext_noop("The message is too long (at most 4,096 characters).")
ERR_OUTSIDE_WINDOW = gettext_noop(
    "More than 24 hours have passed since the customer's last message. WhatsApp only allows an approved template now."
)
ERR_TEMPLATES_NOT_AVAILABLE = gettext_noop(
    "Template messages are not available yet: approved templates arrive with the campaigns module."
)
ERR_CHANNEL_INACTIVE = gettext_noop("This channel is disconnected. Reconnect it in the channel settings.")
ERR_MEDIA_NOT_SUPPORTED = gettext_noop("This channel cannot send files.")
ERR_MEDIA_TOO_LARGE = gettext_noop("The file is too large (at most 16 MB).")
ERR_MEDIA_TYPE = gettext_noop("This type of file cannot be sent.")
ERR_REACTION_NOT_SUPPORTED = gettext_noop("This channel does not support reactions.")
ERR_REACTION_TARGET = gettext_noop("Only messages already delivered by the provider can get a reaction.")
ERR_NOTE_EMPTY = gettext_noop("Write the note before saving.")
ERR_NOT_AN_AGENT = gettext_noop("This person is not an agent of the company.")
ERR_SNOOZE_IN_PAST = gettext_noop("Choose a moment in the future to snooze until.")
ERR_STATUS_INVALID = gettext_noop("Unknown conversation status.")
ERR_LABEL_NAME = gettext_noop("Give the label a name (at most 50 characters).")
ERR_LABEL_EXISTS = gettext_noop("A label with this name already exists.")
ERR_SHORTCUT_INVALID = gettext_noop("Use 1 to 40 lowercase letters, digits, hyphens or underscores.")
ERR_SHORTCUT_EXISTS = gettext_noop("Another canned response already uses this shortcut.")
ERR_CANNED_BODY = gettext_noop("Write the text of the canned response.")
ERR_CHANNEL_NAME = gettext_noop("Give the channel a name.")
ERR_CHANNEL_FIELD_REQUIRED = gettext_noop("This field is required.")
ERR_NUMBER_IN_USE = gettext_noop("This number is already connected to a company.")
ERR_CAPACITY = gettext_noop("Capacity must be between 0 and 500 conversations.")
ERR_SANDBOX_ONLY = gettext_noop("Customer replies can only be simulated on the sandbox channel.")
ERR_PHONE_INVALID = gettext_noop("This is not a valid phone number.")
ERR_IDEMPOTENCY_KEY_REUSED = gettext_noop("This Idempotency-Key was already used for another conversation.")

MAX_TEXT = 4096
MAX_MEDIA_BYTES = 16 * 1024 * 1024
ALLOWED_MEDIA_PREFIXES = ("image/", "audio/", "video/", "application/pdf", "application/vnd.", "application/msword")
ALLOWED_MEDIA_TYPES = {"text/plain", "text/csv", "application/zip"}
INBOX_GROUP = "inbox"


# --- realtime --------------------------------------------------------------------------------------


def realtime_emit(
    *,
    type: str,
    op: str,
    payload: dict[str, Any],
    conversation_id: int | None = None,
    user_ids: list[int] | None = None,
) -> RealtimeEvent:
    """Store the event (for catch-up) and send it after commit to the inbox and conversation groups."""
    row = RealtimeEvent.objects.create(
        type=type, op=op, payload=payload, conversation_id=conversation_id, user_ids=user_ids or []
    )
    _send_stored(row)
    return row


def _groups_for(row: RealtimeEvent) -> list[str]:
    """The company's ``inbox`` group and the conversation's group. Delivery ticks go to the
    conversation's group only: they matter to whoever has that thread open, and a campaign's
    hundreds of thousands of them must not flood every agent's socket (catch-up still replays
    them from the log)."""
    conversation = [f"conversation.{row.conversation_id}"] if row.conversation_id is not None else []
    if row.type == "message" and row.op == "status" and conversation:
        return conversation
    return [INBOX_GROUP, *conversation]


def _send_stored(row: RealtimeEvent) -> None:
    event = {**row.payload, "type": row.type, "op": row.op, "id": row.pk}
    if row.conversation_id is not None:
        event.setdefault("conversation", row.conversation_id)
    if row.user_ids:
        send_event_on_commit(event, user_ids=list(row.user_ids))
        return
    send_event_on_commit(event, groups=_groups_for(row))


def _send_statuses_on_commit(changes: list[tuple[int, int, dict[str, Any]]]) -> None:
    """Send stored status events after commit, one channel-layer message per conversation that
    someone has open (``inbox.watching``).

    ``changes`` holds ``(event id, conversation id, message)`` rows. A campaign's burst of
    delivery reports changes thousands of messages per batch, nearly all in conversations
    nobody is looking at: those cost nothing here (the log keeps every change for catch-up, and
    a conversation opened later shows its current ticks). An open conversation gets one
    ``message.statuses`` event with every event id it covers, so clients skip them on catch-up.
    """
    if not changes:
        return
    from core.realtime import scoped_group, send_many
    from inbox import watching

    schema = require_tenant_schema()
    by_conversation: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for event_id, conversation_id, message in changes:
        by_conversation.setdefault(conversation_id, []).append((event_id, message))

    def send():
        open_now = watching.watched(schema)
        messages: list[tuple[str, dict]] = []
        for conversation_id, items in by_conversation.items():
            if open_now is not None and conversation_id not in open_now:
                continue
            ids = [event_id for event_id, _message in items]
            event = {
                "type": "message",
                "op": "statuses",
                "id": max(ids),
                "ids": ids,
                "conversation": conversation_id,
                "messages": [message for _event_id, message in items],
            }
            group = _groups_for(RealtimeEvent(type="message", op="status", conversation_id=conversation_id))
            messages += [(scoped_group(schema, name), {"type": "app.event", "event": event}) for name in group]
        # Concurrent sends on the process's sender loop, in chunks so a batch touching many open
        # conversations does not hold every pooled Redis connection at once. send_many logs its
        # own failures (the data is committed; clients catch up from the log).
        for start in range(0, len(messages), 200):
            send_many(messages[start : start + 200])

    if len(by_conversation) > BACKGROUND_SEND_THRESHOLD:
        # Many conversations: hand the sends to one background thread (order kept) so the
        # worker goes on with the next batch instead of waiting on the round trips.
        transaction.on_commit(lambda: _background_sender().put(send))
    else:
        transaction.on_commit(send)


BACKGROUND_SEND_THRESHOLD = 100
_sender_queue = None


def _background_sender():
    global _sender_queue
    if _sender_queue is None:
        import queue
        import threading

        _sender_queue = queue.Queue()

        def loop():
            while True:
                job = _sender_queue.get()
                job()

        threading.Thread(target=loop, name="inbox-realtime-sender", daemon=True).start()
    return _sender_queue


def _emit_message(message: Message, op: str) -> None:
    realtime_emit(
        type="message", op=op, payload={"message": serialize_message(message)}, conversation_id=message.conversation_id
    )


def _emit_conversation(conversation: Conversation, op: str = "updated", **extra) -> None:
    realtime_emit(
        type="conversation",
        op=op,
        payload={"data": serialize_conversation(conversation), **extra},
        conversation_id=conversation.pk,
    )


def _company():
    """The company whose schema is active (``schema_context`` only sets a stand-in tenant)."""
    from tenants.models import Company

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Company):
        return tenant
    return Company.objects.get(schema_name=require_tenant_schema())


# --- channels -------------------------------------------------------------------------------------


def _route_external_id(channel: Channel) -> str:
    if channel.kind == ChannelKind.WHATSAPP_CLOUD:
        return channel.phone_number_id
    return str(channel.public_id)


def _route_save(channel: Channel) -> None:
    """Keep the public routing row of the channel in step (company resolved by the public UUID)."""
    from tenants.models import WebhookRoute

    external_id = _route_external_id(channel)
    clash = WebhookRoute.objects.filter(provider=channel.kind, external_id=external_id).exclude(
        channel_public_id=channel.public_id
    )
    if clash.exists():
        raise ValidationError({"phone_number_id": _(ERR_NUMBER_IN_USE)})
    WebhookRoute.objects.update_or_create(
        channel_public_id=channel.public_id,
        defaults={"provider": channel.kind, "external_id": external_id, "company": _company()},
    )


REQUIRED_FIELDS = {
    ChannelKind.WHATSAPP_CLOUD: (
        ("config", "phone_number_id"),
        ("config", "waba_id"),
        ("secret", "access_token"),
        ("secret", "app_secret"),
    ),
    ChannelKind.SMS: (("config", "account_sid"), ("config", "from_number"), ("secret", "auth_token")),
    ChannelKind.WHATSAPP_WEB: (),
    ChannelKind.SANDBOX: (),
}
SECRET_FIELDS = ("access_token", "app_secret", "verify_token", "auth_token")


@transaction.atomic
def channel_create(
    *, kind: str, name: str, config: dict[str, Any] | None = None, secrets_: dict[str, str] | None = None
) -> Channel:
    """Connect a channel. Secrets are stored encrypted; a verify token is generated when missing."""
    require_tenant_schema()
    config = {k: str(v).strip() for k, v in (config or {}).items() if v not in (None, "")}
    secrets_ = {k: str(v).strip() for k, v in (secrets_ or {}).items() if k in SECRET_FIELDS and v}
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _(ERR_CHANNEL_NAME)
    for where, field in REQUIRED_FIELDS.get(ChannelKind(kind), ()) if kind in ChannelKind.values else ():
        if not (config if where == "config" else secrets_).get(field):
            errors[field] = _(ERR_CHANNEL_FIELD_REQUIRED)
    if kind == ChannelKind.SMS and config.get("from_number"):
        from crm.phones import InvalidPhoneError, normalize_phone

        try:
            config["from_number"] = normalize_phone(config["from_number"])
        except InvalidPhoneError:
            errors["from_number"] = _(ERR_PHONE_INVALID)
    if kind not in ChannelKind.values:
        errors["kind"] = _(ERR_CHANNEL_FIELD_REQUIRED)
    if errors:
        raise ValidationError(errors)
    channel = Channel(kind=kind, name=name[:80], config=config)
    for field, value in secrets_.items():
        setattr(channel, field, value)
    if kind in (ChannelKind.WHATSAPP_CLOUD, ChannelKind.SANDBOX) and not channel.verify_token:
        channel.verify_token = secrets.token_urlsafe(24)
    if kind == ChannelKind.SANDBOX:
        channel.app_secret = secrets.token_urlsafe(32)
        channel.config.setdefault("phone_number_id", f"sandbox-{channel.public_id.hex[:12]}")
        channel.config.setdefault("display_phone", "+55 11 4000-0000")
        channel.status = ChannelStatus.CONNECTED
    elif kind == ChannelKind.WHATSAPP_WEB:
        channel.status = ChannelStatus.DISCONNECTED
        channel.status_detail = _("Scan the QR code to connect.")
    else:
        channel.status = ChannelStatus.CONNECTED
    channel.last_activity_at = None
    channel.save()
    _route_save(channel)
    realtime_emit(type="channel", op="created", payload={"channel": channel_payload(channel)})
    return channel


@transaction.atomic
def channel_update(
    *, channel: Channel, name: str | None = None, config: dict[str, Any] | None = None, secrets_: dict | None = None
) -> Channel:
    """Change a channel's name, settings or secrets (an empty secret keeps the stored one)."""
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": _(ERR_CHANNEL_NAME)})
        channel.name = name.strip()[:80]
    if config:
        channel.config = {**channel.config, **{k: str(v).strip() for k, v in config.items() if v not in (None, "")}}
    for field, value in (secrets_ or {}).items():
        if field in SECRET_FIELDS and value:
            setattr(channel, field, str(value).strip())
    if channel.kind in (ChannelKind.WHATSAPP_CLOUD, ChannelKind.SMS) and (secrets_ or config):
        # New credentials: the token check runs again before we call it broken.
        channel.status = ChannelStatus.CONNECTED
        channel.status_detail = ""
    channel.save()
    _route_save(channel)
    realtime_emit(type="channel", op="updated", payload={"channel": channel_payload(channel)})
    return channel


@transaction.atomic
def channel_disconnect(*, channel: Channel) -> Channel:
    """Stop using the channel: webhooks for it are refused, history is kept."""
    from tenants.models import WebhookRoute

    if channel.kind == ChannelKind.WHATSAPP_WEB:
        from inbox.providers.whatsapp_web import publish_command

        publish_command({"cmd": "logout", "channel": channel.pk})
    channel.is_active = False
    channel.status = ChannelStatus.DISCONNECTED
    channel.save(update_fields=["is_active", "status", "updated_at"])
    WebhookRoute.objects.filter(channel_public_id=channel.public_id).delete()
    realtime_emit(type="channel", op="updated", payload={"channel": channel_payload(channel)})
    return channel


def channel_payload(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.pk,
        "kind": channel.kind,
        "name": channel.name,
        "status": channel.status,
        "status_detail": channel.status_detail,
        "session_state": channel.session_state,
        "last_activity_at": channel.last_activity_at.isoformat() if channel.last_activity_at else None,
    }


def channel_set_status(*, channel: Channel, status: str, detail: str = "") -> Channel:
    if channel.status == status and channel.status_detail == detail:
        return channel
    channel.status = status
    channel.status_detail = detail[:500]
    channel.save(update_fields=["status", "status_detail", "updated_at"])
    realtime_emit(type="channel", op="status", payload={"channel": channel_payload(channel)})
    return channel


@transaction.atomic
def channel_check_token(*, channel: Channel, now: datetime | None = None) -> Channel:
    """Ask Meta about the access token (debug_token); warn 7 days before it expires."""
    from datetime import timedelta

    from inbox.providers.whatsapp_cloud import TOKEN_ERROR_CODES, WhatsAppCloudProvider

    now = now or timezone.now()
    try:
        info = WhatsAppCloudProvider(channel).debug_token()
    except ProviderError as exc:
        channel.token_checked_at = now
        channel.save(update_fields=["token_checked_at"])
        if exc.code in TOKEN_ERROR_CODES:
            channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=exc.title)
        return channel
    channel.token_checked_at = now
    channel.token_expires_at = info["expires_at"]
    channel.save(update_fields=["token_checked_at", "token_expires_at"])
    if not info["is_valid"]:
        detail = info["error"] or _("Meta says the access token is no longer valid. Generate a new one.")
        channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=detail)
    elif info["expires_at"] and info["expires_at"] - now < timedelta(days=7):
        detail = _("The access token expires on %(date)s. Replace it before then.") % {
            "date": timezone.localtime(info["expires_at"]).strftime("%d/%m/%Y %H:%M")
        }
        channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=detail)
    else:
        channel_set_status(channel=channel, status=ChannelStatus.CONNECTED, detail="")
    return channel


def _touch_channel(channel: Channel, at: datetime) -> None:
    Channel.objects.filter(pk=channel.pk).update(last_activity_at=at)
    channel.last_activity_at = at


# --- conversations ------------------------------------------------------------------------------


def conversation_get_or_create(*, channel: Channel, contact) -> tuple[Conversation, bool]:
    """The (channel, contact) thread, locked for update. Race-free thanks to the unique pair."""
    conversation = Conversation.objects.select_for_update().filter(channel=channel, contact=contact).first()
    if conversation is not None:
        return conversation, False
    try:
        with transaction.atomic():
            return Conversation.objects.create(channel=channel, contact=contact), True
    except IntegrityError:
        return Conversation.objects.select_for_update().get(channel=channel, contact=contact), False


def _is_agent(user) -> bool:
    from tenants.models import Membership

    if user is None:
        return False
    membership = Membership.objects.filter(user=user, company=_company()).only("role").first()
    return membership is not None and role_at_least(membership.role, Role.AGENT)


@transaction.atomic
def conversation_assign(*, conversation: Conversation, agent, by=None) -> Conversation:
    """Assign to ``agent`` (a member with at least the agent role) or unassign with ``None``."""
    if agent is not None and not _is_agent(agent):
        raise ValidationError(_(ERR_NOT_AN_AGENT))
    new_id = agent.pk if agent is not None else None
    if conversation.assignee_id == new_id:
        return conversation
    conversation.assignee_id = new_id
    conversation.save(update_fields=["assignee", "updated_at"])
    if agent is not None:
        AgentSettings.objects.filter(user_id=agent.pk).update(last_assigned_at=timezone.now())
    _emit_conversation(conversation, "assigned", by=getattr(by, "pk", None))
    return conversation


@transaction.atomic
def conversation_auto_assign(*, conversation: Conversation) -> Conversation:
    """Round-robin: the available agent with free capacity who was assigned longest ago.

    Agent settings rows are locked in primary-key order, so two inbound messages assigning at
    the same time queue up instead of both picking the same agent (and never deadlock).
    """
    from tenants.models import Membership

    if conversation.assignee_id is not None:
        return conversation
    agent_ids = set(
        Membership.objects.filter(company=_company(), role__in=[Role.OWNER, Role.ADMIN, Role.AGENT]).values_list(
            "user_id", flat=True
        )
    )
    candidates = list(
        AgentSettings.objects.select_for_update()
        .filter(is_available=True, capacity__gt=0, user_id__in=agent_ids)
        .order_by("pk")
    )
    if not candidates:
        return conversation
    load = dict(
        Conversation.objects.filter(
            assignee_id__in=[c.user_id for c in candidates],
            status__in=[ConversationStatus.OPEN, ConversationStatus.PENDING],
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    free = [c for c in candidates if load.get(c.user_id, 0) < c.capacity]
    if not free:
        return conversation
    epoch = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    chosen = min(free, key=lambda c: (c.last_assigned_at or epoch, c.pk))
    chosen.last_assigned_at = timezone.now()
    chosen.save(update_fields=["last_assigned_at"])
    conversation.assignee_id = chosen.user_id
    conversation.save(update_fields=["assignee", "updated_at"])
    _emit_conversation(conversation, "assigned", by=None, automatic=True)
    return conversation


@transaction.atomic
def conversation_set_status(
    *, conversation: Conversation, status: str, by=None, snoozed_until: datetime | None = None
) -> Conversation:
    if status not in ConversationStatus.values:
        raise ValidationError(_(ERR_STATUS_INVALID))
    now = timezone.now()
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is None or snoozed_until <= now:
            raise ValidationError(_(ERR_SNOOZE_IN_PAST))
        conversation.snoozed_until = snoozed_until
    else:
        conversation.snoozed_until = None
    conversation.resolved_at = now if status == ConversationStatus.RESOLVED else None
    conversation.status = status
    conversation.save(update_fields=["status", "snoozed_until", "resolved_at", "updated_at"])
    _emit_conversation(conversation, "status", by=getattr(by, "pk", None))
    return conversation


def conversation_resolve(*, conversation: Conversation, by=None) -> Conversation:
    return conversation_set_status(conversation=conversation, status=ConversationStatus.RESOLVED, by=by)


def conversation_reopen(*, conversation: Conversation, by=None) -> Conversation:
    return conversation_set_status(conversation=conversation, status=ConversationStatus.OPEN, by=by)


def conversation_snooze(*, conversation: Conversation, until: datetime, by=None) -> Conversation:
    return conversation_set_status(
        conversation=conversation, status=ConversationStatus.SNOOZED, by=by, snoozed_until=until
    )


@transaction.atomic
def conversations_wake_snoozed(*, now: datetime | None = None) -> int:
    """Reopen snoozed conversations whose time has come (beat task)."""
    now = now or timezone.now()
    woken = 0
    for conversation in Conversation.objects.select_for_update(skip_locked=True).filter(
        status=ConversationStatus.SNOOZED, snoozed_until__lte=now
    ):
        conversation_set_status(conversation=conversation, status=ConversationStatus.OPEN)
        woken += 1
    return woken


@transaction.atomic
def conversation_set_labels(*, conversation: Conversation, label_ids: list[int], by=None) -> Conversation:
    labels = list(Label.objects.filter(pk__in=label_ids))
    conversation.labels.set(labels)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    _emit_conversation(
        conversation, "labels", labels=[{"id": lb.pk, "name": lb.name, "color": lb.color} for lb in labels]
    )
    return conversation


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, by=None) -> Conversation:
    """Clear the unread counter and tell the provider the customer's messages were read."""
    if conversation.unread_count == 0:
        return conversation
    conversation.unread_count = 0
    conversation.save(update_fields=["unread_count", "updated_at"])
    last_inbound = (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
        .exclude(provider_message_id="")
        .order_by("-created_at", "-id")
        .first()
    )
    if last_inbound is not None and conversation.channel.kind == ChannelKind.WHATSAPP_CLOUD:
        from inbox.tasks import provider_mark_read
        from tenants.tasks import enqueue_on_commit

        enqueue_on_commit(provider_mark_read, current_schema(), last_inbound.pk)
    _emit_conversation(conversation, "read", by=getattr(by, "pk", None))
    return conversation


def message_mark_read(*, message: Message) -> None:
    """Provider read receipt for one inbound message (blue ticks on the customer's phone)."""
    if message.direction != Direction.INBOUND or not message.provider_message_id:
        return
    try:
        get_provider(message.channel).mark_read(provider_message_id=message.provider_message_id)
    except ProviderError as exc:
        logger.info("mark_read failed for message %s: %s", message.pk, exc.title)


@transaction.atomic
def note_add(*, conversation: Conversation, body: str, by) -> Message:
    """A private note: visible to agents only, never sent to the customer."""
    body = (body or "").strip()
    if not body:
        raise ValidationError(_(ERR_NOTE_EMPTY))
    if len(body) > MAX_TEXT:
        raise ValidationError(_(ERR_TEXT_TOO_LONG))
    message = Message.objects.create(
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.NOTE,
        body=body,
        status=MessageStatus.SENT,
        sent_by_id=getattr(by, "pk", None),
    )
    _emit_message(message, "new")
    return message


# --- labels, canned responses, agents -----------------------------------------------------------


@transaction.atomic
def label_create(*, name: str, color: str = "slate") -> Label:
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise ValidationError({"name": _(ERR_LABEL_NAME)})
    if Label.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": _(ERR_LABEL_EXISTS)})
    label = Label.objects.create(name=name, color=(color or "slate")[:20])
    realtime_emit(type="label", op="created", payload={"label": {"id": label.pk, "name": label.name}})
    return label


@transaction.atomic
def label_update(*, label: Label, name: str | None = None, color: str | None = None) -> Label:
    if name is not None:
        name = name.strip()
        if not name or len(name) > 50:
            raise ValidationError({"name": _(ERR_LABEL_NAME)})
        if Label.objects.filter(name__iexact=name).exclude(pk=label.pk).exists():
            raise ValidationError({"name": _(ERR_LABEL_EXISTS)})
        label.name = name
    if color:
        label.color = color[:20]
    label.save()
    return label


@transaction.atomic
def label_delete(*, label: Label) -> None:
    label.delete()


def _validate_shortcut(shortcut: str, *, exclude_pk: int | None = None) -> str:
    import re

    shortcut = (shortcut or "").strip().lstrip("/").lower()
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", shortcut):
        raise ValidationError({"shortcut": _(ERR_SHORTCUT_INVALID)})
    clash = CannedResponse.objects.filter(shortcut=shortcut)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"shortcut": _(ERR_SHORTCUT_EXISTS)})
    return shortcut


@transaction.atomic
def canned_response_create(*, shortcut: str, body: str, title: str = "", by=None) -> CannedResponse:
    shortcut = _validate_shortcut(shortcut)
    if not (body or "").strip():
        raise ValidationError({"body": _(ERR_CANNED_BODY)})
    return CannedResponse.objects.create(
        shortcut=shortcut, body=body.strip(), title=(title or "").strip()[:80], created_by_id=getattr(by, "pk", None)
    )


@transaction.atomic
def canned_response_update(
    *, canned: CannedResponse, shortcut: str | None = None, body: str | None = None, title: str | None = None
) -> CannedResponse:
    if shortcut is not None:
        canned.shortcut = _validate_shortcut(shortcut, exclude_pk=canned.pk)
    if body is not None:
        if not body.strip():
            raise ValidationError({"body": _(ERR_CANNED_BODY)})
        canned.body = body.strip()
    if title is not None:
        canned.title = title.strip()[:80]
    canned.save()
    return canned


@transaction.atomic
def canned_response_delete(*, canned: CannedResponse) -> None:
    canned.delete()


@transaction.atomic
def agent_settings_update(*, user, capacity: int | None = None, is_available: bool | None = None) -> AgentSettings:
    settings_row, _created = AgentSettings.objects.get_or_create(user_id=user.pk)
    if capacity is not None:
        if not 0 <= int(capacity) <= 500:
            raise ValidationError({"capacity": _(ERR_CAPACITY)})
        settings_row.capacity = int(capacity)
    if is_available is not None:
        settings_row.is_available = bool(is_available)
    settings_row.save()
    return settings_row


# --- sending ------------------------------------------------------------------------------------


def _existing_for_key(idempotency_key: str | None, conversation: Conversation | None = None) -> Message | None:
    """The message an earlier attempt with this key created. A key reused for another
    conversation is a client bug: refused rather than answered with the wrong message."""
    if not idempotency_key:
        return None
    existing = Message.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None and conversation is not None and existing.conversation_id != conversation.pk:
        raise ValidationError(_(ERR_IDEMPOTENCY_KEY_REUSED))
    return existing


def _scoped_key(idempotency_key: str | None, by) -> str | None:
    """Keys are per sender, so two agents' clients cannot collide on the same key."""
    if not idempotency_key:
        return None
    raw = f"{getattr(by, 'pk', '') or ''}:{idempotency_key.strip()[:200]}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_can_send(conversation: Conversation) -> None:
    channel = conversation.channel
    if not channel.is_active or (
        channel.kind == ChannelKind.WHATSAPP_WEB and channel.session_state != SessionState.OPEN
    ):
        raise ValidationError(_(ERR_CHANNEL_INACTIVE))


def _create_outbound(
    *, conversation: Conversation, kind: str, body: str, by, key: str | None, **fields
) -> tuple[Message, bool]:
    """Create the queued message, or return the one an earlier attempt with the same key created."""
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                channel_id=conversation.channel_id,
                direction=Direction.OUTBOUND,
                kind=kind,
                body=body,
                status=MessageStatus.QUEUED,
                idempotency_key=key,
                sent_by_id=getattr(by, "pk", None),
                **fields,
            )
    except IntegrityError:
        existing = _existing_for_key(key)
        if existing is None:
            raise
        return existing, False
    now = message.created_at
    preview = body or f"[{kind}]"
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=now, last_message_preview=preview[:200], updated_at=now
    )
    conversation.last_message_at = now
    conversation.last_message_preview = preview[:200]
    _emit_message(message, "new")
    _emit_conversation(conversation)
    from inbox.tasks import deliver_message
    from tenants.tasks import enqueue_on_commit

    enqueue_on_commit(deliver_message, current_schema(), message.pk)
    return message, True


@transaction.atomic
def message_send_text(
    *, conversation: Conversation, text: str, by=None, idempotency_key: str | None = None, reply_to=None
) -> Message:
    """Queue a free-text message (delivered by a worker); the same key never sends twice."""
    key = _scoped_key(idempotency_key, by)
    existing = _existing_for_key(key, conversation)
    if existing is not None:
        return existing
    text = (text or "").strip()
    if not text:
        raise ValidationError(_(ERR_TEXT_EMPTY))
    if len(text) > MAX_TEXT:
        raise ValidationError(_(ERR_TEXT_TOO_LONG))
    _check_can_send(conversation)
    if not window_is_open(conversation):
        raise ValidationError(_(ERR_OUTSIDE_WINDOW))
    message, _created = _create_outbound(
        conversation=conversation,
        kind=MessageKind.TEXT,
        body=text,
        by=by,
        key=key,
        reply_to=reply_to,
    )
    return message


def message_send_template(
    *, conversation: Conversation, name: str, language: str, components=None, by=None, idempotency_key=None
) -> Message:
    """Templates need the approved-template catalogue the campaigns module brings."""
    raise ValidationError(_(ERR_TEMPLATES_NOT_AVAILABLE))


def _media_kind(mime: str) -> str:
    top = mime.split("/")[0]
    return {"image": MessageKind.IMAGE, "audio": MessageKind.AUDIO, "video": MessageKind.VIDEO}.get(
        top, MessageKind.DOCUMENT
    )


@transaction.atomic
def message_send_media(
    *,
    conversation: Conversation,
    content: bytes,
    filename: str,
    mime: str = "",
    caption: str = "",
    by=None,
    idempotency_key: str | None = None,
) -> Message:
    key = _scoped_key(idempotency_key, by)
    existing = _existing_for_key(key, conversation)
    if existing is not None:
        return existing
    _check_can_send(conversation)
    if not get_provider(conversation.channel).supports_media:
        raise ValidationError(_(ERR_MEDIA_NOT_SUPPORTED))
    if len(content) > MAX_MEDIA_BYTES:
        raise ValidationError(_(ERR_MEDIA_TOO_LARGE))
    mime = (mime or mimetypes.guess_type(filename)[0] or "application/octet-stream").split(";")[0].strip().lower()
    if not (mime.startswith(ALLOWED_MEDIA_PREFIXES) or mime in ALLOWED_MEDIA_TYPES):
        raise ValidationError(_(ERR_MEDIA_TYPE))
    if len(caption or "") > 1024:
        raise ValidationError(_(ERR_TEXT_TOO_LONG))
    if not window_is_open(conversation):
        raise ValidationError(_(ERR_OUTSIDE_WINDOW))
    filename = (filename or "file").replace("/", "_")[-120:]
    message, created = _create_outbound(
        conversation=conversation,
        kind=_media_kind(mime),
        body=(caption or "").strip(),
        by=by,
        key=key,
        media_mime=mime,
        media_filename=filename,
        media_size=len(content),
    )
    if created:
        message.media.save(filename, ContentFile(content), save=False)
        Message.objects.filter(pk=message.pk).update(media=message.media.name)
    return message


@transaction.atomic
def message_react(*, message: Message, emoji: str, by=None) -> Message:
    """React to a customer's (or our) message with an emoji; an empty emoji removes it."""
    conversation = message.conversation
    if not get_provider(conversation.channel).supports_reactions:
        raise ValidationError(_(ERR_REACTION_NOT_SUPPORTED))
    if not message.provider_message_id:
        raise ValidationError(_(ERR_REACTION_TARGET))
    _check_can_send(conversation)
    if not window_is_open(conversation):
        raise ValidationError(_(ERR_OUTSIDE_WINDOW))
    reaction, _created = _create_outbound(
        conversation=conversation,
        kind=MessageKind.REACTION,
        body=(emoji or "")[:16],
        by=by,
        key=None,
        reply_to=message,
    )
    return reaction


def message_deliver(*, message_id: int) -> Message | None:
    """Hand a queued message to its provider (worker). Holds the row lock across the call so a
    redelivered task waits and then sees the message already sent: never sent twice."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation__contact", "channel", "reply_to")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.status != MessageStatus.QUEUED or message.provider_message_id:
            return message
        channel = message.channel
        contact = message.conversation.contact
        to = (
            contact.wa_id
            if channel.kind in (ChannelKind.WHATSAPP_CLOUD, ChannelKind.SANDBOX) and contact.wa_id
            else contact.phone
        )
        provider = get_provider(channel)
        try:
            if message.kind == MessageKind.TEXT:
                reply = message.reply_to.provider_message_id if message.reply_to else ""
                result = provider.send_text(to=to, text=message.body, reply_to=reply)
            elif message.kind == MessageKind.REACTION and message.reply_to is not None:
                result = provider.send_reaction(
                    to=to, provider_message_id=message.reply_to.provider_message_id, emoji=message.body
                )
            elif message.kind in MEDIA_KINDS:
                with message.media.open("rb") as fh:
                    content = fh.read()
                result = provider.send_media(
                    to=to,
                    kind=message.kind,
                    content=content,
                    mime=message.media_mime,
                    filename=message.media_filename,
                    caption=message.body,
                )
                message.provider_media_id = str(result.raw.get("media_id", ""))
            else:
                raise ProviderError(_(ERR_TEMPLATES_NOT_AVAILABLE), code="unsupported")
        except ProviderError as exc:
            if exc.retryable:
                raise
            message.status = MessageStatus.FAILED
            message.error_code = exc.code[:20]
            message.error_title = exc.title[:255]
            message.error_details = exc.details
            message.status_at = timezone.now()
            message.save(update_fields=["status", "error_code", "error_title", "error_details", "status_at"])
            if exc.code in {"190", "102", "463", "467"}:
                channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=exc.title)
            _emit_message(message, "status")
            return message
        message.provider_message_id = result.provider_message_id
        message.status = MessageStatus.SENT if result.status == "sent" else MessageStatus.QUEUED
        message.status_at = timezone.now()
        message.save(update_fields=["provider_message_id", "status", "status_at", "provider_media_id"])
        _touch_channel(channel, message.status_at)
        _emit_message(message, "status")
        _apply_pending(channel, message.provider_message_id)
        from crm.services import timeline_record

        timeline_record(
            contact=contact,
            kind="message.out",
            data={
                "message": message.pk,
                "conversation": message.conversation_id,
                "kind": message.kind,
                "text": message.body[:200],
                "channel": channel.kind,
            },
            actor=message.sent_by_id,
            at=message.created_at,
        )
        return message


# --- inbound ------------------------------------------------------------------------------------


def _contact_for_inbound(channel: Channel, inbound: InboundMessage):
    from crm.services import contact_upsert_from_channel

    phone = inbound.phone
    if inbound.wa_id and not phone.startswith("+"):
        phone = "+" + phone.lstrip("+")
    source = "sms" if channel.kind == ChannelKind.SMS else "whatsapp"
    return contact_upsert_from_channel(phone=phone, wa_id=inbound.wa_id, name=inbound.name, source=source)


@transaction.atomic
def inbound_message_receive(*, channel: Channel, inbound: InboundMessage) -> Message | None:
    """Store one customer message (idempotent on the provider id), upsert the contact and the
    conversation, and set off what follows (media download, opt-out reply, auto-assignment)."""
    if Message.objects.filter(channel=channel, provider_message_id=inbound.provider_message_id).exists():
        return None  # a redelivery
    contact = _contact_for_inbound(channel, inbound)
    conversation, created = conversation_get_or_create(channel=channel, contact=contact)
    at = inbound.timestamp or timezone.now()
    now = timezone.now()
    reply_to = None
    if inbound.reply_to_provider_id:
        reply_to = Message.objects.filter(channel=channel, provider_message_id=inbound.reply_to_provider_id).first()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                channel=channel,
                direction=Direction.INBOUND,
                kind=inbound.kind,
                body=inbound.body,
                payload=inbound.payload,
                provider_message_id=inbound.provider_message_id,
                provider_media_id=inbound.media_id[:128] if not inbound.media_id.startswith("http") else "",
                media_mime=inbound.media_mime,
                media_filename=inbound.media_filename,
                reply_to=reply_to,
                status=MessageStatus.RECEIVED,
                status_at=at,
                created_at=min(at, now),
            )
    except IntegrityError:
        return None  # the same message processed concurrently
    reopened = conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED)
    if reopened:
        conversation.status = ConversationStatus.OPEN
        conversation.snoozed_until = None
        conversation.resolved_at = None
    preview = inbound.body or f"[{inbound.kind}]"
    conversation.last_message_at = max(filter(None, [conversation.last_message_at, message.created_at]))
    conversation.last_message_preview = preview[:200]
    if conversation.last_inbound_at is None or message.created_at > conversation.last_inbound_at:
        conversation.last_inbound_at = message.created_at
    conversation.unread_count = F("unread_count") + 1
    conversation.save(
        update_fields=[
            "status",
            "snoozed_until",
            "resolved_at",
            "last_message_at",
            "last_message_preview",
            "last_inbound_at",
            "unread_count",
            "updated_at",
        ]
    )
    conversation.refresh_from_db(fields=["unread_count"])
    _touch_channel(channel, now)
    _emit_message(message, "new")
    _emit_conversation(conversation, "created" if created else ("reopened" if reopened else "updated"))
    from crm.services import timeline_record

    timeline_record(
        contact=contact,
        kind="message.in",
        data={
            "message": message.pk,
            "conversation": conversation.pk,
            "kind": message.kind,
            "text": message.body[:200],
            "channel": channel.kind,
        },
        at=message.created_at,
    )
    if inbound.media_id:
        from inbox.tasks import download_media
        from tenants.tasks import enqueue_on_commit

        enqueue_on_commit(download_media, current_schema(), message.pk, inbound.media_id)
    if message.kind == MessageKind.TEXT:
        _handle_opt_out(conversation=conversation, contact=contact, text=message.body)
    if conversation.assignee_id is None and (created or reopened):
        conversation_auto_assign(conversation=conversation)
    return message


def _handle_opt_out(*, conversation: Conversation, contact, text: str) -> None:
    from crm.selectors import crm_settings_get, is_opt_out_keyword
    from crm.services import contact_opt_out

    if not is_opt_out_keyword(text):
        return
    already = contact.is_opted_out
    contact_opt_out(contact=contact, source="keyword")
    reply = (crm_settings_get().opt_out_reply or "").strip()
    if reply and not already:
        # The customer just wrote, so the window is open; the confirmation is a service reply.
        conversation.refresh_from_db()
        message_send_text(conversation=conversation, text=reply, by=None)


@transaction.atomic
def message_media_store(*, message_id: int, media_id: str) -> Message | None:
    """Download an inbound message's media from the provider into our storage (worker)."""
    message = Message.objects.select_for_update().select_related("channel").filter(pk=message_id).first()
    if message is None or message.media:
        return message
    fetched = get_provider(message.channel).fetch_media(media_id=media_id)
    ext = mimetypes.guess_extension(fetched.mime) or ""
    filename = message.media_filename or fetched.filename or f"{message.kind}-{message.pk}{ext}"
    message.media.save(filename.replace("/", "_"), ContentFile(fetched.content), save=False)
    message.media_mime = message.media_mime or fetched.mime
    message.media_size = len(fetched.content)
    message.media_filename = filename
    message.save(update_fields=["media", "media_mime", "media_size", "media_filename"])
    _emit_message(message, "updated")
    return message


def _reduce_statuses(statuses: list[StatusUpdate]) -> dict[str, StatusUpdate]:
    """One winner per message: the most advanced status, where a failure never beats a
    delivery or read report of the same message."""
    best: dict[str, StatusUpdate] = {}
    for update in statuses:
        current = best.get(update.provider_message_id)
        if current is None:
            best[update.provider_message_id] = update
            continue
        if update.status == MessageStatus.FAILED and current.status in (MessageStatus.DELIVERED, MessageStatus.READ):
            continue
        if current.status == MessageStatus.FAILED and update.status in (MessageStatus.DELIVERED, MessageStatus.READ):
            best[update.provider_message_id] = update
            continue
        if STATUS_RANK[update.status] > STATUS_RANK[current.status]:
            best[update.provider_message_id] = update
    return best


_APPLY_SQL = """
WITH v AS (
    SELECT * FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::int[])
        AS v(pid, status, ts, code, title, details, rank)
), upd AS (
    UPDATE inbox_message AS m SET
        status = v.status,
        status_at = COALESCE(v.ts, now()),
        error_code = CASE WHEN v.status = 'failed' THEN v.code ELSE m.error_code END,
        error_title = CASE WHEN v.status = 'failed' THEN v.title ELSE m.error_title END,
        error_details = CASE WHEN v.status = 'failed' THEN v.details ELSE m.error_details END
    FROM v
    WHERE m.channel_id = %b
      AND m.direction = 'out'
      AND m.provider_message_id = v.pid
      AND v.rank > (CASE m.status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                    WHEN 'read' THEN 3 WHEN 'failed' THEN 4 ELSE 99 END)
      AND NOT (v.status = 'failed' AND m.status IN ('delivered', 'read'))
    RETURNING m.id, m.conversation_id, m.status, m.error_code, m.error_title, m.error_details
), ev AS (
    INSERT INTO inbox_realtimeevent (type, op, payload, conversation_id, user_ids, created_at)
    SELECT 'message', 'status',
           jsonb_build_object('message', jsonb_build_object(
               'id', id, 'conversation', conversation_id, 'status', status,
               'error_code', error_code, 'error_title', error_title, 'error_details', error_details)),
           conversation_id, '[]'::jsonb, now()
    FROM upd ORDER BY id
    RETURNING id, (payload -> 'message' ->> 'id')::bigint AS message_id
)
-- The changed columns come back as columns, not as the stored payload: Django's connection
-- reads jsonb as text, and decoding a thousand payloads would cost the worker more than the join.
SELECT ev.id, upd.conversation_id, upd.id, upd.status, upd.error_code, upd.error_title, upd.error_details
FROM ev JOIN upd ON upd.id = ev.message_id
ORDER BY ev.id
"""


@transaction.atomic
def message_statuses_apply(*, channel: Channel, statuses: list[StatusUpdate]) -> int:
    """Apply provider status reports in one statement. Statuses only move forward
    (queued < sent < delivered < read); ``failed`` keeps the provider's code, title and details.

    The same statement writes the realtime event of every message that changed (a CTE), so a
    batch of thousands of statuses costs one round trip.
    """
    reduced = list(_reduce_statuses(statuses).values())
    if not reduced:
        return 0
    params: list[Any] = [
        [u.provider_message_id for u in reduced],
        [u.status for u in reduced],
        [u.timestamp for u in reduced],
        [u.error_code[:20] for u in reduced],
        [u.error_title[:255] for u in reduced],
        [u.error_details for u in reduced],
        [STATUS_RANK[u.status] for u in reduced],
        channel.pk,
    ]
    # Binary parameters: these arrays hold up to a thousand values each (see core.db).
    with binary_cursor() as cursor:
        cursor.execute(_APPLY_SQL, params)
        rows = cursor.fetchall()
    _keep_unmatched(channel, reduced, changed=len(rows))
    _send_statuses_on_commit(
        [
            (
                event_id,
                conversation_id,
                {
                    "id": message_id,
                    "conversation": conversation_id,
                    "status": status,
                    "error_code": code,
                    "error_title": title,
                    "error_details": details,
                },
            )
            for event_id, conversation_id, message_id, status, code, title, details in rows
        ]
    )
    return len(rows)


def _keep_unmatched(channel: Channel, updates: list[StatusUpdate], *, changed: int) -> None:
    """Park statuses of provider ids we do not know yet (see ``PendingStatus``)."""
    from inbox.models import PendingStatus

    if changed == len(updates):
        return  # every status found its message
    pids = [u.provider_message_id for u in updates]
    known = set(
        Message.objects.filter(channel=channel, provider_message_id__in=pids).values_list(
            "provider_message_id", flat=True
        )
    )
    PendingStatus.objects.bulk_create(
        [
            PendingStatus(
                channel=channel,
                provider_message_id=u.provider_message_id,
                status=u.status,
                status_at=u.timestamp,
                error_code=u.error_code[:20],
                error_title=u.error_title[:255],
                error_details=u.error_details,
            )
            for u in updates
            if u.provider_message_id not in known
        ]
    )


def _apply_pending(channel: Channel, provider_message_id: str) -> None:
    """Apply the statuses that arrived before ``provider_message_id`` was stored."""
    from inbox.models import PendingStatus

    pending = list(PendingStatus.objects.filter(channel=channel, provider_message_id=provider_message_id))
    if not pending:
        return
    message_statuses_apply(
        channel=channel,
        statuses=[
            StatusUpdate(
                provider_message_id=p.provider_message_id,
                status=p.status,
                timestamp=p.status_at,
                error_code=p.error_code,
                error_title=p.error_title,
                error_details=p.error_details,
            )
            for p in pending
        ],
    )
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()


# --- webhooks -----------------------------------------------------------------------------------


def webhook_dedupe_key(provider: str, body: bytes) -> str:
    return f"{provider}:{hashlib.sha256(body).hexdigest()}"


def webhook_event_record(*, channel_id: int, provider: str, body: bytes, dedupe_key: str, payload=None) -> bool:
    """Durably record one delivery; ``False`` when it was already recorded (a redelivery).

    One ``INSERT ... ON CONFLICT DO NOTHING``: the cheapest durable write, so the webhook can
    answer fast and a replay changes nothing.
    """
    text = body.decode("utf-8", errors="replace")
    error = ""
    if payload is None:
        try:
            payload = json.loads(text)
        except ValueError:
            payload, error = None, "malformed JSON"
    with transaction.atomic(), connection.cursor() as cursor:
        # The provider is answered 200 after this and never redelivers: flushed to disk even
        # where the server's default is asynchronous commit (see inbox.asgi).
        cursor.execute("SET LOCAL synchronous_commit = on")
        cursor.execute(
            "INSERT INTO inbox_webhookevent (provider, channel_id, dedupe_key, payload, body, received_at, error)"
            " VALUES (%s, %s, %s, %s, %s, now(), %s) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            [
                provider,
                channel_id,
                dedupe_key,
                json.dumps(payload) if payload is not None else None,
                text if payload is None else "",
                error,
            ],
        )
        inserted = cursor.fetchone() is not None
    if inserted and error:
        # Nothing to process: mark it done right away (kept for inspection).
        WebhookEvent.objects.filter(dedupe_key=dedupe_key).update(processed_at=timezone.now())
    return inserted


def webhook_events_process(*, limit: int = 1000) -> int:
    """Process pending webhook events in arrival order, in one batch (worker).

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers share the backlog.
    Statuses of the whole batch are applied per channel in one statement; each inbound message
    runs in its own savepoint, so one bad part never loses the good parts of the batch.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, channel_id, payload::text, error FROM inbox_webhookevent"
                " WHERE processed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [limit],
            )
            events = cursor.fetchall()
        if not events:
            return 0
        channels = {c.pk: c for c in Channel.objects.filter(pk__in={e[1] for e in events if e[1]})}
        statuses: dict[int, list[StatusUpdate]] = {}
        errors: dict[int, str] = {}
        for pk, channel_id, payload_text, recorded_error in events:
            channel = channels.get(channel_id)
            if channel is None:
                errors[pk] = "unknown channel"
                continue
            if payload_text is None:
                errors[pk] = recorded_error or "malformed JSON"
                continue
            parsed = get_provider(channel).parse(json.loads(payload_text))
            if parsed.ignored:
                errors[pk] = "; ".join(parsed.ignored)[:1000]
            statuses.setdefault(channel.pk, []).extend(parsed.statuses)
            for inbound in parsed.messages:
                try:
                    with transaction.atomic():
                        inbound_message_receive(channel=channel, inbound=inbound)
                except Exception as exc:  # noqa: BLE001 - one bad message must not lose the batch
                    logger.exception("inbound message %s failed", inbound.provider_message_id)
                    errors[pk] = f"{errors.get(pk, '')} message {inbound.provider_message_id}: {exc}"[:1000]
        for channel_id, updates in statuses.items():
            if updates:
                message_statuses_apply(channel=channels[channel_id], statuses=updates)
                _touch_channel(channels[channel_id], timezone.now())
        ok_ids = [e[0] for e in events if e[0] not in errors]
        with connection.cursor() as cursor:
            if ok_ids:
                cursor.execute(
                    "UPDATE inbox_webhookevent SET processed_at = clock_timestamp() WHERE id = ANY(%s)", [ok_ids]
                )
            for pk, error in errors.items():
                cursor.execute(
                    "UPDATE inbox_webhookevent SET processed_at = clock_timestamp(), error = %s WHERE id = %s",
                    [error.strip(), pk],
                )
        return len(events)


# --- sandbox ------------------------------------------------------------------------------------


def sandbox_ingest(*, channel: Channel, payload: dict) -> bool:
    """Feed a Meta-format payload, signed with the channel's app secret, through the same
    verification and recording path as a real webhook delivery."""
    from inbox.providers.meta import meta_signature
    from inbox.webhooks import webhook_accept

    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"X-Hub-Signature-256": meta_signature(channel.app_secret, body)}
    status, _text = webhook_accept(
        channel_public_id=str(channel.public_id), segment="whatsapp", body=body, headers=headers, url="", form=None
    )
    return status == 200


def sandbox_simulate_reply(*, channel: Channel, contact_phone: str, text: str, name: str = "") -> bool:
    """The "simulate customer reply" control: the customer behind ``contact_phone`` writes ``text``."""
    from crm.phones import InvalidPhoneError, normalize_phone
    from inbox.providers.meta import build_text_message_payload

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


# --- WhatsApp Web sessions ----------------------------------------------------------------------


@transaction.atomic
def channel_session_update(
    *, channel: Channel, state: str, session_data: str | None = None, phone: str | None = None, detail: str = ""
) -> Channel:
    """Record a WhatsApp Web session state reported by the ``wa-sessions`` process."""
    fields = ["session_state", "status", "status_detail", "updated_at"]
    channel.session_state = state
    if state == SessionState.OPEN:
        channel.status, channel.status_detail = ChannelStatus.CONNECTED, ""
        channel.last_activity_at = timezone.now()
        fields.append("last_activity_at")
    elif state == SessionState.LOGGED_OUT:
        channel.status = ChannelStatus.DISCONNECTED
        channel.status_detail = detail or _("Logged out. Scan the QR code to connect again.")
        channel.session_data = ""
        fields.append("session_data")
    else:
        channel.status = ChannelStatus.DISCONNECTED
        channel.status_detail = detail
    if session_data is not None and state != SessionState.LOGGED_OUT:
        channel.session_data = session_data
        fields.append("session_data")
    if phone:
        channel.config = {**channel.config, "phone": phone}
        fields.append("config")
    channel.save(update_fields=sorted(set(fields)))
    realtime_emit(type="channel", op="session", payload={"channel": channel_payload(channel)})
    return channel


def channel_session_qr(*, channel: Channel, code: str) -> None:
    """A fresh QR code for the channel page (realtime only: a QR is useless a minute later)."""
    send_event_on_commit(
        {"type": "channel", "op": "qr", "channel": channel.pk, "qr": code},
        groups=[INBOX_GROUP, f"channel.{channel.pk}"],
    )


def channel_session_connect(*, channel: Channel, pair_phone: str = "") -> None:
    """Ask the ``wa-sessions`` process to start the session (QR code, or a pairing code for
    ``pair_phone``)."""
    from inbox.providers.whatsapp_web import publish_command

    command: dict[str, Any] = {"cmd": "connect", "channel": channel.pk}
    if pair_phone:
        from crm.phones import InvalidPhoneError, normalize_phone

        try:
            command["pair_phone"] = normalize_phone(pair_phone)
        except InvalidPhoneError as exc:
            raise ValidationError(_(ERR_PHONE_INVALID)) from exc
    channel.session_state = SessionState.CONNECTING
    channel.save(update_fields=["session_state", "updated_at"])
    publish_command(command)


def channel_session_logout(*, channel: Channel) -> None:
    from inbox.providers.whatsapp_web import publish_command

    publish_command({"cmd": "logout", "channel": channel.pk})


@transaction.atomic
def message_provider_ack(*, channel: Channel, provider_message_id: str, status: str) -> int:
    """A WhatsApp Web send acknowledgement or receipt (same forward-only rule as webhooks)."""
    return message_statuses_apply(
        channel=channel, statuses=[StatusUpdate(provider_message_id=provider_message_id, status=status)]
    )


# --- demo -----------------------------------------------------------------------------------------


@transaction.atomic
def demo_inbox_setup() -> Channel:
    """The demo company's sandbox channel and a couple of conversations (idempotent)."""
    from crm.services import contact_upsert_from_channel

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


def outbound_display(message: Message) -> str:
    return message.body or f"[{message.kind}]"
