"""Sending through the Graph API stub: request formats, errors, the 24-hour window,
templates, media, reactions, read receipts, idempotency."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from inbox.models import ChannelStatus, Message, MessageStatus, RealtimeEvent
from inbox.services import (
    ERR_OUTSIDE_WINDOW,
    ERR_TEMPLATE_REQUIRED,
    ERR_TEXT_EMPTY,
    message_deliver,
    message_react,
    message_send_media,
    message_send_template,
    message_send_text,
)
from tests.stubs.graph import graph_error
from tests.stubs.http import StubServer


def test_send_text_posts_graph_request_and_stores_wamid(conversation, graph, owner):
    message, _created = message_send_text(conversation=conversation, text="Olá Maria!", by=owner)
    assert message.status == MessageStatus.QUEUED
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_message_id.startswith("wamid.")
    request = graph.requests[-1]
    assert request.path == "/v21.0/1065550001/messages"
    assert request.headers["Authorization"] == f"Bearer {graph.token}"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "text",
        "text": {"body": "Olá Maria!", "preview_url": False},
    }
    # the CRM timeline has the message
    from crm.models import TimelineEvent

    assert TimelineEvent.objects.filter(contact_id=conversation.contact_id, kind="message.out").exists()


def test_delivering_a_message_already_sent_sends_nothing(conversation, graph):
    message, _created = message_send_text(conversation=conversation, text="uma vez")
    message_deliver(message_id=message.pk)
    message_deliver(message_id=message.pk)
    assert len(graph.sent) == 1


class _GatedGraph(StubServer):
    """Forwards to the Graph stub, holding each request until ``release`` is set: the first
    worker is then inside the provider call, with the message's row lock held."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.arrived = threading.Event()
        self.release = threading.Event()

    def route(self, record):
        self.arrived.set()
        self.release.wait(10)
        response = httpx.request(
            record.method,
            self.target + record.path,
            headers={"Authorization": record.headers["Authorization"]},
            content=record.body,
        )
        return response.status_code, {}, response.content


def test_two_workers_delivering_the_same_message_send_it_once(acme, graph, settings, django_db_blocker):
    """message_deliver's promise, contended for real on committed rows: the second worker
    (a redelivered task) waits on the row lock while the first is inside the provider call,
    then sees the message sent and sends nothing."""
    from crm.models import Contact
    from inbox.models import Channel, Conversation, RealtimeEvent

    gate = _GatedGraph(graph.url).start()
    settings.WHATSAPP_GRAPH_URL = gate.url

    def in_acme(fn):
        def run():
            try:
                with schema_context(acme.schema_name):
                    return fn()
            finally:
                connection.close()

        return run

    def setup():
        channel = Channel.objects.create(
            kind="whatsapp_cloud", name="Lock", config={"phone_number_id": "1065550009"}, access_token=graph.token
        )
        contact = Contact.objects.create(name="Cliente Lock", phone="+5511955554444", wa_id="5511955554444")
        conversation = Conversation.objects.create(channel=channel, contact=contact, last_inbound_at=timezone.now())
        return Message.objects.create(
            conversation=conversation, channel=channel, direction="out", kind="text", body="só uma vez"
        )

    results: dict[str, Message] = {}

    def worker(name: str, message_id: int) -> threading.Thread:
        def deliver():
            try:
                results[name] = message_deliver(message_id=message_id)
            except Exception as exc:  # reported by the asserts below
                results[name] = exc

        thread = threading.Thread(target=in_acme(deliver))
        thread.start()
        return thread

    def lock_waiters() -> int:
        with connection.cursor() as cursor:
            # A backend waiting for a lock (the row the first worker holds): the second worker.
            # The test runs in a transaction, where statistics views keep their first snapshot.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    with django_db_blocker.unblock():
        holder = {}
        thread = threading.Thread(target=in_acme(lambda: holder.setdefault("message", setup())))
        thread.start()
        thread.join()
        message = holder["message"]
        try:
            first = worker("first", message.pk)
            assert gate.arrived.wait(10)  # the first worker holds the lock, inside the call
            second = worker("second", message.pk)
            for _ in range(500):  # until the second worker queues on the row lock
                if lock_waiters():
                    break
                threading.Event().wait(0.01)
            assert lock_waiters() == 1, results
            gate.release.set()
            first.join(10)
            second.join(10)
            assert len([body for body in graph.sent if body.get("to") == "5511955554444"]) == 1
            assert results["first"].status == results["second"].status == MessageStatus.SENT
            assert results["second"].provider_message_id == results["first"].provider_message_id
        finally:
            gate.release.set()
            gate.stop()

            def cleanup():
                conversation = Conversation.objects.get(pk=message.conversation_id)
                RealtimeEvent.objects.filter(conversation_id=conversation.pk).delete()
                Message.objects.filter(conversation=conversation).delete()
                conversation.delete()
                conversation.contact.delete()
                conversation.channel.delete()

            thread = threading.Thread(target=in_acme(cleanup))
            thread.start()
            thread.join()


def test_graph_error_marks_message_failed_with_code_title_details(conversation, graph):
    graph.fail_to["5511987654321"] = (
        400,
        graph_error(
            131026, "Message undeliverable", title="Message undeliverable", details="Recipient is not on WhatsApp"
        ),
    )
    message, _created = message_send_text(conversation=conversation, text="oi")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert (message.error_code, message.error_title, message.error_details) == (
        "131026",
        "Message undeliverable",
        "Recipient is not on WhatsApp",
    )
    assert RealtimeEvent.objects.filter(type="message", op="status", conversation_id=conversation.pk).exists()


