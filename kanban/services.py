"""Writes of the Kanban board: pipelines, cards, moves (with history, the contact's timeline and
a live event), won/lost reasons, bulk and automatic card creation."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.realtime import send_event_on_commit
from crm.models import Contact, TimelineEvent
from crm.timeline import actor_id, timeline_record
from kanban import ranks
from kanban.models import ActorKind, Card, CardMove, Pipeline, Reason, Stage, StageKind
from kanban.realtime import board_group, card_event_on_commit
from tenants.context import require_tenant_schema

DEFAULT_STAGES = (
    (_("New lead"), "blue", StageKind.OPEN, 10, _("First contact; we do not know yet what the customer wants.")),
    (_("Qualified"), "purple", StageKind.OPEN, 30, _("The customer said what they need and could buy.")),
    (_("Proposal"), "yellow", StageKind.OPEN, 60, _("The customer asked for a price, a quote or conditions.")),
    (_("Negotiation"), "yellow", StageKind.OPEN, 80, _("The customer discusses price, payment or delivery.")),
    (_("Won"), "green", StageKind.WON, 100, _("The customer confirmed the purchase or paid.")),
    (_("Lost"), "red", StageKind.LOST, 0, _("The customer declined or stopped answering.")),
)
DEFAULT_REASONS = (
    (StageKind.WON, _("Price")),
    (StageKind.WON, _("Service")),
    (StageKind.LOST, _("Too expensive")),
    (StageKind.LOST, _("Chose a competitor")),
    (StageKind.LOST, _("No answer")),
)


class CardError(ValidationError):
    """Bad input for a card write; its message is translated and shown as a 4xx."""


# --- pipelines ----------------------------------------------------------------------------


@transaction.atomic
def pipeline_create(*, name: str, stages: list[dict] | None = None, with_defaults: bool = True, **fields) -> Pipeline:
    require_tenant_schema()
    pipeline = Pipeline.objects.create(name=name, **fields)
    if stages is None and with_defaults:
        stages = [
            {"name": str(n), "color": c, "kind": k, "win_probability": p, "description": str(d)}
            for n, c, k, p, d in DEFAULT_STAGES
        ]
        Reason.objects.bulk_create(
            Reason(pipeline=pipeline, kind=kind, label=str(label), position=i)
            for i, (kind, label) in enumerate(DEFAULT_REASONS)
        )
    Stage.objects.bulk_create(Stage(pipeline=pipeline, position=i, **data) for i, data in enumerate(stages or []))
    return pipeline


def pipeline_update(*, pipeline: Pipeline, **fields) -> Pipeline:
    for name, value in fields.items():
        setattr(pipeline, name, value)
    pipeline.full_clean()
    pipeline.save()
    return pipeline


def stage_create(*, pipeline: Pipeline, **fields) -> Stage:
    last = pipeline.stages.order_by("-position").values_list("position", flat=True).first()
    return Stage.objects.create(pipeline=pipeline, position=(last or 0) + 1, **fields)


def stages_reorder(*, pipeline: Pipeline, stage_ids: list[int]) -> None:
    stages = {s.pk: s for s in pipeline.stages.all()}
    if set(stage_ids) != set(stages):
        raise CardError(_("The stages given are not the pipeline's stages."))
    for position, pk in enumerate(stage_ids):
        stages[pk].position = position
    Stage.objects.bulk_update(stages.values(), ["position"])


def stage_delete(*, stage: Stage) -> None:
    if stage.cards.exists():
        raise CardError(_("Move the cards out of this stage before deleting it."))
    stage.delete()


# --- cards --------------------------------------------------------------------------------


def _first_rank(stage_id: int, *, exclude: int | None = None) -> str | None:
    qs = Card.objects.filter(stage_id=stage_id)
    if exclude:
        qs = qs.exclude(pk=exclude)
    return qs.order_by("rank").values_list("rank", flat=True).first()


def _last_rank(stage_id: int) -> str | None:
    return Card.objects.filter(stage_id=stage_id).order_by("-rank").values_list("rank", flat=True).first()


def _clean_value(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    try:
        amount = Decimal(str(value).replace(",", "."))
    except InvalidOperation as exc:
        raise CardError(_("Enter a valid value.")) from exc
    if amount < 0 or amount >= Decimal("1e12"):
        raise CardError(_("Enter a valid value."))
    return amount.quantize(Decimal("0.01"))


def _stage_of(pipeline: Pipeline, stage: Stage | int | None) -> Stage:
    if stage is None:
        first = pipeline.stages.filter(kind=StageKind.OPEN).first() or pipeline.stages.first()
        if first is None:
            raise CardError(_("The pipeline has no stages."))
        return first
    stage_id = stage.pk if isinstance(stage, Stage) else stage
    found = Stage.objects.filter(pk=stage_id, pipeline=pipeline).first()
    if found is None:
        raise CardError(_("That stage is not in this pipeline."))
    return found


@transaction.atomic
def card_create(
    *,
    pipeline: Pipeline,
    title: str = "",
    stage: Stage | int | None = None,
    contact: Contact | None = None,
    conversation=None,
    value: Any = None,
    owner_id: int | None = None,
    tag_ids: list[int] | None = None,
    expected_close: dt.date | None = None,
    custom_fields: dict | None = None,
    by=None,
    now: dt.datetime | None = None,
) -> Card:
    require_tenant_schema()
    now = now or timezone.now()
    stage = _stage_of(pipeline, stage)
    if conversation is not None and contact is None:
        contact = conversation.contact
    title = (title or "").strip() or (contact.name or contact.phone if contact else "")
    if not title:
        raise CardError(_("Give the card a title."))
    card = Card.objects.create(
        pipeline=pipeline,
        stage=stage,
        rank=ranks.between(None, _first_rank(stage.pk)),
        title=title[:200],
        contact=contact,
        conversation=conversation,
        value=_clean_value(value),
        owner_id=owner_id,
        tag_ids=list(tag_ids or []),
        expected_close=expected_close,
        custom_fields=custom_fields_clean(Card(custom_fields={}), custom_fields) if custom_fields else {},
        created_by_id=actor_id(by),
        stage_entered_at=now,
        created_at=now,
        updated_at=now,
    )
    CardMove.objects.create(card=card, user_id=actor_id(by), from_stage=None, to_stage=stage, at=now)
    if contact is not None:
        timeline_record(
            contact=contact,
            kind="kanban.created",
            data={"card": card.pk, "pipeline": pipeline.name, "stage": stage.name},
            actor=by,
            at=now,
        )
    card_event_on_commit("create", card)
    return card


UPDATABLE = ("title", "value", "owner_id", "tag_ids", "expected_close", "custom_fields")


def custom_fields_clean(card: Card, values: dict | None, *, partial: bool = True) -> dict:
    """The card's new custom fields: the CRM's definitions and rules (``crm.fields``), so a
    card's "Cidade" or "Orçamento" reads and validates like the contact's. ``partial`` leaves
    the required fields alone (an API update of some fields); the drawer's form sends them all."""
    from crm.fields import CustomFieldError
    from crm.fields import custom_fields_clean as clean
    from crm.models import CustomFieldDefinition

    definitions = list(CustomFieldDefinition.objects.all())
    try:
        return clean(values, definitions=definitions, current=card.custom_fields, partial=partial)
    except CustomFieldError as exc:
        labels = {d.key: d.label for d in definitions}
        raise CardError(
            [f"{labels.get(key, key)}: {message}" for key, message in exc.errors.items()], code="custom_fields"
        ) from None


