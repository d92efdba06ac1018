"""Message media cannot become script on the company's origin (audit H1): uploads of SVG and
``application/vnd.*+xml`` are refused, inbound media types are normalised before they are
stored, and files are served as attachments unless they are raster images, audio or video whose
bytes match their type, always with ``nosniff`` and a sandboxing CSP."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import translation

from inbox import media
from inbox.models import Message, MessageKind
from inbox.providers.sms import twilio_signature
from inbox.selectors import channel_webhook_url
from inbox.services import ERR_MEDIA_TYPE, message_send_media, webhook_events_process
from inbox.tests.test_views_inbox import add_message, make_channel, make_conversation

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"/>'
HTML = b"<html><script>fetch('/settings/api-keys/')</script></html>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def sandbox(tenant):
    return make_channel()


@pytest.fixture
def agent(make_member):
    return make_member("agent", email="agente@acme.test")


def _stored(conversation, *, mime: str, content: bytes, filename: str, kind=MessageKind.DOCUMENT) -> Message:
    """A message whose file is already stored (as an older version, or a provider, left it)."""
    message = add_message(conversation, kind=kind, body="", media_mime=mime, media_filename=filename)
    message.media.save("f.bin", ContentFile(content), save=True)
    return message


def _get(client, message: Message, query: str = ""):
    return client.get(f"/inbox/c/{message.conversation_id}/messages/{message.pk}/media/{query}")


def _assert_sandboxed(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize(
    ("filename", "mime", "content"),
    [
        ("logo.svg", "image/svg+xml", SVG),
        ("dados.xml", "application/vnd.evil+xml", HTML),
        ("x.xhtml", "application/xhtml+xml", HTML),
        ("page.html", "text/html", HTML),
        ("x.xml", "text/xml", HTML),
    ],
)
def test_agents_cannot_send_documents_a_browser_runs(sandbox, filename, mime, content):
    conversation = make_conversation(sandbox)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        message_send_media(conversation=conversation, content=content, filename=filename, mime=mime)
    assert exc.value.messages == [ERR_MEDIA_TYPE]
    assert not Message.objects.filter(media_filename=filename).exists()


def test_the_upload_page_and_the_api_refuse_svg(tenant_client_factory, acme, agent, sandbox):
    conversation = make_conversation(sandbox)
    client = tenant_client_factory(acme, agent)
    page = client.post(
        f"/inbox/c/{conversation.pk}/send-file/",
        {"file": SimpleUploadedFile("logo.svg", SVG, content_type="image/svg+xml")},
        HTTP_HX_REQUEST="true",
    )
    api = client.post(
        f"/api/v1/inbox/conversations/{conversation.pk}/messages/",
        {"type": "media", "file": SimpleUploadedFile("logo.svg", SVG, content_type="image/svg+xml")},
    )
    assert (page.status_code, api.status_code) == (400, 400)
    assert not Message.objects.filter(conversation=conversation).exclude(media="").exists()


def test_an_svg_already_stored_is_downloaded_never_rendered(tenant_client_factory, acme, agent, sandbox):
    message = _stored(make_conversation(sandbox), mime="image/svg+xml", content=SVG, filename="logo.svg")
    response = _get(tenant_client_factory(acme, agent), message)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    _assert_sandboxed(response)


def test_a_real_image_is_shown_inline(tenant_client_factory, acme, agent, sandbox):
    message = _stored(make_conversation(sandbox), mime="image/png", content=PNG, filename="foto.png", kind="image")
    response = _get(tenant_client_factory(acme, agent), message)
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")
    _assert_sandboxed(response)
    download = _get(tenant_client_factory(acme, agent), message, "?download=1")
    assert download["Content-Disposition"].startswith("attachment;")


def test_html_named_png_is_downloaded(tenant_client_factory, acme, agent, sandbox):
    message = _stored(make_conversation(sandbox), mime="image/png", content=HTML, filename="foto.png", kind="image")
    response = _get(tenant_client_factory(acme, agent), message)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "image/png"
    _assert_sandboxed(response)


def test_documents_are_attachments(tenant_client_factory, acme, agent, sandbox):
    message = _stored(make_conversation(sandbox), mime="application/pdf", content=b"%PDF-1.4", filename="boleto.pdf")
    response = _get(tenant_client_factory(acme, agent), message)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/pdf"
    _assert_sandboxed(response)


def test_a_filename_with_a_newline_is_served(tenant_client_factory, acme, agent, sandbox):
    """Audit I: an inbound filename with a newline made the response raise BadHeaderError."""
    message = _stored(
        make_conversation(sandbox), mime="application/pdf", content=b"%PDF", filename="nota\r\nSet-Cookie: x=1.pdf"
    )
    response = _get(tenant_client_factory(acme, agent), message)
    assert response.status_code == 200
    assert "\n" not in response["Content-Disposition"] and "Set-Cookie" not in response.headers


def test_an_inbound_mms_declared_as_html_is_stored_as_a_download(
    sms_channel, public_client, acme, twilio, tenant_client_factory, agent
):
    """The audit's end-to-end case: a validly signed MMS whose media says text/html."""
    twilio.media["MEhtml"] = (HTML, "text/html")
    form = {
        "MessageSid": "MMhtml",
        "AccountSid": twilio.account_sid,
        "From": "+5511987654321",
        "To": "+5511940001000",
        "Body": "",
        "NumMedia": "1",
        "MediaUrl0": f"{twilio.url}/media/MEhtml",
        "MediaContentType0": "text/html",
        "SmsStatus": "received",
    }
    url = channel_webhook_url(sms_channel)
    connection.set_schema_to_public()
    response = public_client.post(
        "/" + url.split("://", 1)[1].split("/", 1)[1],
        data=form,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(twilio.auth_token, url, form),
    )
    assert response.status_code == 200
    connection.set_tenant(acme)
    webhook_events_process()
    message = Message.objects.get(provider_message_id="MMhtml")
    from inbox.services import message_media_store

    message_media_store(message_id=message.pk, media_id=form["MediaUrl0"])
    message.refresh_from_db()
    assert message.media_mime == "application/octet-stream"
    assert not message.media.name.endswith((".html", ".htm"))
    served = _get(tenant_client_factory(acme, agent), message)
    assert served["Content-Disposition"].startswith("attachment;")
    assert served["Content-Type"] == "application/octet-stream"
    _assert_sandboxed(served)


