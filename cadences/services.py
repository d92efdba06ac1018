"""Writes of the cadences app: cadences, their steps, enrolments (by hand, segment, trigger,
API) and exits. The tick (beat) lives in ``cadences.engine``; both mark the due-work index
(``CADENCES``) wherever an enrolment's ``next_due_at`` is set.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cadences.models import (
    LIVE_STATES,
    Cadence,
    CadenceStatus,
    CadenceStep,
    Enrollment,
    EnrollmentState,
    EnrolMode,
    EnrolSource,
    EventKind,
    ExitReason,
    Reenrol,
    ReplyExit,
    StepKind,
)
from cadences.schedule import Rules
from cadences.steps import config_clean, step_campaign_sync
from core import duework
from core.tenancy import require_tenant_schema

# The due-work kind (``core.duework``) of beat's ``cadences.tick``: a company is due at the
# earliest ``next_due_at`` of its active enrolments (marked wherever one is set), and every
# minute while a continuous segment or a trigger cadence is active.
CADENCES = "cadences"

ERR_NAME = gettext_noop("Give the cadence a name.")
ERR_CHANNEL = gettext_noop("Choose an active sending channel.")
ERR_WEEKDAYS = gettext_noop("Choose at least one day of the week.")
ERR_WINDOW = gettext_noop("Set both ends of the hours window, the start before the end, or neither.")
ERR_REENROL = gettext_noop("Re-enrolment after N days needs a number of days of at least 1.")
ERR_TIME_ZONE = gettext_noop("Unknown time zone.")
ERR_SEGMENT = gettext_noop("Choose the segment that enrols contacts.")
ERR_NO_STEPS = gettext_noop("Add at least one step that sends a message before activating the cadence.")
ERR_ARCHIVED = gettext_noop("An archived cadence cannot change.")
ERR_NOT_ENROLLABLE = gettext_noop("Activate the cadence before enrolling contacts.")
ERR_STEP_ORDER = gettext_noop("The new order must list every step of the cadence once.")
ERR_STEP_RUNNING = gettext_noop("Steps changed: enrolments still before them will follow the new steps.")
ERR_TOO_MANY = gettext_noop("At most %(max)s contacts can be enrolled at once.")
ERR_STATUS = gettext_noop("That status change is not possible.")

MAX_ENROL = 200_000
ENROL_CHUNK = 20_000


def mark_due(at: dt.datetime | None = None) -> None:
    duework.mark_on_commit(CADENCES, require_tenant_schema(), at)


def rules_for(cadence: Cadence) -> Rules:
    return Rules(
        time_zone=cadence.time_zone,
        weekdays=frozenset(cadence.weekdays or []),
        start=cadence.window_start if cadence.window_end else None,
        end=cadence.window_end if cadence.window_start else None,
        national_holidays=cadence.national_holidays,
        added=frozenset(cadence.holidays_added or []),
        removed=frozenset(cadence.holidays_removed or []),
    )


# --- cadences -----------------------------------------------------------------------------------

CADENCE_FIELDS = (
    "name",
    "description",
    "channel",
    "time_zone",
    "weekdays",
    "window_start",
    "window_end",
    "national_holidays",
    "holidays_added",
    "holidays_removed",
    "exit_on_reply",
    "exit_on_failure",
    "goal_tag_id",
    "goal",
    "reenrol",
    "reenrol_after_days",
    "enrol_mode",
    "segment",
    "trigger_tag_id",
    "trigger_keyword",
    "trigger_channel",
)


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = (data.get("name") or "").strip()
    if not name:
        raise ValidationError(_(ERR_NAME))
    data["name"] = name[:120]
    channel = data.get("channel")
    if channel is None or not channel.is_active:
        raise ValidationError(_(ERR_CHANNEL))
    weekdays = sorted({int(d) for d in data.get("weekdays") or [] if 0 <= int(d) <= 6})
    if not weekdays:
        raise ValidationError(_(ERR_WEEKDAYS))
    data["weekdays"] = weekdays
    start, end = data.get("window_start"), data.get("window_end")
    if (start is None) != (end is None) or (start is not None and end is not None and start >= end):
        raise ValidationError(_(ERR_WINDOW))
    try:
        ZoneInfo(data.get("time_zone") or "America/Sao_Paulo")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_(ERR_TIME_ZONE)) from None
    if data.get("reenrol") == Reenrol.AFTER_DAYS and not (data.get("reenrol_after_days") or 0) >= 1:
        raise ValidationError(_(ERR_REENROL))
    if data.get("reenrol") != Reenrol.AFTER_DAYS:
        data["reenrol_after_days"] = None
    if data.get("enrol_mode") in (EnrolMode.SEGMENT_ONCE, EnrolMode.SEGMENT_CONTINUOUS) and data.get("segment") is None:
        raise ValidationError(_(ERR_SEGMENT))
    if data.get("exit_on_reply") not in (None, *ReplyExit.values):
        data["exit_on_reply"] = ReplyExit.ANY
    data["trigger_keyword"] = (data.get("trigger_keyword") or "").strip()[:64]
    if "goal" in data:
        data["goal"] = _goal_clean(data.get("goal"))
    return data


def _goal_clean(raw: Any) -> dict[str, Any]:
    """``Cadence.goal``: each registered goal's config, cleaned by it (unknown names dropped)."""
    from cadences.extensions import goals

    registered = goals()
    out: dict[str, Any] = {}
    for name, config in (raw if isinstance(raw, dict) else {}).items():
        goal = registered.get(name)
        if goal is None:
            continue
        cleaned = goal.clean(config) if goal.clean else config
        if cleaned:
            out[name] = cleaned
    return out