@transaction.atomic
def card_update(*, card: Card, data: dict, by=None, partial: bool = True) -> Card:
    card = Card.objects.select_for_update().get(pk=card.pk)
    for name, value in data.items():
        if name not in UPDATABLE:
            continue
        if name == "value":
            value = _clean_value(value)
        if name == "title":
            value = (value or "").strip()[:200]
            if not value:
                raise CardError(_("Give the card a title."))
        if name == "custom_fields":
            value = custom_fields_clean(card, value, partial=partial)
        setattr(card, name, value)
    card.updated_at = timezone.now()
    card.save()
    card_event_on_commit("update", card)
    return card


def _position_rank(card: Card, stage: Stage, *, after_id: int | None, before_id: int | None) -> str:
    """The rank that puts ``card`` right after ``after_id`` (or right before ``before_id``, or at
    the top of the column). The neighbour is read again here, so a stale page still lands the
    card next to the card it was dropped by."""
    column = Card.objects.filter(stage_id=stage.pk).exclude(pk=card.pk)
    if after_id:
        after = column.filter(pk=after_id).values_list("rank", flat=True).first()
        if after is None:
            raise CardError(_("The card to place it after is not in that stage."))
        nxt = column.filter(rank__gt=after).order_by("rank").values_list("rank", flat=True).first()
        return ranks.between(after, nxt)
    if before_id:
        before = column.filter(pk=before_id).values_list("rank", flat=True).first()
        if before is None:
            raise CardError(_("The card to place it before is not in that stage."))
        prev = column.filter(rank__lt=before).order_by("-rank").values_list("rank", flat=True).first()
        return ranks.between(prev, before)
    return ranks.between(None, column.order_by("rank").values_list("rank", flat=True).first())


