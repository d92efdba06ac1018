"""Cards: creation (by hand, from a contact, a conversation, in bulk, automatically), moves with
their place, history and timeline, won/lost reasons, stalled flags."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Contact, TimelineEvent
from kanban import selectors, services
from kanban.models import Card, CardMove, StageKind


def test_pipeline_has_default_stages_and_reasons(pipeline, stages):
    assert [s.kind for s in stages] == ["open"] * 4 + ["won", "lost"]
    assert pipeline.reasons.filter(kind="lost").count() == 3


def test_card_by_hand_goes_on_top_of_the_first_stage(pipeline, stages, owner):
    first = services.card_create(pipeline=pipeline, title="A", value="1.500,50".replace(".", ""), by=owner)
    second = services.card_create(pipeline=pipeline, title="B")
    assert first.stage == stages[0]
    assert str(first.value) == "1500.50"
    assert second.rank < first.rank
    assert CardMove.objects.filter(card=first, from_stage=None, to_stage=stages[0]).exists()


def test_bad_value_and_empty_title_are_refused(pipeline):
    with pytest.raises(services.CardError):
        services.card_create(pipeline=pipeline, title="x", value="abc")
    with pytest.raises(services.CardError):
        services.card_create(pipeline=pipeline, title="  ")


def test_card_from_contact_and_conversation(pipeline, make_contact, conversation):
    contact = make_contact("João")
    card = services.card_create(pipeline=pipeline, contact=contact)
    assert card.title == "João"
    assert TimelineEvent.objects.filter(contact=contact, kind="kanban.created").exists()
    from_conv = services.card_create(pipeline=pipeline, conversation=conversation)
    assert from_conv.contact_id == conversation.contact_id and from_conv.title == "Maria"


def test_move_between_columns_with_position_history_and_timeline(pipeline, stages, make_contact, owner):
    target = [services.card_create(pipeline=pipeline, title=f"T{i}", stage=stages[1]) for i in range(3)]
    column = selectors.column_cards(stage=stages[1])
    assert [c.title for c in column] == ["T2", "T1", "T0"]
    card = services.card_create(pipeline=pipeline, contact=make_contact("Ana"))
    services.card_move(card=card, stage=stages[1], after_id=target[2].pk, by=owner)
    assert [c.title for c in selectors.column_cards(stage=stages[1])] == ["T2", "Ana", "T1", "T0"]
    services.card_move(card=card, stage=stages[1], before_id=target[0].pk, by=owner)
    assert [c.title for c in selectors.column_cards(stage=stages[1])] == ["T2", "T1", "Ana", "T0"]
    moves = list(CardMove.objects.filter(card=card).order_by("id"))
    assert [(m.from_stage_id, m.to_stage_id) for m in moves] == [(None, stages[0].pk), (stages[0].pk, stages[1].pk)]
    event = TimelineEvent.objects.get(contact_id=card.contact_id, kind="kanban.moved")
    assert event.data["to"] == stages[1].name and event.actor_id == owner.pk


def test_move_writes_only_the_moved_card(pipeline, stages, django_assert_max_num_queries):
    cards = [services.card_create(pipeline=pipeline, title=f"C{i}") for i in range(5)]
    before = {c.pk: c.rank for c in Card.objects.exclude(pk=cards[0].pk)}
    services.card_move(card=cards[0], stage=stages[0], after_id=cards[3].pk)
    assert {c.pk: c.rank for c in Card.objects.exclude(pk=cards[0].pk)} == before


def test_neighbour_from_another_stage_is_refused(pipeline, stages):
    a = services.card_create(pipeline=pipeline, title="A", stage=stages[0])
    b = services.card_create(pipeline=pipeline, title="B", stage=stages[1])
    with pytest.raises(services.CardError):
        services.card_move(card=a, stage=stages[2], after_id=b.pk)


def test_stage_of_another_pipeline_is_refused(pipeline, tenant):
    other = services.pipeline_create(name="Pós-venda")
    card = services.card_create(pipeline=pipeline, title="A")
    with pytest.raises(services.CardError):
        services.card_move(card=card, stage=other.stages.first())


def test_won_and_lost_need_a_reason(pipeline, stages):
    card = services.card_create(pipeline=pipeline, title="A")
    won = next(s for s in stages if s.kind == StageKind.WON)
    with pytest.raises(services.CardError):
        services.card_move(card=card, stage=won)
    moved = services.card_move(card=card, stage=won, reason="Preço")
    assert moved.reason == "Preço" and moved.closed_at is not None
    reopened = services.card_move(card=card, stage=stages[0])
    assert reopened.reason == "" and reopened.closed_at is None


def test_stalled_flag(pipeline, stages):
    pipeline.stalled_after_days = 7
    pipeline.save()
    now = timezone.now()
    card = services.card_create(pipeline=pipeline, title="A", now=now - dt.timedelta(days=8))
    fresh = services.card_create(pipeline=pipeline, title="B", now=now)
    card.refresh_from_db()
    assert card.is_stalled(now=now) and not fresh.is_stalled(now=now)
    assert [c.pk for c in selectors.board_cards(pipeline=pipeline, filters={"stalled": True}, now=now)] == [card.pk]


def test_bulk_create_from_all_matching_contacts(pipeline, stages, make_contact, django_assert_max_num_queries):
    for _ in range(30):
        make_contact()
    existing = services.card_create(pipeline=pipeline, contact=Contact.objects.order_by("id").first())
    with django_assert_max_num_queries(8):
        made = services.cards_bulk_create(pipeline=pipeline, contacts=Contact.objects.all(), stage=stages[0])
    assert made == 29
    column = list(selectors.column_cards(stage=stages[0], limit=100))
    assert column[0].pk == existing.pk
    assert len(column) == 30
    ranks_ = [c.rank for c in column]
    assert ranks_ == sorted(ranks_)
    assert services.cards_bulk_create(pipeline=pipeline, contacts=Contact.objects.all()) == 0
    last = services.card_create(pipeline=pipeline, title="Z", stage=stages[0])
    services.card_move(card=last, stage=stages[0], after_id=column[-1].pk)
    assert list(selectors.column_cards(stage=stages[0], limit=100))[-1].pk == last.pk


def test_auto_card_for_new_conversation(pipeline, conversation):
    assert services.auto_card_for_conversation(conversation_id=conversation.pk, conversation_created=True) == []
    pipeline.auto_create_cards = True
    pipeline.save()
    assert services.auto_card_for_conversation(conversation_id=conversation.pk, conversation_created=False) == []
    [card] = services.auto_card_for_conversation(conversation_id=conversation.pk, conversation_created=True)
    assert card.conversation_id == conversation.pk and card.contact_id == conversation.contact_id
    # The contact now has a card: a second conversation of it makes none.
    assert services.auto_card_for_conversation(conversation_id=conversation.pk, conversation_created=True) == []


def test_inbound_hook_is_registered():
    from inbox import hooks

    assert "kanban.inbound" in hooks.listeners(hooks.ON_INBOUND_MESSAGE)
