"""Concurrent retries with one ``Idempotency-Key``: exactly one 201, every other answer a 200
with the same message, one row. On committed rows, from threads with their own connections
(the test's own transaction would hide each request from the others)."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection
from django.test import Client

from conftest import host_for

RETRIES = 6


def _in_thread(django_db_blocker, fn):
    """Run ``fn`` on a connection of its own (committed), closed afterwards."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the test
            out["error"] = exc
        finally:
            connection.close()

    with django_db_blocker.unblock():
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.fixture
def committed(django_db_blocker, acme):
    """An agent and an open conversation on a sandbox number, written for real."""
    from django.utils import timezone

    from crm.models import Contact
    from inbox.models import Conversation
    from inbox.services import channel_create
    from tenants.models import Membership, User

    tag = uuid.uuid4().hex[:8]

    def setup():
        user = User.objects.create_user(email=f"idem-{tag}@example.com", password="x")
        Membership.objects.create(user=user, company=acme, role="agent")
        connection.set_tenant(acme)
        channel = channel_create(kind="sandbox", name=f"Idem {tag}")
        contact = Contact.objects.create(phone=f"+55119{int(tag, 16) % 10**8:08d}", name="Idem")
        conversation = Conversation.objects.create(channel=channel, contact=contact, last_inbound_at=timezone.now())
        return user, channel, contact, conversation

    user, channel, contact, conversation = _in_thread(django_db_blocker, setup)
    yield user, conversation

    def cleanup():
        from inbox.models import Message
        from tenants.models import WebhookRoute

        connection.set_tenant(acme)
        Message.objects.filter(conversation_id=conversation.pk).delete()
        Conversation.objects.filter(pk=conversation.pk).delete()
        Contact.objects.filter(pk=contact.pk).delete()
        channel.delete()
        connection.set_schema_to_public()
        WebhookRoute.objects.filter(channel_public_id=channel.public_id).delete()
        User.objects.filter(pk=user.pk).delete()

    _in_thread(django_db_blocker, cleanup)


def _raw_connection():
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"], user=db["USER"] or None, host=db["HOST"] or None, port=db["PORT"] or None, autocommit=True
    )


def test_concurrent_retries_answer_one_201_and_the_rest_200(committed, django_db_blocker, acme):
    user, conversation = committed
    url = f"/api/v1/inbox/conversations/{conversation.pk}/messages/"
    key = f"retry-{uuid.uuid4().hex}"
    answers: list[tuple[int, int]] = []
    # given the conversation's row locked, so the first attempt to insert waits (holding the
    # unique key) until every retry is past the "already sent?" check and waiting behind it
    lock = _raw_connection()
    lock.execute("BEGIN")
    lock.execute(f'SELECT 1 FROM "{acme.schema_name}".inbox_conversation WHERE id = %s FOR UPDATE', [conversation.pk])
    # (a connection of its own: inside a transaction, pg_stat_activity is a snapshot)
    watch = _raw_connection()

    def post():
        client = Client(HTTP_HOST=host_for(acme))
        client.force_login(user)
        response = client.post(url, {"text": "Oi!"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
        answers.append((response.status_code, response.json()["id"]))
        connection.close()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=post) for _ in range(RETRIES)]
        for thread in threads:
            thread.start()
        # when all of them wait on the database (behind the lock or the first one's key)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting >= RETRIES:
                break
            time.sleep(0.01)
        lock.execute("COMMIT")
        lock.close()
        watch.close()
        for thread in threads:
            thread.join(30)
    # then one attempt created the message, and every other one was told it already exists
    assert waiting >= RETRIES
    assert sorted(code for code, _id in answers) == [200] * (RETRIES - 1) + [201]
    assert len({pk for _code, pk in answers}) == 1

    def rows():
        from inbox.models import Message

        connection.set_tenant(acme)
        return Message.objects.filter(conversation_id=conversation.pk).count()

    assert _in_thread(django_db_blocker, rows) == 1