@transaction.atomic
def cadence_create(*, by=None, **data: Any) -> Cadence:
    from tenants.context import current_company

    data.setdefault("time_zone", getattr(current_company(), "time_zone", "") or "America/Sao_Paulo")
    data.setdefault("weekdays", [0, 1, 2, 3, 4])
    data.setdefault("window_start", dt.time(9, 0))
    data.setdefault("window_end", dt.time(18, 0))
    data = _validate({k: v for k, v in data.items() if k in CADENCE_FIELDS})
    return Cadence.objects.create(created_by_id=getattr(by, "pk", by), **data)


@transaction.atomic
def cadence_update(*, cadence: Cadence, by=None, **changes: Any) -> Cadence:
    cadence = Cadence.objects.select_for_update().get(pk=cadence.pk)
    if cadence.status == CadenceStatus.ARCHIVED:
        raise ValidationError(_(ERR_ARCHIVED))
    data = {f: getattr(cadence, f) for f in CADENCE_FIELDS}
    data.update({k: v for k, v in changes.items() if k in CADENCE_FIELDS})
    data = _validate(data)
    for key, value in data.items():
        setattr(cadence, key, value)
    cadence.save()
    for step in cadence.steps.filter(kind=StepKind.SEND):
        step_campaign_sync(step=step)
    if cadence.status == CadenceStatus.ACTIVE:
        mark_due()
    return cadence


@transaction.atomic
def cadence_set_status(*, cadence: Cadence, status: str, by=None, now: dt.datetime | None = None) -> Cadence:
    """draft/paused -> active, active -> paused, any -> archived (live enrolments exit)."""
    now = now or timezone.now()
    cadence = Cadence.objects.select_for_update().get(pk=cadence.pk)
    old = cadence.status
    if old == status:
        return cadence
    if old == CadenceStatus.ARCHIVED or status not in CadenceStatus.values or status == CadenceStatus.DRAFT:
        raise ValidationError(_(ERR_STATUS))
    if status == CadenceStatus.ACTIVE:
        if not cadence.steps.filter(kind=StepKind.SEND).exists():
            raise ValidationError(_(ERR_NO_STEPS))
        Enrollment.objects.filter(cadence=cadence, state=EnrollmentState.PAUSED).update(state=EnrollmentState.ACTIVE)
        first = Enrollment.objects.filter(cadence=cadence, state=EnrollmentState.ACTIVE).aggregate(
            at=Min("next_due_at")
        )
        mark_due(first["at"])
        if cadence.enrol_mode != EnrolMode.MANUAL or cadence.trigger_tag_id or cadence.goal_tag_id or cadence.goal:
            mark_due(now)
    elif status == CadenceStatus.PAUSED:
        Enrollment.objects.filter(cadence=cadence, state=EnrollmentState.ACTIVE).update(state=EnrollmentState.PAUSED)
    elif status == CadenceStatus.ARCHIVED:
        ids = list(
            Enrollment.objects.filter(cadence=cadence, state__in=LIVE_STATES)
            .order_by("id")
            .values_list("id", flat=True)
        )
        enrollments_exit(ids=ids, reason=ExitReason.ARCHIVED, now=now)
    cadence.status = status
    cadence.save(update_fields=["status", "updated_at"])
    return cadence


