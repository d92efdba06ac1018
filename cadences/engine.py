"""The tick: due enrolments picked in batches and moved through their steps, set-based.

Beat runs ``cadences.tick`` every few seconds; it visits only the companies whose cadence work
is due (``core.duework``, kind ``CADENCES``). In each company, :func:`cadences_tick`:

1. looks at the outcome of fresh sends (a send the engine failed for good exits the
   enrolment when the cadence says so);
2. sweeps contact changes since the last look (``crm.Contact.updated_at``) for the continuous
   segment, the tag trigger, the goal tag and opt-outs (``cadences.enrolment``);
3. picks due enrolments, ``PICK`` at a time, oldest due first, ``FOR UPDATE SKIP LOCKED`` (two
   ticks never take the same row; the partial index ``cadences_enrol_due`` serves the pick), and
   runs their steps in rounds, each round one statement per step: waits compute the next moment,
   branches and actions run for the whole group, and **send steps hand their contacts to the
   campaign dispatch engine** (``campaigns.dispatch.handoff.rows_append``: queued recipient rows of
   the step's campaign, one run queued) -- no second send loop, no task per enrolment;
4. writes every enrolment's new step and moment in one ``UPDATE ... FROM unnest``, the step
   events and timeline rows in one ``INSERT`` each, and marks the company due again at the
   earliest ``next_due_at`` left.

A send step only hands off at an allowed moment (``schedule.Rules``): outside it the enrolment
waits at the step until ``next_allowed``. The step's ``sent`` event is unique per enrolment
and step, and written in the same transaction as the recipient rows under the enrolment's
row lock: a step can never hand the same enrolment to the engine twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cadences import actions as step_actions
from cadences.models import (
    Cadence,
    CadenceStatus,
    CadenceStep,
    EnrolMode,
    EventKind,
    ExitReason,
    StepKind,
)
from cadences.schedule import Rules, parse_time
from cadences.services import CADENCES, enrollments_exit, rules_for
from core import duework
from core.tenancy import require_tenant_schema

PICK = 1000
TICK_BUDGET_S = 4.0

_PICK_SQL = """
SELECT e.id, e.cadence_id, e.contact_id, e.step_id
FROM cadences_enrollment e
WHERE e.state = 'active' AND e.next_due_at <= %s
ORDER BY e.next_due_at, e.id
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


