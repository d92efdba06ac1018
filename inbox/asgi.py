"""ASGI fast path for Meta webhook deliveries (``POST /webhooks/whatsapp/<channel uuid>/``).

Meta sends status webhooks in bursts (a campaign of 100,000 messages brings 300,000 of them),
so accepting them must cost as little as possible. This wrapper answers those POSTs before the
Django stack: it reads the body, checks ``X-Hub-Signature-256`` with the channel's app secret
(route and secret cached in-process, see ``inbox.webhooks``), and records the delivery with
group commit: concurrent requests are written by one multi-row
``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING`` and each request is answered 200 only after
that statement committed. Processing then happens in the worker, exactly as for the Django view
(same table, same dedupe key), which keeps serving ``GET`` verification, SMS and everything else.

Install by wrapping the project's ASGI application: ``application = WebhookFastPath(application)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections import defaultdict
from typing import Any

from asgiref.sync import sync_to_async

# Imported by config.asgi after Django is set up (the webhook module reads models and settings).
from inbox import webhooks

logger = logging.getLogger(__name__)

PATH_RE = re.compile(r"^/webhooks/whatsapp/([0-9a-fA-F-]{32,36})/$")
MAX_BODY = 1024 * 1024
MAX_BATCH = 1000
# At most one Redis round trip per company every 20 ms per process (50/s, whatever the burst),
# and never more than 20 ms between a recorded event and the request to process it.
TRIGGER_INTERVAL = 0.02


class _GroupWriter:
    """Writes queued webhook rows in batches on one async connection (group commit)."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.conn = None

    async def _connect(self):
        import psycopg
        from django.conf import settings

        db = settings.DATABASES["default"]
        kwargs = {
            "dbname": db["NAME"],
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            **(db.get("OPTIONS") or {}),
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        conn = await psycopg.AsyncConnection.connect(autocommit=True, **kwargs)
        # A 200 tells Meta never to send this delivery again: it must be on disk first, whatever
        # the server's default (the embedded development server runs with it off). Group commit
        # makes that one WAL flush per batch, not per request.
        await conn.execute("SET synchronous_commit = on")
        return conn

    async def insert(self, schema: str, row: tuple) -> bool:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((schema, row, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            # One more turn of the event loop lets the requests that arrived in the same
            # readiness batch join this statement: fewer, larger INSERTs for the same load.
            await asyncio.sleep(0)
            batch = [first]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - every waiter must get an answer
                logger.exception("webhook batch write failed")
                if self.conn is not None:
                    await self.conn.close()
                self.conn = None
                for _schema, _row, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _write(self, batch: list) -> None:
        from psycopg import sql

        if self.conn is None or self.conn.closed:
            self.conn = await self._connect()
        by_schema: dict[str, list] = defaultdict(list)
        for item in batch:
            by_schema[item[0]].append(item)
        for schema, items in by_schema.items():
            # Six array parameters instead of six per row: the statement costs the same
            # whether it carries one delivery or a thousand.
            query = sql.SQL(
                "INSERT INTO {}.inbox_webhookevent (provider, channel_id, dedupe_key, payload, body, received_at, error)"
                " SELECT p, c, d, j::jsonb, b, now(), e"
                " FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[])"
                " AS t(p, c, d, j, b, e)"
                " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
            ).format(sql.Identifier(schema))
            columns = list(zip(*(row for _schema, row, _future in items), strict=True))
            # Binary parameters (%b): psycopg escapes text arrays element by element in Python
            # (about 100 us for a status payload); binary arrays are length-prefixed copies.
            cursor = await self.conn.execute(query, [list(column) for column in columns])
            inserted = {r[0] for r in await cursor.fetchall()}
            for _schema, row, future in items:
                if not future.done():
                    future.set_result(row[2] in inserted)


class WebhookFastPath:
    def __init__(self, app):
        self.app = app
        self._host: bytes | None = None
        self.writer = _GroupWriter()
        self.redis = None
        self.last_trigger: dict[str, float] = {}
        self.trailing: dict[str, asyncio.Task] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        match = PATH_RE.match(scope.get("path", ""))
        if match is None or not self._on_public_domain(scope):
            return await self.app(scope, receive, send)
        body = await self._body(receive)
        if body is None:
            return await self._answer(send, 413, b"too large")
        status, text = await self.accept(match.group(1), body, scope)
        await self._answer(send, status, text)

    def _on_public_domain(self, scope) -> bool:
        if self._host is None:
            from django.conf import settings

            self._host = settings.BASE_DOMAIN.lower().encode("latin-1")
        for name, value in scope.get("headers", []):
            if name == b"host":
                return value.split(b":", 1)[0].lower() == self._host
        return False

    @staticmethod
    async def _body(receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    async def _answer(send, status: int, text: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": text})

    async def accept(self, channel_public_id: str, body: bytes, scope) -> tuple[int, bytes]:
        target = webhooks.cached_target(channel_public_id)
        if target is None:
            target = await sync_to_async(webhooks.resolve_public, thread_sensitive=True)(channel_public_id)
        if target is None or target.channel.kind not in ("whatsapp_cloud", "sandbox"):
            return 404, b"unknown channel"
        header = b""
        for name, value in scope.get("headers", []):
            if name == b"x-hub-signature-256":
                header = value.strip()
        secret = target.channel.app_secret or ""
        expected = b"sha256=" + hmac.digest(secret.encode(), body, "sha256").hex().encode()
        if not secret or not header or not hmac.compare_digest(expected, header):
            return 401, b"invalid signature"
        text = body.decode("utf-8", errors="replace")
        row: tuple[Any, ...]
        try:
            json.loads(text)
            row = (target.channel.kind, target.channel.pk, "meta:" + hashlib.sha256(body).hexdigest(), text, "", "")
        except ValueError:
            row = (
                target.channel.kind,
                target.channel.pk,
                "meta:" + hashlib.sha256(body).hexdigest(),
                None,
                text,
                "malformed JSON",
            )
        inserted = await self.writer.insert(target.schema, row)
        if inserted:
            await self._trigger_drain(target.schema)
        return 200, b"ok"

    async def _trigger_drain(self, schema: str) -> None:
        """Debounced: at most one Redis round trip per company every ``TRIGGER_INTERVAL``
        seconds per process, with a trailing call so the last event of a burst is always
        followed by a trigger (the drain task re-checks after clearing its flag)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self.last_trigger.get(schema, -1e9) >= TRIGGER_INTERVAL:
            self.last_trigger[schema] = now
            await self._set_flag(schema)
        elif schema not in self.trailing:

            async def trailing():
                await asyncio.sleep(TRIGGER_INTERVAL)
                self.trailing.pop(schema, None)
                self.last_trigger[schema] = loop.time()
                await self._set_flag(schema)

            self.trailing[schema] = loop.create_task(trailing())

    async def _set_flag(self, schema: str) -> None:
        """Same "pending" flag as the Django view (``inbox.webhooks._trigger_drain``)."""
        import redis.asyncio as aioredis
        from django.conf import settings

        from inbox.webhooks import DRAIN_KEY, DRAIN_KEY_TTL

        try:
            if self.redis is None:
                self.redis = aioredis.Redis.from_url(settings.REDIS_APP_URL)  # type: ignore[misc]  # set by configure_stores
            if await self.redis.set(DRAIN_KEY.format(schema=schema), "1", nx=True, ex=DRAIN_KEY_TTL):
                from inbox.tasks import webhook_drain

                await asyncio.to_thread(webhook_drain.delay, schema)
        except Exception:  # noqa: BLE001 - recorded; the periodic sweep processes it
            logger.warning("could not queue webhook processing for %s", schema)
