"""Property-based: fuzzed but validly signed webhook bodies, through every way in (the Django
view, the dedicated intake server, the web process's ASGI fast path) and then the processing.

For every example: each well-formed, signed request is answered 200 (never a 500), every
recorded event leaves the queue (processed, or parked as dead: none stuck), and a valid
message sent after the fuzzed ones is processed. The long version is ``make bench
ONLY=webhook_fuzz``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import uuid

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from inbox.models import Message, WebhookEvent
from inbox.providers.meta import meta_signature, parse_meta_payload
from inbox.providers.sms import SmsProvider
from inbox.services import webhook_events_process
from inbox.tests.helpers import meta_envelope, post_meta, text_message
from tests.fuzz import PHONE_NUMBER_ID, examples, json_values, meta_bodies, meta_envelopes, sms_forms


def _valid_message() -> tuple[str, bytes]:
    wamid = f"wamid.VALID{uuid.uuid4().hex[:16]}"
    body = json.dumps(meta_envelope(text_message(wamid, "5511987650000", "depois do ruído"))).encode()
    return wamid, body


def _drain_and_check(company, wamids: list[str]) -> None:
    """Process everything due; nothing may stay in the queue, and the valid messages are in."""
    connection.set_tenant(company)
    try:
        while webhook_events_process(limit=200):
            pass
        stuck = list(WebhookEvent.objects.filter(processed_at__isnull=True).values_list("id", "error", "attempts"))
        assert stuck == []
        assert set(
            Message.objects.filter(provider_message_id__in=wamids).values_list("provider_message_id", flat=True)
        ) == set(wamids)
    finally:
        connection.set_schema_to_public()


# --- the parsers alone ------------------------------------------------------------------------


@examples(150)
@given(st.one_of(meta_envelopes, json_values))
def test_meta_parser_accepts_any_json_value(payload):
    parsed = parse_meta_payload(payload, phone_number_id=PHONE_NUMBER_ID)
    for message in parsed.messages:
        assert 0 < len(message.provider_message_id) <= 128 and 0 < len(message.phone) <= 32
    for status in parsed.statuses:
        assert 0 < len(status.provider_message_id) <= 128 and status.status in {"sent", "delivered", "read", "failed"}
    assert all(isinstance(note, str) and len(note) < 200 for note in parsed.ignored)


@examples(60)
@given(st.one_of(sms_forms, json_values))
def test_sms_parser_accepts_any_json_value(payload):
    parsed = SmsProvider(None).parse(payload)
    for message in parsed.messages:
        assert 0 < len(message.provider_message_id) <= 128 and 0 < len(message.phone) <= 40


# --- the Django view --------------------------------------------------------------------------


@examples(20)
@given(st.lists(meta_bodies, min_size=1, max_size=4))
def test_fuzzed_deliveries_through_the_django_view(cloud_channel, public_client, acme, bodies):
    connection.set_schema_to_public()
    for body in bodies:
        response = post_meta(
            public_client, cloud_channel, None, raw=body, signature=meta_signature("meta-app-secret", body)
        )
        assert response.status_code == 200
    wamid, body = _valid_message()
    assert (
        post_meta(
            public_client, cloud_channel, None, raw=body, signature=meta_signature("meta-app-secret", body)
        ).status_code
        == 200
    )
    _drain_and_check(acme, [wamid])


@examples(15)
@given(
    st.lists(
        st.one_of(
            sms_forms, st.dictionaries(st.sampled_from(["MessageSid", "From", "Body", "X"]), st.text(max_size=5))
        ),
        min_size=1,
        max_size=3,
    )
)
def test_fuzzed_sms_callbacks_through_the_django_view(sms_channel, public_client, acme, forms):
    from inbox.providers.sms import twilio_signature
    from inbox.selectors import channel_webhook_url

    connection.set_tenant(acme)
    url = channel_webhook_url(sms_channel)
    connection.set_schema_to_public()
    for form in forms:
        response = public_client.post(
            f"/webhooks/sms/{sms_channel.public_id}/",
            data=form,
            HTTP_X_TWILIO_SIGNATURE=twilio_signature(sms_channel.auth_token, url, form),
        )
        assert response.status_code == 200
    _drain_and_check(acme, [])


# --- the intake server and the ASGI fast path, with the real group writer -----------------------


class _Loop:
    """An event loop in a thread of its own, serving the intake server (and driving the ASGI
    fast path) while the test posts from the test's thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _committed(django_db_blocker, fn):
    """Run ``fn`` on a connection of its own: what it writes is committed."""
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


