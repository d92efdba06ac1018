"""Realtime from the inbox services to an agent's open socket: events leave only after the
transaction commits, carry the id of their stored row, and a socket that was away gets them
back through catch-up exactly as they went out live."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django_tenants.utils import schema_context

from inbox.tests.test_consumers import committed, connected  # noqa: F401 - fixture and helper


def _in_acme(acme, fn):
    def run():
        with schema_context(acme.schema_name):
            return fn()

    return sync_to_async(run)


async def _receive_until(communicator, predicate, timeout=3):
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        if predicate(event):
            return event


async def test_a_note_reaches_the_socket_after_commit_with_its_event_id(committed, acme, django_db_blocker):  # noqa: F811
    from inbox.models import RealtimeEvent
    from inbox.services import note_add

    key, user = await sync_to_async(committed.member)(acme)
    conversation = await sync_to_async(committed.conversation)(acme)
    communicator, hello = await connected(acme, key)
    await communicator.send_json_to({"action": "subscribe", "conversation": conversation.pk})
    await communicator.receive_json_from()

    def write_note():
        with django_db_blocker.unblock():
            note = note_add(conversation=conversation, body="Cliente VIP, tratar com carinho", by=user)
            return note.pk, RealtimeEvent.objects.filter(conversation_id=conversation.pk).order_by("-pk").first().pk

    note_id, event_id = await _in_acme(acme, write_note)()

    event = await _receive_until(communicator, lambda e: e.get("type") == "message")
    assert event["op"] == "new" and event["id"] == event_id and event["conversation"] == conversation.pk
    assert event["message"]["id"] == note_id and event["message"]["kind"] == "note"
    assert event_id > hello["last_id"]
    # delivered once, although the event went to both the inbox and the conversation groups
    assert await communicator.receive_nothing(timeout=0.3)

    # a socket that connects later gets the very same event through catch-up
    late, _ = await connected(acme, key)
    await late.send_json_to({"action": "catch_up", "since": hello["last_id"]})
    replayed = await _receive_until(late, lambda e: e.get("id") == event_id)
    assert replayed == event
    await communicator.disconnect()
    await late.disconnect()

    def cleanup():
        from inbox.models import Message

        with django_db_blocker.unblock():
            Message.objects.filter(pk=note_id).delete()
            RealtimeEvent.objects.filter(conversation_id=conversation.pk).delete()

    await _in_acme(acme, cleanup)()


async def test_rolled_back_work_sends_nothing(committed, acme, django_db_blocker):  # noqa: F811
    from inbox.models import RealtimeEvent
    from inbox.services import conversation_resolve

    key, user = await sync_to_async(committed.member)(acme)
    conversation = await sync_to_async(committed.conversation)(acme)
    communicator, _ = await connected(acme, key)

    class Abort(Exception):
        pass

    def resolve_then_fail():
        with django_db_blocker.unblock():
            before = RealtimeEvent.objects.count()
            with pytest.raises(Abort), transaction.atomic():
                conversation_resolve(conversation=conversation, by=user)
                raise Abort
            return RealtimeEvent.objects.count() - before

    assert await _in_acme(acme, resolve_then_fail)() == 0
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
