"""One odd delivery never stops a company's webhook processing: parsers skip what does not
have the documented shape, an event that fails is retried with backoff and then parked as
dead, and the events after it are processed all the same."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inbox.models import Message, MessageStatus, WebhookEvent
from inbox.providers.meta import meta_signature, parse_meta_payload
from inbox.services import webhook_events_process, webhook_events_reprocess
from inbox.services.webhook_events import ERR_TOO_DEEP, MAX_ATTEMPTS, RETRY_DELAYS
from inbox.tests.helpers import meta_envelope, post_meta, status, text_message

ODD_META_BODIES = [
    {"object": "whatsapp_business_account", "entry": [{"changes": 1.5}]},
    {"object": "whatsapp_business_account", "entry": 1.5},
    {"object": "whatsapp_business_account", "entry": "abc"},
    {"object": "whatsapp_business_account", "entry": {"changes": []}},
    {"object": "whatsapp_business_account", "entry": [{"changes": {"field": "messages"}}]},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": []}]}]},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": ["x"], "value": {}}]}]},
    {"object": ["whatsapp_business_account"]},
    meta_envelope({"metadata": [], "messages": {"id": "x"}}),
    meta_envelope({"contacts": "Maria", "messages": "oi", "statuses": 7, "errors": {"code": 1}}),
    meta_envelope({"contacts": [None, 1, {"wa_id": {}}], "messages": [None, 1, "x", []]}),
    meta_envelope({"messages": [{"id": {"a": 1}, "from": ["5511987654321"], "type": {"t": 1}}]}),
    meta_envelope({"messages": [{"id": "wamid.X", "from": "5511987654321", "type": "text", "text": "oi"}]}),
    meta_envelope({"messages": [{"id": "wamid.Y", "from": "5511987654321", "type": "interactive", "interactive": 1}]}),
    meta_envelope({"messages": [{"id": "wamid.Z", "from": "5511987654321", "type": "image", "image": {"id": []}}]}),
    meta_envelope({"messages": [{"id": "w" * 500, "from": "5511987654321", "type": "text", "text": {"body": "x"}}]}),
    meta_envelope({"messages": [{"id": "wamid.LONG", "from": "5" * 500, "type": "text", "text": {"body": "x"}}]}),
    meta_envelope({"statuses": [{"id": "wamid.S", "status": "read", "errors": {"0": 1}}]}),
    meta_envelope({"statuses": [{"id": "wamid.S", "status": "failed", "errors": ["x", {"error_data": 3}]}]}),
    meta_envelope({"statuses": [{"id": "s" * 500, "status": "delivered"}]}),
    meta_envelope({"statuses": [{"id": "wamid.S", "status": ["read"], "timestamp": [1]}]}),
    meta_envelope({"statuses": [{"id": "wamid.S", "status": "read", "timestamp": "9" * 40}]}),
    meta_envelope({"errors": [{"code": [[[]]], "title": {"x": "y"}}]}),
    None,
    [],
    "texto",
    12,
]


def _in(company, fn):
    connection.set_tenant(company)
    try:
        return fn()
    finally:
        connection.set_schema_to_public()


def _deep(levels: int) -> str:
    """A Meta envelope whose ``value`` holds a list nested ``levels`` deep."""
    body = "[" * levels + "]" * levels
    text = json.dumps(meta_envelope({"messages": []})).replace('"messages": []', f'"messages": {body}')
    return text


@pytest.mark.parametrize("body", ODD_META_BODIES, ids=range(len(ODD_META_BODIES)))
def test_parser_accepts_any_json_value_and_says_what_it_skipped(body):
    parsed = parse_meta_payload(body, phone_number_id="1065550001")
    assert parsed.messages == [] or all(m.provider_message_id for m in parsed.messages)
    assert parsed.ignored or parsed.messages or parsed.statuses


def test_parser_keeps_the_valid_parts_next_to_odd_ones():
    value = text_message("wamid.OK1", "5511987654321", "oi")
    value["messages"].insert(0, {"id": "wamid.BAD", "type": "text", "from": {"x": 1}})
    value["statuses"] = [7, status("wamid.OUT", "read")]
    parsed = parse_meta_payload(meta_envelope(value), phone_number_id="1065550001")
    assert [m.provider_message_id for m in parsed.messages] == ["wamid.OK1"]
    assert [s.provider_message_id for s in parsed.statuses] == ["wamid.OUT"]
    assert "message without id or sender" in parsed.ignored and "malformed status" in parsed.ignored


def test_odd_deliveries_do_not_stop_the_messages_after_them(cloud_channel, public_client, acme):
    """The issue's case: ``"changes": 1.5`` made every later event of the company wait forever."""
    for body in ODD_META_BODIES:
        assert post_meta(public_client, cloud_channel, body).status_code == 200
    valid = meta_envelope(text_message("wamid.AFTER", "5511987654321", "ainda aí?"))
    assert post_meta(public_client, cloud_channel, valid).status_code == 200

    def check():
        assert webhook_events_process() == len(ODD_META_BODIES) + 1
        assert Message.objects.filter(provider_message_id="wamid.AFTER").exists()
        assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()
        assert not WebhookEvent.objects.filter(dead_at__isnull=False).exists()
        first = WebhookEvent.objects.order_by("id").first()
        assert first.error == "changes is not a list"

    _in(acme, check)