# --- steps ---------------------------------------------------------------------------------------


def step_change_impact(*, cadence: Cadence, position: int) -> int:
    """What the builder's warning says before a save: how many running enrolments the change
    at ``position`` reaches (those that have not passed it yet)."""
    return steps_change_impact(cadence=cadence, positions=[position])[position]


def steps_change_impact(*, cadence: Cadence, positions: list[int]) -> dict[int, int]:
    """:func:`step_change_impact` at each of ``positions`` (the builder shows every step's): the
    live enrolments counted by the position they are at, in one query, then summed."""
    at = (
        Enrollment.objects.filter(cadence=cadence, state__in=LIVE_STATES, step__isnull=False)
        .values("step__position")
        .annotate(n=Count("id"))
        .values_list("step__position", "n")
    )
    counts = list(at)
    return {p: sum(n for position, n in counts if position <= p) for p in positions}


@transaction.atomic
def step_add(*, cadence: Cadence, kind: str, config: dict | None = None, position: int | None = None) -> CadenceStep:
    cadence = Cadence.objects.select_for_update().select_related("channel").get(pk=cadence.pk)
    if cadence.status == CadenceStatus.ARCHIVED:
        raise ValidationError(_(ERR_ARCHIVED))
    if kind not in StepKind.values:
        config_clean(kind="", config=None, cadence=cadence)
    count = cadence.steps.count()
    position = count if position is None else max(0, min(int(position), count))
    # Steps at ``position`` and after shift down by one: each of them is a later step.
    clean = config_clean(kind=kind, config=config, cadence=cadence, position=position - 1)
    CadenceStep.objects.filter(cadence=cadence, position__gte=position).order_by("-position").update(
        position=models_f("position") + 1
    )
    step = CadenceStep.objects.create(cadence=cadence, position=position, kind=kind, config=clean)
    if kind == StepKind.SEND:
        step_campaign_sync(step=step)
    return step


def models_f(name: str):
    from django.db.models import F

    return F(name)


@transaction.atomic
def step_update(*, step: CadenceStep, config: dict | None = None) -> CadenceStep:
    """New settings for a step. Enrolments still before it (or waiting at it) follow them;
    those past it are not touched."""
    step = CadenceStep.objects.select_for_update().select_related("cadence__channel").get(pk=step.pk)
    if step.cadence.status == CadenceStatus.ARCHIVED:
        raise ValidationError(_(ERR_ARCHIVED))
    step.config = config_clean(kind=step.kind, config=config, cadence=step.cadence, position=step.position)
    step.save(update_fields=["config", "updated_at"])
    if step.kind == StepKind.SEND:
        step_campaign_sync(step=step)
    return step


@transaction.atomic
def step_remove(*, step: CadenceStep, now: dt.datetime | None = None) -> None:
    """Remove a step: enrolments waiting at it move on to the step after it (due now)."""
    now = now or timezone.now()
    step = CadenceStep.objects.select_for_update().select_related("cadence").get(pk=step.pk)
    cadence = step.cadence
    if cadence.status == CadenceStatus.ARCHIVED:
        raise ValidationError(_(ERR_ARCHIVED))
    following = CadenceStep.objects.filter(cadence=cadence, position__gt=step.position).order_by("position").first()
    waiting = Enrollment.objects.filter(step=step, state__in=LIVE_STATES)
    if following is not None:
        waiting.update(step=following, next_due_at=now)
        mark_due(now)
    else:
        waiting.update(step=None, next_due_at=now)
        mark_due(now)
    position = step.position
    step.delete()
    CadenceStep.objects.filter(cadence=cadence, position__gt=position).update(position=models_f("position") - 1)