def _rebalance(stage_id: int) -> None:
    """Fresh short keys for a whole column: only when repeated inserts at one spot made a key
    longer than ``ranks.MAX_LENGTH`` (hundreds of drops between the same two cards)."""
    ids = list(Card.objects.filter(stage_id=stage_id).order_by("rank").values_list("pk", flat=True))
    keys = ranks.run_after(None, len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE kanban_card c SET rank = v.rank FROM unnest(%s::bigint[], %s::text[]) AS v(id, rank) WHERE c.id = v.id",
            [ids, keys],
        )


# The move's writes in one round trip: the card's row, its history row and (when the card has
# a contact) the contact's timeline event. The history and timeline rows exist only when the
# stage changed (``%(changed)s``); the timeline table is the CRM's ``TimelineEvent`` (what
# ``crm.timeline.timeline_record`` writes, with the same columns).
_MOVE_SQL = """
WITH moved AS (
    UPDATE kanban_card SET rank = %(rank)s, updated_at = %(now)s, stage_id = %(stage)s,
        stage_entered_at = %(entered)s, reason = %(card_reason)s, closed_at = %(closed)s,
        person_moved_at = %(person)s
    WHERE id = %(card)s
    RETURNING id
), history AS (
    INSERT INTO kanban_cardmove (card_id, actor_kind, user_id, from_stage_id, to_stage_id, reason, at)
    SELECT id, %(actor)s::text, %(user)s::bigint, %(from)s::bigint, %(stage)s::bigint, %(reason)s::text, %(now)s
    FROM moved WHERE %(changed)s
)
INSERT INTO {timeline} (contact_id, kind, data, actor_id, at)
SELECT %(contact)s::bigint, 'kanban.moved', %(data)s::jsonb, %(user)s::bigint, %(now)s FROM moved
WHERE %(changed)s AND %(contact)s::bigint IS NOT NULL
"""


@transaction.atomic
def card_move(
    *,
    card: Card | int,
    stage: Stage | int,
    after_id: int | None = None,
    before_id: int | None = None,
    by=None,
    actor: str = ActorKind.PERSON,
    reason: str = "",
    now: dt.datetime | None = None,
) -> Card:
    """Move a card to a stage and a place in its column: the row write, its history and the
    contact's timeline in one statement, the live event queued after commit (not awaited).

    The card is locked (``SELECT ... FOR UPDATE``): two people dropping the same card at once
    are applied one after the other, each recorded from the stage the other left it in. Won and
    lost stages need a reason."""
    require_tenant_schema()
    now = now or timezone.now()
    pk = card.pk if isinstance(card, Card) else card
    # Locked with its pipeline joined (``of=self``: only the card is locked). A locking query
    # that joined the stage would lose the row when a concurrent move changed its stage
    # meanwhile (PostgreSQL rechecks the join against the stage row it read before waiting);
    # the pipeline is safe to join, a move never changes it.
    locked = Card.objects.select_for_update(of=("self",)).select_related("pipeline").filter(pk=pk).order_by().first()
    if locked is None:
        raise CardError(_("That card no longer exists."))
    card = locked
    target_id = stage.pk if isinstance(stage, Stage) else stage
    both = {s.pk: s for s in Stage.objects.filter(pipeline_id=card.pipeline_id, pk__in={target_id, card.stage_id})}
    target = both.get(target_id)
    if target is None:
        raise CardError(_("That stage is not in this pipeline."))
    from_stage = both.get(card.stage_id, target)
    reason = (reason or "").strip()[:500]
    changed_stage = target.pk != card.stage_id
    if changed_stage and target.kind != StageKind.OPEN and not reason:
        raise CardError(_("Say why the deal was won or lost."))
    rank = _position_rank(card, target, after_id=after_id, before_id=before_id)
    if len(rank) > ranks.MAX_LENGTH:
        _rebalance(target.pk)
        rank = _position_rank(card, target, after_id=after_id, before_id=before_id)
    card.rank = rank
    card.updated_at = now
    if changed_stage:
        card.stage = target
        card.stage_entered_at = now
        card.reason = reason if target.kind != StageKind.OPEN else ""
        card.closed_at = now if target.kind != StageKind.OPEN else None
    if actor == ActorKind.PERSON:
        card.person_moved_at = now
    by_id = actor_id(by)
    data = {
        "card": card.pk,
        "pipeline": card.pipeline.name,
        "from": from_stage.name,
        "to": target.name,
        "by": actor,
        "reason": reason,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE_SQL.format(timeline=connection.ops.quote_name(TimelineEvent._meta.db_table)),
            {
                "rank": rank,
                "now": now,
                "stage": card.stage_id,
                "entered": card.stage_entered_at,
                "card_reason": card.reason,
                "closed": card.closed_at,
                "person": card.person_moved_at,
                "card": card.pk,
                "actor": actor,
                "user": by_id,
                "from": from_stage.pk,
                "reason": reason,
                "changed": changed_stage,
                "contact": card.contact_id,
                "data": json.dumps(data, cls=DjangoJSONEncoder),
            },
        )
    card_event_on_commit("move", card, actor=actor, reason=reason)
    return card


