"""Two people drop the same card at once, on two connections: the row lock applies the moves
one after the other, each recorded from the stage the other left it in."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=False)


def _run(django_db_blocker, fns):
    errors: list = []
    barrier = threading.Barrier(len(fns))

    def wrap(fn):
        def run():
            try:
                barrier.wait()
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
            finally:
                connection.close()

        return run

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=wrap(fn)) for fn in fns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def test_concurrent_moves_of_one_card(django_db_blocker, acme):
    from kanban.models import Card, CardMove, Pipeline
    from kanban.services import card_create, card_move, pipeline_create

    state: dict = {}

    def setup():
        connection.set_tenant(acme)
        pipeline = pipeline_create(name="Concorrência")
        stages = list(pipeline.stages.all())
        state["pipeline"], state["stages"] = pipeline.pk, [s.pk for s in stages]
        state["card"] = card_create(pipeline=pipeline, title="Disputado").pk
        state["other"] = card_create(pipeline=pipeline, title="Vizinho", stage=stages[2]).pk

    _run(django_db_blocker, [setup])

    def mover(stage_index):
        def move():
            connection.set_tenant(acme)
            card_move(card=state["card"], stage=state["stages"][stage_index], after_id=None)

        return move

    try:
        _run(django_db_blocker, [mover(1), mover(2)])

        def check():
            connection.set_tenant(acme)
            card = Card.objects.get(pk=state["card"])
            moves = list(CardMove.objects.filter(card_id=card.pk).order_by("id"))
            assert len(moves) == 3
            assert moves[1].from_stage_id == state["stages"][0]
            assert moves[2].from_stage_id == moves[1].to_stage_id
            assert card.stage_id == moves[2].to_stage_id
            column = list(Card.objects.filter(stage_id=card.stage_id).order_by("rank").values_list("rank", flat=True))
            assert len(set(column)) == len(column)

        _run(django_db_blocker, [check])
    finally:

        def cleanup():
            connection.set_tenant(acme)
            Pipeline.objects.filter(pk=state.get("pipeline")).delete()

        _run(django_db_blocker, [cleanup])