@transaction.atomic
def steps_reorder(*, cadence: Cadence, step_ids: list[int]) -> list[CadenceStep]:
    """Rewrite every position in one transaction (the position constraint is deferred). A
    branch pointing backwards after the move goes to the next step instead (never a loop)."""
    cadence = Cadence.objects.select_for_update().get(pk=cadence.pk)
    if cadence.status == CadenceStatus.ARCHIVED:
        raise ValidationError(_(ERR_ARCHIVED))
    steps = {s.pk: s for s in cadence.steps.all()}
    if sorted(step_ids) != sorted(steps) or len(set(step_ids)) != len(step_ids):
        raise ValidationError(_(ERR_STEP_ORDER))
    for position, step_id in enumerate(step_ids):
        step = steps[step_id]
        if step.position != position:
            step.position = position
            step.save(update_fields=["position", "updated_at"])
    positions = {s.pk: s.position for s in steps.values()}
    for step in steps.values():
        if step.kind != StepKind.BRANCH:
            continue
        changed = False
        for key in ("then", "else"):
            target = str(step.config.get(key, "next"))
            if target.startswith("step:"):
                target_position = positions.get(int(target[5:]))
                if target_position is None or target_position <= step.position:
                    step.config[key] = "next"
                    changed = True
        if changed:
            step.save(update_fields=["config", "updated_at"])
    for step in steps.values():
        if step.kind == StepKind.SEND:
            step_campaign_sync(step=step)
    return sorted(steps.values(), key=lambda s: s.position)


# --- enrolment -------------------------------------------------------------------------------------

_ENROL_SQL = """
WITH c AS ({contacts}),
inserted AS (
    INSERT INTO cadences_enrollment (cadence_id, contact_id, state, step_id, next_due_at, source, exit_reason,
                                     enrolled_at, enrolled_by_id, outcome_pending)
    SELECT %s, c.id, %s, %s, %s, %s, '', %s, %s, FALSE
    FROM c
    WHERE NOT EXISTS (
        SELECT 1 FROM cadences_enrollment e
        WHERE e.cadence_id = %s AND e.contact_id = c.id
          AND (e.state IN ('active', 'paused') OR {reenrol_sql})
    )
    ON CONFLICT (cadence_id, contact_id) WHERE state IN ('active', 'paused') DO NOTHING
    RETURNING id, contact_id
),
events AS (
    INSERT INTO cadences_stepevent (enrollment_id, cadence_id, step_id, contact_id, kind, detail, at)
    SELECT id, %s, %s, contact_id, 'enrolled', %s, %s FROM inserted
)
SELECT count(*) FROM inserted
"""


def _contacts_sql(queryset) -> tuple[str, list[Any]]:
    sql, params = queryset.order_by().values("id").query.sql_with_params()
    return sql, list(params)