def test_body_nested_thousands_deep_is_kept_as_dead_and_answered_200(cloud_channel, public_client, acme):
    deep = _deep(5000)
    signature = meta_signature("meta-app-secret", deep.encode())
    response = post_meta(public_client, cloud_channel, None, raw=deep.encode(), signature=signature)
    assert response.status_code == 200
    post_meta(public_client, cloud_channel, meta_envelope(text_message("wamid.D2", "5511987654321", "oi")))

    def check():
        event = WebhookEvent.objects.order_by("id").first()
        assert event.payload is None and event.error == ERR_TOO_DEEP and event.dead_at is not None
        assert event.body == deep
        webhook_events_process()
        assert Message.objects.filter(provider_message_id="wamid.D2").exists()

    _in(acme, check)


@pytest.mark.parametrize(
    "raw",
    [b'{"a": NaN}', b'{"a": "\\u0000"}', b'{"a": "\\ud800"}', b'{"a": 1e400}', b"[" * 70 + b"]" * 70],
    ids=["nan", "nul", "lone-surrogate", "infinity", "deeper-than-64"],
)
def test_bodies_postgresql_cannot_store_as_json_are_kept_as_raw_text(cloud_channel, public_client, acme, raw):
    """Python's parser accepts these, jsonb refuses them: the Django view answered 500."""
    response = post_meta(public_client, cloud_channel, None, raw=raw, signature=meta_signature("meta-app-secret", raw))
    assert response.status_code == 200

    def check():
        event = WebhookEvent.objects.get()
        assert event.payload is None and event.dead_at is not None and event.error

    _in(acme, check)


def test_sms_form_with_a_nul_byte_is_recorded(sms_channel, public_client, acme):
    from inbox.providers.sms import twilio_signature
    from inbox.selectors import channel_webhook_url

    connection.set_tenant(acme)
    url = channel_webhook_url(sms_channel)
    connection.set_schema_to_public()
    form = {"MessageSid": "SM1", "From": "+5511987654321", "Body": "a\x00b"}
    response = public_client.post(
        f"/webhooks/sms/{sms_channel.public_id}/",
        data=form,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(sms_channel.auth_token, url, form),
    )
    assert response.status_code == 200

    def check():
        webhook_events_process()
        assert Message.objects.get(provider_message_id="SM1").body == "a\ufffdb"

    _in(acme, check)


# --- failures: retried with backoff, then dead --------------------------------------------------

POISON_TRIGGER = """
CREATE FUNCTION poison_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.provider_message_id LIKE 'wamid.POISON%' AND NEW.status <> 'sent' THEN
        RAISE EXCEPTION 'poisoned message %', NEW.provider_message_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON inbox_message FOR EACH ROW EXECUTE FUNCTION poison_message();
"""


