"""Messages: queueing sends (text, media, reactions; idempotent per key), delivering them to
the provider (worker), and storing what customers send (inbound, media download)."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.tasks import enqueue_on_commit
from crm.selectors import crm_settings_get, is_opt_out_keyword
from crm.services import contact_opt_out, contact_upsert_from_channel, timeline_record
from inbox import hooks, media, realtime
from inbox.models import (
    MEDIA_KINDS,
    Channel,
    ChannelKind,
    ChannelStatus,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    SessionState,
)
from inbox.providers import get_provider
from inbox.providers.base import InboundMessage, ProviderError
from inbox.providers.whatsapp_cloud import TOKEN_ERROR_CODES
from inbox.selectors import channel_webhook_url, window_is_open
from inbox.services.channels import channel_set_status, channel_touch
from inbox.services.conversations import conversation_auto_assign, conversation_get_or_create
from inbox.services.statuses import pending_statuses_apply
from tenants import limits
from tenants.context import current_company, current_schema

logger = logging.getLogger(__name__)

ERR_TEXT_EMPTY = gettext_noop("Write a message before sending.")
ERR_TEXT_TOO_LONG = gettext_noop("The message is too long (at most 4,096 characters).")
ERR_OUTSIDE_WINDOW = gettext_noop(
    "More than 24 hours have passed since the customer's last message. WhatsApp only allows an approved template now."
)
ERR_TEMPLATES_NOT_AVAILABLE = gettext_noop("This channel cannot send message templates.")
ERR_TEMPLATE_REQUIRED = gettext_noop("Choose an approved template.")
ERR_CHANNEL_INACTIVE = gettext_noop("This channel is disconnected. Reconnect it in the channel settings.")
ERR_MEDIA_NOT_SUPPORTED = gettext_noop("This channel cannot send files.")
ERR_MEDIA_MISSING = gettext_noop("Choose a file to send.")
ERR_MEDIA_TOO_LARGE = gettext_noop("The file is too large (at most 16 MB).")
ERR_MEDIA_TYPE = gettext_noop("This type of file cannot be sent.")
ERR_REACTION_NOT_SUPPORTED = gettext_noop("This channel does not support reactions.")
ERR_REACTION_TARGET = gettext_noop("Only messages already delivered by the provider can get a reaction.")
ERR_COMPANY_SUSPENDED = gettext_noop("This workspace is suspended: no message is sent until it is reactivated.")
ERR_NOTE_EMPTY = gettext_noop("Write the note before saving.")
ERR_IDEMPOTENCY_KEY_REUSED = gettext_noop("This Idempotency-Key was already used for another conversation.")

MAX_TEXT = 4096
MAX_MEDIA_BYTES = 16 * 1024 * 1024


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
    realtime.emit_message(message, "new")
    return message


def _existing_for_key(idempotency_key: str | None, conversation: Conversation | None = None) -> Message | None:
    """The message an earlier attempt with this key created. A key reused for another
    conversation is a client bug: refused rather than answered with the wrong message."""
    if not idempotency_key:
        return None
    existing = Message.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None and conversation is not None and existing.conversation_id != conversation.pk:
        raise ValidationError(_(ERR_IDEMPOTENCY_KEY_REUSED))
    return existing


def _scoped_key(idempotency_key: str | None, by, api_key_id: int | None = None) -> str | None:
    """Keys are per sender (the person, or the API key), so two clients cannot collide on the
    same key."""
    if not idempotency_key:
        return None
    if api_key_id:
        idempotency_key = f"api{api_key_id}:{idempotency_key}"
    raw = f"{getattr(by, 'pk', '') or ''}:{idempotency_key.strip()[:200]}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_can_send(conversation: Conversation) -> None:
    """The channel can send, and the plan's messages of the month are not used up (every single
    send passes here: agents, the API, AI replies; campaigns check in their engine)."""
    channel = conversation.channel
    if not channel.is_active or (
        channel.kind == ChannelKind.WHATSAPP_WEB and channel.session_state != SessionState.OPEN
    ):
        raise ValidationError(_(ERR_CHANNEL_INACTIVE))
    company = current_company()
    if not company.is_active:
        raise ValidationError(_(ERR_COMPANY_SUSPENDED))  # AI replies and automations stop too
    limits.limit_check(company, limits.MESSAGES)


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
    realtime.emit_message(message, "new")
    realtime.emit_conversation(conversation)
    enqueue_on_commit("inbox.deliver_message", current_schema(), message.pk)
    if message.sent_by_id is not None:
        hooks.fire(
            hooks.ON_AGENT_MESSAGE,
            {
                "message": message.pk,
                "conversation": conversation.pk,
                "contact": conversation.contact_id,
                "channel": conversation.channel_id,
                "kind": kind,
                "sent_by": message.sent_by_id,
            },
        )
    return message, True


@transaction.atomic
def message_send_text(
    *,
    conversation: Conversation,
    text: str,
    by=None,
    idempotency_key: str | None = None,
    api_key_id: int | None = None,
    reply_to=None,
    payload: dict[str, Any] | None = None,
) -> tuple[Message, bool]:
    """Queue a free-text message (delivered by a worker); returns ``(message, created)``.

    The same ``idempotency_key`` (per sender: the person ``by`` or the API key ``api_key_id``)
    never sends twice: a retry gets the message the first attempt created, with ``created``
    False. ``payload``: what the sender wants shown with the message in the thread (an AI
    reply's persona, citations and cost); never sent to the customer."""
    key = _scoped_key(idempotency_key, by, api_key_id)
    existing = _existing_for_key(key, conversation)
    if existing is not None:
        return existing, False
    text = (text or "").strip()
    if not text:
        raise ValidationError(_(ERR_TEXT_EMPTY))
    if len(text) > MAX_TEXT:
        raise ValidationError(_(ERR_TEXT_TOO_LONG))
    _check_can_send(conversation)
    if not window_is_open(conversation):
        raise ValidationError(_(ERR_OUTSIDE_WINDOW))
    return _create_outbound(
        conversation=conversation,
        kind=MessageKind.TEXT,
        body=text,
        by=by,
        key=key,
        reply_to=reply_to,
        payload=payload or {},
    )


@transaction.atomic
def message_send_template(
    *,
    conversation: Conversation,
    name: str,
    language: str,
    components: list | None = None,
    body: str = "",
    by=None,
    idempotency_key: str | None = None,
    api_key_id: int | None = None,
) -> tuple[Message, bool]:
    """Queue an approved template (delivered by a worker): the one message WhatsApp accepts
    outside the 24-hour window; returns ``(message, created)``. ``components`` are Meta's send
    parameters, already filled (the campaigns app owns templates and their variables);
    ``body`` is the text as the customer reads it, kept on the message for the thread. The
    same key (per sender) never sends twice."""
    key = _scoped_key(idempotency_key, by, api_key_id)
    existing = _existing_for_key(key, conversation)
    if existing is not None:
        return existing, False
    name, language = (name or "").strip(), (language or "").strip()
    if not name or not language:
        raise ValidationError(_(ERR_TEMPLATE_REQUIRED))
    _check_can_send(conversation)
    if not get_provider(conversation.channel).supports_templates:
        # Local templates (WhatsApp Web, SMS, sandbox) are plain texts for the provider.
        text = (body or "").strip()
        if not text:
            raise ValidationError(_(ERR_TEXT_EMPTY))
        return _create_outbound(
            conversation=conversation,
            kind=MessageKind.TEXT,
            body=text[:MAX_TEXT],
            by=by,
            key=key,
            payload={"template": {"name": name, "language": language}},
        )
    return _create_outbound(
        conversation=conversation,
        kind=MessageKind.TEMPLATE,
        body=(body or "").strip()[:MAX_TEXT] or name,
        by=by,
        key=key,
        payload={"template": {"name": name, "language": language, "components": list(components or [])}},
    )


def _media_kind(mime: str) -> str:
    top = mime.split("/")[0]
    return {"image": MessageKind.IMAGE, "audio": MessageKind.AUDIO, "video": MessageKind.VIDEO}.get(
        top, MessageKind.DOCUMENT
    )


@transaction.atomic
def message_send_media(
    *,
    conversation: Conversation,
    content: bytes | None,
    filename: str,
    mime: str = "",
    caption: str = "",
    by=None,
    idempotency_key: str | None = None,
    api_key_id: int | None = None,
) -> tuple[Message, bool]:
    """Queue a file (image, audio, video or document) with an optional caption; returns
    ``(message, created)`` like ``message_send_text``. ``content`` None: no file was sent."""
    key = _scoped_key(idempotency_key, by, api_key_id)
    existing = _existing_for_key(key, conversation)
    if existing is not None:
        return existing, False
    if not content:
        raise ValidationError({"file": _(ERR_MEDIA_MISSING)})
    _check_can_send(conversation)
    if not get_provider(conversation.channel).supports_media:
        raise ValidationError(_(ERR_MEDIA_NOT_SUPPORTED))
    if len(content) > MAX_MEDIA_BYTES:
        raise ValidationError(_(ERR_MEDIA_TOO_LARGE))
    # A known type only (inbox.media): no SVG, HTML or application/vnd.*+xml, which a browser
    # would run as a page of the company's origin.
    mime = media.normalize_mime(mime or mimetypes.guess_type(filename)[0])
    if not media.sendable(mime):
        raise ValidationError(_(ERR_MEDIA_TYPE))
    if len(caption or "") > 1024:
        raise ValidationError(_(ERR_TEXT_TOO_LONG))
    if not window_is_open(conversation):
        raise ValidationError(_(ERR_OUTSIDE_WINDOW))
    filename = media.safe_filename(filename)
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
    return message, created


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


# A single send waits at most this long for its slot under the number's rate; longer, the task
# retries later instead of holding the message's row lock.
SINGLE_SEND_MAX_WAIT = 2.0
ERR_THROTTLED = gettext_noop("The number is sending at its limit; the message goes out in a moment.")


def _limiter_take(channel: Channel):
    """Take one token of the number's limiter (shared with the campaign engine). Without Redis
    a single send goes ahead (an agent's reply must not wait for it); a campaign would not."""
    from inbox.limits import LimiterUnavailable, limiter_for

    limiter = limiter_for(channel)
    try:
        late = limiter.wait(1, max_wait=SINGLE_SEND_MAX_WAIT)
    except LimiterUnavailable:
        logger.warning("sending limiter unavailable; single send of channel %s not throttled", channel.pk)
        return None
    if late:
        raise ProviderError(_(ERR_THROTTLED), code="throttled", retryable=True)
    return limiter


def _quietly_slow_down(limiter) -> None:
    from inbox.limits import LimiterUnavailable

    try:
        limiter.slow_down()
    except LimiterUnavailable:
        logger.warning("could not slow the sending limiter down")


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
        provider = get_provider(channel, callback_url=channel_webhook_url(channel))
        limiter = _limiter_take(channel)
        try:
            if message.kind == MessageKind.TEXT:
                reply = message.reply_to.provider_message_id if message.reply_to else ""
                result = provider.send_text(to=to, text=message.body, reply_to=reply)
            elif message.kind == MessageKind.REACTION and message.reply_to is not None:
                result = provider.send_reaction(
                    to=to, provider_message_id=message.reply_to.provider_message_id, emoji=message.body
                )
            elif message.kind == MessageKind.TEMPLATE:
                template = (message.payload or {}).get("template") or {}
                result = provider.send_template(
                    to=to,
                    name=str(template.get("name", "")),
                    language=str(template.get("language", "")),
                    components=template.get("components") or None,
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
            if exc.code == "130429" and limiter is not None:
                _quietly_slow_down(limiter)
            if exc.retryable:
                raise
            return message_fail(message=message, error=exc)
        sent_at = timezone.now()
        message_provider_id_set(
            message=message,
            provider_message_id=result.provider_message_id,
            status=MessageStatus.SENT if result.status == "sent" else MessageStatus.QUEUED,
            at=sent_at,
        )
        channel_touch(channel, sent_at)
        for status, delay in result.reports:
            # A simulated provider's own reports, through the real webhook path (the sandbox).
            enqueue_on_commit(
                "inbox.sandbox_emit_status",
                current_schema(),
                channel.pk,
                message.provider_message_id,
                status,
                to.lstrip("+"),
                countdown=delay,
            )
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


@transaction.atomic
def message_fail(*, message: Message, error: ProviderError) -> Message:
    """Mark an outbound message failed with the provider's code, title and details, and tell
    the agents. A token error also marks the channel (its token must be replaced)."""
    message.status = MessageStatus.FAILED
    message.error_code = error.code[:20]
    message.error_title = error.title[:255]
    message.error_details = error.details
    message.status_at = timezone.now()
    message.save(update_fields=["status", "error_code", "error_title", "error_details", "status_at"])
    if error.code in TOKEN_ERROR_CODES:
        channel_set_status(channel=message.channel, status=ChannelStatus.TOKEN_PROBLEM, detail=error.title)
    realtime.emit_message(message, "status")
    return message


@transaction.atomic
def message_provider_id_set(
    *, message: Message, provider_message_id: str, status: str = MessageStatus.SENT, at: datetime | None = None
) -> Message:
    """The provider took the message under ``provider_message_id``: store it with ``status``,
    tell the agents, and apply the statuses that arrived for that id before we knew it."""
    message.provider_message_id = provider_message_id
    message.status = status
    message.status_at = at or timezone.now()
    message.save(update_fields=["provider_message_id", "status", "status_at", "provider_media_id"])
    realtime.emit_message(message, "status")
    pending_statuses_apply(channel=message.channel, provider_message_id=provider_message_id)
    return message


def _contact_for_inbound(channel: Channel, inbound: InboundMessage):
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
                # The sender states the type: only a known one is kept (inbox.media).
                media_mime=media.normalize_mime(inbound.media_mime) if inbound.media_mime else "",
                media_filename=media.safe_filename(inbound.media_filename, default="")
                if inbound.media_filename
                else "",
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
    channel_touch(channel, now)
    realtime.emit_message(message, "new")
    realtime.emit_conversation(conversation, "created" if created else ("reopened" if reopened else "updated"))
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
        enqueue_on_commit("inbox.download_media", current_schema(), message.pk, inbound.media_id)
    if message.kind == MessageKind.TEXT:
        _handle_opt_out(conversation=conversation, contact=contact, text=message.body)
    if conversation.assignee_id is None and (created or reopened):
        conversation_auto_assign(conversation=conversation)
    hooks.fire(
        hooks.ON_INBOUND_MESSAGE,
        {
            "message": message.pk,
            "conversation": conversation.pk,
            "contact": contact.pk,
            "channel": channel.pk,
            "kind": message.kind,
            "conversation_created": created,
            "conversation_reopened": reopened,
            "at": message.created_at.isoformat(),
        },
    )
    return message


def _handle_opt_out(*, conversation: Conversation, contact, text: str) -> None:
    if not is_opt_out_keyword(text):
        return
    already = contact.is_opted_out
    contact_opt_out(contact=contact, source="keyword")
    reply = (crm_settings_get().opt_out_reply or "").strip()
    if reply and not already:
        # The customer just wrote, so the window is open; the confirmation is a service reply.
        conversation.refresh_from_db()
        message_send_text(conversation=conversation, text=reply, by=None)  # an automatic reply


@transaction.atomic
def message_media_store(*, message_id: int, media_id: str) -> Message | None:
    """Download an inbound message's media from the provider into our storage (worker)."""
    message = Message.objects.select_for_update().select_related("channel").filter(pk=message_id).first()
    if message is None or message.media:
        return message
    fetched = get_provider(message.channel).fetch_media(media_id=media_id)
    mime = message.media_mime or media.normalize_mime(fetched.mime)
    ext = mimetypes.guess_extension(mime) or ".bin"
    filename = media.safe_filename(
        message.media_filename or fetched.filename or f"{message.kind}-{message.pk}{ext}", default=f"file{ext}"
    )
    # The stored name keeps no extension a file server could take as HTML or SVG.
    stored_name = filename if mime != media.OCTET_STREAM else f"{message.kind}-{message.pk}.bin"
    message.media.save(stored_name, ContentFile(fetched.content), save=False)
    message.media_mime = mime
    message.media_size = len(fetched.content)
    message.media_filename = filename
    message.save(update_fields=["media", "media_mime", "media_size", "media_filename"])
    realtime.emit_message(message, "updated")
    return message