@transaction.atomic
def enrol(
    *,
    cadence: Cadence,
    contacts=None,
    contact_ids: list[int] | None = None,
    source: str = EnrolSource.MANUAL,
    by=None,
    now: dt.datetime | None = None,
    limit: int | None = MAX_ENROL,
) -> int:
    """Enrol contacts (a ``Contact`` queryset, or ids) in one statement per chunk. Contacts
    already live in the cadence, or barred by the re-enrolment policy, are left out; opted-out
    contacts are left out too (they would exit at once). Returns how many were enrolled."""
    from crm.models import ConsentStatus, Contact

    now = now or timezone.now()
    cadence = Cadence.objects.get(pk=cadence.pk)
    if cadence.status not in (CadenceStatus.ACTIVE, CadenceStatus.PAUSED):
        raise ValidationError(_(ERR_NOT_ENROLLABLE))
    if contacts is None:
        contacts = Contact.objects.filter(pk__in=list(contact_ids or []))
    contacts = contacts.exclude(consent_status=ConsentStatus.OPTED_OUT)
    if limit is not None:
        total = contacts.count()
        if total > limit:
            raise ValidationError(_(ERR_TOO_MANY) % {"max": f"{limit:,}"})
    first = cadence.steps.order_by("position").first()
    state = EnrollmentState.ACTIVE if cadence.status == CadenceStatus.ACTIVE else EnrollmentState.PAUSED
    if cadence.reenrol == Reenrol.AFTER_DAYS and cadence.reenrol_after_days:
        reenrol_sql = "e.finished_at > %s"
        reenrol_params: list[Any] = [now - dt.timedelta(days=cadence.reenrol_after_days)]
    else:
        reenrol_sql = "TRUE"
        reenrol_params = []
    contacts_sql, contacts_params = _contacts_sql(contacts)
    sql = _ENROL_SQL.format(contacts=contacts_sql, reenrol_sql=reenrol_sql)
    step_id = first.pk if first else None
    params = [
        *contacts_params,
        cadence.pk,
        state,
        step_id,
        now,
        source,
        now,
        getattr(by, "pk", by),
        cadence.pk,
        *reenrol_params,
        cadence.pk,
        step_id,
        source,
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count = int(cursor.fetchone()[0])
    if count:
        Cadence.objects.filter(pk=cadence.pk).update(active_count=models_f("active_count") + count)
        if state == EnrollmentState.ACTIVE:
            mark_due(now)
    return count


def enrol_matching(*, cadence: Cadence, filters: dict | None, by=None, now: dt.datetime | None = None) -> int:
    """ "All N matching" from the contact list: the CRM's own filter compiled to one query."""
    from crm.selectors import contacts_matching

    return enrol(cadence=cadence, contacts=contacts_matching(filters or {}), by=by, now=now)


@transaction.atomic
def enrollments_exit(
    *, ids: list[int], reason: str, now: dt.datetime | None = None, states: tuple[str, ...] = LIVE_STATES
) -> int:
    """Exit live enrolments (set-based): state, reason, counters (cadence and the step where
    each one left), a step event and the contact's timeline. Returns how many exited."""
    if not ids:
        return 0
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH gone AS (
                UPDATE cadences_enrollment e
                SET state = 'exited', exit_reason = %s, finished_at = %s, next_due_at = NULL
                WHERE e.id = ANY(%s) AND e.state = ANY(%s)
                RETURNING e.id, e.cadence_id, e.step_id, e.contact_id
            ),
            ev AS (
                INSERT INTO cadences_stepevent (enrollment_id, cadence_id, step_id, contact_id, kind, detail, at)
                SELECT id, cadence_id, step_id, contact_id, 'exited', %s, %s FROM gone
            ),
            steps AS (
                UPDATE cadences_cadencestep s SET exited_count = s.exited_count + g.n
                FROM (SELECT step_id, count(*) AS n FROM gone WHERE step_id IS NOT NULL GROUP BY step_id) g
                WHERE s.id = g.step_id
            ),
            tl AS (
                INSERT INTO crm_timelineevent (contact_id, kind, data, at)
                SELECT g.contact_id, 'cadence.exited',
                       jsonb_build_object('cadence', g.cadence_id, 'name', c.name, 'reason', %s::text,
                                          'text', c.name || ' · ' || %s::text),
                       %s
                FROM gone g JOIN cadences_cadence c ON c.id = g.cadence_id
            ),
            counts AS (
                UPDATE cadences_cadence c SET active_count = c.active_count - g.n, exited_count = c.exited_count + g.n
                FROM (SELECT cadence_id, count(*) AS n FROM gone GROUP BY cadence_id) g WHERE c.id = g.cadence_id
            )
            SELECT count(*) FROM gone
            """,
            [reason, now, list(ids), list(states), reason, now, reason, str(_label(reason)), now],
        )
        return int(cursor.fetchone()[0])


def _label(reason: str) -> str:
    try:
        return str(ExitReason(reason).label)
    except ValueError:
        return reason


def unenrol(*, enrollment: Enrollment, by=None, now: dt.datetime | None = None) -> Enrollment:
    enrollments_exit(ids=[enrollment.pk], reason=ExitReason.MANUAL, now=now)
    enrollment.refresh_from_db()
    return enrollment


__all__ = [
    "CADENCES",
    "EventKind",
    "cadence_create",
    "cadence_set_status",
    "cadence_update",
    "enrol",
    "enrol_matching",
    "enrollments_exit",
    "rules_for",
    "step_add",
    "step_change_impact",
    "step_remove",
    "steps_change_impact",
    "step_update",
    "steps_reorder",
    "unenrol",
]