@pytest.fixture
def poison(tenant):
    """A real database failure for messages whose provider id starts with ``wamid.POISON``,
    when stored as received or moved past "sent" (the trigger lives in the test's transaction
    and is rolled back with it)."""
    with connection.cursor() as cursor:
        cursor.execute(POISON_TRIGGER)

    def cure():
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER poison ON inbox_message")

    return cure


def _record(channel, payload) -> WebhookEvent:
    import hashlib

    from inbox.services import webhook_event_record

    body = json.dumps(payload).encode()
    key = "meta:" + hashlib.sha256(body).hexdigest()
    assert webhook_event_record(channel_id=channel.pk, provider=channel.kind, body=body, dedupe_key=key)
    return WebhookEvent.objects.get(dedupe_key=key)


def test_failing_event_is_retried_with_backoff_then_parked_dead(cloud_channel, poison):
    # given a message the database refuses, between two good ones
    before = _record(cloud_channel, meta_envelope(text_message("wamid.B1", "5511987654321", "um")))
    bad = _record(cloud_channel, meta_envelope(text_message("wamid.POISON1", "5511987654322", "dois")))
    after = _record(cloud_channel, meta_envelope(text_message("wamid.A1", "5511987654323", "três")))
    now = timezone.now()
    # when the batch is processed
    assert webhook_events_process(now=now) == 3
    # then the good ones are processed and the bad one waits for its next attempt
    assert set(Message.objects.values_list("provider_message_id", flat=True)) == {"wamid.B1", "wamid.A1"}
    for event in (before, after):
        event.refresh_from_db()
        assert event.processed_at is not None and event.error == ""
    bad.refresh_from_db()
    assert bad.processed_at is None and bad.attempts == 1 and "poisoned message wamid.POISON1" in bad.error
    assert bad.retry_at == now + timedelta(seconds=RETRY_DELAYS[0])
    # not due yet: nothing to do, and nothing else waits for it
    assert webhook_events_process(now=now + timedelta(seconds=RETRY_DELAYS[0] - 1)) == 0
    # each later attempt fails again, further apart, until it is parked as dead
    for attempt in range(2, MAX_ATTEMPTS + 1):
        assert webhook_events_process(now=bad.retry_at) == 1
        previous, bad = bad, WebhookEvent.objects.get(pk=bad.pk)
        assert bad.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert bad.retry_at - previous.retry_at == timedelta(seconds=RETRY_DELAYS[attempt - 1])
    assert bad.dead_at is not None and bad.processed_at is not None and bad.retry_at is None
    assert webhook_events_process(now=now + timedelta(days=1)) == 0
    # once the cause is gone, support sends it back and it is processed
    poison()
    assert webhook_events_reprocess(event_ids=[bad.pk, before.pk]) == 1  # only dead ones
    assert webhook_events_process() == 1
    bad.refresh_from_db()
    assert bad.dead_at is None and bad.processed_at is not None and bad.attempts == 0
    assert Message.objects.filter(provider_message_id="wamid.POISON1").exists()


def test_a_status_batch_that_fails_as_a_whole_is_isolated_per_event(conversation, poison):
    """Statuses of a batch are applied in one statement; one poisoned row fails it, and the
    batch is applied again event by event so only that event fails."""
    for wamid in ("wamid.OUT1", "wamid.POISON2", "wamid.OUT3"):
        Message.objects.create(
            conversation=conversation,
            channel=conversation.channel,
            direction="out",
            kind="text",
            body="oi",
            provider_message_id=wamid,
            status=MessageStatus.SENT,
        )
    channel = conversation.channel
    events = [
        _record(channel, meta_envelope({"statuses": [status(w, "delivered")]}))
        for w in ("wamid.OUT1", "wamid.POISON2", "wamid.OUT3")
    ]
    assert webhook_events_process() == 3
    statuses = dict(Message.objects.values_list("provider_message_id", "status"))
    assert statuses == {"wamid.OUT1": "delivered", "wamid.POISON2": "sent", "wamid.OUT3": "delivered"}
    stored = WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id")
    states = [(e.processed_at is not None, e.attempts) for e in stored]
    assert states == [(True, 0), (False, 1), (True, 0)]


