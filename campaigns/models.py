"""Campaign data of one company (tenant schema): message templates, campaigns, their A/B
variants, the recipient rows the dispatch engine works through, uploaded audiences and tracked
links. The price table support staff edit lives in the public schema (``campaigns.pricing``).

How the pieces fit (read this before building pages or the API on top):

- A ``MessageTemplate`` is either **Meta-synced** (``origin=meta``: it belongs to a WABA, Meta
  approves it, statuses and quality arrive by webhook) or **local** (``origin=local``: WhatsApp
  Web, SMS and sandbox; never submitted anywhere). Both keep ``components`` in Meta's own format
  and the same ``{{1}}`` / ``{{first_name}}`` variable syntax, so one renderer serves both.
- A ``Campaign`` sends one content to one audience through one channel. Its content lives on
  its ``CampaignVariant`` rows: a campaign without A/B testing has exactly one variant ("A").
  That keeps a single place for "what is sent" whatever the test setup.
- At start the audience is **snapshotted** into ``Recipient`` rows (one INSERT ... SELECT, see
  ``campaigns.dispatch.snapshot``); from then on CRM edits do not change who is reached.
- The engine (``campaigns.dispatch``) claims queued recipients with ``FOR UPDATE SKIP LOCKED``
  and a lease, sends, and writes the outcome. Status webhooks move recipients forward.
  Counters on ``Campaign`` / ``CampaignVariant`` are kept in the same transactions as the
  recipient changes, so the live page reads them without counting rows.

State machine of a campaign (``CampaignState``)::

    draft --start--> scheduled --(beat, at scheduled_at)--> running
    draft --start now--> running
    running <--pause/resume--> paused        (pause_reason says who or what paused it)
    running --(no recipient left to send)--> completed
    draft|scheduled|running|paused --cancel--> cancelled   (queued recipients become skipped)

A running campaign outside its send window stays ``running`` with ``waiting_until`` set: it
waits and resumes by itself. Services in ``campaigns.services`` are the only way states change.

State of a recipient (``RecipientState``)::

    queued --claim--> claimed --send ok--> sent --> delivered --> read      (replied_at may be set on any)
                         |--retryable error--> queued (attempts+1, next_attempt_at later)
                         |--final error--> failed (error_code/title/details)
                         '--lease expired, outcome unknown--> reconciled from status webhooks
                                 (biz_opaque_callback_data) or, without evidence, unknown
    queued --(excluded, cancelled, window/cap ended)--> skipped (reason)

``sent`` / ``delivered`` / ``read`` only move forward; ``failed`` never overrides delivered or
read. ``replied`` is the state of a recipient who answered within the campaign's reply window
(an inbound message on the same channel); it sits above read.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _user_fk(related_name: str, verbose_name):
    # Users live in the public schema: no constraint, no cascade (see inbox.models).
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
    )


# --- message templates ------------------------------------------------------------------------


class TemplateOrigin(models.TextChoices):
    META = "meta", _("WhatsApp Cloud (Meta)")
    LOCAL = "local", _("Local (WhatsApp Web, SMS, sandbox)")


class TemplateCategory(models.TextChoices):
    MARKETING = "MARKETING", _("Marketing")
    UTILITY = "UTILITY", _("Utility")
    AUTHENTICATION = "AUTHENTICATION", _("Authentication")


class ParameterFormat(models.TextChoices):
    POSITIONAL = "POSITIONAL", _("Positional ({{1}}, {{2}})")
    NAMED = "NAMED", _("Named ({{first_name}})")


class TemplateStatus(models.TextChoices):
    """Meta's template statuses (``message_template_status_update`` events), plus DRAFT for a
    template not submitted yet. Local templates are APPROVED as soon as they are saved."""

    DRAFT = "DRAFT", _("Draft")
    PENDING = "PENDING", _("In review")
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")
    PAUSED = "PAUSED", _("Paused")
    DISABLED = "DISABLED", _("Disabled")
    IN_APPEAL = "IN_APPEAL", _("In appeal")
    PENDING_DELETION = "PENDING_DELETION", _("Being deleted")
    DELETED = "DELETED", _("Deleted")
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", _("Limit exceeded")
    ARCHIVED = "ARCHIVED", _("Archived")


# Meta lets a template be edited only in these statuses (``POST /{template_id}``).
TEMPLATE_EDITABLE_STATUSES = {TemplateStatus.APPROVED, TemplateStatus.REJECTED, TemplateStatus.PAUSED}
# Only these can be sent.
TEMPLATE_SENDABLE_STATUSES = {TemplateStatus.APPROVED}


class TemplateQuality(models.TextChoices):
    """``message_template_quality_update``: ``new_quality_score``."""

    GREEN = "GREEN", _("High")
    YELLOW = "YELLOW", _("Medium")
    RED = "RED", _("Low")
    UNKNOWN = "UNKNOWN", _("Not rated yet")


class MessageTemplate(models.Model):
    """A message template, in Meta's format whatever the channel.

    ``components`` is Meta's list, stored as Meta returns it from
    ``GET /{waba_id}/message_templates`` and as it is submitted::

        [{"type": "HEADER", "format": "TEXT"|"IMAGE"|"VIDEO"|"DOCUMENT", "text": "...",
          "example": {...}},
         {"type": "BODY", "text": "Olá {{1}}, ...", "example": {"body_text": [["Ana"]]}},
         {"type": "FOOTER", "text": "..."},
         {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "..."},
                                         {"type": "URL", "text": "...", "url": "https://x/{{1}}"},
                                         {"type": "PHONE_NUMBER", "text": "...", "phone_number": "+55..."}]}]

    With ``parameter_format=NAMED`` the body uses ``{{first_name}}`` and the example is
    ``body_text_named_params: [{"param_name": "first_name", "example": "Ana"}]``.

    ``variables`` maps each variable to where its value comes from when sending, with a
    fallback for an empty value. Keys are the variable names as they appear in the text
    ("1", "2" or "first_name"); a component prefix (``header.1``, ``button.0.1``) addresses the
    header and URL-button variables::

        {"1": {"source": "contact.name", "fallback": "cliente"},
         "2": {"source": "field.cidade", "fallback": ""},
         "header.1": {"source": "static", "value": "Black Friday"},
         "button.0.1": {"source": "csv.cupom", "fallback": "BEMVINDO"}}

    Sources: ``contact.name`` / ``contact.first_name`` / ``contact.phone`` / ``contact.email``,
    ``field.<custom field key>``, ``csv.<column>`` (campaigns with an uploaded audience),
    ``static`` (``value``). ``campaigns.rendering`` resolves them (in Python for previews, in SQL
    for the audience snapshot). A campaign may override the mapping (``Campaign.variables``).

    Meta templates belong to a WABA (``waba_id``), shared by every number of that WABA;
    ``channel`` is the number they were synced through (the one whose token manages them).
    Local templates have no WABA and no Meta id.
    """

    origin = models.CharField(_("origin"), max_length=8, choices=TemplateOrigin.choices, default=TemplateOrigin.LOCAL)
    channel = models.ForeignKey(
        "inbox.Channel",
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    waba_id = models.CharField(_("WhatsApp Business account"), max_length=64, blank=True)
    # Meta: lowercase letters, digits and underscores, at most 512 characters.
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=15, default="pt_BR")
    category = models.CharField(
        _("category"), max_length=16, choices=TemplateCategory.choices, default=TemplateCategory.MARKETING
    )
    parameter_format = models.CharField(
        _("variable format"), max_length=10, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL
    )
    components = models.JSONField(_("components"), default=list, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=TemplateStatus.choices, default=TemplateStatus.DRAFT)
    quality = models.CharField(
        _("quality"), max_length=8, choices=TemplateQuality.choices, default=TemplateQuality.UNKNOWN
    )
    # Meta's ``reason`` of a REJECTED event (``INVALID_FORMAT``, ``PROMOTIONAL``...) or the
    # ``other_info.title`` of a PAUSED/DISABLED one, kept as Meta sends it.
    rejection_reason = models.CharField(_("rejection reason"), max_length=255, blank=True)
    meta_template_id = models.CharField(_("Meta template id"), max_length=64, blank=True)
    # Meta's "library" templates and others keep extra attributes we do not model (e.g.
    # ``sub_category``, ``message_send_ttl_seconds``): kept whole for the edit form.
    meta_extra = models.JSONField(_("other Meta attributes"), default=dict, blank=True)
    created_by = _user_fk("+", _("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "language"]
        constraints = [
            # Meta's own key: one template per (WABA, name, language). Local templates have
            # waba_id "", so the same rule holds among them.
            models.UniqueConstraint(fields=["waba_id", "name", "language"], name="campaigns_template_name_lang"),
            # Status webhooks find the template by Meta's id.
            models.UniqueConstraint(
                fields=["meta_template_id"], condition=~Q(meta_template_id=""), name="campaigns_template_meta_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_sendable(self) -> bool:
        return self.status in TEMPLATE_SENDABLE_STATUSES

    @property
    def is_editable(self) -> bool:
        return self.origin == TemplateOrigin.LOCAL or self.status in TEMPLATE_EDITABLE_STATUSES

    def component(self, kind: str) -> dict | None:
        """The first component of ``kind`` (``"BODY"``, ``"HEADER"``...), or None."""
        for part in self.components or []:
            if isinstance(part, dict) and str(part.get("type", "")).upper() == kind:
                return part
        return None


# --- campaigns -------------------------------------------------------------------------------


class CampaignKind(models.TextChoices):
    """Who owns the recipient rows: a broadcast a person set up, or a drip cadence step that
    handed its due contacts to the engine (the engine treats both the same)."""

    BROADCAST = "broadcast", _("Campaign")
    CADENCE = "cadence", _("Cadence step")


class CampaignState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Sending")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


# States in which workers send.
ACTIVE_STATES = {CampaignState.RUNNING}
# States a campaign can still leave by itself or by a person.
OPEN_STATES = {CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED}


class PauseReason(models.TextChoices):
    """Why a campaign is paused (``pause_detail`` adds the provider's own words)."""

    USER = "user", _("Paused by a person")
    SPAM_RATE = "spam_rate", _("WhatsApp stopped the sends: too many people marked them as spam (131048)")
    TEMPLATE_PAUSED = "template_paused", _("The template was paused by WhatsApp for low quality (132015)")
    TEMPLATE_DISABLED = "template_disabled", _("The template was disabled by WhatsApp (132016)")
    ACCOUNT_RESTRICTED = "account_restricted", _("The WhatsApp account is restricted (368)")
    QUALITY_GUARD = "quality_guard", _("Too many of the last messages failed")
    TOKEN = "token", _("The channel's access token is invalid or expired")
    DISCONNECTED = "disconnected", _("The WhatsApp Web session is disconnected")
    TIER_LIMIT = "tier_limit", _("The number's messaging limit for 24 hours is used up")
    CHANNEL = "channel", _("The channel is disconnected or was removed")
    PLAN_LIMIT = "plan_limit", _("The plan's messages for this month are used up")
    SUSPENDED = "suspended", _("The company is suspended")


class AudienceKind(models.TextChoices):
    ALL = "all", _("All contacts")
    SEGMENTS = "segments", _("Segments")
    LISTS = "lists", _("Lists")
    TAGS = "tags", _("Tags")
    UPLOAD = "upload", _("Uploaded file")


class WinnerMetric(models.TextChoices):
    READ = "read", _("Read rate")
    REPLY = "reply", _("Reply rate")
    CLICK = "click", _("Click rate")


class AbPhase(models.TextChoices):
    """A/B with a test share: test -> waiting (test sent, the wait runs) -> winner (the rest
    goes with the winning variant). Without a test share the split applies to everyone."""

    NONE = "", _("No test")
    TESTING = "testing", _("Sending the test")
    WAITING = "waiting", _("Waiting for results")
    WINNER = "winner", _("Sending the winner")


def default_window_days() -> list[int]:
    return [0, 1, 2, 3, 4, 5]  # Monday..Saturday


class Campaign(models.Model):
    """One send to one audience through one channel (see the module docstring for states).

    **Audience**: ``audience_kind`` with the ids it needs: ``segment_ids`` (union of segments),
    ``list_ids`` (members of any list), ``tag_ids`` (contacts with any of the tags), ``all``, or
    ``upload`` (an ``AudienceUpload`` whose rows also fill ``csv.<column>`` variables). Opted-out
    contacts are never reached (``crm.selectors.marketing_audience``); invalid and duplicate
    numbers are skipped. ``excluded`` keeps the counts by reason after the snapshot:
    ``{"opted_out": 12, "invalid": 3, "duplicate": 1}``.

    **Schedule**: ``scheduled_at`` (an aware datetime; the form reads it in ``time_zone``, the
    company's zone copied at creation). **Send window**: ``window_start``-``window_end`` local
    times on ``window_days`` (0 = Monday); both times empty means any time. Outside the window
    the campaign stays running with ``waiting_until`` set and beat wakes it.

    **Rate**: ``rate_mps`` messages per second, at most the number's tier
    (``inbox.SendingLimit``); empty means the number's full rate.

    **A/B**: variants (up to 3) with ``CampaignVariant.split`` percentages. With
    ``ab_test_share`` > 0, only that share of the audience is sent first (split between the
    variants), then after ``ab_wait`` the variant with the best ``ab_winner_metric`` is chosen
    (``ab_winner``) and sent to the rest (``ab_phase`` tracks it).

    **Counters** are updated in the same transaction as the recipient rows they count.
    ``sent_count`` counts every recipient that reached sent or beyond (delivered, read);
    ``delivered_count`` those delivered or read; ``read_count`` those read; ``replied_count``
    those who replied; ``failed_count``, ``skipped_count`` and ``unknown_count`` the final ones.
    ``queued_count`` is what is left to send (queued or claimed).

    **Quality guard**: the campaign pauses itself when more than ``quality_threshold`` percent
    of the last ``quality_window`` sends failed.
    """

    kind = models.CharField(_("kind"), max_length=10, choices=CampaignKind.choices, default=CampaignKind.BROADCAST)
    name = models.CharField(_("name"), max_length=120)
    channel = models.ForeignKey(
        "inbox.Channel", verbose_name=_("sending channel"), on_delete=models.PROTECT, related_name="+"
    )
    # Campaign-level overrides of the template's variable mapping (same shape).
    variables = models.JSONField(_("variables"), default=dict, blank=True)

    audience_kind = models.CharField(
        _("audience"), max_length=10, choices=AudienceKind.choices, default=AudienceKind.SEGMENTS
    )
    segment_ids = ArrayField(models.BigIntegerField(), verbose_name=_("segments"), default=list, blank=True)
    list_ids = ArrayField(models.BigIntegerField(), verbose_name=_("lists"), default=list, blank=True)
    tag_ids = ArrayField(models.BigIntegerField(), verbose_name=_("tags"), default=list, blank=True)
    upload = models.ForeignKey(
        "AudienceUpload",
        verbose_name=_("uploaded audience"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="America/Sao_Paulo")
    window_start = models.TimeField(_("send from"), null=True, blank=True)
    window_end = models.TimeField(_("send until"), null=True, blank=True)
    window_days = ArrayField(
        models.PositiveSmallIntegerField(), verbose_name=_("send on"), default=default_window_days, blank=True
    )
    rate_mps = models.PositiveIntegerField(_("messages per second"), null=True, blank=True)

    state = models.CharField(_("state"), max_length=10, choices=CampaignState.choices, default=CampaignState.DRAFT)
    pause_reason = models.CharField(_("pause reason"), max_length=20, choices=PauseReason.choices, blank=True)
    pause_detail = models.CharField(_("pause detail"), max_length=500, blank=True)
    # Running but outside the send window (or the WhatsApp Web daily cap): resumes by itself.
    waiting_until = models.DateTimeField(_("waiting until"), null=True, blank=True)
    waiting_reason = models.CharField(_("waiting because"), max_length=20, blank=True)
    state_changed_at = models.DateTimeField(_("state changed at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    snapshot_at = models.DateTimeField(_("audience taken at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    ab_test_share = models.PositiveSmallIntegerField(_("test share (%)"), default=0)
    ab_winner_metric = models.CharField(
        _("winner by"), max_length=8, choices=WinnerMetric.choices, default=WinnerMetric.READ
    )
    ab_wait = models.DurationField(_("wait before choosing"), null=True, blank=True)
    ab_phase = models.CharField(
        _("A/B phase"), max_length=10, choices=AbPhase.choices, default=AbPhase.NONE, blank=True
    )
    ab_winner = models.ForeignKey(
        "CampaignVariant", verbose_name=_("winner"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ab_decide_at = models.DateTimeField(_("choose winner at"), null=True, blank=True)

    # Inbound messages from a recipient within this time after the send count as replies.
    reply_window = models.DurationField(_("count replies for"), default=timedelta(days=3))
    quality_window = models.PositiveIntegerField(_("quality guard: last sends"), default=200)
    quality_threshold = models.PositiveSmallIntegerField(_("quality guard: failure %"), default=30)

    total_count = models.PositiveIntegerField(_("recipients"), default=0)
    queued_count = models.IntegerField(_("to send"), default=0)
    sent_count = models.IntegerField(_("sent"), default=0)
    delivered_count = models.IntegerField(_("delivered"), default=0)
    read_count = models.IntegerField(_("read"), default=0)
    replied_count = models.IntegerField(_("replied"), default=0)
    failed_count = models.IntegerField(_("failed"), default=0)
    skipped_count = models.IntegerField(_("skipped"), default=0)
    unknown_count = models.IntegerField(_("unknown outcome"), default=0)
    clicked_count = models.IntegerField(_("clicked"), default=0)
    excluded = models.JSONField(_("excluded by reason"), default=dict, blank=True)
    # Estimate at confirmation (price table x audience); the page recomputes the spend from
    # delivered counts (Meta bills per delivered template).
    estimated_cost = models.DecimalField(_("estimated cost"), max_digits=12, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(_("currency"), max_length=3, default="BRL")

    # API idempotency (``Idempotency-Key`` on create and on start), scoped per caller.
    create_key = models.CharField(max_length=64, null=True, blank=True)
    start_key = models.CharField(max_length=64, null=True, blank=True)
    created_by = _user_fk("+", _("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["create_key"], name="campaigns_campaign_create_key"),
            models.CheckConstraint(
                condition=Q(ab_test_share__lte=100) & Q(quality_threshold__lte=100), name="campaigns_campaign_percents"
            ),
        ]
        indexes = [
            # Beat: scheduled campaigns due, running ones waiting for their window.
            models.Index(fields=["scheduled_at"], condition=Q(state="scheduled"), name="campaigns_campaign_due"),
            models.Index(
                fields=["state"], condition=Q(state__in=["running", "paused"]), name="campaigns_campaign_live"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_window(self) -> bool:
        return self.window_start is not None and self.window_end is not None


class CampaignVariant(models.Model):
    """What is sent: a template (Cloud API; other channels may use a local template) or a text
    with optional media. Every campaign has at least variant "A"; A/B adds "B" and "C".

    ``split`` is the share of the (test) audience this variant gets, in percent; the splits of
    a campaign add up to 100. Counters mirror the campaign's for this variant's recipients.
    """

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="variants"
    )
    key = models.CharField(_("variant"), max_length=1, default="A")
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("template"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = models.TextField(_("text"), blank=True)
    media = models.FileField(_("media"), upload_to="campaigns/media/%Y/%m/", max_length=300, blank=True)
    media_mime = models.CharField(_("media type"), max_length=120, blank=True)
    media_filename = models.CharField(_("file name"), max_length=255, blank=True)
    # Provider media id once uploaded (Cloud API media upload), reused for every recipient.
    provider_media_id = models.CharField(max_length=128, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    split = models.PositiveSmallIntegerField(_("split (%)"), default=100)

    sent_count = models.IntegerField(default=0)
    delivered_count = models.IntegerField(default=0)
    read_count = models.IntegerField(default=0)
    replied_count = models.IntegerField(default=0)
    failed_count = models.IntegerField(default=0)
    clicked_count = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("campaign variant")
        verbose_name_plural = _("campaign variants")
        ordering = ["campaign", "key"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="campaigns_variant_key"),
            models.CheckConstraint(condition=Q(split__lte=100), name="campaigns_variant_split"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.key}"


class RecipientState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    CLAIMED = "claimed", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    REPLIED = "replied", _("Replied")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    UNKNOWN = "unknown", _("Unknown outcome")


# Recipients no worker will touch again (``replied`` can still come later for sent ones).
FINAL_STATES = {
    RecipientState.SENT,
    RecipientState.DELIVERED,
    RecipientState.READ,
    RecipientState.REPLIED,
    RecipientState.FAILED,
    RecipientState.SKIPPED,
    RecipientState.UNKNOWN,
}
# Forward-only ranks of the statuses reported by the provider.
RECIPIENT_RANK: dict[str, int] = {
    RecipientState.QUEUED: 0,
    RecipientState.CLAIMED: 0,
    RecipientState.UNKNOWN: 0,
    RecipientState.SENT: 1,
    RecipientState.DELIVERED: 2,
    RecipientState.READ: 3,
    RecipientState.REPLIED: 4,
    RecipientState.FAILED: 5,
}


class SkipReason(models.TextChoices):
    """``Recipient.reason`` of skipped and unknown recipients (failed ones keep Meta's code)."""

    INVALID = "invalid", _("Not a valid phone number")
    DUPLICATE = "duplicate", _("The same number appears more than once")
    OPTED_OUT = "opted_out", _("Opted out of marketing messages")
    CANCELLED = "cancelled", _("The campaign was cancelled")
    NOT_WINNER = "not_winner", _("Left out by the A/B test")
    TIER = "tier", _("The number's messaging limit was reached")
    NO_EVIDENCE = "no_evidence", _("The send may or may not have happened; WhatsApp never confirmed it")
    RETRIES = "retries", _("Gave up after repeated temporary errors")


class Recipient(models.Model):
    """One person a campaign sends to: a snapshot taken at start, worked through by the engine.

    ``phone`` (E.164), ``wa_id`` and ``name`` are copied from the contact at the snapshot;
    ``variables`` holds the source values the content's variables read then, beyond what the
    name and phone give (``{"field.cidade": "Recife"}``; ``values`` adds those), so a later CRM
    edit changes nothing. ``contact`` keeps no database constraint: deleting a contact
    must not delete the history of who was reached.

    Engine columns: ``lease_owner`` / ``lease_expires_at`` (a claim is a lease: the worker that
    claimed the row owns it until then), ``claimed_at`` (empty at the claim, set when the
    engine marks the row as leaving, right before its request: a claim whose lease ran out
    unmarked never left and is queued again), ``attempts`` (requests put on the wire),
    ``next_attempt_at`` (claimable from then on: the snapshot sets it to the snapshot time, a
    retry to later, a held A/B row to the year 9000, "never" in a form Python can read), ``provider_message_id`` (Meta's wamid),
    ``message_id`` (the ``inbox.Message`` written in the contact's conversation).

    Failures keep the provider's ``error_code`` / ``error_title`` / ``error_details``; skipped
    and unknown rows say why in ``reason`` (``SkipReason``).
    """

    id = models.BigAutoField(primary_key=True)
    # No database constraints on the campaign and variant either: a deferred foreign key
    # checks every inserted row at commit, and a million-row snapshot spent more time in those
    # two million checks than in the insert itself. Rows are only ever written by the
    # snapshot, in the transaction that holds their campaign's row lock; deleting a campaign
    # or a variant still cascades (or sets null) through Django.
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="recipients",
        db_index=False,
        db_constraint=False,
    )
    variant = models.ForeignKey(
        CampaignVariant,
        verbose_name=_("variant"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    contact = models.ForeignKey(
        "crm.Contact",
        verbose_name=_("contact"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    phone = models.CharField(_("phone"), max_length=20)
    wa_id = models.CharField(_("WhatsApp id"), max_length=32, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)

    state = models.CharField(_("state"), max_length=10, choices=RecipientState.choices, default=RecipientState.QUEUED)
    reason = models.CharField(_("reason"), max_length=20, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    provider_message_id = models.CharField(_("provider message id"), max_length=128, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    segments = models.PositiveSmallIntegerField(_("SMS segments"), default=1)
    error_code = models.CharField(_("error code"), max_length=20, blank=True)
    error_title = models.CharField(_("error"), max_length=255, blank=True)
    error_details = models.TextField(_("error details"), blank=True)

    created_at = models.DateTimeField(_("queued at"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first click"), null=True, blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        ordering = ["id"]
        # Each index is written by every state change that is not a HOT update (three or four
        # per recipient), so each one serves a path the engine or the page runs constantly.
        indexes = [
            # Claim: the next due queued rows of a campaign, a range scan that stops at "now"
            # (retries later and held A/B rows sit at the year 9000).
            models.Index(
                fields=["campaign", "next_attempt_at", "id"],
                condition=Q(state="queued"),
                name="campaigns_rcpt_claim",
            ),
            # Reconcile: claims whose lease ran out.
            models.Index(fields=["lease_expires_at"], condition=Q(state="claimed"), name="campaigns_rcpt_lease"),
            # Status write-back of statuses without our callback data (SMS, WhatsApp Web): they
            # reach the inbox message first, and its id finds the recipient.
            models.Index(fields=["message_id"], condition=Q(message_id__isnull=False), name="campaigns_rcpt_message"),
            # Replies: the recent recipients of a contact.
            models.Index(
                fields=["contact", "-sent_at"], condition=Q(sent_at__isnull=False), name="campaigns_rcpt_contact"
            ),
            # The recipient table: by campaign and state (filters failed / by variant / by code
            # read this range), newest first by id. Rows still in the queue or claimed are left
            # out: the claim index holds the queued ones, the lease index the claimed ones, and
            # the snapshot (a million rows at once) and every claim then write one index less.
            models.Index(
                fields=["campaign", "state", "id"],
                condition=~Q(state__in=["queued", "claimed"]),
                name="campaigns_rcpt_done_state",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.phone} ({self.state})"

    @property
    def values(self) -> dict:
        """The source values of the content's variables (``rendering.row_values``): the name
        and phone columns, then ``variables``."""
        from campaigns.rendering import row_values

        return row_values(name=self.name, phone=self.phone, variables=self.variables or {})


class AudienceUpload(models.Model):
    """A CSV/XLSX uploaded for one campaign: its rows are the audience and its columns fill
    ``csv.<column>`` variables. Rows are parsed into ``AudienceRow`` (phone normalized, contact
    found or created by the CRM import path) before the campaign starts."""

    original_name = models.CharField(_("file"), max_length=255)
    file = models.FileField(upload_to="campaigns/audiences/", max_length=255)
    encoding = models.CharField(max_length=32, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    headers = models.JSONField(default=list)
    phone_column = models.CharField(_("phone column"), max_length=120, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    invalid_rows = models.PositiveIntegerField(default=0)
    created_by = _user_fk("+", _("created by"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("uploaded audience")
        verbose_name_plural = _("uploaded audiences")

    def __str__(self) -> str:
        return self.original_name


class AudienceRow(models.Model):
    """One row of an uploaded audience. ``phone`` is empty when the row's number is invalid
    (the snapshot skips it with reason ``invalid``); ``values`` holds the row by column."""

    id = models.BigAutoField(primary_key=True)
    upload = models.ForeignKey(AudienceUpload, on_delete=models.CASCADE, related_name="rows", db_index=False)
    row_number = models.PositiveIntegerField()
    phone = models.CharField(max_length=20, blank=True)
    contact = models.ForeignKey(
        "crm.Contact", null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    values = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "row_number"], name="campaigns_audrow_unique")]

    def __str__(self) -> str:
        return f"{self.upload_id}#{self.row_number}"


class CampaignLink(models.Model):
    """A link of a campaign's content, tracked through our short redirect
    (``/l/<token>``: the token names the link and the recipient). ``position`` orders the
    links of a variant's text; ``button_index`` marks a Cloud URL button's variable suffix."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="links")
    variant = models.ForeignKey(CampaignVariant, null=True, blank=True, on_delete=models.CASCADE, related_name="links")
    position = models.PositiveSmallIntegerField(default=0)
    button_index = models.PositiveSmallIntegerField(null=True, blank=True)
    url = models.URLField(_("address"), max_length=2000)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    click_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        ordering = ["campaign", "position"]

    def __str__(self) -> str:
        return self.url


class LinkClick(models.Model):
    """One click through a tracked link (the first click of a recipient also sets
    ``Recipient.clicked_at`` and the click counters)."""

    id = models.BigAutoField(primary_key=True)
    link = models.ForeignKey(CampaignLink, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    recipient_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["link", "at"], name="campaigns_click_link"),
            models.Index(fields=["recipient_id"], name="campaigns_click_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} @ {self.at:%Y-%m-%d %H:%M}"
