"""The Kanban lead board: pipelines of ordered stages, cards on them, their move history and
the AI's stage decisions.

A card's place in its column is ``rank``, a fractional text key (``kanban.ranks``): a move
writes the moved card only, never renumbers the column. Users live in the public schema, so
their foreign keys have no database constraint (like the CRM's).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Company


def _user_fk(verbose_name, *, null: bool = True):
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=null,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )


class CardField(models.TextChoices):
    VALUE = "value", _("Value")
    OWNER = "owner", _("Owner")
    TAGS = "tags", _("Tags")
    EXPECTED_CLOSE = "expected_close", _("Expected close date")
    PHONE = "phone", _("Phone")
    AGE = "age", _("Days in stage")


def default_card_fields() -> list[str]:
    return [CardField.VALUE, CardField.OWNER, CardField.TAGS]


class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=120)
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    position = models.PositiveIntegerField(_("position"), default=0)
    card_fields = ArrayField(
        models.CharField(max_length=40),
        verbose_name=_("fields shown on cards"),
        default=default_card_fields,
        blank=True,
    )
    stalled_after_days = models.PositiveIntegerField(
        _("stalled after (days in a stage)"), default=14, validators=[MinValueValidator(1)]
    )
    auto_create_cards = models.BooleanField(
        _("create a card for new conversations from unknown numbers"), default=False
    )
    ai_enabled = models.BooleanField(_("AI lead progression"), default=False)
    ai_threshold = models.DecimalField(
        _("AI auto-move confidence"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.80"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )
    ai_backward_allowed = models.BooleanField(_("AI may move cards backward"), default=False)
    ai_override_minutes = models.PositiveIntegerField(_("a person's move wins over the AI for (minutes)"), default=60)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


STAGE_COLORS = [
    ("gray", _("Gray")),
    ("blue", _("Blue")),
    ("green", _("Green")),
    ("yellow", _("Yellow")),
    ("red", _("Red")),
    ("purple", _("Purple")),
]


class StageKind(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=80)
    color = models.CharField(_("colour"), max_length=16, default="gray", choices=STAGE_COLORS)
    kind = models.CharField(_("kind"), max_length=4, choices=StageKind.choices, default=StageKind.OPEN)
    win_probability = models.PositiveSmallIntegerField(
        _("win probability (%)"), default=0, validators=[MaxValueValidator(100)]
    )
    description = models.TextField(_("what this stage means (for the AI)"), blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position", "id"]
        indexes = [models.Index(fields=["pipeline", "position"], name="kanban_stage_pipeline_pos")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != StageKind.OPEN


class Reason(models.Model):
    """A won or lost reason offered when a card enters a won or lost stage."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="reasons")
    kind = models.CharField(_("kind"), max_length=4, choices=[(StageKind.WON, _("Won")), (StageKind.LOST, _("Lost"))])
    label = models.CharField(_("reason"), max_length=120)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("won/lost reason")
        verbose_name_plural = _("won/lost reasons")
        ordering = ["pipeline", "kind", "position", "id"]

    def __str__(self) -> str:
        return self.label


class Card(models.Model):
    pipeline = models.ForeignKey(Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="cards")
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.CASCADE, related_name="cards", db_index=False
    )
    rank = models.CharField(_("rank"), max_length=128, db_collation="C")
    title = models.CharField(_("title"), max_length=200)
    contact = models.ForeignKey(
        "crm.Contact",
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    conversation = models.ForeignKey(
        "inbox.Conversation",
        verbose_name=_("conversation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2, default=Decimal(0))
    owner = _user_fk(_("owner"))
    tag_ids = ArrayField(models.BigIntegerField(), verbose_name=_("tags"), default=list, blank=True)
    expected_close = models.DateField(_("expected close date"), null=True, blank=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    reason = models.CharField(_("won/lost reason"), max_length=120, blank=True)
    stage_entered_at = models.DateTimeField(_("in this stage since"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The last move by a person: the AI leaves the card alone for the pipeline's override window.
    person_moved_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the AI should read the conversation again (debounced after inbound messages).
    ai_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    ai_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = _user_fk(_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["stage_id", "rank"]
        indexes = [
            models.Index(fields=["stage", "rank"], name="kanban_card_stage_rank"),
            models.Index(fields=["conversation"], name="kanban_card_conversation"),
            models.Index(fields=["contact"], name="kanban_card_contact"),
            models.Index(fields=["ai_due_at"], name="kanban_card_ai_due", condition=models.Q(ai_due_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.title

    def is_stalled(self, *, now=None) -> bool:
        if self.stage.kind != StageKind.OPEN:
            return False
        now = now or timezone.now()
        return (now - self.stage_entered_at).days >= self.pipeline.stalled_after_days


class ActorKind(models.TextChoices):
    PERSON = "person", _("Person")
    CADENCE = "cadence", _("Cadence")
    AI = "ai", _("AI")


class CardMove(models.Model):
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="moves", db_index=False)
    actor_kind = models.CharField(_("moved by"), max_length=8, choices=ActorKind.choices, default=ActorKind.PERSON)
    user = _user_fk(_("user"))
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_stage = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("card move")
        verbose_name_plural = _("card moves")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["card", "-at"], name="kanban_move_card_at")]

    def __str__(self) -> str:
        return f"{self.card_id}: {self.from_stage_id} -> {self.to_stage_id}"


class DecisionOutcome(models.TextChoices):
    MOVED = "moved", _("Moved")
    SUGGESTED = "suggested", _("Suggested")
    DISMISSED = "dismissed", _("Dismissed")
    ACCEPTED = "accepted", _("Accepted")
    KEPT = "kept", _("No change")


class AIDecision(models.Model):
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="ai_decisions", db_index=False)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+", db_index=False)
    outcome = models.CharField(_("outcome"), max_length=10, choices=DecisionOutcome.choices)
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    confidence = models.DecimalField(_("confidence"), max_digits=4, decimal_places=3, default=Decimal(0))
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    quote = models.CharField(_("quote"), max_length=500, blank=True)
    answer = models.JSONField(_("model answer"), default=dict, blank=True)
    model = models.CharField(_("model"), max_length=80, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(_("cost"), max_digits=12, decimal_places=6, default=Decimal(0))
    decided_by = _user_fk(_("decided by"))
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("AI decision")
        verbose_name_plural = _("AI decisions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["card", "-created_at"], name="kanban_aidec_card"),
            models.Index(fields=["pipeline", "-created_at"], name="kanban_aidec_pipeline"),
        ]

    def __str__(self) -> str:
        return f"{self.card_id}: {self.outcome} {self.stage_id} ({self.confidence})"


class SavedView(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="views")
    name = models.CharField(_("name"), max_length=80)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    user = _user_fk(_("user"))
    shared = models.BooleanField(_("shared with the team"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class CompanyKanban(Company):
    """Companies as the support admin's Kanban overview lists them (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("company Kanban")
        verbose_name_plural = _("companies' Kanban")
