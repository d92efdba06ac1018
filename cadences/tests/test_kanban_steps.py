"""The Kanban board in cadences (``cadences.extensions``): the action "move the contact's card
to a stage" and the goal "the contact's card reached a stage"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cadences.models import Enrollment
from cadences.tests.conftest import TUESDAY, tick


@pytest.fixture
def board(tenant):
    from kanban.services import pipeline_create

    pipeline = pipeline_create(name="Vendas")
    return pipeline, list(pipeline.stages.all())


def _enrol(cadence, contacts, now=TUESDAY):
    from cadences.services import enrol

    return enrol(cadence=cadence, contact_ids=[c.pk for c in contacts], now=now)


def test_the_action_moves_the_contacts_cards_with_history_and_timeline(make_cadence, contacts, board):
    from crm.models import TimelineEvent
    from kanban.models import Card, CardMove
    from kanban.services import card_create

    pipeline, stages = board
    a, b, c = contacts(3)
    card_a = card_create(pipeline=pipeline, contact=a, stage=stages[0])
    card_b = card_create(pipeline=pipeline, contact=b, stage=stages[2])  # already there
    cadence = make_cadence([("send", {"body": "Oi"}), ("action", {"action": "kanban_move", "stage_id": stages[2].pk})])
    _enrol(cadence, [a, b, c])

    tick(TUESDAY)

    assert Card.objects.get(pk=card_a.pk).stage_id == stages[2].pk
    move = CardMove.objects.filter(card=card_a).order_by("-id").first()
    assert (move.actor_kind, move.from_stage_id, move.to_stage_id) == ("cadence", stages[0].pk, stages[2].pk)
    assert not CardMove.objects.filter(card=card_b, actor_kind="cadence").exists()
    assert not Card.objects.filter(contact=c).exists()  # no card: nothing made up
    event = TimelineEvent.objects.get(contact=a, kind="kanban.moved")
    assert (event.data["from"], event.data["to"], event.data["by"]) == (stages[0].name, stages[2].name, "cadence")
    # the column order stays a strict order after the appended cards
    column = list(Card.objects.filter(stage=stages[2]).order_by("rank").values_list("pk", flat=True))
    assert set(column) == {card_a.pk, card_b.pk}


def test_the_action_is_validated(make_cadence, board):
    from cadences import services

    pipeline, stages = board
    cadence = make_cadence(activate=False)
    for config in ({"stage_id": ""}, {"stage_id": "abc"}, {"stage_id": 10**20}, {"stage_id": 99999999}):
        with pytest.raises(ValidationError):
            services.step_add(cadence=cadence, kind="action", config={"action": "kanban_move", **config})
    lost = stages[5]
    with pytest.raises(ValidationError):
        services.step_add(cadence=cadence, kind="action", config={"action": "kanban_move", "stage_id": lost.pk})
    step = services.step_add(
        cadence=cadence, kind="action", config={"action": "kanban_move", "stage_id": lost.pk, "text": "Sem resposta"}
    )
    assert step.config == {"action": "kanban_move", "stage_id": lost.pk, "text": "Sem resposta"}


def test_the_goal_exits_when_the_card_reaches_the_stage(make_cadence, contacts, board):
    from kanban.services import card_create, card_move

    pipeline, stages = board
    won = stages[4]
    a, b = contacts(2)
    card_a = card_create(pipeline=pipeline, contact=a, stage=stages[0])
    card_create(pipeline=pipeline, contact=b, stage=stages[0])
    cadence = make_cadence(
        [("wait", {"amount": 3, "unit": "days"}), ("send", {"body": "x"})],
        goal={"kanban_stage": {"stage_id": won.pk}},
    )
    assert cadence.goal == {"kanban_stage": {"stage_id": won.pk}}
    _enrol(cadence, [a, b])
    tick(timezone.now())
    card_move(card=card_a, stage=won, reason="Preço")

    tick(timezone.now() + dt.timedelta(minutes=1))

    states = dict(Enrollment.objects.filter(cadence=cadence).values_list("contact_id", "exit_reason"))
    assert states == {a.pk: "goal", b.pk: ""}


def test_a_bad_goal_is_refused_and_unknown_goals_dropped(make_cadence, board):
    with pytest.raises(ValidationError):
        make_cadence(goal={"kanban_stage": {"stage_id": "x"}})
    cadence = make_cadence(goal={"nope": {"a": 1}})
    assert cadence.goal == {}


def test_the_cadence_form_and_builder_offer_the_board(tenant_client_factory, acme, owner, make_cadence, board):
    from django.urls import reverse

    pipeline, stages = board
    client = tenant_client_factory(acme, owner)
    cadence = make_cadence(activate=False)
    builder = client.get(reverse("cadences:builder", args=[cadence.pk])).content.decode()
    assert 'value="kanban_move"' in builder and 'data-testid="step-kanban-stage"' in builder
    assert f'<optgroup label="{pipeline.name}">' in builder
    form = client.get(reverse("cadences:settings", args=[cadence.pk])).content.decode()
    assert 'name="goal_stage"' in form


def test_the_builder_names_the_stage_of_a_kanban_step(tenant_client_factory, acme, owner, make_cadence, board):
    from django.urls import reverse
    from django.utils.html import escape

    pipeline, stages = board
    client = tenant_client_factory(acme, owner)
    cadence = make_cadence(
        [("action", {"action": "kanban_move", "stage_id": stages[1].pk})], activate=False, name="Mover"
    )
    builder = client.get(reverse("cadences:builder", args=[cadence.pk])).content.decode()
    assert escape(f"Move the contact's card to a stage “{pipeline.name} › {stages[1].name}”") in builder
