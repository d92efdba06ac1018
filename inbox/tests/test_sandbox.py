"""The sandbox number: sends succeed and statuses come back through the webhook path."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from inbox.models import Conversation, Message, MessageStatus, WebhookEvent
from inbox.services import (
    ERR_SANDBOX_ONLY,
    message_deliver,
    message_send_text,
    sandbox_simulate_reply,
    webhook_events_process,
)


def test_simulated_reply_arrives_through_signed_webhook(sandbox_channel):
    assert sandbox_simulate_reply(channel=sandbox_channel, contact_phone="(11) 98765-4321", text="Oi, tudo bem?")
    event = WebhookEvent.objects.get()
    assert event.provider == "sandbox" and event.processed_at is None
    webhook_events_process()
    message = Message.objects.get()
    assert message.body == "Oi, tudo bem?" and message.direction == "in"
    assert message.conversation.contact.phone == "+5511987654321"


def test_sandbox_send_then_statuses_sent_delivered_read(
    sandbox_channel, django_capture_on_commit_callbacks, queued_tasks
):
    from inbox import tasks

    sandbox_simulate_reply(channel=sandbox_channel, contact_phone="+5511987654321", text="oi")
    webhook_events_process()
    conversation = Conversation.objects.get()
    message, _created = message_send_text(conversation=conversation, text="Olá!")
    with django_capture_on_commit_callbacks(execute=True):
        message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    emitted = queued_tasks.tasks("inbox.sandbox_emit_status")
    assert [t.args[3] for t in emitted] == ["sent", "delivered", "read"]
    schema = connection.schema_name
    assert all(t.args[:3] == [schema, sandbox_channel.pk, message.provider_message_id] for t in emitted)
    assert all(t.eta for t in emitted)  # reported a moment later, like a real provider
    # the "provider" reports them as signed Meta webhooks, processed like any other
    for task in emitted:
        tasks.sandbox_emit_status.run(*task.args)
    webhook_events_process()
    message.refresh_from_db()
    assert message.status == MessageStatus.READ


def test_simulate_only_on_sandbox(cloud_channel):
    with pytest.raises(ValidationError) as exc:
        sandbox_simulate_reply(channel=cloud_channel, contact_phone="+5511987654321", text="x")
    assert exc.value.messages == [ERR_SANDBOX_ONLY]
