"""Meta webhooks: verification handshake, signatures, durable idempotent recording, batch
processing, statuses that only move forward, malformed input, tenant routing."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from inbox.models import Conversation, Message, MessageStatus, WebhookEvent
from inbox.services import webhook_events_process
from inbox.services.webhook_events import ERR_MALFORMED
from inbox.tests.helpers import meta_envelope, post_meta, status, text_message


def _in(company, fn):
    connection.set_tenant(company)
    try:
        return fn()
    finally:
        connection.set_schema_to_public()


def test_get_verification_echoes_challenge_with_right_token(cloud_channel, public_client):
    url = f"/webhooks/whatsapp/{cloud_channel.public_id}/"
    ok = public_client.get(
        url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    bad = public_client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403


def test_wrong_or_missing_signature_is_401_and_stores_nothing(cloud_channel, public_client, acme):
    payload = meta_envelope(text_message("wamid.A1", "5511987654321", "oi"))
    assert post_meta(public_client, cloud_channel, payload, secret="wrong-secret").status_code == 401
    assert post_meta(public_client, cloud_channel, payload, signature="").status_code == 401
    assert _in(acme, lambda: WebhookEvent.objects.count()) == 0


def test_unknown_channel_is_404(public_client, tenant):
    response = public_client.post(
        "/webhooks/whatsapp/00000000-0000-0000-0000-000000000000/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_inbound_message_creates_contact_conversation_and_message(cloud_channel, public_client, acme):
    # given a customer whose WhatsApp id lacks the ninth digit, saved in the CRM with it
    from crm.models import Contact

    saved = Contact.objects.create(phone="+5511987654321", name="Maria")
    connection.set_schema_to_public()
    payload = meta_envelope(text_message("wamid.IN1", "551187654321", "Olá, tudo bem?", name="Maria S."))
    # when Meta delivers the message (twice: a redelivery)
    assert post_meta(public_client, cloud_channel, payload).status_code == 200
    assert post_meta(public_client, cloud_channel, payload).status_code == 200

    def check():
        assert WebhookEvent.objects.count() == 1
        webhook_events_process()
        message = Message.objects.get(provider_message_id="wamid.IN1")
        assert message.body == "Olá, tudo bem?" and message.direction == "in"
        assert message.conversation.contact_id == saved.pk
        conversation = Conversation.objects.get()
        assert conversation.unread_count == 1 and conversation.last_inbound_at is not None
        assert WebhookEvent.objects.get().processed_at is not None

    _in(acme, check)


def test_replayed_message_in_new_delivery_is_not_duplicated(cloud_channel, public_client, acme):
    one = meta_envelope(text_message("wamid.R1", "5511987654321", "oi"))
    two = meta_envelope(text_message("wamid.R1", "5511987654321", "oi"))
    two["entry"][0]["id"] = "other-envelope"  # same message, different bytes
    post_meta(public_client, cloud_channel, one)
    post_meta(public_client, cloud_channel, two)

    def check():
        assert WebhookEvent.objects.count() == 2
        webhook_events_process()
        assert Message.objects.filter(provider_message_id="wamid.R1").count() == 1
        assert Conversation.objects.get().unread_count == 1

    _in(acme, check)


def test_malformed_json_and_unknown_events_are_recorded_and_ignored(cloud_channel, public_client, acme):
    from inbox.providers.meta import meta_signature

    raw = b"{not json"
    response = post_meta(public_client, cloud_channel, None, raw=raw, signature=meta_signature("meta-app-secret", raw))
    assert response.status_code == 200
    unknown = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}],
    }
    assert post_meta(public_client, cloud_channel, unknown).status_code == 200

    def check():
        events = list(WebhookEvent.objects.order_by("id"))
        assert len(events) == 2
        assert events[0].error == ERR_MALFORMED and events[0].body == "{not json"
        assert events[0].dead_at is not None  # nothing in it can ever be processed
        webhook_events_process()
        events[1].refresh_from_db()
        assert events[1].processed_at is not None and "account_update" in events[1].error
        assert Message.objects.count() == 0

    _in(acme, check)


def test_bad_part_of_a_batch_keeps_the_good_parts(cloud_channel, public_client, acme):
    value = text_message("wamid.G1", "5511987654321", "boa")
    value["messages"].append({"from": "5511987654321", "type": "text"})  # no id
    value["messages"].append({"from": "abc", "id": "wamid.BADPHONE", "type": "text", "text": {"body": "x"}})
    value["messages"].append({"from": "5511912345678", "id": "wamid.G2", "type": "text", "text": {"body": "outra"}})
    assert post_meta(public_client, cloud_channel, meta_envelope(value)).status_code == 200

    def check():
        webhook_events_process()
        assert set(Message.objects.values_list("provider_message_id", flat=True)) == {"wamid.G1", "wamid.G2"}
        event = WebhookEvent.objects.get()
        assert event.processed_at is not None and "wamid.BADPHONE" in event.error

    _in(acme, check)


def _outbound(conversation, wamid, status=MessageStatus.SENT):
    return Message.objects.create(
        conversation=conversation,
        channel=conversation.channel,
        direction="out",
        kind="text",
        body="hi",
        provider_message_id=wamid,
        status=status,
    )


def test_statuses_only_move_forward_even_out_of_order(conversation, public_client, acme):
    message = _outbound(conversation, "wamid.OUT1")
    channel = conversation.channel
    connection.set_schema_to_public()
    # read arrives before delivered, then a late "sent"
    post_meta(public_client, channel, meta_envelope({"statuses": [status("wamid.OUT1", "read", ts=1700000300)]}))
    post_meta(public_client, channel, meta_envelope({"statuses": [status("wamid.OUT1", "delivered", ts=1700000200)]}))
    post_meta(public_client, channel, meta_envelope({"statuses": [status("wamid.OUT1", "sent", ts=1700000100)]}))

    def check():
        webhook_events_process()
        message.refresh_from_db()
        assert message.status == MessageStatus.READ

    _in(acme, check)


def test_failed_status_keeps_meta_error_and_does_not_override_delivered(conversation, public_client, acme):
    failing = _outbound(conversation, "wamid.F1")
    delivered = _outbound(conversation, "wamid.F2", status=MessageStatus.DELIVERED)
    channel = conversation.channel
    connection.set_schema_to_public()
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {
            "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
        },
    }
    payload = meta_envelope(
        {"statuses": [status("wamid.F1", "failed", errors=[error]), status("wamid.F2", "failed", errors=[error])]}
    )
    post_meta(public_client, channel, payload)

    def check():
        webhook_events_process()
        failing.refresh_from_db()
        delivered.refresh_from_db()
        assert failing.status == MessageStatus.FAILED
        assert failing.error_code == "131047" and failing.error_title == "Re-engagement message"
        assert "24 hours" in failing.error_details
        assert delivered.status == MessageStatus.DELIVERED and delivered.error_code == ""

    _in(acme, check)


def test_status_events_are_logged_for_catch_up(conversation, public_client, acme):
    from inbox.models import RealtimeEvent

    message = _outbound(conversation, "wamid.EV1")
    channel = conversation.channel
    connection.set_schema_to_public()
    post_meta(public_client, channel, meta_envelope({"statuses": [status("wamid.EV1", "delivered")]}))

    def check():
        webhook_events_process()
        event = RealtimeEvent.objects.filter(type="message", op="status").latest("id")
        assert event.conversation_id == conversation.pk
        assert event.payload["message"] == {
            "id": message.pk,
            "conversation": conversation.pk,
            "status": "delivered",
            "error_code": "",
            "error_title": "",
            "error_details": "",
        }

    _in(acme, check)


def test_webhook_goes_to_the_owning_company_only(public_client, acme, other_company, graph):
    from inbox.services import channel_create

    connection.set_tenant(other_company)
    theirs = channel_create(
        kind="whatsapp_cloud",
        name="Other",
        config={"phone_number_id": "1065559999", "waba_id": "1"},
        credentials={"access_token": "t", "app_secret": "other-secret"},
    )
    connection.set_schema_to_public()
    payload = meta_envelope(text_message("wamid.O1", "5511987654321", "oi"), phone_number_id="1065559999")
    assert post_meta(public_client, theirs, payload).status_code == 200
    assert _in(other_company, lambda: WebhookEvent.objects.count()) == 1
    assert _in(acme, lambda: WebhookEvent.objects.count()) == 0


def test_same_phone_number_id_cannot_be_connected_twice(cloud_channel, other_company):
    """Once Meta confirmed the number is acme's (inbox/tests/test_number_claims.py)."""
    from django.core.exceptions import ValidationError

    from inbox.services import ERR_NUMBER_IN_USE, channel_create, channel_number_confirm

    assert channel_number_confirm(channel=cloud_channel)
    connection.set_tenant(other_company)
    with pytest.raises(ValidationError) as exc:
        channel_create(
            kind="whatsapp_cloud",
            name="Clone",
            config={"phone_number_id": "1065550001", "waba_id": "1"},
            credentials={"access_token": "t", "app_secret": "s"},
        )
    assert ERR_NUMBER_IN_USE in json.dumps(exc.value.message_dict)


def test_status_arriving_before_the_send_is_stored_is_applied_later(cloud_channel, graph, contact):
    from django.utils import timezone

    from inbox.models import PendingStatus
    from inbox.providers.base import StatusUpdate
    from inbox.services import message_deliver, message_send_text, message_statuses_apply

    conversation = Conversation.objects.create(channel=cloud_channel, contact=contact, last_inbound_at=timezone.now())
    message, _created = message_send_text(conversation=conversation, text="rápido")
    graph.next_ids.append("wamid.EARLY0001")
    # Meta's "delivered" webhook is processed before our send stored the message id
    message_statuses_apply(
        channel=cloud_channel, statuses=[StatusUpdate(provider_message_id="wamid.EARLY0001", status="delivered")]
    )
    assert PendingStatus.objects.filter(provider_message_id="wamid.EARLY0001").exists()
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.provider_message_id == "wamid.EARLY0001" and message.status == MessageStatus.DELIVERED
    assert not PendingStatus.objects.exists()
