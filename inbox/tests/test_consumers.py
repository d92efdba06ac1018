"""The inbox websocket (/ws/inbox/) against the real ASGI application.

The consumer reads the database from another connection than the test's transaction, so
the rows it must see are written for real (``committed``) and removed afterwards.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django_tenants.utils import schema_context

from config.asgi import application
from core.realtime import CLOSE_UNKNOWN_HOST
from inbox import consumers
from tests.conftest_helpers import session_key_for


@pytest.fixture
def committed(django_db_blocker, acme, other_company):
    """``committed.member(company, role)`` -> session key; ``committed.conversation(company)``;
    ``committed.event(company, ...)``. Everything is deleted after the test."""
    from django.contrib.sessions.backends.db import SessionStore

    from crm.models import Contact
    from inbox.models import Channel, Conversation, RealtimeEvent
    from tenants.models import Membership, User

    cleanup = []

    class Writer:
        def member(self, company, role="agent"):
            with django_db_blocker.unblock():
                user = User.objects.create_user(email=f"ws-{uuid.uuid4().hex[:8]}@example.com", password="x")
                Membership.objects.create(user=user, company=company, role=role)
                key = session_key_for(user)
            cleanup.append(lambda: (SessionStore(session_key=key).delete(), user.delete()))
            return key, user

        def conversation(self, company):
            with django_db_blocker.unblock(), schema_context(company.schema_name):
                channel = Channel.objects.create(kind="sandbox", name="Sandbox WS")
                contact = Contact.objects.create(name="Cliente WS", phone=f"+55119{uuid.uuid4().int % 10**8:08d}")
                conversation = Conversation.objects.create(channel=channel, contact=contact)

            def remove():
                with schema_context(company.schema_name):
                    conversation.delete()
                    contact.delete()
                    channel.delete()

            cleanup.append(remove)
            return conversation

        def event(self, company, *, type="message", op="new", conversation_id=None, user_ids=None, **payload):
            with django_db_blocker.unblock(), schema_context(company.schema_name):
                row = RealtimeEvent.objects.create(
                    type=type, op=op, payload=payload, conversation_id=conversation_id, user_ids=user_ids or []
                )

            def remove():
                with schema_context(company.schema_name):
                    RealtimeEvent.objects.filter(pk=row.pk).delete()

            cleanup.append(remove)
            return row

    yield Writer()

    def remove_all():
        # In a thread of its own: the test's connection is inside a transaction that is rolled
        # back, which would undo these deletions.
        from django.db import connection

        try:
            for remove in reversed(cleanup):
                remove()
        finally:
            connection.close()

    with django_db_blocker.unblock():
        worker = threading.Thread(target=remove_all)
        worker.start()
        worker.join()


def in_pt_br(message: str) -> str:
    """What the socket says to an acme member (the company speaks pt-BR)."""
    from django.utils import translation

    with translation.override("pt-br"):
        return translation.gettext(message)


def socket(company_or_host, session_key=None, path="/ws/inbox/"):
    host = company_or_host if isinstance(company_or_host, str) else f"{company_or_host.slug}.{settings.BASE_DOMAIN}"
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode())]
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def connected(company, session_key):
    communicator = socket(company, session_key)
    ok, code = await communicator.connect()
    assert ok, code
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello" and hello["op"] == "ready"
    return communicator, hello


def emit(company, event, groups):
    from core.realtime import send_event

    with schema_context(company.schema_name):
        send_event(event, groups=groups)


# --- who may connect -----------------------------------------------------------------------
async def test_member_connects_and_learns_the_last_event_id(committed, acme):
    key, _ = await sync_to_async(committed.member)(acme)
    row = await sync_to_async(committed.event)(acme, conversation_id=1)

    communicator, hello = await connected(acme, key)

    assert hello["company"] == "acme"
    assert hello["last_id"] >= row.pk
    await communicator.disconnect()


async def test_member_of_another_company_is_refused(committed, acme, other_company):
    key, _ = await sync_to_async(committed.member)(other_company, "owner")
    communicator = socket(acme, key)
    connected_, code = await communicator.connect()
    assert not connected_ and code == 4403
    await communicator.disconnect()


async def test_unknown_host_is_refused(committed, acme):
    key, _ = await sync_to_async(committed.member)(acme)
    communicator = socket(f"ghost.{settings.BASE_DOMAIN}", key)
    connected_, code = await communicator.connect()
    assert not connected_ and code == CLOSE_UNKNOWN_HOST
    await communicator.disconnect()


async def test_anonymous_is_refused(acme):
    communicator = socket(acme)
    connected_, code = await communicator.connect()
    assert not connected_ and code == 4403
    await communicator.disconnect()


# --- events reach the right company and conversation ----------------------------------------
async def test_inbox_events_reach_only_the_same_company(committed, acme, other_company):
    acme_key, _ = await sync_to_async(committed.member)(acme)
    other_key, _ = await sync_to_async(committed.member)(other_company)
    acme_socket, _ = await connected(acme, acme_key)
    other_socket, _ = await connected(other_company, other_key)

    await sync_to_async(emit)(acme, {"type": "message", "op": "new", "id": 10**9, "conversation": 1}, ["inbox"])

    assert (await acme_socket.receive_json_from(timeout=2))["id"] == 10**9
    assert await other_socket.receive_nothing(timeout=0.3)
    await acme_socket.disconnect()
    await other_socket.disconnect()


async def test_subscribe_only_to_own_conversations_and_no_duplicates(committed, acme, other_company):
    key, _ = await sync_to_async(committed.member)(acme)
    mine = await sync_to_async(committed.conversation)(acme)
    theirs = await sync_to_async(committed.conversation)(other_company)
    communicator, _ = await connected(acme, key)

    await communicator.send_json_to({"action": "subscribe", "conversation": mine.pk})
    assert await communicator.receive_json_from() == {"type": "subscription", "op": "added", "conversation": mine.pk}
    if theirs.pk != mine.pk:
        await communicator.send_json_to({"action": "subscribe", "conversation": theirs.pk})
        refused = await communicator.receive_json_from()
        assert refused["type"] == "error" and refused["detail"] == in_pt_br(consumers.ERR_NO_CONVERSATION)

    # an event sent to both the inbox and the conversation group arrives once
    event = {"type": "message", "op": "new", "id": 10**9 + 1, "conversation": mine.pk}
    await sync_to_async(emit)(acme, event, ["inbox", f"conversation.{mine.pk}"])
    assert await communicator.receive_json_from(timeout=2) == event
    assert await communicator.receive_nothing(timeout=0.3)

    # after unsubscribing, conversation-only events stop
    await communicator.send_json_to({"action": "unsubscribe", "conversation": mine.pk})
    assert (await communicator.receive_json_from())["op"] == "removed"
    await sync_to_async(emit)(acme, {"type": "typing", "op": "x", "conversation": mine.pk}, [f"conversation.{mine.pk}"])
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_other_company_cannot_subscribe_to_acme_conversation(committed, acme, other_company):
    acme_conversation = await sync_to_async(committed.conversation)(acme)
    key, _ = await sync_to_async(committed.member)(other_company, "owner")
    communicator, _ = await connected(other_company, key)
    # other has no conversation with that id (its own table is empty of it)
    exists_in_other = await sync_to_async(_exists_in)(other_company, acme_conversation.pk)

    await communicator.send_json_to({"action": "subscribe", "conversation": acme_conversation.pk})
    answer = await communicator.receive_json_from()

    if not exists_in_other:
        assert answer["type"] == "error" and answer["detail"] == in_pt_br(consumers.ERR_NO_CONVERSATION)
    await sync_to_async(emit)(
        acme, {"type": "message", "op": "new", "id": 10**9 + 2}, [f"conversation.{acme_conversation.pk}"]
    )
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


def _sent_message(conversation):
    """An outbound message the provider accepted (call inside the company's schema)."""
    from inbox.models import Message

    return Message.objects.create(
        conversation=conversation,
        channel=conversation.channel,
        direction="out",
        kind="text",
        body="tick",
        provider_message_id=f"wamid.WS{uuid.uuid4().hex}",
        status="sent",
    )


async def test_status_batch_arrives_as_one_event_and_is_not_replayed(committed, acme, django_db_blocker):
    """A batch of delivery reports reaches the open conversation as one ``statuses`` event that
    names every stored event it covers; catching up afterwards replays none of them."""
    key, _ = await sync_to_async(committed.member)(acme)
    conversation = await sync_to_async(committed.conversation)(acme)
    communicator, _ = await connected(acme, key)
    await communicator.send_json_to({"action": "subscribe", "conversation": conversation.pk})
    assert (await communicator.receive_json_from())["op"] == "added"

    def apply():
        from django.utils import timezone

        from inbox.models import RealtimeEvent
        from inbox.providers.base import StatusUpdate
        from inbox.services import message_statuses_apply

        with django_db_blocker.unblock(), schema_context(acme.schema_name):
            channel = conversation.channel
            messages = [_sent_message(conversation) for _ in range(2)]
            now = timezone.now()
            message_statuses_apply(
                channel=channel,
                statuses=[
                    StatusUpdate(provider_message_id=messages[0].provider_message_id, status="read", timestamp=now),
                    StatusUpdate(
                        provider_message_id=messages[1].provider_message_id, status="delivered", timestamp=now
                    ),
                ],
            )
            rows = list(
                RealtimeEvent.objects.filter(op="status", conversation_id=conversation.pk).values_list("id", flat=True)
            )
            return [m.pk for m in messages], rows

    message_ids, event_ids = await sync_to_async(apply)()

    event = await communicator.receive_json_from(timeout=2)
    assert event["type"] == "message" and event["op"] == "statuses"
    assert sorted(event["ids"]) == sorted(event_ids) and event["id"] == max(event_ids)
    assert {(m["id"], m["status"]) for m in event["messages"]} == {
        (message_ids[0], "read"),
        (message_ids[1], "delivered"),
    }
    assert await communicator.receive_nothing(timeout=0.3)

    await communicator.send_json_to({"action": "catch_up", "since": min(event_ids) - 1})
    assert (await communicator.receive_json_from(timeout=2))["type"] == "sync"
    await communicator.disconnect()

    def remove_events():
        from inbox.models import RealtimeEvent

        with django_db_blocker.unblock(), schema_context(acme.schema_name):
            RealtimeEvent.objects.filter(pk__in=event_ids).delete()

    await sync_to_async(remove_events)()


async def test_ticks_go_only_to_conversations_someone_has_open(committed, acme, django_db_blocker):
    """Status events are sent to conversations marked open by a socket (subscribe, refreshed by
    the keep-alive ping); an entry that expired gets nothing until the next ping."""
    import time

    from core.redis import redis_client
    from inbox import watching

    key, _ = await sync_to_async(committed.member)(acme)
    conversation = await sync_to_async(committed.conversation)(acme)
    communicator, _ = await connected(acme, key)
    await communicator.send_json_to({"action": "subscribe", "conversation": conversation.pk})
    assert (await communicator.receive_json_from())["op"] == "added"
    assert conversation.pk in await sync_to_async(watching.watched)(acme.schema_name)

    def apply(status):
        from django.utils import timezone

        from inbox.providers.base import StatusUpdate
        from inbox.services import message_statuses_apply

        with django_db_blocker.unblock(), schema_context(acme.schema_name):
            message = _sent_message(conversation)
            message_statuses_apply(
                channel=conversation.channel,
                statuses=[
                    StatusUpdate(
                        provider_message_id=message.provider_message_id, status=status, timestamp=timezone.now()
                    )
                ],
            )

    # The entry expired (the client stopped pinging): nothing is sent for it.
    redis_client().zadd(watching.watch_key(acme.schema_name), {str(conversation.pk): time.time() - 1})
    await sync_to_async(apply)("delivered")
    assert await communicator.receive_nothing(timeout=0.3)

    # The keep-alive marks it open again: ticks flow.
    await communicator.send_json_to({"action": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await sync_to_async(apply)("read")
    event = await communicator.receive_json_from(timeout=2)
    assert event["op"] == "statuses" and [m["status"] for m in event["messages"]] == ["read"]
    await communicator.disconnect()

    def remove_events():
        from inbox.models import RealtimeEvent

        with django_db_blocker.unblock(), schema_context(acme.schema_name):
            RealtimeEvent.objects.filter(op="status", conversation_id=conversation.pk).delete()

    await sync_to_async(remove_events)()


def _exists_in(company, pk):
    from inbox.models import Conversation

    with schema_context(company.schema_name):
        return Conversation.objects.filter(pk=pk).exists()


async def test_bad_messages_get_an_error_not_a_crash(committed, acme):
    key, _ = await sync_to_async(committed.member)(acme)
    communicator, _ = await connected(acme, key)

    await communicator.send_to(text_data="not json")
    assert in_pt_br(consumers.ERR_BAD_MESSAGE) == "Mensagem desconhecida ou malformada."  # the company speaks pt-BR
    assert (await communicator.receive_json_from())["detail"] == in_pt_br(consumers.ERR_BAD_MESSAGE)
    await communicator.send_json_to({"action": "subscribe", "conversation": "abc"})
    assert (await communicator.receive_json_from())["detail"] == in_pt_br(consumers.ERR_BAD_MESSAGE)
    await communicator.send_json_to({"action": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


# --- typing --------------------------------------------------------------------------------
async def test_typing_reaches_other_agents_not_the_sender(committed, acme):
    conversation = await sync_to_async(committed.conversation)(acme)
    ana_key, ana = await sync_to_async(committed.member)(acme)
    bia_key, _ = await sync_to_async(committed.member)(acme)
    viewer_key, _ = await sync_to_async(committed.member)(acme, "viewer")
    sockets = []
    for key in (ana_key, bia_key, viewer_key):
        communicator, _ = await connected(acme, key)
        await communicator.send_json_to({"action": "subscribe", "conversation": conversation.pk})
        await communicator.receive_json_from()
        sockets.append(communicator)
    ana_socket, bia_socket, viewer_socket = sockets

    await ana_socket.send_json_to({"action": "typing", "conversation": conversation.pk, "typing": True})

    typing = await bia_socket.receive_json_from(timeout=2)
    assert typing["type"] == "typing" and typing["op"] == "start"
    assert typing["conversation"] == conversation.pk and typing["user"]["id"] == ana.pk
    assert (await viewer_socket.receive_json_from(timeout=2))["type"] == "typing"
    assert await ana_socket.receive_nothing(timeout=0.2)
    # a viewer cannot type (read-only role)
    await viewer_socket.send_json_to({"action": "typing", "conversation": conversation.pk})
    assert (await viewer_socket.receive_json_from())["detail"] == in_pt_br(consumers.ERR_READ_ONLY)
    assert await bia_socket.receive_nothing(timeout=0.2)
    for communicator in sockets:
        await communicator.disconnect()


async def test_typing_needs_a_subscribed_conversation(committed, acme):
    key, _ = await sync_to_async(committed.member)(acme)
    communicator, _ = await connected(acme, key)
    await communicator.send_json_to({"action": "typing", "conversation": 123456})
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.disconnect()


# --- catch-up after a dropped connection ----------------------------------------------------
async def test_catch_up_replays_missed_events_of_own_company_only(committed, acme, other_company):
    key, user = await sync_to_async(committed.member)(acme)
    seen = await sync_to_async(committed.event)(acme, conversation_id=5, message=1)
    missed_1 = await sync_to_async(committed.event)(acme, op="status", conversation_id=5, message=1, status="read")
    await sync_to_async(committed.event)(other_company, conversation_id=5, message=99, body="other's secret")
    for_someone_else = await sync_to_async(committed.event)(
        acme, type="notification", op="new", user_ids=[user.pk + 10**6]
    )
    for_me = await sync_to_async(committed.event)(acme, type="notification", op="new", user_ids=[user.pk])
    missed_2 = await sync_to_async(committed.event)(acme, type="conversation", op="assigned", conversation_id=5)
    communicator, _ = await connected(acme, key)

    await communicator.send_json_to({"action": "catch_up", "since": seen.pk})
    replayed = []
    while True:
        event = await communicator.receive_json_from(timeout=2)
        if event["type"] == "sync":
            break
        replayed.append(event)

    ids = [e["id"] for e in replayed]
    assert missed_1.pk in ids and missed_2.pk in ids and for_me.pk in ids
    assert for_someone_else.pk not in ids
    assert all(e.get("body") != "other's secret" for e in replayed)
    assert ids == sorted(ids)
    status = next(e for e in replayed if e["id"] == missed_1.pk)
    assert status == {
        "type": "message",
        "op": "status",
        "id": missed_1.pk,
        "conversation": 5,
        "message": 1,
        "status": "read",
    }
    assert event == {"type": "sync", "op": "done", "last_id": ids[-1]}

    # a live copy of a replayed event is not delivered twice
    await sync_to_async(emit)(acme, {"type": "conversation", "op": "assigned", "id": missed_2.pk}, ["inbox"])
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_catch_up_with_too_much_missed_asks_for_a_reload(committed, acme, monkeypatch):
    monkeypatch.setattr(consumers, "CATCH_UP_LIMIT", 2)
    key, _ = await sync_to_async(committed.member)(acme)
    first = await sync_to_async(committed.event)(acme)
    for _ in range(3):
        await sync_to_async(committed.event)(acme)
    communicator, _ = await connected(acme, key)

    await communicator.send_json_to({"action": "catch_up", "since": first.pk})
    received = [await communicator.receive_json_from() for _ in range(3)]

    assert [e["type"] for e in received] == ["message", "message", "sync"]
    assert received[-1]["op"] == "reset"
    await communicator.disconnect()


async def test_catch_up_past_pruned_events_asks_for_a_reload(committed, acme, django_db_blocker):
    key, _ = await sync_to_async(committed.member)(acme)
    seen = await sync_to_async(committed.event)(acme)
    gone = await sync_to_async(committed.event)(acme)
    kept = await sync_to_async(committed.event)(acme)

    def prune():
        from inbox.models import RealtimeEvent

        with django_db_blocker.unblock(), schema_context(acme.schema_name):
            RealtimeEvent.objects.filter(pk__lte=gone.pk).delete()

    await sync_to_async(prune)()
    communicator, _ = await connected(acme, key)

    await communicator.send_json_to({"action": "catch_up", "since": seen.pk})
    replayed = await communicator.receive_json_from()
    done = await communicator.receive_json_from()

    assert replayed["id"] == kept.pk
    assert done == {"type": "sync", "op": "reset", "last_id": kept.pk}
    await communicator.disconnect()
