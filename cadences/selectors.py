"""Reads of the cadences app: lists, per-step figures, enrolments, the schedule preview."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from cadences.models import Cadence, CadenceStep, Enrollment, StepEvent, StepKind
from cadences.schedule import parse_time
from cadences.services import rules_for

# A weekday inside a sentence ("day 2 at 09:00 (wednesday)"): pt-BR writes it in lower case there.
WEEKDAYS_IN_SENTENCE = [
    pgettext_lazy("weekday inside a sentence", "Monday"),
    pgettext_lazy("weekday inside a sentence", "Tuesday"),
    pgettext_lazy("weekday inside a sentence", "Wednesday"),
    pgettext_lazy("weekday inside a sentence", "Thursday"),
    pgettext_lazy("weekday inside a sentence", "Friday"),
    pgettext_lazy("weekday inside a sentence", "Saturday"),
    pgettext_lazy("weekday inside a sentence", "Sunday"),
]


def cadence_list(*, status: str = "") -> QuerySet[Cadence]:
    qs = Cadence.objects.select_related("channel").order_by("-created_at", "-id")
    return qs.filter(status=status) if status else qs


def cadence_steps(*, cadence: Cadence) -> list[CadenceStep]:
    return list(cadence.steps.select_related("campaign").order_by("position"))


def step_stats(*, cadence: Cadence) -> list[dict[str, Any]]:
    """Per step: reached, exited there, and for sends the engine's own counters (the step's
    campaign: sent, delivered, read, replied, failed, still to send). One query."""
    rows = []
    for step in cadence_steps(cadence=cadence):
        campaign = step.campaign
        rows.append(
            {
                "step": step,
                "reached": step.entered_count,
                "exited": step.exited_count,
                "sent": campaign.sent_count if campaign else None,
                "delivered": campaign.delivered_count if campaign else None,
                "read": campaign.read_count if campaign else None,
                "replied": campaign.replied_count if campaign else None,
                "failed": campaign.failed_count if campaign else None,
                "queued": campaign.queued_count if campaign else None,
            }
        )
    return rows


def enrollment_list(*, cadence: Cadence, state: str = "") -> QuerySet[Enrollment]:
    qs = Enrollment.objects.filter(cadence=cadence).select_related("contact", "step").order_by("-id")
    return qs.filter(state=state) if state else qs


def contact_enrollments(*, contact_id: int) -> list[Enrollment]:
    return list(
        Enrollment.objects.filter(contact_id=contact_id).select_related("cadence", "step").order_by("-enrolled_at")
    )


def enrollment_events(*, enrollment: Enrollment) -> list[StepEvent]:
    return list(StepEvent.objects.filter(enrollment=enrollment).select_related("step").order_by("at", "id"))


def schedule_preview(
    *, cadence: Cadence, steps: list[CadenceStep] | None = None, start: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """When each send would go out for a contact enrolled at ``start`` who never answers, with
    every branch taking its "otherwise" path: ``[{"step": step, "at": aware, "day": 1,
    "label": "day 1 at 09:30 (Tuesday)"}]``. The same arithmetic as the tick."""
    rules = rules_for(cadence)
    steps = steps if steps is not None else cadence_steps(cadence=cadence)
    now = start or timezone.now()
    first_day = rules.local(now).date()
    out: list[dict[str, Any]] = []
    by_id = {s.pk: s for s in steps}
    index = 0
    for _hop in range(len(steps) + 1):
        if index >= len(steps):
            break
        step = steps[index]
        index += 1
        if step.kind == StepKind.WAIT:
            now = rules.wait_end(
                now,
                amount=int(step.config.get("amount", 1)),
                unit=str(step.config.get("unit", "days")),
                at=parse_time(step.config.get("at") or None),
            )
        elif step.kind == StepKind.SEND:
            now = rules.next_allowed(now)
            local = rules.local(now)
            day = (local.date() - first_day).days + 1
            out.append(
                {
                    "step": step,
                    "at": now,
                    "day": day,
                    "label": _("day %(day)s at %(time)s (%(weekday)s)")
                    % {"day": day, "time": local.strftime("%H:%M"), "weekday": WEEKDAYS_IN_SENTENCE[local.weekday()]},
                }
            )
        elif step.kind == StepKind.BRANCH:
            target = str(step.config.get("else", "next"))
            if target == "exit":
                break
            if target.startswith("step:") and int(target[5:]) in by_id:
                index = steps.index(by_id[int(target[5:])])
    return out