@pytest.fixture(scope="module")
def servers(django_db_blocker):
    """A committed Cloud API channel of acme (the writers work on their own connections) and
    both webhook servers around one event loop."""
    from inbox import intake
    from inbox.asgi import WebhookFastPath, WebhookIntake
    from inbox.services import channel_create
    from tenants.models import Company

    def forget(company, public_ids) -> None:
        """Delete the committed channel and its deliveries (raw SQL: a delivery Python cannot
        read must not stop the clean-up), and its webhook route."""
        with connection.cursor() as cursor:
            cursor.execute(
                f'DELETE FROM "{company.schema_name}".inbox_webhookevent WHERE channel_id IN'
                f' (SELECT id FROM "{company.schema_name}".inbox_channel WHERE public_id = ANY(%s))',
                [public_ids],
            )
            cursor.execute(f'DELETE FROM "{company.schema_name}".inbox_channel WHERE public_id = ANY(%s)', [public_ids])
            cursor.execute("DELETE FROM tenants_webhookroute WHERE channel_public_id = ANY(%s)", [public_ids])

    def setup():
        company = Company.objects.get(slug="acme")
        connection.set_tenant(company)
        # what an interrupted run may have left
        from inbox.models import Channel

        forget(company, list(Channel.objects.filter(name="Fuzz").values_list("public_id", flat=True)))
        channel = channel_create(
            kind="whatsapp_cloud",
            name="Fuzz",
            config={"phone_number_id": PHONE_NUMBER_ID, "waba_id": "9"},
            credentials={"access_token": "t", "app_secret": "fuzz-secret"},
        )
        return company, channel

    company, channel = _committed(django_db_blocker, setup)
    loop = _Loop()
    intake_app = intake.IntakeApp(WebhookIntake())
    listener, connections = loop.run(intake.start(intake_app, "127.0.0.1", 0))

    async def django_app(scope, receive, send):  # the fast path answers webhooks before this
        raise AssertionError(f"not a webhook: {scope['path']}")

    fast = WebhookFastPath(django_app)
    yield {
        "company": company,
        "channel": channel,
        "port": listener.sockets[0].getsockname()[1],
        "fast": fast,
        "loop": loop,
    }
    loop.run(intake.stop(listener, connections, timeout=2))

    async def close(writer):
        if writer.task is not None:
            writer.task.cancel()
        if writer.conn is not None:
            await writer.conn.close()

    for writer in (intake_app.intake.writer, fast.intake.writer):
        loop.run(close(writer))
    loop.close()

    def cleanup():
        forget(company, [channel.public_id])

    _committed(django_db_blocker, cleanup)


def _route(servers) -> None:
    """The route of the committed channel, as the servers' cache holds it after a first lookup
    (the test's own connection could not look it up for them)."""
    from inbox import webhooks

    webhooks._cache[str(servers["channel"].public_id)] = webhooks._Target(
        company=servers["company"],
        schema=servers["company"].schema_name,
        channel=servers["channel"],
        expires=time.monotonic() + 3600,
    )


def _post_intake(servers, body: bytes) -> int:
    client = http.client.HTTPConnection("127.0.0.1", servers["port"], timeout=10)
    try:
        client.request(
            "POST",
            f"/webhooks/whatsapp/{servers['channel'].public_id}/",
            body=body,
            headers={
                "Host": "localhost",
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta_signature("fuzz-secret", body),
            },
        )
        return client.getresponse().status
    finally:
        client.close()


def _post_fast_path(servers, body: bytes) -> int:
    sent: list[dict] = []
    chunks = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.request", "body": body[len(body) // 2 :]},
    ]
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/webhooks/whatsapp/{servers['channel'].public_id}/",
        "headers": [(b"host", b"localhost"), (b"x-hub-signature-256", meta_signature("fuzz-secret", body).encode())],
    }

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    servers["loop"].run(servers["fast"](scope, receive, send))
    return sent[0]["status"]


_sent: set[bytes] = set()


@examples(15)
@given(st.lists(meta_bodies, min_size=1, max_size=4))
def test_fuzzed_deliveries_through_both_webhook_servers(servers, db, bodies):
    _route(servers)
    # The test's transaction holds the rows it processed until it ends, and a redelivery of
    # one of them would wait for it (ON CONFLICT checks the locked row): each body once.
    bodies = [b for b in dict.fromkeys(bodies) if b not in _sent]
    _sent.update(bodies)
    for i, body in enumerate(bodies):
        post = _post_intake if i % 2 == 0 else _post_fast_path
        assert post(servers, body) == 200
    wamids = []
    for post in (_post_intake, _post_fast_path):
        wamid, body = _valid_message()
        wamids.append(wamid)
        assert post(servers, body) == 200
    _drain_and_check(servers["company"], wamids)
