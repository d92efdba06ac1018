"""Drip cadences of one company (tenant schema): a campaign spread over time.

- A ``Cadence`` is an ordered list of ``CadenceStep`` rows (send, wait, branch, action) with its
  send rules (weekdays, hours window, holidays in the company's time zone), exit rules and
  re-enrolment policy.
- An ``Enrollment`` is one contact going through one cadence: its current step and
  ``next_due_at`` (the moment beat must look at it again; a partial index on live rows serves
  the pick). At most one live (active or paused) enrolment per contact per cadence: a partial
  unique constraint, so concurrent enrolments by hand, segment and trigger cannot double it.
- A send step owns a ``campaigns.Campaign`` of kind ``cadence``: due enrolments are handed to
  the campaign dispatch engine as recipient rows of that campaign (``campaigns.dispatch.handoff``),
  so the limiter, never-twice, failure classification and conversation messages are the
  engine's, and the step's sent/delivered/read/replied/failed figures are that campaign's
  counters.
- ``StepEvent`` rows record what happened to an enrolment at each step (the enrolment's
  history, the per-step "exited there" figures); the contact timeline gets a
  ``cadence.step`` event for every step too (``crm.TimelineEvent``).

Enrolment states::

    active --(last step done)--> completed
    active --(reply, opt-out, permanent failure, goal, by hand, cadence archived)--> exited
    active <--(cadence paused / resumed)--> paused
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Company


class CadenceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ARCHIVED = "archived", _("Archived")


class ReplyExit(models.TextChoices):
    NONE = "none", _("Do not stop on replies")
    ANY = "any", _("Stop on any inbound message")
    AFTER_SEND = "after_send", _("Stop on a reply after a cadence message")


class Reenrol(models.TextChoices):
    NEVER = "never", _("Never")
    AFTER_DAYS = "after_days", _("After some days")


class EnrolMode(models.TextChoices):
    MANUAL = "manual", _("By hand or by API only")
    SEGMENT_ONCE = "segment_once", _("A segment, once")
    SEGMENT_CONTINUOUS = "segment_continuous", _("A segment, continuously")


def default_weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]  # Monday..Friday


class Cadence(models.Model):
    """A drip cadence. Send rules: ``weekdays`` (0 = Monday), ``window_start``-``window_end``
    local times in ``time_zone`` (both empty: any time of the day), ``national_holidays`` (the
    Brazilian calendar of the ``holidays`` package) with ``holidays_added`` and
    ``holidays_removed``. Exit rules: ``exit_on_reply``, ``exit_on_failure`` (a permanent
    delivery failure), ``goal_tag_id`` (the contact got the tag); an opt-out always exits.

    Enrolment: ``enrol_mode`` with ``segment`` (once or continuously; ``segment_checked_at``
    is the moment up to which contact changes were looked at), and triggers: ``trigger_tag_id``
    (a tag added), ``trigger_keyword`` (an inbound message that is this word), and
    ``trigger_channel_id`` (a new conversation on that channel).
    """

    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=CadenceStatus.choices, default=CadenceStatus.DRAFT)
    channel = models.ForeignKey(
        "inbox.Channel", verbose_name=_("sending channel"), on_delete=models.PROTECT, related_name="+"
    )

    time_zone = models.CharField(_("time zone"), max_length=64, default="America/Sao_Paulo")
    weekdays = ArrayField(models.PositiveSmallIntegerField(), verbose_name=_("send on"), default=default_weekdays)
    window_start = models.TimeField(_("send from"), null=True, blank=True, default=dt.time(9, 0))
    window_end = models.TimeField(_("send until"), null=True, blank=True, default=dt.time(18, 0))
    national_holidays = models.BooleanField(_("skip national holidays"), default=True)
    holidays_added = ArrayField(models.DateField(), verbose_name=_("company holidays"), default=list, blank=True)
    holidays_removed = ArrayField(
        models.DateField(), verbose_name=_("national holidays worked"), default=list, blank=True
    )

    exit_on_reply = models.CharField(
        _("stop on reply"), max_length=10, choices=ReplyExit.choices, default=ReplyExit.ANY
    )
    exit_on_failure = models.BooleanField(_("stop on a permanent delivery failure"), default=True)
    goal_tag_id = models.BigIntegerField(_("goal: tag added"), null=True, blank=True)
    # The Kanban goal ("a card reached a stage") plugs in here once the board exists: see
    # ``cadences.extensions``.
    goal = models.JSONField(_("other goal"), default=dict, blank=True)
    reenrol = models.CharField(_("re-enrolment"), max_length=10, choices=Reenrol.choices, default=Reenrol.NEVER)
    reenrol_after_days = models.PositiveIntegerField(_("re-enrol after (days)"), null=True, blank=True)

    enrol_mode = models.CharField(_("enrolment"), max_length=20, choices=EnrolMode.choices, default=EnrolMode.MANUAL)
    segment = models.ForeignKey(
        "crm.Segment", verbose_name=_("segment"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    segment_checked_at = models.DateTimeField(null=True, blank=True)
    trigger_tag_id = models.BigIntegerField(_("trigger: tag added"), null=True, blank=True)
    trigger_keyword = models.CharField(_("trigger: inbound keyword"), max_length=64, blank=True)
    trigger_channel = models.ForeignKey(
        "inbox.Channel",
        verbose_name=_("trigger: new conversation on"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Contact changes (``crm.Contact.updated_at``) looked at up to here by the tag trigger and
    # the goal tag (one indexed range per sweep, not every contact every minute).
    contacts_checked_at = models.DateTimeField(null=True, blank=True)

    active_count = models.IntegerField(_("active"), default=0)
    completed_count = models.IntegerField(_("completed"), default=0)
    exited_count = models.IntegerField(_("exited"), default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("cadence")
        verbose_name_plural = _("cadences")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reenrol="never") | Q(reenrol_after_days__gte=1), name="cadences_cadence_reenrol_days"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    SEND = "send", _("Send a message")
    WAIT = "wait", _("Wait")
    BRANCH = "branch", _("Branch")
    ACTION = "action", _("Action")


class CadenceStep(models.Model):
    """One step. ``config`` by kind (validated by ``cadences.steps.config_clean``):

    - send: ``{"template": id | null, "body": str, "variables": {...}}`` (a Cloud API channel
      needs an approved template), sent through ``campaign`` (kind ``cadence``);
    - wait: ``{"amount": int, "unit": "minutes" | "hours" | "days" | "business_days",
      "at": "09:30" | ""}``;
    - branch: ``{"condition": "replied" | "has_tag" | "lacks_tag" | "field_equals" | "read_last",
      "tag_id": id, "field": key, "value": str, "then": target, "else": target}``, a target being
      ``"next"``, ``"exit"`` or a later step's id (forward only: a cadence never loops);
    - action: ``{"action": "add_tag" | "remove_tag" | "set_owner" | "add_note" |
      "assign_conversation" | "notify_agent" | <registered>, ...}``.

    ``position`` is unique per cadence (deferred, so a reorder rewrites all positions in one
    transaction). ``entered_count`` / ``exited_count`` are the step's own figures (enrolments
    that reached it, that left the cadence there).
    """

    cadence = models.ForeignKey(Cadence, verbose_name=_("cadence"), on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=8, choices=StepKind.choices)
    config = models.JSONField(_("settings"), default=dict, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name=_("sending campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    entered_count = models.IntegerField(_("reached"), default=0)
    exited_count = models.IntegerField(_("exited here"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("cadence step")
        verbose_name_plural = _("cadence steps")
        ordering = ["cadence", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["cadence", "position"],
                name="cadences_step_position",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cadence_id}#{self.position} {self.kind}"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    EXITED = "exited", _("Exited")


LIVE_STATES = ("active", "paused")


class ExitReason(models.TextChoices):
    REPLIED = "replied", _("Replied")
    OPTED_OUT = "opted_out", _("Opted out")
    FAILED = "failed", _("Permanent delivery failure")
    GOAL = "goal", _("Reached the goal")
    MANUAL = "manual", _("Removed by hand")
    BRANCH = "branch", _("Left at a branch")
    INVALID = "invalid", _("Not a valid phone number")
    ARCHIVED = "archived", _("The cadence was archived")
    STEP_REMOVED = "step_removed", _("Its step was removed")


class EnrolSource(models.TextChoices):
    MANUAL = "manual", _("By hand")
    SEGMENT = "segment", _("Segment")
    TRIGGER = "trigger", _("Trigger")
    API = "api", _("API")


class Enrollment(models.Model):
    """One contact in one cadence. ``step`` is the step the enrolment waits to run at
    ``next_due_at`` (empty once finished). ``last_sent_at`` / ``last_recipient_id`` name the
    latest send (the engine's ``campaigns.Recipient``): "a reply after a cadence message", a
    branch on "read the last message" and a permanent failure read them."""

    id = models.BigAutoField(primary_key=True)
    cadence = models.ForeignKey(
        Cadence, verbose_name=_("cadence"), on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    contact = models.ForeignKey(
        "crm.Contact", verbose_name=_("contact"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    state = models.CharField(_("state"), max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE)
    step = models.ForeignKey(
        CadenceStep,
        verbose_name=_("current step"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    next_due_at = models.DateTimeField(_("next moment"), null=True, blank=True)
    source = models.CharField(_("enrolled by"), max_length=10, choices=EnrolSource.choices, default=EnrolSource.MANUAL)
    exit_reason = models.CharField(_("exit reason"), max_length=20, choices=ExitReason.choices, blank=True)
    last_sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True)
    last_recipient_id = models.BigIntegerField(null=True, blank=True)
    # Handed to the engine, outcome not looked at yet: the tick checks these rows' recipients
    # (a send that failed at once exits the enrolment); later failures come by status hook.
    outcome_pending = models.BooleanField(default=False)
    enrolled_at = models.DateTimeField(_("enrolled at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enrolled by"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            # At most one live enrolment per contact per cadence (enrolments by hand, by
            # segment and by trigger race each other: the database decides).
            models.UniqueConstraint(
                fields=["cadence", "contact"], condition=Q(state__in=LIVE_STATES), name="cadences_enrol_one_live"
            ),
        ]
        indexes = [
            # The pick: due active enrolments, oldest due first (a range scan that stops at now).
            models.Index(fields=["next_due_at", "id"], condition=Q(state="active"), name="cadences_enrol_due"),
            # The enrolment list of a cadence (newest first) and re-enrolment checks.
            models.Index(fields=["cadence", "-id"], name="cadences_enrol_cadence"),
            # Exits and the contact page: a contact's enrolments.
            models.Index(fields=["contact", "cadence"], name="cadences_enrol_contact"),
            # The tick's look at fresh sends' outcomes.
            models.Index(fields=["id"], condition=Q(outcome_pending=True), name="cadences_enrol_pending"),
            # A failure reported by a status webhook finds its enrolment by the engine's row.
            models.Index(
                fields=["last_recipient_id"],
                condition=Q(last_recipient_id__isnull=False, state__in=LIVE_STATES),
                name="cadences_enrol_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cadence_id}:{self.contact_id} ({self.state})"


class EventKind(models.TextChoices):
    ENROLLED = "enrolled", _("Enrolled")
    SENT = "sent", _("Handed to sending")
    WAITED = "waited", _("Waited")
    BRANCHED = "branched", _("Branched")
    ACTION = "action", _("Action done")
    COMPLETED = "completed", _("Completed")
    EXITED = "exited", _("Exited")


class StepEvent(models.Model):
    """What happened to an enrolment at a step. A ``sent`` event is unique per enrolment and
    step (with the engine's ``recipient_id``): the same step can never hand the same enrolment
    to the engine twice, whatever retries or races."""

    id = models.BigAutoField(primary_key=True)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="events", db_index=False)
    cadence_id = models.BigIntegerField()
    step = models.ForeignKey(
        CadenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    contact_id = models.BigIntegerField()
    kind = models.CharField(_("kind"), max_length=10, choices=EventKind.choices)
    detail = models.CharField(_("detail"), max_length=60, blank=True)
    recipient_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("step event")
        verbose_name_plural = _("step events")
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step"], condition=Q(kind="sent"), name="cadences_event_sent_once"
            ),
        ]
        indexes = [models.Index(fields=["enrollment", "at"], name="cadences_event_enrol")]

    def __str__(self) -> str:
        return f"{self.enrollment_id}@{self.step_id}: {self.kind}"


class CompanyCadences(Company):
    """Companies as the support admin's cadence overview lists them (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("company cadences")
        verbose_name_plural = _("companies' cadences")