# --- moves in bulk (a cadence's "move the contact's card") ----------------------------------

# Every card moves with its history row and (with a contact) the contact's timeline event, in
# one statement; all parts read the same snapshot, so ``old`` is each card's stage before.
_MOVE_MANY_SQL = """
WITH src AS (
    SELECT id, n FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS v(id, n)
), old AS (
    SELECT k.id, k.stage_id AS from_id, k.contact_id FROM kanban_card k JOIN src ON src.id = k.id
), moved AS (
    UPDATE kanban_card k SET stage_id = %(stage)s, rank = %(prefix)s || lpad(src.n::text, 9, '0') || 'V',
        stage_entered_at = %(now)s, updated_at = %(now)s, reason = %(card_reason)s, closed_at = %(closed)s
    FROM src WHERE k.id = src.id
    RETURNING k.id
), history AS (
    INSERT INTO kanban_cardmove (card_id, actor_kind, user_id, from_stage_id, to_stage_id, reason, at)
    SELECT old.id, %(actor)s::text, NULL, old.from_id, %(stage)s::bigint, %(reason)s::text, %(now)s FROM old
)
INSERT INTO {timeline} (contact_id, kind, data, actor_id, at)
SELECT old.contact_id, 'kanban.moved',
    jsonb_build_object('card', old.id, 'pipeline', %(pipeline)s::text, 'from', s.name, 'to', %(to)s::text,
        'by', %(actor)s::text, 'reason', %(reason)s::text),
    NULL, %(now)s
FROM old JOIN kanban_stage s ON s.id = old.from_id
WHERE old.contact_id IS NOT NULL
"""
# Up to this many moved cards, each gets its live "move" event; more, one "bulk" event.
LIVE_EACH = 50


