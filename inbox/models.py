"""Inbox data: channels (connections), conversations, messages and their supporting tables.

All of these live in each company's schema. The public ``tenants.WebhookRoute`` table maps a
channel's public UUID (and provider ids such as Meta's phone_number_id) to the company.

Foreign keys to ``tenants.User`` (public schema) use ``db_constraint=False`` and
``on_delete=DO_NOTHING``: deleting a user runs in the public schema, where these tables do not
exist, so Django's cascade collector must not try to visit them.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from tenants.fields import EncryptedTextField


def _user_fk(related_name: str, verbose_name, *, db_index: bool = True):
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
        db_index=db_index,
    )


class ChannelKind(models.TextChoices):
    WHATSAPP_CLOUD = "whatsapp_cloud", _("WhatsApp Cloud API")
    WHATSAPP_WEB = "whatsapp_web", _("WhatsApp Web (QR code)")
    SMS = "sms", _("SMS")
    SANDBOX = "sandbox", _("Sandbox (simulated number)")


class ChannelStatus(models.TextChoices):
    CONNECTED = "connected", _("Connected")
    TOKEN_PROBLEM = "token_problem", _("Token problem")
    DISCONNECTED = "disconnected", _("Disconnected")


class SessionState(models.TextChoices):
    """State of a WhatsApp Web session held by the ``wa-sessions`` process."""

    NONE = "", _("Not started")
    CONNECTING = "connecting", _("Connecting")
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    LOGGED_OUT = "logged_out", _("Logged out")


class Channel(models.Model):
    """One connection a company sends and receives messages through."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=80)
    status = models.CharField(
        _("status"), max_length=20, choices=ChannelStatus.choices, default=ChannelStatus.DISCONNECTED
    )
    status_detail = models.CharField(_("status detail"), max_length=500, blank=True)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    # Non-secret per-kind values: phone_number_id, waba_id, display_phone (whatsapp_cloud);
    # account_sid, from_number (sms); phone / jid (whatsapp_web); phone (sandbox).
    config = models.JSONField(_("configuration"), default=dict, blank=True)
    # Secrets, encrypted at rest.
    access_token = EncryptedTextField(_("access token"))
    app_secret = EncryptedTextField(_("app secret"))
    verify_token = EncryptedTextField(_("verify token"))
    auth_token = EncryptedTextField(_("auth token"))
    session_data = EncryptedTextField(_("session data"))
    session_state = models.CharField(
        _("session state"), max_length=20, choices=SessionState.choices, default=SessionState.NONE, blank=True
    )
    token_expires_at = models.DateTimeField(_("token expires at"), null=True, blank=True)
    token_checked_at = models.DateTimeField(_("token checked at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def phone_number_id(self) -> str:
        return str(self.config.get("phone_number_id", ""))

    @property
    def display_phone(self) -> str:
        return str(self.config.get("display_phone") or self.config.get("from_number") or self.config.get("phone") or "")


class Label(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("color"), max_length=20, default="slate")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("label")
        verbose_name_plural = _("labels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    RESOLVED = "resolved", _("Resolved")
    SNOOZED = "snoozed", _("Snoozed")


class Conversation(models.Model):
    """The thread between one contact and one channel.

    One row per (channel, contact): a resolved conversation is reopened by the next inbound
    message, so the whole history stays in one thread and inbound upserts are race-free.
    """

    contact = models.ForeignKey(
        "crm.Contact", verbose_name=_("contact"), on_delete=models.CASCADE, related_name="conversations"
    )
    # No index of its own: the unique (channel, contact) starts with it.
    channel = models.ForeignKey(
        Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="conversations", db_index=False
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    # No index of its own: inbox_conv_assignee_status starts with it.
    assignee = _user_fk("+", _("assignee"), db_index=False)
    labels = models.ManyToManyField(Label, verbose_name=_("labels"), blank=True, related_name="conversations")
    unread_count = models.PositiveIntegerField(_("unread messages"), default=0)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_message_preview = models.CharField(_("last message"), max_length=200, blank=True)
    last_inbound_at = models.DateTimeField(_("last customer message at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "contact"], name="inbox_conversation_channel_contact"),
        ]
        indexes = [
            models.Index(fields=["status", "-last_message_at"], name="inbox_conv_status_last"),
            models.Index(fields=["assignee", "status"], name="inbox_conv_assignee_status"),
            models.Index(fields=["-last_message_at", "-id"], name="inbox_conv_last"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact_id} via {self.channel_id}"


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class MessageKind(models.TextChoices):
    TEXT = "text", _("Text")
    TEMPLATE = "template", _("Template")
    IMAGE = "image", _("Image")
    AUDIO = "audio", _("Audio")
    VIDEO = "video", _("Video")
    DOCUMENT = "document", _("Document")
    STICKER = "sticker", _("Sticker")
    LOCATION = "location", _("Location")
    REACTION = "reaction", _("Reaction")
    NOTE = "note", _("Private note")
    UNSUPPORTED = "unsupported", _("Unsupported")


MEDIA_KINDS = {MessageKind.IMAGE, MessageKind.AUDIO, MessageKind.VIDEO, MessageKind.DOCUMENT, MessageKind.STICKER}


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    RECEIVED = "received", _("Received")


# Statuses only move forward. ``failed`` overrides queued/sent only: a message that was
# delivered or read did reach the customer whatever a late failure report says.
STATUS_RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.FAILED: 4,
}


def message_media_path(instance: Message, filename: str) -> str:
    from tenants.context import current_schema

    # Files are namespaced by company schema so a path never crosses companies.
    return f"inbox/{current_schema()}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}/{filename}"


class Message(models.Model):
    # No index of its own: inbox_msg_conv_created starts with it. Every index of this table is
    # written again by each status report that cannot be a HOT update (three per message).
    conversation = models.ForeignKey(
        Conversation,
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    # Denormalised from the conversation so the provider id is unique per channel.
    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=MessageKind.choices, default=MessageKind.TEXT)
    body = models.TextField(_("text"), blank=True)
    # Template name/language/parameters, location coordinates, interactive payloads...
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    media = models.FileField(_("media"), upload_to=message_media_path, max_length=300, blank=True)
    media_mime = models.CharField(_("media type"), max_length=120, blank=True)
    media_filename = models.CharField(_("file name"), max_length=255, blank=True)
    media_size = models.PositiveBigIntegerField(_("file size"), null=True, blank=True)
    provider_media_id = models.CharField(_("provider media id"), max_length=128, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=128, blank=True)
    # Indexed only where set (inbox_msg_reply_to): a message deleted looks up its replies, and
    # most messages (every campaign send) reply to none.
    reply_to = models.ForeignKey(
        "self",
        verbose_name=_("in reply to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    status_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=20, blank=True)
    error_title = models.CharField(_("error"), max_length=255, blank=True)
    error_details = models.TextField(_("error details"), blank=True)
    # Unique through a constraint, not ``unique=True``: that would add a second, pattern-ops
    # index (for LIKE queries nobody runs) to every insert and update.
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, null=True, blank=True)
    # Not indexed: no query looks messages up by their sender across conversations (the user
    # lives in the public schema, without a database constraint to check).
    sent_by = _user_fk("+", _("sent by"), db_index=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="inbox_message_provider_id_per_channel",
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="inbox_message_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="inbox_msg_conv_created"),
            models.Index(fields=["reply_to"], condition=Q(reply_to__isnull=False), name="inbox_msg_reply_to"),
            # The month's messages against the plan's limit (tenants.limits): an index-only count.
            models.Index(
                fields=["created_at"],
                condition=Q(direction="out") & ~Q(kind="note"),
                name="inbox_msg_out_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} #{self.pk}"

    @property
    def is_note(self) -> bool:
        return self.kind == MessageKind.NOTE


class CannedResponse(models.Model):
    """A saved reply agents insert with ``/shortcut``."""

    shortcut = models.SlugField(_("shortcut"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=80, blank=True)
    body = models.TextField(_("text"))
    created_by = _user_fk("+", _("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class AgentSettings(models.Model):
    """Per-agent inbox settings used by automatic (round-robin) assignment."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    capacity = models.PositiveIntegerField(_("capacity (open conversations)"), default=10)
    is_available = models.BooleanField(_("available for automatic assignment"), default=True)
    last_assigned_at = models.DateTimeField(_("last assigned at"), null=True, blank=True)

    class Meta:
        verbose_name = _("agent settings")
        verbose_name_plural = _("agent settings")

    def __str__(self) -> str:
        return f"agent {self.user_id} (capacity {self.capacity})"


# Reasons an event cannot be processed, stored in English in ``WebhookEvent.error`` and
# translated where they are shown (``inbox.selectors.webhook_error_display``).
ERR_MALFORMED = gettext_noop("The body is not valid JSON.")
ERR_TOO_DEEP = gettext_noop("The body is nested more than 64 levels deep.")
ERR_NOT_STORED = gettext_noop("The database refused the body as JSON.")
ERR_UNREADABLE = gettext_noop("The stored body could not be read back.")
ERR_UNKNOWN_CHANNEL = gettext_noop("The channel of this delivery no longer exists.")
ERR_FAILED = gettext_noop("Processing failed:")


class WebhookEvent(models.Model):
    """Durable raw log of every provider webhook delivery (signature already checked).

    ``dedupe_key`` makes a redelivered event a no-op (INSERT ... ON CONFLICT DO NOTHING).
    Malformed bodies are kept too (``payload`` null, ``body`` raw) and marked with ``error``.
    """

    provider = models.CharField(_("provider"), max_length=20)
    # No index: nothing looks events up by channel, and each index costs every delivery twice
    # (recorded, then marked processed). Deleting a channel scans the table once to unlink them.
    channel = models.ForeignKey(
        Channel,
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # Unique through a constraint (see Message.idempotency_key): one index per delivery, not two.
    dedupe_key = models.CharField(_("dedupe key"), max_length=128)
    payload = models.JSONField(_("payload"), null=True, blank=True)
    body = models.TextField(_("raw body"), blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    # Processed: why parts were skipped. Failed or dead: why processing failed.
    error = models.TextField(_("error"), blank=True)
    # Processing that failed (an exception, not a skipped part) is retried with backoff: the
    # event stays pending until ``retry_at``, and after ``MAX_ATTEMPTS`` it is parked as dead
    # (``processed_at`` and ``dead_at`` set) so it never holds back the events after it.
    # A database default: rows written by raw INSERTs (the intake, an older release during a
    # rolling deploy) need not name it.
    attempts = models.PositiveSmallIntegerField(_("attempts"), db_default=0)
    retry_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    dead_at = models.DateTimeField(_("given up at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="inbox_webhookevent_dedupe_key")]
        indexes = [
            # The worker drains unprocessed events in arrival order.
            models.Index(fields=["id"], condition=Q(processed_at__isnull=True), name="inbox_webhook_pending"),
            # The channel page counts its dead events; only dead rows are in this index, so a
            # delivery that is processed normally never touches it.
            models.Index(fields=["channel", "id"], condition=Q(dead_at__isnull=False), name="inbox_webhook_dead"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.dedupe_key[:16]}"

    @property
    def is_dead(self) -> bool:
        return self.dead_at is not None


class RealtimeEvent(models.Model):
    """Every realtime event, kept so a reconnecting client can ask "everything since id N"."""

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=40)
    op = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Events meant for some users only (e.g. a personal notification); empty means everyone
    # allowed to see the inbox.
    user_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("realtime event")
        verbose_name_plural = _("realtime events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.type}.{self.op}"


class PendingStatus(models.Model):
    """A provider status that arrived before we stored the provider's message id (Meta can
    report "sent" while our send request is still being committed). Applied as soon as the
    id is stored; statuses of messages sent by other tools sharing the number age out."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=128)
    status = models.CharField(max_length=10)
    status_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "provider_message_id"], name="inbox_pending_status_lookup")]

    def __str__(self) -> str:
        return f"{self.provider_message_id} {self.status}"


class MessagingTier(models.TextChoices):
    """Meta's messaging limit: unique users a number may start conversations with in a rolling
    24 hours (``phone_number_quality_update``: ``current_limit``)."""

    TIER_250 = "TIER_250", _("250 people / 24 h")
    TIER_2K = "TIER_2K", _("2,000 people / 24 h")
    TIER_10K = "TIER_10K", _("10,000 people / 24 h")
    TIER_100K = "TIER_100K", _("100,000 people / 24 h")
    TIER_UNLIMITED = "TIER_UNLIMITED", _("Unlimited")


TIER_USERS: dict[str, int | None] = {
    MessagingTier.TIER_250: 250,
    MessagingTier.TIER_2K: 2000,
    MessagingTier.TIER_10K: 10000,
    MessagingTier.TIER_100K: 100000,
    MessagingTier.TIER_UNLIMITED: None,
}


class SendingLimit(models.Model):
    """How fast and how much one sending number may send (read by ``inbox.limits``).

    - ``throughput_mps``: messages per second (Meta: 80 by default, up to 1,000 for numbers
      upgraded to high throughput; SMS: the provider's rate; sandbox: as fast as we like).
    - ``tier``: Meta's 24-hour unique-users limit, kept from ``phone_number_quality_update``
      webhooks and the number's settings; ``quality`` is the number's quality rating.
    - WhatsApp Web (a phone's pace): ``min_delay_s``-``max_delay_s`` random pause between two
      messages with typing presence before each, and a daily cap that warms up: a new number
      starts at ``warmup_start`` a day and grows by ``warmup_growth_pct`` per day of use up to
      ``daily_cap`` (``warmup_started_on`` is the first day it sent in bulk).

    A channel without a row uses the defaults of its kind (``inbox.limits.limit_for``).
    """

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="sending_limit")
    throughput_mps = models.PositiveIntegerField(_("messages per second"), default=80)
    tier = models.CharField(
        _("messaging limit"), max_length=16, choices=MessagingTier.choices, default=MessagingTier.TIER_2K
    )
    quality = models.CharField(_("quality rating"), max_length=8, default="UNKNOWN", blank=True)
    tier_source = models.CharField(_("limit from"), max_length=20, default="default", blank=True)
    daily_cap = models.PositiveIntegerField(_("daily cap"), null=True, blank=True)
    warmup_start = models.PositiveIntegerField(_("warm-up: first day"), default=20)
    warmup_growth_pct = models.PositiveSmallIntegerField(_("warm-up: growth per day (%)"), default=30)
    warmup_started_on = models.DateField(_("warm-up started on"), null=True, blank=True)
    min_delay_s = models.FloatField(_("shortest pause (s)"), default=4.0)
    max_delay_s = models.FloatField(_("longest pause (s)"), default=12.0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sending limit")
        verbose_name_plural = _("sending limits")

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.throughput_mps} mps, {self.tier}"

    @property
    def tier_users(self) -> int | None:
        return TIER_USERS.get(self.tier)