def test_events_waiting_for_a_later_attempt_are_not_due(cloud_channel, poison):
    """What the periodic sweep asks each company before queuing a drain."""
    from inbox.selectors import webhook_events_pending

    bad = _record(cloud_channel, meta_envelope(text_message("wamid.POISON3", "5511987654321", "x")))
    assert webhook_events_pending()
    now = timezone.now()
    webhook_events_process(now=now)
    bad.refresh_from_db()
    assert not webhook_events_pending(now=now)
    assert webhook_events_pending(now=bad.retry_at)


def test_an_event_waiting_for_its_next_attempt_keeps_its_company_due(
    cloud_channel, poison, acme, queued_tasks, django_capture_on_commit_callbacks
):
    """Should the drain queued for the next attempt be lost, the periodic sweep (which visits
    only the companies the due-work index holds as due) drains the company after it."""
    import time

    from core import duework
    from inbox import tasks
    from inbox.services import WEBHOOK_RETRIES, WEBHOOKS
    from inbox.services.webhook_events import DRAIN_GRACE

    for kind in (WEBHOOKS, WEBHOOK_RETRIES):
        duework.forget(kind)
        duework.full_sweep_due(kind)  # the safety sweep has run: only marks count now
    bad = _record(cloud_channel, meta_envelope(text_message("wamid.POISON4", "5511987654321", "x")))
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process()
    bad.refresh_from_db()
    assert duework.marks(WEBHOOK_RETRIES) == {acme.schema_name: pytest.approx(bad.retry_at.timestamp() + DRAIN_GRACE)}
    queued_tasks.clear()
    tasks.webhook_drain_all()  # not due yet: nobody visited
    assert queued_tasks.tasks("inbox.webhook_drain") == []

    # the attempt's time has come, and the drain queued for it was lost
    WebhookEvent.objects.filter(pk=bad.pk).update(retry_at=timezone.now() - timedelta(seconds=1))
    duework.mark(WEBHOOK_RETRIES, acme.schema_name, at=time.time() - 1)
    tasks.webhook_drain_all()
    assert [t.args for t in queued_tasks.tasks("inbox.webhook_drain")] == [[acme.schema_name]]
    assert set(duework.marks(WEBHOOK_RETRIES)) == {acme.schema_name}  # due again if this drain is lost too


# --- where dead deliveries are seen ---------------------------------------------------------------


def _dead_event(channel, payload=None, raw: bytes = b"{oops") -> WebhookEvent:
    import hashlib

    from inbox.services import webhook_event_record

    body = json.dumps(payload).encode() if payload is not None else raw
    key = "meta:" + hashlib.sha256(body).hexdigest()
    webhook_event_record(channel_id=channel.pk, provider=channel.kind, body=body, dedupe_key=key)
    return WebhookEvent.objects.get(dedupe_key=key)


def test_channel_page_shows_the_dead_count_and_the_reason_in_the_company_language(
    cloud_channel, tenant_client_factory, make_member, acme, other_company
):
    from inbox.services import channel_create

    _dead_event(cloud_channel, raw=b"{oops")
    _dead_event(cloud_channel, raw=b"[" * 100 + b"]" * 100)
    # another company's dead delivery never shows here
    connection.set_tenant(other_company)
    theirs = channel_create(kind="sandbox", name="Sandbox")
    _dead_event(theirs, raw=b"{theirs")
    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("viewer", email="viewer@dead.test"))
    page = client.get(f"/settings/channels/{cloud_channel.pk}/").content.decode()
    assert 'data-testid="dead-webhooks"' in page
    assert "2 deliveries from the provider could not be processed." in page
    assert ERR_TOO_DEEP in page  # the latest one
    client.cookies["django_language"] = "pt-br"
    page = client.get(f"/settings/channels/{cloud_channel.pk}/").content.decode()
    assert "2 entregas do provedor não puderam ser processadas." in page
    assert "O corpo tem mais de 64 níveis de aninhamento." in page


def test_channel_page_without_dead_deliveries_says_nothing(cloud_channel, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("admin", email="admin@dead.test"))
    assert b'data-testid="dead-webhooks"' not in client.get(f"/settings/channels/{cloud_channel.pk}/").content