@transaction.atomic
def cards_move_for_contacts(
    *, contact_ids: list[int], stage: Stage, actor: str = ActorKind.CADENCE, reason: str = "", now=None
) -> int:
    """Move the cards of these contacts in ``stage``'s pipeline to ``stage`` (appended to the
    column, in card order), set-based: one locking read, one statement for the rows, their
    history and timeline. Cards already there stay. Won and lost stages need a reason.
    Returns how many moved."""
    require_tenant_schema()
    now = now or timezone.now()
    reason = (reason or "").strip()[:500]
    if stage.kind != StageKind.OPEN and not reason:
        raise CardError(_("Say why the deal was won or lost."))
    if not contact_ids:
        return 0
    # Locked in id order: two ticks (or a tick and a person's move) never wait on each other
    # in a circle.
    ids = list(
        Card.objects.select_for_update()
        .filter(pipeline_id=stage.pipeline_id, contact_id__in=list(contact_ids))
        .exclude(stage_id=stage.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    closed = stage.kind != StageKind.OPEN
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE_MANY_SQL.format(timeline=connection.ops.quote_name(TimelineEvent._meta.db_table)),
            {
                "ids": ids,
                "stage": stage.pk,
                "prefix": ranks.between(_last_rank(stage.pk), None),
                "now": now,
                "card_reason": reason if closed else "",
                "closed": now if closed else None,
                "actor": actor,
                "reason": reason,
                "pipeline": stage.pipeline.name,
                "to": stage.name,
            },
        )
    if len(ids) <= LIVE_EACH:
        for card in Card.objects.filter(pk__in=ids):
            card_event_on_commit("move", card, actor=actor, reason=reason)
    else:
        send_event_on_commit(
            {"type": "kanban", "op": "bulk", "pipeline": stage.pipeline_id, "count": len(ids)},
            groups=[board_group(stage.pipeline_id)],
        )
    return len(ids)


# --- creation in bulk and automatically ----------------------------------------------------

_BULK_INSERT = """
INSERT INTO kanban_card (pipeline_id, stage_id, rank, title, contact_id, value, tag_ids, custom_fields,
    reason, stage_entered_at, created_at, updated_at, created_by_id, owner_id)
SELECT %s, %s, %s || lpad((row_number() OVER (ORDER BY c.id))::text, 9, '0') || 'V',
    left(coalesce(nullif(c.name, ''), c.phone), 200), c.id, 0, '{}', '{}', '', %s, %s, %s, %s, c.owner_id
FROM crm_contact c
WHERE c.id IN (IDS)
  AND NOT EXISTS (SELECT 1 FROM kanban_card k WHERE k.pipeline_id = %s AND k.contact_id = c.id)
RETURNING id
"""

_BULK_HISTORY = """
INSERT INTO kanban_cardmove (card_id, actor_kind, user_id, from_stage_id, to_stage_id, reason, at)
SELECT unnest(%s::bigint[]), 'person', %s, NULL, %s, '', %s
"""

BULK_LIMIT = 100_000


@transaction.atomic
def cards_bulk_create(*, pipeline: Pipeline, contacts, stage: Stage | int | None = None, by=None) -> int:
    """A card for each contact of ``contacts`` (a queryset: "all N matching") that has none in
    this pipeline yet, appended to the column with one INSERT ... SELECT. Returns how many."""
    require_tenant_schema()
    stage = _stage_of(pipeline, stage)
    contacts = contacts.order_by().values("id")
    if contacts.count() > BULK_LIMIT:
        raise CardError(_("Pick at most %(limit)s contacts at once.") % {"limit": f"{BULK_LIMIT:,}"})
    ids_sql, ids_params = contacts.query.sql_with_params()
    # Every new key extends a fresh integer part after the column's last key, so they all sort
    # after it, in contact order, and before whatever is appended next.
    prefix = ranks.between(_last_rank(stage.pk), None)
    now = timezone.now()
    by_id = actor_id(by)
    params = [pipeline.pk, stage.pk, prefix, now, now, now, by_id, *ids_params, pipeline.pk]
    with connection.cursor() as cursor:
        cursor.execute(_BULK_INSERT.replace("IDS", ids_sql), params)
        new_ids = [row[0] for row in cursor.fetchall()]
        if new_ids:
            cursor.execute(_BULK_HISTORY, [new_ids, by_id, stage.pk, now])
    if new_ids:
        send_event_on_commit(
            {"type": "kanban", "op": "bulk", "pipeline": pipeline.pk, "count": len(new_ids)},
            groups=[board_group(pipeline.pk)],
        )
    return len(new_ids)


def auto_card_for_conversation(*, conversation_id: int, conversation_created: bool) -> list[Card]:
    """For a new conversation from an unknown number (its contact has no card yet), a card in
    every pipeline that asks for it."""
    from inbox.models import Conversation

    if not conversation_created:
        return []
    pipelines = list(Pipeline.objects.filter(auto_create_cards=True))
    if not pipelines:
        return []
    conversation = Conversation.objects.select_related("contact").filter(pk=conversation_id).first()
    if conversation is None:
        return []
    made = []
    for pipeline in pipelines:
        if Card.objects.filter(pipeline=pipeline, contact_id=conversation.contact_id).exists():
            continue
        made.append(card_create(pipeline=pipeline, conversation=conversation, contact=conversation.contact))
    return made
