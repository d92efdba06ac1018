"""AI lead progression: the company's AI reads a card's recent conversation and the pipeline's
stages, and answers (structured output, strict) with a stage, a confidence, a reason and the
customer's words behind it.

Debounced: an inbound message sets the card's ``ai_due_at`` (``DEBOUNCE`` from now, and never
sooner than ``MIN_INTERVAL`` after the card's last reading) unless one is already set, marks the
company in the due-work index and queues one countdown task for that moment (only when the card
had no moment yet: one task per card per window, never one per message); the beat sweep reads
whatever a lost task left. A storm of messages costs one cheap update per message and one model
call per card every few minutes.

The rules, in :func:`apply_answer`: the AI never moves a card out of a won or lost stage, never
into one (that stays a suggestion for a person), moves backward only when the pipeline allows it,
and leaves a card alone for the pipeline's override window after a person moved it. At or above
the pipeline's threshold the card moves (actor "ai", with the reason); below, the decision is a
suggestion a person accepts or dismisses. Every decision is stored with the model's answer and
its cost; the tokens count in the company's AI usage (``ai_personas.llm``).
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ai_personas.llm import LLM, LLMError
from core import duework
from core.tasks import enqueue_on_commit
from inbox.models import Direction, Message
from kanban.models import ActorKind, AIDecision, Card, DecisionOutcome, Stage, StageKind
from kanban.realtime import card_event_on_commit
from kanban.services import CardError, card_move
from kanban.wiring import AI_DUE_KIND
from tenants.context import require_tenant_schema

logger = logging.getLogger(__name__)

DEBOUNCE = dt.timedelta(seconds=settings.KANBAN_AI_DEBOUNCE_SECONDS)
MIN_INTERVAL = dt.timedelta(seconds=settings.KANBAN_AI_MIN_INTERVAL_SECONDS)
THREAD_MESSAGES = 20
SWEEP_BATCH = 50

SCHEMA = {
    "type": "object",
    "properties": {
        "stage": {"type": "string", "description": "The id of the stage the lead is in now."},
        "confidence": {"type": "number", "description": "0 to 1."},
        "reason": {"type": "string", "description": "One short sentence, in the customer's language."},
        "quote": {"type": "string", "description": "The customer's words that support it, verbatim."},
    },
    "required": ["stage", "confidence", "reason", "quote"],
    "additionalProperties": False,
}

SYSTEM = (
    "You classify a sales lead into one stage of a pipeline from its WhatsApp conversation. "
    "Stages, in order (id: name (kind) - meaning):\n{stages}\n"
    "The lead is now in stage {current}. Answer with the id of the stage the conversation shows "
    "(the current one when nothing changed), your confidence from 0 to 1, a short reason, and a "
    "verbatim quote of the customer's words that supports it (empty when none)."
)


def _open_cards_of(conversation_id: int):
    return Card.objects.filter(conversation_id=conversation_id, stage__kind=StageKind.OPEN, pipeline__ai_enabled=True)


def inbound_noted(*, conversation_id: int, now: dt.datetime | None = None) -> int:
    """A customer's message arrived: schedule the AI's next look at the conversation's open
    cards (one ``UPDATE``; cards already scheduled keep their moment)."""
    schema = require_tenant_schema()
    now = now or timezone.now()
    due = now + DEBOUNCE
    cards = _open_cards_of(conversation_id).filter(ai_due_at__isnull=True)
    updated = 0
    for card in cards.only("pk", "ai_checked_at"):
        at = max(due, (card.ai_checked_at + MIN_INTERVAL) if card.ai_checked_at else due)
        if Card.objects.filter(pk=card.pk, ai_due_at__isnull=True).update(ai_due_at=at):
            updated += 1
            duework.mark_on_commit(AI_DUE_KIND, schema, at=at)
            enqueue_on_commit("kanban.ai_due", schema, countdown=max((at - now).total_seconds(), 0) + 0.05)
    return updated


def sweep(*, now: dt.datetime | None = None) -> int:
    """Read the cards whose moment came (at most ``SWEEP_BATCH`` per run, the rest marked due
    again). Returns how many were read."""
    schema = require_tenant_schema()
    now = now or timezone.now()
    due = list(
        Card.objects.filter(ai_due_at__lte=now).order_by("ai_due_at").values_list("pk", flat=True)[: SWEEP_BATCH + 1]
    )
    done = 0
    for pk in due[:SWEEP_BATCH]:
        claimed = Card.objects.filter(pk=pk, ai_due_at__lte=now).update(ai_due_at=None, ai_checked_at=now)
        if not claimed:
            continue
        try:
            card_classify(card_id=pk, now=now)
        except LLMError as exc:
            logger.warning("kanban AI for card %s: %s", pk, exc.kind)
        done += 1
    later = Card.objects.filter(ai_due_at__isnull=False).order_by("ai_due_at").values_list("ai_due_at", flat=True)
    nxt = later.first()
    if nxt is not None:
        duework.mark(AI_DUE_KIND, schema, at=nxt)
    return done


def _thread(conversation_id: int) -> list[dict]:
    rows = list(
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(body="")
        .order_by("-created_at", "-id")
        .values_list("direction", "body")[:THREAD_MESSAGES]
    )
    rows.reverse()
    return [
        {"role": "user" if direction == Direction.INBOUND else "assistant", "content": body[:2000]}
        for direction, body in rows
    ]


def _prompt(card: Card, stages: list[Stage]) -> list[dict]:
    lines = "\n".join(f"{s.pk}: {s.name} ({s.kind}) - {s.description or '-'}" for s in stages)
    system = SYSTEM.format(stages=lines, current=card.stage_id)
    return [{"role": "system", "content": system}, *_thread(card.conversation_id or 0)]


def card_classify(*, card_id: int, now: dt.datetime | None = None) -> AIDecision | None:
    """Ask the model where the card's lead is and apply the rules. ``None`` when there is
    nothing to read (no conversation, a closed card)."""
    card = Card.objects.select_related("pipeline", "stage").filter(pk=card_id).first()
    if card is None or card.conversation_id is None or card.stage.kind != StageKind.OPEN:
        return None
    stages = list(card.pipeline.stages.all())
    messages = _prompt(card, stages)
    if len(messages) < 2:
        return None
    llm = LLM()
    data, result = llm.structured(messages, schema=SCHEMA, name="lead_stage")
    return apply_answer(card=card, stages=stages, data=data, result=result, now=now)


def _confidence(value) -> Decimal:
    try:
        number = Decimal(str(value))
    except Exception:  # noqa: BLE001 - a model's odd number is a zero confidence
        return Decimal(0)
    return min(max(number, Decimal(0)), Decimal(1)).quantize(Decimal("0.001"))


@transaction.atomic
def apply_answer(*, card: Card, stages: list[Stage], data: dict, result=None, now: dt.datetime | None = None):
    now = now or timezone.now()
    card = Card.objects.select_for_update().get(pk=card.pk)
    pipeline = card.pipeline
    by_id = {str(s.pk): s for s in stages}
    target = by_id.get(str(data.get("stage", "")).strip())
    confidence = _confidence(data.get("confidence"))
    reason = str(data.get("reason") or "")[:500]
    quote = str(data.get("quote") or "")[:500]
    usage = getattr(result, "usage", None)
    decision = AIDecision(
        card=card,
        pipeline=pipeline,
        from_stage=card.stage,
        stage=target,
        confidence=confidence,
        reason=reason,
        quote=quote,
        answer=data,
        model=getattr(result, "model", "") or "",
        tokens_in=getattr(usage, "tokens_in", 0) or 0,
        tokens_out=getattr(usage, "tokens_out", 0) or 0,
        cost=getattr(usage, "cost", Decimal(0)) if usage else Decimal(0),
        created_at=now,
    )
    decision.outcome = _outcome(card, target, confidence, now=now)
    decision.save()
    if decision.outcome == DecisionOutcome.MOVED:
        assert target is not None
        card_move(card=card.pk, stage=target, actor=ActorKind.AI, reason=reason, now=now)
    elif decision.outcome == DecisionOutcome.SUGGESTED:
        card_event_on_commit("suggest", card, decision=decision_payload(decision))
    return decision


def _outcome(card: Card, target: Stage | None, confidence: Decimal, *, now: dt.datetime) -> str:
    pipeline = card.pipeline
    if target is None or target.pk == card.stage_id or card.stage.kind != StageKind.OPEN:
        return DecisionOutcome.KEPT
    backward = (target.position, target.pk) < (card.stage.position, card.stage.pk)
    if backward and not pipeline.ai_backward_allowed:
        return DecisionOutcome.KEPT
    overridden = card.person_moved_at and now - card.person_moved_at < dt.timedelta(
        minutes=pipeline.ai_override_minutes
    )
    if overridden or target.kind != StageKind.OPEN:
        return DecisionOutcome.SUGGESTED
    if confidence >= pipeline.ai_threshold:
        return DecisionOutcome.MOVED
    return DecisionOutcome.SUGGESTED


def decision_payload(decision: AIDecision) -> dict:
    return {
        "id": decision.pk,
        "outcome": decision.outcome,
        "stage": decision.stage_id,
        "stage_name": decision.stage.name if decision.stage else "",
        "confidence": str(decision.confidence),
        "reason": decision.reason,
        "quote": decision.quote,
    }


def pending_suggestion(card_id: int) -> AIDecision | None:
    return (
        AIDecision.objects.filter(card_id=card_id, outcome=DecisionOutcome.SUGGESTED)
        .select_related("stage")
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def suggestion_accept(*, decision_id: int, by, reason: str = "") -> AIDecision:
    decision = AIDecision.objects.select_for_update().filter(pk=decision_id).order_by().first()
    if decision is None or decision.outcome != DecisionOutcome.SUGGESTED or decision.stage_id is None:
        raise CardError(_("This suggestion was already handled."))
    card_move(card=decision.card_id, stage=decision.stage_id, by=by, reason=reason or decision.reason)
    decision.outcome = DecisionOutcome.ACCEPTED
    decision.decided_by_id = getattr(by, "pk", by)
    decision.decided_at = timezone.now()
    decision.save(update_fields=["outcome", "decided_by", "decided_at"])
    return decision


@transaction.atomic
def suggestion_dismiss(*, decision_id: int, by) -> AIDecision:
    decision = AIDecision.objects.select_for_update().filter(pk=decision_id).order_by().first()
    if decision is None or decision.outcome != DecisionOutcome.SUGGESTED:
        raise CardError(_("This suggestion was already handled."))
    decision.outcome = DecisionOutcome.DISMISSED
    decision.decided_by_id = getattr(by, "pk", by)
    decision.decided_at = timezone.now()
    decision.save(update_fields=["outcome", "decided_by", "decided_at"])
    card = Card.objects.get(pk=decision.card_id)
    card_event_on_commit("update", card)
    return decision


def stale_suggestions_filter() -> Q:
    return Q(outcome=DecisionOutcome.SUGGESTED)
