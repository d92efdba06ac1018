"""SMS (Twilio-compatible): X-Twilio-Signature on inbound and status callbacks, sending."""

from __future__ import annotations

from django.db import connection

from inbox.models import Message, MessageStatus, WebhookEvent
from inbox.providers.sms import twilio_signature
from inbox.selectors import channel_webhook_url
from inbox.services import message_deliver, message_send_text, webhook_events_process


def _post(client, channel, form, token):
    url = channel_webhook_url(channel)
    path = url.split("://", 1)[1].split("/", 1)[1]
    signature = twilio_signature(token, url, form)
    return client.post("/" + path, data=form, HTTP_X_TWILIO_SIGNATURE=signature)


def test_twilio_signature_known_vector():
    # The example from Twilio's security documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675310",
        "Digits": "1234",
        "From": "+14158675310",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params) == "GvWf1cFY/Q7PnoempGyD5oXAezc="


def test_inbound_sms_verified_and_processed(sms_channel, public_client, acme, twilio):
    form = {
        "MessageSid": "SM111",
        "AccountSid": twilio.account_sid,
        "From": "+5511987654321",
        "To": "+5511940001000",
        "Body": "Olá",
        "NumMedia": "0",
        "SmsStatus": "received",
    }
    connection.set_schema_to_public()
    response = _post(public_client, sms_channel, form, twilio.auth_token)
    assert response.status_code == 200 and b"<Response>" in response.content
    connection.set_tenant(acme)
    webhook_events_process()
    message = Message.objects.get()
    assert message.body == "Olá" and message.conversation.contact.phone == "+5511987654321"


def test_bad_twilio_signature_is_401(sms_channel, public_client, acme, twilio):
    form = {"MessageSid": "SM112", "From": "+5511987654321", "Body": "x"}
    connection.set_schema_to_public()
    assert _post(public_client, sms_channel, form, "wrong-token").status_code == 401
    response = public_client.post(f"/webhooks/sms/{sms_channel.public_id}/", data=form)
    assert response.status_code == 401
    connection.set_tenant(acme)
    assert WebhookEvent.objects.count() == 0


def test_sms_send_and_status_callbacks(sms_channel, public_client, acme, twilio, contact):
    from django.utils import timezone

    from inbox.models import Conversation

    conversation = Conversation.objects.create(channel=sms_channel, contact=contact, last_inbound_at=timezone.now())
    message, _created = message_send_text(conversation=conversation, text="Seu pedido saiu")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    sent = twilio.requests[-1].form()
    assert (
        sent["To"] == ["+5511987654321"] and sent["From"] == ["+5511940001000"] and sent["Body"] == ["Seu pedido saiu"]
    )
    assert sent["StatusCallback"] == [channel_webhook_url(sms_channel)]  # statuses come back to this channel
    assert message.provider_message_id.startswith("SM") and message.status == MessageStatus.SENT
    connection.set_schema_to_public()
    _post(
        public_client,
        sms_channel,
        {"MessageSid": message.provider_message_id, "MessageStatus": "undelivered", "ErrorCode": "30003"},
        twilio.auth_token,
    )
    _post(
        public_client,
        sms_channel,
        {"MessageSid": message.provider_message_id, "MessageStatus": "sent"},
        twilio.auth_token,
    )
    connection.set_tenant(acme)
    webhook_events_process()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "30003"


def test_sms_invalid_number_fails_with_twilio_error(sms_channel, twilio, contact):
    from django.utils import timezone

    from inbox.models import Conversation

    twilio.invalid_to.add("+5511987654321")
    conversation = Conversation.objects.create(channel=sms_channel, contact=contact, last_inbound_at=timezone.now())
    message, _created = message_send_text(conversation=conversation, text="x")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "21211"


def test_inbound_mms_media_downloaded_from_provider_only(sms_channel, twilio):
    import pytest

    from inbox.providers.base import InboundMessage, ProviderError
    from inbox.services import inbound_message_receive, message_media_store

    twilio.media["ME1"] = (b"\xff\xd8 jpeg", "image/jpeg")
    url = f"{twilio.url}/media/ME1"
    inbound = InboundMessage(
        provider_message_id="MM1",
        phone="+5511987654321",
        wa_id=None,
        name=None,
        kind="image",
        media_id=url,
        media_mime="image/jpeg",
    )
    message = inbound_message_receive(channel=sms_channel, inbound=inbound)
    message_media_store(message_id=message.pk, media_id=url)
    message.refresh_from_db()
    assert message.media.read() == b"\xff\xd8 jpeg"
    assert message_media_store(message_id=message.pk + 1000, media_id=url) is None  # unknown message
    other = inbound_message_receive(
        channel=sms_channel,
        inbound=InboundMessage(
            provider_message_id="MM2",
            phone="+5511987654321",
            wa_id=None,
            name=None,
            kind="image",
            media_id="http://evil.example/x",
        ),
    )
    with pytest.raises(ProviderError):
        message_media_store(message_id=other.pk, media_id="http://evil.example/x")
