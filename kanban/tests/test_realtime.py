"""Board events reach the sockets of the same company's pipeline only: another company's socket
gets nothing, and cannot join a pipeline that is not its own."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import schema_context

from inbox.tests.test_consumers import committed, socket  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def board(django_db_blocker, acme, other_company):
    """A pipeline in each company, committed (the consumer reads on a connection of its own)."""
    from inbox.tests.test_idempotency_concurrency import _in_thread
    from kanban.models import Pipeline
    from kanban.services import pipeline_create

    def make():
        made = {}
        for company in (acme, other_company):
            with schema_context(company.schema_name):
                made[company.slug] = pipeline_create(name="Vendas WS").pk
        return made

    made = _in_thread(django_db_blocker, make)
    yield made

    def cleanup():
        for company in (acme, other_company):
            with schema_context(company.schema_name):
                Pipeline.objects.filter(pk=made[company.slug]).delete()

    _in_thread(django_db_blocker, cleanup)


async def _board_socket(company, key, pipeline_id):
    communicator = socket(company, key, path=f"/ws/kanban/{pipeline_id}/")
    ok, code = await communicator.connect()
    assert ok, code
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello" and hello["pipeline"] == pipeline_id
    return communicator


def _emit(company, pipeline_id):
    from django.db import transaction

    from kanban.models import Pipeline
    from kanban.services import card_create

    # ``send_event_on_commit`` runs the callbacks at commit; the test transaction never
    # commits, so run them the way a commit would.
    with schema_context(company.schema_name):
        pipeline = Pipeline.objects.get(pk=pipeline_id)
        with transaction.atomic():
            card_create(pipeline=pipeline, title="Ao vivo")
            callbacks = list(transaction.get_connection().run_on_commit)
        for _sids, fn, _robust in callbacks:
            fn()


async def test_events_reach_own_pipeline_only(committed, acme, other_company, board):  # noqa: F811
    mine, _ = await sync_to_async(committed.member)(acme)
    theirs, _ = await sync_to_async(committed.member)(other_company)
    own = await _board_socket(acme, mine, board["acme"])
    other = await _board_socket(other_company, theirs, board["other"])

    await sync_to_async(_emit)(acme, board["acme"])

    event = await own.receive_json_from(timeout=3)
    assert (event["type"], event["op"], event["pipeline"]) == ("kanban", "create", board["acme"])
    assert event["card"]["title"] == "Ao vivo"
    assert await other.receive_nothing(timeout=0.3)
    await asyncio.gather(own.disconnect(), other.disconnect())


async def test_another_companys_pipeline_cannot_be_joined(committed, acme, other_company, board):  # noqa: F811
    theirs, _ = await sync_to_async(committed.member)(other_company)
    # The acme pipeline's id does not exist in the other company's schema (or names another
    # pipeline of its own, whose group is still inside its own scope).
    missing = max(board.values()) + 1000
    communicator = socket(other_company, theirs, path=f"/ws/kanban/{missing}/")
    ok, _code = await communicator.connect()
    if ok:
        closed = await communicator.receive_output(timeout=3)
        assert closed["type"] == "websocket.close" and closed["code"] == 4404
    await communicator.disconnect()


async def test_anonymous_socket_is_refused(acme, board):
    communicator = socket(acme, None, path=f"/ws/kanban/{board['acme']}/")
    ok, code = await communicator.connect()
    assert not ok or code == 4403
    await communicator.disconnect()
