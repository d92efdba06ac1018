"""Sending through the Graph API stub: request formats, errors, the 24-hour window,
templates, media, reactions, read receipts, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from inbox.models import ChannelStatus, Message, MessageStatus, RealtimeEvent
from inbox.services import (
    ERR_OUTSIDE_WINDOW,
    ERR_TEMPLATES_NOT_AVAILABLE,
    ERR_TEXT_EMPTY,
    message_deliver,
    message_react,
    message_send_media,
    message_send_template,
    message_send_text,
)
from tests.stubs.graph import graph_error


def test_send_text_posts_graph_request_and_stores_wamid(conversation, graph, owner):
    message = message_send_text(conversation=conversation, text="Olá Maria!", by=owner)
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


def test_redelivered_task_does_not_send_twice(conversation, graph):
    message = message_send_text(conversation=conversation, text="uma vez")
    message_deliver(message_id=message.pk)
    message_deliver(message_id=message.pk)
    assert len(graph.sent) == 1


def test_graph_error_marks_message_failed_with_code_title_details(conversation, graph):
    graph.fail_to["5511987654321"] = (
        400,
        graph_error(
            131026, "Message undeliverable", title="Message undeliverable", details="Recipient is not on WhatsApp"
        ),
    )
    message = message_send_text(conversation=conversation, text="oi")
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
    message = message_send_text(conversation=conversation, text="oi")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    conversation.channel.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "190"
    assert conversation.channel.status == ChannelStatus.TOKEN_PROBLEM


def test_retryable_errors_raise_for_task_retry(conversation, graph):
    from inbox.providers.base import ProviderError

    graph.fail_to["5511987654321"] = (429, graph_error(130429, "Rate limit hit"))
    message = message_send_text(conversation=conversation, text="oi")
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


def test_window_open_just_inside_24h(conversation):
    conversation.last_inbound_at = timezone.now() - timedelta(hours=23, minutes=59)
    conversation.save()
    assert message_send_text(conversation=conversation, text="oi").pk


def test_no_customer_message_means_window_closed(conversation):
    conversation.last_inbound_at = None
    conversation.save()
    with pytest.raises(ValidationError):
        message_send_text(conversation=conversation, text="oi")


def test_templates_not_available_yet(conversation):
    with pytest.raises(ValidationError) as exc:
        message_send_template(conversation=conversation, name="hello_world", language="pt_BR")
    assert exc.value.messages == [ERR_TEMPLATES_NOT_AVAILABLE]


def test_empty_text_refused(conversation):
    with pytest.raises(ValidationError) as exc:
        message_send_text(conversation=conversation, text="   ")
    assert exc.value.messages == [ERR_TEXT_EMPTY]


def test_idempotency_key_returns_the_same_message(conversation, owner):
    first = message_send_text(conversation=conversation, text="oi", by=owner, idempotency_key="k-1")
    again = message_send_text(conversation=conversation, text="oi", by=owner, idempotency_key="k-1")
    assert first.pk == again.pk and Message.objects.count() == 1


def test_send_media_uploads_then_sends_by_id(conversation, graph):
    message = message_send_media(
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