def test_expired_token_marks_channel_token_problem(conversation, graph):
    conversation.channel.access_token = "expired"
    conversation.channel.save()
    message, _created = message_send_text(conversation=conversation, text="oi")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    conversation.channel.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "190"
    assert conversation.channel.status == ChannelStatus.TOKEN_PROBLEM


def test_retryable_errors_raise_for_task_retry(conversation, graph):
    from inbox.providers.base import ProviderError

    graph.fail_to["5511987654321"] = (429, graph_error(130429, "Rate limit hit"))
    message, _created = message_send_text(conversation=conversation, text="oi")
    with pytest.raises(ProviderError):
        message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED


def test_free_text_refused_outside_24h_window(conversation):
    conversation.last_inbound_at = timezone.now() - timedelta(hours=24, minutes=1)
    conversation.save()
    with pytest.raises(ValidationError) as exc:
        message_send_text(conversation=conversation, text="oi")
    assert exc.value.messages == [ERR_OUTSIDE_WINDOW]
    assert Message.objects.count() == 0


def test_window_open_just_inside_24h(conversation, queued_tasks, django_capture_on_commit_callbacks):
    conversation.last_inbound_at = timezone.now() - timedelta(hours=23, minutes=59)
    conversation.save()
    with django_capture_on_commit_callbacks(execute=True):
        message, created = message_send_text(conversation=conversation, text="oi")
    assert created and message.status == MessageStatus.QUEUED
    [delivery] = queued_tasks.tasks("inbox.deliver_message")
    assert delivery.args == [connection.schema_name, message.pk]


def test_no_customer_message_means_window_closed(conversation):
    conversation.last_inbound_at = None
    conversation.save()
    with pytest.raises(ValidationError):
        message_send_text(conversation=conversation, text="oi")


def test_a_template_goes_out_even_outside_the_window(conversation, graph):
    from inbox.services import message_deliver

    conversation.last_inbound_at = None
    conversation.save()
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}]
    message, created = message_send_template(
        conversation=conversation, name="hello_world", language="pt_BR", components=components, body="Olá Maria"
    )
    assert created and message.kind == "template" and message.body == "Olá Maria"
    message = message_deliver(message_id=message.pk)
    assert message.status == "sent" and message.provider_message_id
    assert graph.sent[-1]["type"] == "template"
    assert graph.sent[-1]["template"] == {
        "name": "hello_world",
        "language": {"code": "pt_BR"},
        "components": components,
    }


def test_a_template_needs_its_name_and_language(conversation):
    with pytest.raises(ValidationError) as exc:
        message_send_template(conversation=conversation, name="hello_world", language="")
    assert exc.value.messages == [ERR_TEMPLATE_REQUIRED]


def test_empty_text_refused(conversation):
    with pytest.raises(ValidationError) as exc:
        message_send_text(conversation=conversation, text="   ")
    assert exc.value.messages == [ERR_TEXT_EMPTY]


def test_idempotency_key_returns_the_same_message(conversation, owner):
    first, _created = message_send_text(conversation=conversation, text="oi", by=owner, idempotency_key="k-1")
    again, _created = message_send_text(conversation=conversation, text="oi", by=owner, idempotency_key="k-1")
    assert first.pk == again.pk and Message.objects.count() == 1


def test_send_media_uploads_then_sends_by_id(conversation, graph):
    message, _created = message_send_media(
        conversation=conversation, content=b"%PDF-1.4 fake", filename="orcamento.pdf", caption="Segue"
    )
    assert message.kind == "document" and message.media_mime == "application/pdf"
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_media_id == "1000"
    upload = graph.requests[-2]
    assert upload.path == "/v21.0/1065550001/media" and b"%PDF-1.4 fake" in upload.body
    assert graph.sent[-1]["document"] == {"id": "1000", "caption": "Segue", "filename": "orcamento.pdf"}


def test_media_type_refused(conversation):
    from inbox.services import ERR_MEDIA_TYPE

    with pytest.raises(ValidationError) as exc:
        message_send_media(
            conversation=conversation, content=b"MZ", filename="virus.exe", mime="application/x-msdownload"
        )
    assert exc.value.messages == [ERR_MEDIA_TYPE]


def test_reaction_targets_provider_message(conversation, graph):
    inbound = Message.objects.create(
        conversation=conversation,
        channel=conversation.channel,
        direction="in",
        kind="text",
        body="oi",
        provider_message_id="wamid.CUST1",
        status="received",
    )
    reaction = message_react(message=inbound, emoji="👍")
    message_deliver(message_id=reaction.pk)
    assert graph.sent[-1]["reaction"] == {"message_id": "wamid.CUST1", "emoji": "👍"}


def test_mark_read_sends_read_receipt(conversation, graph):
    from inbox.services import message_mark_read

    inbound = Message.objects.create(
        conversation=conversation,
        channel=conversation.channel,
        direction="in",
        kind="text",
        body="oi",
        provider_message_id="wamid.CUST2",
        status="received",
    )
    message_mark_read(message=inbound)
    assert graph.requests[-1].json() == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.CUST2"}