@pytest.mark.parametrize(
    ("stated", "kept"),
    [
        ("image/jpeg", "image/jpeg"),
        ("IMAGE/PNG; charset=binary", "image/png"),
        ("audio/ogg; codecs=opus", "audio/ogg"),
        ("application/pdf", "application/pdf"),
        ("image/svg+xml", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("application/vnd.evil+xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_stated_types_are_normalised(stated, kept):
    assert media.normalize_mime(stated) == kept


def test_inbound_meta_media_type_is_normalised(cloud_channel, graph):
    from inbox.providers.base import InboundMessage
    from inbox.services import inbound_message_receive, message_media_store

    graph.media["svg1"] = (SVG, "image/svg+xml")
    inbound = InboundMessage(
        provider_message_id="wamid.SVG",
        phone="5511987654321",
        wa_id="5511987654321",
        name="X",
        kind="document",
        media_id="svg1",
        media_mime="image/svg+xml",
        media_filename="logo.svg",
    )
    message = inbound_message_receive(channel=cloud_channel, inbound=inbound)
    assert message.media_mime == "application/octet-stream"
    message_media_store(message_id=message.pk, media_id="svg1")
    message.refresh_from_db()
    assert message.media_mime == "application/octet-stream"


def test_the_api_refuses_a_file_over_16_mb_before_reading_it(tenant_client_factory, acme, agent, sandbox):
    """Audit L2: the API read the whole upload into memory before checking its size."""
    from inbox.services import ERR_MEDIA_TOO_LARGE, MAX_MEDIA_BYTES

    conversation = make_conversation(sandbox)
    client = tenant_client_factory(acme, agent)
    client.cookies["django_language"] = "en"
    response = client.post(
        f"/api/v1/inbox/conversations/{conversation.pk}/messages/",
        {"type": "media", "file": SimpleUploadedFile("big.png", PNG + b"\0" * MAX_MEDIA_BYTES, "image/png")},
    )
    assert response.status_code == 400
    assert response.json()["file"] == [ERR_MEDIA_TOO_LARGE]
    assert not Message.objects.filter(conversation=conversation).exists()