def due_pick(*, now: dt.datetime, limit: int = PICK) -> list[tuple[int, int, int, int | None]]:
    """The next due enrolments, locked (call inside a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(_PICK_SQL, [now, limit])
        return list(cursor.fetchall())


@dataclass
class Plan:
    cadence: Cadence
    rules: Rules
    steps: list[CadenceStep]
    by_id: dict[int, CadenceStep] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {s.pk: s for s in self.steps}

    def after(self, step: CadenceStep) -> int | None:
        index = self.steps.index(step)
        return self.steps[index + 1].pk if index + 1 < len(self.steps) else None

    def target(self, step: CadenceStep, value: str) -> int | None | str:
        if value == "exit":
            return "exit"
        if value.startswith("step:"):
            target = self.by_id.get(int(value[5:]))
            if target is not None and target.position > step.position:
                return target.pk
        return self.after(step)


@dataclass
class Row:
    id: int
    cadence_id: int
    contact_id: int
    step_id: int | None
    due: dt.datetime | None = None
    last_sent_at: dt.datetime | None = None
    recipient_id: int | None = None
    done: bool = False  # waits for a later moment (or left the cadence)
    state: str = "active"
    moved: bool = False


class Batch:
    def __init__(self, *, now: dt.datetime):
        self.now = now
        self.plans: dict[int, Plan] = {}
        self.events: list[tuple[int, int, int | None, int, str, str, int | None]] = []
        self.exits: dict[str, list[int]] = defaultdict(list)
        self.entered: dict[int, int] = defaultdict(int)
        self.completed: dict[int, int] = defaultdict(int)

    def plan(self, cadence_id: int) -> Plan | None:
        if cadence_id not in self.plans:
            cadence = Cadence.objects.filter(pk=cadence_id).select_related("channel").first()
            if cadence is None:
                return None
            steps = list(CadenceStep.objects.filter(cadence=cadence).order_by("position"))
            self.plans[cadence_id] = Plan(cadence=cadence, rules=rules_for(cadence), steps=steps)
        return self.plans[cadence_id]

    def event(self, row: Row, step: CadenceStep | None, kind: str, detail: str = "", recipient: int | None = None):
        self.events.append((row.id, row.cadence_id, step.pk if step else None, row.contact_id, kind, detail, recipient))

    def exit(self, row: Row, reason: str) -> None:
        row.done = True
        row.state = "exited"
        self.exits[reason].append(row.id)

    # --- one round: every row still due, grouped by step ---------------------------------------

    def run(self, rows: list[Row]) -> None:
        for _round in range(64):
            live = [r for r in rows if not r.done]
            if not live:
                return
            groups: dict[tuple[int, int | None], list[Row]] = defaultdict(list)
            for row in live:
                groups[(row.cadence_id, row.step_id)].append(row)
            for (cadence_id, step_id), group in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or 0)):
                plan = self.plan(cadence_id)
                if plan is None or plan.cadence.status != CadenceStatus.ACTIVE:
                    for row in group:
                        row.done = True  # paused meanwhile: left as it is
                    continue
                step = plan.by_id.get(step_id) if step_id is not None else None
                if step is None:
                    self._complete(group, plan)
                    continue
                self.entered[step.pk] += len(group)
                handler = {
                    StepKind.SEND: self._send,
                    StepKind.WAIT: self._wait,
                    StepKind.BRANCH: self._branch,
                    StepKind.ACTION: self._action,
                }[StepKind(step.kind)]
                handler(group, plan, step)
        for row in rows:  # a broken plan (should not happen): look again in a minute
            if not row.done:
                row.due, row.done = self.now + dt.timedelta(minutes=1), True

    def _advance(self, row: Row, to: int | None, *, due: dt.datetime | None = None) -> None:
        row.step_id = to
        row.moved = True
        row.due = due or self.now
        if row.due > self.now:
            row.done = True

    def _complete(self, group: list[Row], plan: Plan) -> None:
        for row in group:
            row.done = True
            row.state = "completed"
            row.due = None
            row.moved = True
            self.completed[plan.cadence.pk] += 1
            self.event(row, None, EventKind.COMPLETED)

    def _send(self, group: list[Row], plan: Plan, step: CadenceStep) -> None:
        from campaigns.dispatch.handoff import rows_append

        if not plan.rules.allowed(self.now):
            opens = plan.rules.next_allowed(self.now)
            for row in group:
                self.entered[step.pk] -= 1
                row.due, row.done, row.moved = opens, True, True
            return
        ids = [r.id for r in group]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT enrollment_id FROM cadences_stepevent WHERE kind = 'sent' AND step_id = %s"
                " AND enrollment_id = ANY(%s)",
                [step.pk, ids],
            )
            already = {r[0] for r in cursor.fetchall()}
        fresh = [r for r in group if r.id not in already]
        if step.campaign_id is None:  # a send step always has one (step_campaign_sync)
            raise RuntimeError(f"send step {step.pk} has no campaign")
        handed = rows_append(campaign_id=step.campaign_id, contact_ids=[r.contact_id for r in fresh]) if fresh else {}
        following = plan.after(step)
        for row in group:
            if row.id in already:
                self._advance(row, following)
                continue
            outcome = handed.get(row.contact_id)
            if outcome is None:
                self.exit(row, ExitReason.OPTED_OUT)
                continue
            recipient_id, state = outcome
            if state != "queued":
                self.exit(row, ExitReason.INVALID)
                continue
            row.recipient_id = recipient_id
            row.last_sent_at = self.now
            self.event(row, step, EventKind.SENT, recipient=recipient_id)
            self._advance(row, following)

    def _wait(self, group: list[Row], plan: Plan, step: CadenceStep) -> None:
        config = step.config
        at = parse_time(config.get("at") or None)
        due = plan.rules.wait_end(
            self.now, amount=int(config.get("amount", 1)), unit=str(config.get("unit", "days")), at=at
        )
        following = plan.after(step)
        for row in group:
            self.event(row, step, EventKind.WAITED)
            self._advance(row, following, due=due)

    def _branch(self, group: list[Row], plan: Plan, step: CadenceStep) -> None:
        from cadences.conditions import condition_holds

        yes = condition_holds(step.config, [r.id for r in group])
        for row in group:
            took = "then" if row.id in yes else "else"
            target = plan.target(step, str(step.config.get(took, "next")))
            self.event(row, step, EventKind.BRANCHED, detail=took)
            if target == "exit":
                self.exit(row, ExitReason.BRANCH)
                row.step_id = step.pk
            else:
                self._advance(row, target if isinstance(target, int) else None)

    def _action(self, group: list[Row], plan: Plan, step: CadenceStep) -> None:
        step_actions.run(step.config, [r.contact_id for r in group], cadence=plan.cadence, now=self.now)
        following = plan.after(step)
        for row in group:
            self.event(row, step, EventKind.ACTION, detail=str(step.config.get("action", ""))[:60])
            self._advance(row, following)

    # --- the write ---------------------------------------------------------------------------

    def write(self, rows: list[Row]) -> None:
        moved = [r for r in rows if r.moved and r.state != "exited"]
        if moved:
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    UPDATE cadences_enrollment e SET
                        step_id = u.step_id, next_due_at = u.due, state = u.state,
                        finished_at = CASE WHEN u.state = 'completed' THEN %s ELSE e.finished_at END,
                        last_sent_at = COALESCE(u.sent_at, e.last_sent_at),
                        last_recipient_id = COALESCE(u.recipient_id, e.last_recipient_id),
                        outcome_pending = e.outcome_pending OR u.recipient_id IS NOT NULL
                    FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::text[], %s::timestamptz[],
                                %s::bigint[]) AS u(id, step_id, due, state, sent_at, recipient_id)
                    WHERE e.id = u.id
                    """,
                    [
                        self.now,
                        [r.id for r in moved],
                        [r.step_id for r in moved],
                        [r.due for r in moved],
                        [r.state for r in moved],
                        [r.last_sent_at for r in moved],
                        [r.recipient_id for r in moved],
                    ],
                )
        # Exits at the step they happened (the exit's counters read the enrolment's step).
        exited_at = [r for r in rows if r.state == "exited" and r.moved]
        if exited_at:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE cadences_enrollment e SET step_id = u.step_id FROM unnest(%s::bigint[], %s::bigint[])"
                    " AS u(id, step_id) WHERE e.id = u.id",
                    [[r.id for r in exited_at], [r.step_id for r in exited_at]],
                )
        events_write(self.events, plans=self.plans, now=self.now)
        for reason, ids in self.exits.items():
            enrollments_exit(ids=ids, reason=reason, now=self.now)
        with connection.cursor() as cursor:
            if self.entered:
                cursor.execute(
                    "UPDATE cadences_cadencestep s SET entered_count = s.entered_count + u.n"
                    " FROM unnest(%s::bigint[], %s::int[]) AS u(id, n) WHERE s.id = u.id",
                    [list(self.entered), list(self.entered.values())],
                )
            if self.completed:
                cursor.execute(
                    "UPDATE cadences_cadence c SET completed_count = c.completed_count + u.n,"
                    " active_count = c.active_count - u.n FROM unnest(%s::bigint[], %s::int[]) AS u(id, n)"
                    " WHERE c.id = u.id",
                    [list(self.completed), list(self.completed.values())],
                )


