"""The ASGI fast path for Meta webhooks: same checks and same rows as the Django view."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest

from inbox import webhooks
from inbox.asgi import WebhookFastPath, WebhookIntake
from inbox.providers.meta import meta_signature
from inbox.services.webhook_events import ERR_MALFORMED


class Recorder:
    def __init__(self):
        self.rows = []

    def insert(self, schema, provider, channel_id, key, body):
        self.rows.append((schema, (provider, channel_id, key, body)))
        future = asyncio.get_running_loop().create_future()
        future.set_result(True)
        return future


async def _call(app, path, body, headers, host="localhost"):
    sent = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"host", host.encode()), *[(k.lower().encode(), v.encode()) for k, v in headers.items()]],
    }
    chunks = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.request", "body": body[10:]},
    ]

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return (sent[0]["status"], sent[1]["body"]) if sent else (None, None)


@pytest.fixture
def fast(cloud_channel):
    from django.db import connection

    target = webhooks._Target(
        company=None, schema=connection.schema_name, channel=cloud_channel, expires=time.monotonic() + 60
    )
    webhooks._cache[str(cloud_channel.public_id)] = target
    passed = []

    async def django_app(scope, receive, send):
        passed.append(scope["path"])

    app = WebhookFastPath(django_app)
    app.intake.writer = Recorder()
    triggered = []

    async def trigger(schema):
        triggered.append(schema)

    app.intake._trigger_drain = trigger
    app.passed, app.triggered = passed, triggered
    return app


async def test_signed_delivery_is_recorded_like_the_django_view(fast, cloud_channel):
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    path = f"/webhooks/whatsapp/{cloud_channel.public_id}/"
    status, text = await _call(fast, path, body, {"X-Hub-Signature-256": meta_signature("meta-app-secret", body)})
    assert (status, text) == (200, b"ok")
    schema, row = fast.intake.writer.rows[0]
    assert schema == "c_acme" or schema.startswith("c_")
    assert row == ("whatsapp_cloud", cloud_channel.pk, "meta:" + hashlib.sha256(body).hexdigest(), body)
    assert fast.triggered == [schema]


async def test_bad_signature_is_401_and_records_nothing(fast, cloud_channel):
    path = f"/webhooks/whatsapp/{cloud_channel.public_id}/"
    assert (await _call(fast, path, b"{}", {"X-Hub-Signature-256": "sha256=00"}))[0] == 401
    assert (await _call(fast, path, b"{}", {}))[0] == 401
    assert fast.intake.writer.rows == []


async def test_malformed_json_is_accepted_and_left_to_the_writer(fast, cloud_channel):
    """The writer keeps it as malformed (see the group writer test): Meta must not retry it."""
    body = b"{oops"
    path = f"/webhooks/whatsapp/{cloud_channel.public_id}/"
    status, _ = await _call(fast, path, body, {"X-Hub-Signature-256": meta_signature("meta-app-secret", body)})
    assert status == 200 and fast.intake.writer.rows[0][1][3] == b"{oops"


async def test_other_requests_go_to_django(fast, cloud_channel):
    await _call(fast, "/webhooks/sms/x/", b"", {})
    await _call(fast, f"/webhooks/whatsapp/{cloud_channel.public_id}/", b"{}", {}, host="acme.localhost")
    assert fast.passed == ["/webhooks/sms/x/", f"/webhooks/whatsapp/{cloud_channel.public_id}/"]


async def test_drain_trigger_is_debounced_with_a_trailing_call(monkeypatch):
    import asyncio

    from inbox import asgi

    monkeypatch.setattr(asgi, "TRIGGER_INTERVAL", 0.01)
    app = WebhookIntake()
    flags = []

    async def set_flag(schema):
        flags.append(schema)

    app._set_flag = set_flag
    for _ in range(50):
        await app._trigger_drain("c_acme")
    assert flags == ["c_acme"]  # leading edge only, so far
    await app.trailing["c_acme"]
    assert flags == ["c_acme", "c_acme"]  # the burst's last events are covered
    await asyncio.sleep(0.02)
    await app._trigger_drain("c_acme")
    assert len(flags) == 3


async def test_group_writer_inserts_once_and_reports_replays(acme):
    """The real writer on its own connection (rows are committed: cleaned up at the end).

    PostgreSQL checks the JSON: one bad body in a batch must not cost the others, and bodies
    Python's parser would accept but ``jsonb`` refuses (NaN, an escaped NUL) or that are not
    UTF-8 are kept as malformed rather than failing the batch."""
    import uuid

    from asgiref.sync import sync_to_async

    from inbox.asgi import _GroupWriter

    writer = _GroupWriter()
    key = f"test:{uuid.uuid4().hex}"
    schema = acme.schema_name
    bodies = {
        "good": b'{"a": 1}',
        "oops": b"{oops",
        "nan": b'{"a": NaN}',
        "nul": b'{"a": "\\u0000"}',
        "latin1": b'{"a": "S\xe3o Paulo"}',
    }
    keys = {name: f"{key}:{name}" for name in bodies}
    try:
        results = await asyncio.gather(
            writer.insert(schema, "whatsapp_cloud", None, keys["good"], bodies["good"]),
            writer.insert(schema, "whatsapp_cloud", None, keys["good"], bodies["good"]),
            *(writer.insert(schema, "whatsapp_cloud", None, keys[name], bodies[name]) for name in list(bodies)[1:]),
        )
        replay = await writer.insert(schema, "whatsapp_cloud", None, keys["good"], bodies["good"])
        assert results[0] and all(results[2:]) and not replay
        # Answered 200 only once flushed, whatever the server's default (see inbox.asgi).
        assert (await (await writer.conn.execute("SHOW synchronous_commit")).fetchone())[0] == "on"

        def rows():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT dedupe_key, payload::text, body, error, dead_at IS NOT NULL FROM "{schema}".inbox_webhookevent'
                    " WHERE dedupe_key LIKE %s",
                    [key + ":%"],
                )
                return {row[0].rsplit(":", 1)[1]: row[1:] for row in cursor.fetchall()}

        stored = await sync_to_async(rows)()
        # Kept as raw text and parked as dead at once (shown on the channel page).
        assert stored == {
            "good": ('{"a": 1}', "", "", False),
            "oops": (None, "{oops", ERR_MALFORMED, True),
            "nan": (None, '{"a": NaN}', ERR_MALFORMED, True),
            "nul": (None, '{"a": "\\u0000"}', ERR_MALFORMED, True),
            "latin1": (None, '{"a": "S\ufffdo Paulo"}', ERR_MALFORMED, True),
        }
    finally:
        await writer.conn.execute(f'DELETE FROM "{schema}".inbox_webhookevent WHERE dedupe_key LIKE %s', [key + ":%"])
        await writer.conn.close()


async def test_one_body_the_database_refuses_never_fails_its_batch(acme):
    """The issue's case: ``[`` x 20000 ran PostgreSQL's JSON parser out of stack, the batch
    INSERT failed with an error the writer did not expect, and every request of the batch got
    a 500. Now a body nested too deep never reaches the batch, and a batch the database refuses
    for any other reason (here a trigger raising for one row) is written again row by row."""
    import uuid

    from asgiref.sync import sync_to_async

    from inbox.asgi import _GroupWriter
    from inbox.services.webhook_events import ERR_NOT_STORED, ERR_TOO_DEEP

    writer = _GroupWriter()
    schema = acme.schema_name
    key = f"test:{uuid.uuid4().hex}"
    table = f'"{schema}".inbox_webhookevent'
    bodies = {
        "good1": b'{"a": 1}',
        "deep": b"[" * 20000 + b"]" * 20000,
        "refused": b'{"poison": true}',
        "good2": b'{"b": 2}',
    }

    # Committed (the writer works on its own connection), so dropped again at the end.
    ddl = await _GroupWriter()._connect()
    await ddl.execute(
        f"""CREATE FUNCTION "{schema}".refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.payload ? 'poison' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"""
    )
    await ddl.execute(
        f'CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse_poison()'
    )
    try:
        results = await asyncio.gather(
            *(writer.insert(schema, "whatsapp_cloud", None, f"{key}:{name}", body) for name, body in bodies.items())
        )
        assert results == [True, True, True, True]  # every request answered 200

        def rows():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT dedupe_key, payload IS NOT NULL, error, dead_at IS NOT NULL FROM {table}"
                    " WHERE dedupe_key LIKE %s",
                    [key + ":%"],
                )
                return {row[0].rsplit(":", 1)[1]: row[1:] for row in cursor.fetchall()}

        assert await sync_to_async(rows)() == {
            "good1": (True, "", False),
            "deep": (False, ERR_TOO_DEEP, True),
            "refused": (False, ERR_NOT_STORED, True),
            "good2": (True, "", False),
        }
    finally:
        await writer.conn.execute(f"DELETE FROM {table} WHERE dedupe_key LIKE %s", [key + ":%"])
        await writer.conn.close()
        await ddl.execute(f"DROP TRIGGER refuse_poison ON {table}")
        await ddl.execute(f'DROP FUNCTION "{schema}".refuse_poison()')
        await ddl.close()