def test_support_admin_lists_dead_deliveries_per_company_and_reprocesses_them(
    client, cloud_channel, poison, acme, make_user
):
    # given a delivery that failed five times, and one that is not JSON
    failing = _record(cloud_channel, meta_envelope(text_message("wamid.POISON9", "5511987654321", "x")))
    WebhookEvent.objects.filter(pk=failing.pk).update(attempts=MAX_ATTEMPTS - 1)
    webhook_events_process()
    unreadable = _dead_event(cloud_channel, raw=b"{oops")
    poison()  # the cause is fixed
    connection.set_schema_to_public()
    staff = make_user(email="suporte@dead.test", is_staff=True, is_superuser=True)
    client.force_login(staff)
    # when support opens the admin
    index = client.get("/admin/inbox/webhookevent/", HTTP_HOST="localhost")
    assert index.status_code == 200
    assert f'href="/admin/inbox/webhookevent/{acme.slug}/"' in index.content.decode()
    page = client.get(f"/admin/inbox/webhookevent/{acme.slug}/", HTTP_HOST="localhost").content.decode()
    assert page.count('data-testid="dead-event"') == 2 and "poisoned message wamid.POISON9" in page
    # and sends the failed one back to the queue
    response = client.post(
        f"/admin/inbox/webhookevent/{acme.slug}/", {"event": [str(failing.pk)]}, HTTP_HOST="localhost"
    )
    assert response.status_code == 302
    connection.set_tenant(acme)
    failing.refresh_from_db()
    assert failing.dead_at is None and failing.attempts == 0
    assert webhook_events_process() == 1
    assert Message.objects.filter(provider_message_id="wamid.POISON9").exists()
    unreadable.refresh_from_db()
    assert unreadable.dead_at is not None


def test_webhook_admin_is_for_staff_only(client, acme, make_user):
    client.force_login(make_user(email="nobody@dead.test"))
    assert client.get(f"/admin/inbox/webhookevent/{acme.slug}/", HTTP_HOST="localhost").status_code == 302
    client.force_login(make_user(email="staff-noperm@dead.test", is_staff=True))
    assert client.get(f"/admin/inbox/webhookevent/{acme.slug}/", HTTP_HOST="localhost").status_code == 403


def test_a_payload_python_cannot_read_is_kept_as_text_and_can_be_pruned(cloud_channel, client, acme, make_user):
    """jsonb holds a 5,000-digit integer; Python's json refuses it. Parked as dead, the row must
    still be readable through Django (the admin page) and deletable (the daily prune)."""
    import hashlib

    from inbox import retention
    from inbox.services import inbox_logs_prune
    from inbox.services.webhook_events import ERR_UNREADABLE

    body = b'{"object": "whatsapp_business_account", "n": ' + b"1" * 5000 + b"}"
    key = "meta:" + hashlib.sha256(body).hexdigest()
    with connection.cursor() as cursor:  # as the intake server records it (jsonb takes it)
        cursor.execute(
            "INSERT INTO inbox_webhookevent (provider, channel_id, dedupe_key, payload, body, received_at, error)"
            " VALUES ('whatsapp_cloud', %s, %s, %s::jsonb, '', now(), '')",
            [cloud_channel.pk, key, body.decode()],
        )
    assert webhook_events_process() == 1
    event = WebhookEvent.objects.get(dedupe_key=key)
    assert event.dead_at is not None and event.error == ERR_UNREADABLE and event.payload is None
    assert "1" * 5000 in event.body
    connection.set_schema_to_public()
    client.force_login(make_user(email="suporte2@dead.test", is_staff=True, is_superuser=True))
    assert client.get(f"/admin/inbox/webhookevent/{acme.slug}/", HTTP_HOST="localhost").status_code == 200
    connection.set_tenant(acme)
    # processed deliveries are kept WEBHOOK_EVENT_RETENTION: a day past it
    inbox_logs_prune(now=timezone.now() + retention.WEBHOOK_EVENT_RETENTION + timedelta(days=1))
    assert not WebhookEvent.objects.filter(dedupe_key=key).exists()