def events_write(events: list[tuple], *, plans: dict[int, Plan], now: dt.datetime) -> None:
    """Step events and the contacts' timeline rows (``cadence.step``), one INSERT each."""
    if not events:
        return
    labels = {k: str(v) for k, v in EventKind.choices}
    texts = []
    for _enrol, cadence_id, step_id, _contact, kind, _detail, _rcpt in events:
        plan = plans.get(cadence_id)
        name = plan.cadence.name if plan else ""
        step = plan.by_id.get(step_id) if plan and step_id else None
        position = f" · {step.position + 1}" if step else ""
        texts.append(f"{name}{position}: {labels.get(kind, kind)}")
    columns = list(zip(*events, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH u AS (
                SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[],
                                     %s::bigint[], %s::text[])
                    AS u(enrollment_id, cadence_id, step_id, contact_id, kind, detail, recipient_id, text)
            ),
            ev AS (
                INSERT INTO cadences_stepevent (enrollment_id, cadence_id, step_id, contact_id, kind, detail,
                                                recipient_id, at)
                SELECT enrollment_id, cadence_id, step_id, contact_id, kind, detail, recipient_id, %s FROM u
            )
            INSERT INTO crm_timelineevent (contact_id, kind, data, at)
            SELECT contact_id, 'cadence.step',
                   jsonb_build_object('cadence', cadence_id, 'step', step_id, 'event', kind, 'text', text), %s
            FROM u WHERE kind <> 'waited'
            """,
            [*[list(c) for c in columns], texts, now, now],
        )


# --- outcomes of fresh sends ------------------------------------------------------------------

_OUTCOMES_SQL = """
WITH p AS (
    SELECT e.id, e.cadence_id, r.state AS rstate
    FROM cadences_enrollment e JOIN campaigns_recipient r ON r.id = e.last_recipient_id
    WHERE e.outcome_pending AND r.state NOT IN ('queued', 'claimed')
    ORDER BY e.id LIMIT %s
    FOR UPDATE OF e SKIP LOCKED
),
cleared AS (
    UPDATE cadences_enrollment e SET outcome_pending = FALSE FROM p WHERE e.id = p.id
)
SELECT p.id FROM p JOIN cadences_cadence c ON c.id = p.cadence_id
WHERE p.rstate = 'failed' AND c.exit_on_failure
"""


@transaction.atomic
def outcomes_check(*, now: dt.datetime, limit: int = 10000) -> int:
    """Fresh sends whose engine row is settled: a failure exits the enrolment (``failed``)."""
    with connection.cursor() as cursor:
        cursor.execute(_OUTCOMES_SQL, [limit])
        failed = [r[0] for r in cursor.fetchall()]
    return enrollments_exit(ids=failed, reason=ExitReason.FAILED, now=now, states=("active", "paused"))


# --- the tick ----------------------------------------------------------------------------------


def batch_run(*, now: dt.datetime, limit: int = PICK) -> int:
    """One batch in one transaction. Returns how many enrolments it picked."""
    with transaction.atomic():
        picked = due_pick(now=now, limit=limit)
        if not picked:
            return 0
        rows = [Row(id=i, cadence_id=c, contact_id=k, step_id=s) for i, c, k, s in picked]
        batch = Batch(now=now)
        batch.run(rows)
        batch.write(rows)
    return len(picked)


def next_due() -> dt.datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT next_due_at FROM cadences_enrollment WHERE state = 'active' ORDER BY next_due_at, id LIMIT 1"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def cadences_tick(*, now: dt.datetime | None = None, budget_s: float = TICK_BUDGET_S) -> dict[str, Any]:
    """Beat, per company with due cadence work (see the module docstring). A visit with nothing
    due costs one statement (``_TickMoments``) and marks the company's next moment."""
    from cadences.enrolment import contacts_sweep

    started = time.monotonic()
    now = now or timezone.now()
    schema = require_tenant_schema()
    done: dict[str, Any] = {"failed": 0, "picked": 0, "swept": {}}
    moments = _TickMoments.read(now)
    if not moments.due(now):
        moments.mark_next(schema, now)
        return done
    if moments.pending:
        done["failed"] = outcomes_check(now=now)
    if moments.sweep_due:
        for cadence in Cadence.objects.filter(status=CadenceStatus.ACTIVE).order_by("id"):
            done["swept"][cadence.pk] = contacts_sweep(cadence=cadence, now=now)
    while moments.next_due_at is not None and moments.next_due_at <= now:
        picked = batch_run(now=now)
        done["picked"] += picked
        if picked < PICK or time.monotonic() - started > budget_s:
            break
    _TickMoments.read(now).mark_next(schema, now)
    return done


# A cadence that watches contact changes (a continuous segment, a tag trigger, a goal): the
# company stays due every few seconds while it is active.
WATCHING = (
    Q(enrol_mode=EnrolMode.SEGMENT_CONTINUOUS)
    | Q(trigger_tag_id__isnull=False)
    | Q(goal_tag_id__isnull=False)
    | (Q(goal__isnull=False) & ~Q(goal={}))
)
WATCH_AGAIN = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class _TickMoments:
    """What a company's cadences wait for, read in one statement: fresh sends whose outcome is
    still to look at, the earliest due enrolment, an active cadence whose contact sweep is due
    (``cadences.enrolment.SWEEP_EVERY`` after its last), and one that watches contacts."""

    pending: bool
    next_due_at: dt.datetime | None
    sweep_due: bool
    watching: bool

    @classmethod
    def read(cls, now: dt.datetime) -> _TickMoments:
        from cadences.enrolment import SWEEP_EVERY

        active = Cadence.objects.filter(status=CadenceStatus.ACTIVE).values("id")
        sweep_sql, sweep_params = active.filter(
            Q(contacts_checked_at__isnull=True) | Q(contacts_checked_at__lte=now - SWEEP_EVERY)
        ).query.sql_with_params()
        watch_sql, watch_params = active.filter(WATCHING).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT EXISTS (SELECT 1 FROM cadences_enrollment WHERE outcome_pending),
                       (SELECT min(next_due_at) FROM cadences_enrollment WHERE state = 'active'),
                       EXISTS ({sweep_sql}), EXISTS ({watch_sql})
                """,
                [*sweep_params, *watch_params],
            )
            return cls(*cursor.fetchone())

    def due(self, now: dt.datetime) -> bool:
        """Whether a tick at ``now`` has anything to do."""
        return self.pending or self.sweep_due or (self.next_due_at is not None and self.next_due_at <= now)

    def mark_next(self, schema: str, now: dt.datetime) -> None:
        """Mark the company due (``CADENCES``) for what this tick leaves: a few seconds from now
        while outcomes are pending, a cadence watches contacts or enrolments are still due (the
        tick's budget ran out), and at the earliest due enrolment."""
        if self.pending or self.watching or (self.next_due_at is not None and self.next_due_at <= now):
            duework.mark_on_commit(CADENCES, schema, now + WATCH_AGAIN)
        if self.next_due_at is not None:
            duework.mark_on_commit(CADENCES, schema, self.next_due_at)
