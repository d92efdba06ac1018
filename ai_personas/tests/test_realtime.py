"""Websocket events of the AI app reach the right company's sockets only: the indexing progress
bar (``job`` events on ``/ws/events/``) and the AI state of a conversation (``ai`` events on
``/ws/inbox/``)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import schema_context

from inbox.tests.test_consumers import committed, connected, socket  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=False)


async def _events_socket(company, key):
    communicator = socket(company, key, path="/ws/events/")
    ok, code = await communicator.connect()
    assert ok, code
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    return communicator


def _progress(company, document_id: int) -> None:
    from ai_personas.knowledge.indexing import _progress as send
    from ai_personas.models import Document

    with schema_context(company.schema_name):
        send(Document(pk=document_id, knowledge_base_id=1, chunks_done=3, chunks_total=9, status="indexing"))


async def test_indexing_progress_reaches_own_company_only(committed, acme, other_company):  # noqa: F811
    mine, _ = await sync_to_async(committed.member)(acme)
    theirs, _ = await sync_to_async(committed.member)(other_company)
    own = await _events_socket(acme, mine)
    other = await _events_socket(other_company, theirs)

    await sync_to_async(_progress)(acme, 4242)

    event = await own.receive_json_from(timeout=3)
    assert event == {
        "type": "job",
        "op": "progress",
        "id": "ai-doc-4242",
        "done": 3,
        "total": 9,
        "status": "indexing",
        "knowledge_base": 1,
    }
    assert await other.receive_nothing(timeout=0.3)
    await own.disconnect()
    await other.disconnect()


def _emit_state(company, conversation_id: int) -> None:
    from django.db import transaction

    from ai_personas.agent import emit_state
    from ai_personas.models import ConversationAI

    with schema_context(company.schema_name), transaction.atomic():
        emit_state(
            ConversationAI(conversation_id=conversation_id, state="handed_off", handoff_reason="asked_for_human")
        )


async def test_ai_state_reaches_the_inbox_of_own_company_only(committed, acme, other_company):  # noqa: F811
    mine, _ = await sync_to_async(committed.member)(acme)
    theirs, _ = await sync_to_async(committed.member)(other_company)
    own, _hello = await connected(acme, mine)
    other, _hello2 = await connected(other_company, theirs)

    await sync_to_async(_emit_state)(acme, 77)

    event = await own.receive_json_from(timeout=3)
    assert (event["type"], event["op"], event["conversation"], event["state"]) == ("ai", "state", 77, "handed_off")
    assert await other.receive_nothing(timeout=0.3)
    await asyncio.gather(own.disconnect(), other.disconnect())


def _typing(company, conversation_id: int) -> None:
    from django.db import transaction

    from ai_personas.agent import typing_start

    with schema_context(company.schema_name), transaction.atomic():
        typing_start(conversation_id, "Lia")


async def test_ai_typing_reaches_the_conversation_of_own_company_only(committed, acme, other_company):  # noqa: F811
    mine_key, _ = await sync_to_async(committed.member)(acme)
    theirs_key, _ = await sync_to_async(committed.member)(other_company)
    mine = await sync_to_async(committed.conversation)(acme)
    theirs = await sync_to_async(committed.conversation)(other_company)
    own, _hello = await connected(acme, mine_key)
    other, _hello2 = await connected(other_company, theirs_key)
    for communicator, conversation in ((own, mine), (other, theirs)):
        await communicator.send_json_to({"action": "subscribe", "conversation": conversation.pk})
        assert (await communicator.receive_json_from())["op"] == "added"

    # sent after commit without waiting for the round trip (queued on the sender loop)
    await sync_to_async(_typing)(acme, mine.pk)

    event = await own.receive_json_from(timeout=3)
    assert event == {"type": "typing", "op": "start", "conversation": mine.pk, "name": "Lia", "ai": True}
    assert await other.receive_nothing(timeout=0.3)
    await asyncio.gather(own.disconnect(), other.disconnect())
