"""AI lead progression against the OpenAI-compatible stub: the structured request, the
threshold, never out of won/lost, the backward policy, a person's override, suggestions
accepted or dismissed, debounce through the due-work index, usage counted."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from ai_personas.usage import month_tokens
from inbox.models import Message
from kanban import progression, services
from kanban.models import ActorKind, AIDecision, Card, CardMove, DecisionOutcome, StageKind
from tests.stubs.openai import Reply


@pytest.fixture
def ai_pipeline(pipeline):
    pipeline.ai_enabled = True
    pipeline.ai_threshold = Decimal("0.8")
    pipeline.save()
    return pipeline


@pytest.fixture
def card(ai_pipeline, stages, conversation):
    Message.objects.create(
        conversation=conversation, channel=conversation.channel, direction="in", body="Quanto custa o plano anual?"
    )
    return services.card_create(pipeline=ai_pipeline, conversation=conversation, stage=stages[0])


def _answer(stub, stage, confidence, reason="Pediu preço", quote="Quanto custa o plano anual?"):
    stub.push(
        Reply(
            content=json.dumps({"stage": str(stage.pk), "confidence": confidence, "reason": reason, "quote": quote}),
            usage={"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
        )
    )


def test_above_threshold_moves_with_reason_and_counts_usage(openai_stub, card, stages):
    _answer(openai_stub, stages[2], 0.93)
    decision = progression.card_classify(card_id=card.pk)
    assert decision.outcome == DecisionOutcome.MOVED
    card.refresh_from_db()
    assert card.stage_id == stages[2].pk
    move = CardMove.objects.filter(card=card).order_by("-id").first()
    assert move.actor_kind == ActorKind.AI and move.reason == "Pediu preço"
    assert decision.quote == "Quanto custa o plano anual?" and decision.tokens_in == 120
    assert month_tokens() >= 150
    [request] = openai_stub.chat_requests()
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["required"]) == {"stage", "confidence", "reason", "quote"}
    assert stages[2].description in request.body["messages"][0]["content"]
    assert request.body["messages"][-1] == {"role": "user", "content": "Quanto custa o plano anual?"}


def test_below_threshold_is_a_suggestion_accepted_in_one_click(openai_stub, card, stages, owner):
    _answer(openai_stub, stages[2], 0.5)
    decision = progression.card_classify(card_id=card.pk)
    assert decision.outcome == DecisionOutcome.SUGGESTED
    card.refresh_from_db()
    assert card.stage_id == stages[0].pk
    progression.suggestion_accept(decision_id=decision.pk, by=owner)
    card.refresh_from_db()
    decision.refresh_from_db()
    assert card.stage_id == stages[2].pk and decision.outcome == DecisionOutcome.ACCEPTED
    with pytest.raises(services.CardError):
        progression.suggestion_dismiss(decision_id=decision.pk, by=owner)


def test_suggestion_dismissed(openai_stub, card, stages, owner):
    _answer(openai_stub, stages[1], 0.4)
    decision = progression.card_classify(card_id=card.pk)
    progression.suggestion_dismiss(decision_id=decision.pk, by=owner)
    decision.refresh_from_db()
    card.refresh_from_db()
    assert decision.outcome == DecisionOutcome.DISMISSED and card.stage_id == stages[0].pk


def test_never_out_of_won_or_lost(openai_stub, card, stages):
    won = next(s for s in stages if s.kind == StageKind.WON)
    services.card_move(card=card, stage=won, reason="Preço", actor=ActorKind.CADENCE)
    assert progression.card_classify(card_id=card.pk) is None  # a closed card is not read
    decision = progression.apply_answer(card=card, stages=stages, data={"stage": str(stages[1].pk), "confidence": 1})
    assert decision.outcome == DecisionOutcome.KEPT
    card.refresh_from_db()
    assert card.stage_id == won.pk


def test_into_won_is_only_a_suggestion(openai_stub, card, stages):
    won = next(s for s in stages if s.kind == StageKind.WON)
    _answer(openai_stub, won, 0.99, reason="Pagou")
    decision = progression.card_classify(card_id=card.pk)
    assert decision.outcome == DecisionOutcome.SUGGESTED


def test_backward_only_when_allowed(openai_stub, card, stages, ai_pipeline):
    services.card_move(card=card, stage=stages[2], actor=ActorKind.CADENCE)
    _answer(openai_stub, stages[1], 0.95)
    assert progression.card_classify(card_id=card.pk).outcome == DecisionOutcome.KEPT
    ai_pipeline.ai_backward_allowed = True
    ai_pipeline.save()
    _answer(openai_stub, stages[1], 0.95)
    assert progression.card_classify(card_id=card.pk).outcome == DecisionOutcome.MOVED
    card.refresh_from_db()
    assert card.stage_id == stages[1].pk


def test_a_persons_recent_move_wins(openai_stub, card, stages, owner, ai_pipeline):
    now = timezone.now()
    services.card_move(card=card, stage=stages[1], by=owner, now=now - dt.timedelta(minutes=10))
    _answer(openai_stub, stages[2], 0.99)
    decision = progression.card_classify(card_id=card.pk, now=now)
    assert decision.outcome == DecisionOutcome.SUGGESTED
    _answer(openai_stub, stages[2], 0.99)
    later = now + dt.timedelta(minutes=ai_pipeline.ai_override_minutes)
    assert progression.card_classify(card_id=card.pk, now=later).outcome == DecisionOutcome.MOVED


def test_bad_model_stage_keeps_the_card(openai_stub, card, stages):
    openai_stub.push(Reply(content=json.dumps({"stage": "999999", "confidence": 1, "reason": "", "quote": ""})))
    assert progression.card_classify(card_id=card.pk).outcome == DecisionOutcome.KEPT
    assert AIDecision.objects.filter(card=card).count() == 1


def test_inbound_is_debounced_and_read_once_by_the_sweep(openai_stub, card, stages, tenant):
    now = timezone.now()
    for i in range(5):
        progression.inbound_noted(conversation_id=card.conversation_id, now=now + dt.timedelta(seconds=i))
    card.refresh_from_db()
    assert card.ai_due_at == now + progression.DEBOUNCE
    assert progression.sweep(now=now) == 0
    _answer(openai_stub, stages[2], 0.95)
    assert progression.sweep(now=now + progression.DEBOUNCE) == 1
    assert len(openai_stub.chat_requests()) == 1
    # The next message within the interval waits for MIN_INTERVAL after the reading.
    later = now + progression.DEBOUNCE + dt.timedelta(seconds=5)
    progression.inbound_noted(conversation_id=card.conversation_id, now=later)
    card.refresh_from_db()
    assert card.ai_due_at == now + progression.DEBOUNCE + progression.MIN_INTERVAL


def test_inbound_task_creates_and_schedules(card, tenant, conversation, ai_pipeline):
    from kanban.tasks import inbound

    inbound(tenant.schema_name, {"conversation": conversation.pk, "conversation_created": False})
    assert Card.objects.get(pk=card.pk).ai_due_at is not None


def test_provider_failure_is_stored_nowhere_and_never_raises_in_sweep(openai_stub, card, settings):
    from tests.stubs.openai import server_error

    openai_stub.push(server_error(500), server_error(500), server_error(500))
    Card.objects.filter(pk=card.pk).update(ai_due_at=timezone.now())
    assert progression.sweep(now=timezone.now()) == 1
    assert not AIDecision.objects.exists()
