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
import logging
import re
import struct
import time
from collections import defaultdict

import psycopg
from asgiref.sync import sync_to_async
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from core import duework
from core.jsonlimits import json_too_deep, pg_text
from core.tasks import enqueue

# Imported by config.asgi after Django is set up (the webhook module reads models and settings).
from inbox import webhooks
from inbox.services.webhook_events import DRAIN_GRACE, ERR_MALFORMED, ERR_NOT_STORED, ERR_TOO_DEEP, WEBHOOKS

logger = logging.getLogger(__name__)

PATH_RE = re.compile(r"^/webhooks/whatsapp/([0-9a-fA-F-]{32,36})/$")
MAX_BODY = 1024 * 1024
MAX_BATCH = 1000
# At most one Redis round trip per company every 20 ms per process (50/s, whatever the burst),
# and never more than 20 ms between a recorded event and the request to process it.
TRIGGER_INTERVAL = 0.02


class _TextArray(bytes):
    """A ``text[]`` already in PostgreSQL's binary array format (see ``_text_array``)."""


class _TextArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1009  # text[]

    def dump(self, obj):
        return obj


_ARRAY_HEADER = struct.Struct("!iiIii")
_LENGTH = struct.Struct("!i").pack


def _text_array(items: list[bytes]) -> _TextArray:
    """One-dimensional ``text[]`` in binary: a header, then each element as length + bytes.
    psycopg's own array dumper walks the list in Python with several calls per element; a
    status payload is one element, so this is most of what a delivery costs to send."""
    parts = [_ARRAY_HEADER.pack(1, 0, 25, len(items), 1)]
    for item in items:
        parts.append(_LENGTH(len(item)))
        parts.append(item)
    return _TextArray(b"".join(parts))


class _GroupWriter:
    """Writes queued webhook rows in batches on one async connection (group commit).

    A row is ``(schema, provider, channel id, dedupe key, body, future)``. The JSON is checked by
    PostgreSQL (the ``jsonb`` cast) rather than parsed here first; only its depth is checked
    here (cheaply, see ``core.jsonlimits``), since a body nested thousands of levels deep runs
    PostgreSQL's parser out of stack. A batch that fails for any database error is written
    again row by row, and a row refused on its own is kept as raw text, parked as dead: a
    valid delivery is never refused because of its neighbours, and a signed one never lost."""

    def __init__(self):
        self.pending: list[tuple] = []
        self.wakeup: asyncio.Future | None = None
        self.task: asyncio.Task | None = None
        self.conn = None

    async def _connect(self):
        from django.conf import settings

        db = settings.DATABASES["default"]
        kwargs = {
            "dbname": db["NAME"],
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            # Connection options only: this long-lived connection is not taken from the pool.
            **{k: v for k, v in (db.get("OPTIONS") or {}).items() if k != "pool"},
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        conn = await psycopg.AsyncConnection.connect(autocommit=True, **kwargs)
        conn.adapters.register_dumper(_TextArray, _TextArrayDumper)
        # A 200 tells Meta never to send this delivery again: it must be on disk first, whatever
        # the server's default (the embedded development server runs with it off). Group commit
        # makes that one WAL flush per batch, not per request.
        await conn.execute("SET synchronous_commit = on")
        return conn

    def insert(self, schema: str, provider: str, channel_id: int, key: str, body: bytes) -> asyncio.Future:
        """Queue a row; the future says whether it was new (False: a redelivery)."""
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._run())
        future = loop.create_future()
        self.pending.append((schema, provider, channel_id, key, body, future))
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                self.wakeup = loop.create_future()
                await self.wakeup
            # One more turn of the event loop lets the requests that arrived in the same
            # readiness batch join this statement: fewer, larger INSERTs for the same load.
            await asyncio.sleep(0)
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            try:
                await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - every waiter must get an answer
                logger.exception("webhook batch write failed")
                if self.conn is not None:
                    await self.conn.close()
                self.conn = None
                for row in batch:
                    if not row[5].done():
                        row[5].set_exception(exc)

    async def _write(self, batch: list[tuple]) -> None:
        """Write a batch; raises only when the database cannot be reached at all."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = await self._connect()
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for row in batch:
            groups[row[:3]].append(row)
        for (schema, provider, channel_id), rows in groups.items():
            deep: list[tuple] = []
            if any(json_too_deep(row[4]) for row in rows):  # rare: split only then
                deep = [row for row in rows if json_too_deep(row[4])]
                rows = [row for row in rows if not json_too_deep(row[4])]
            outcomes: dict[int, bool | BaseException] = {}
            if rows:
                try:
                    inserted = await self._insert(schema, provider, channel_id, rows)
                    outcomes.update((id(row), row[3] in inserted) for row in rows)
                except psycopg.Error as exc:
                    # Not JSON (or not UTF-8) somewhere in the batch, or anything else the
                    # database refused: find which rows, keep the others.
                    logger.warning("webhook batch of %d refused (%s); writing it row by row", len(rows), exc)
                    if self.conn.broken or self.conn.closed:
                        self.conn = await self._connect()
                    await self._one_by_one(schema, provider, channel_id, rows, outcomes)
            if deep:
                await self._one_by_one(schema, provider, channel_id, deep, outcomes, reason=ERR_TOO_DEEP)
            for row in [*rows, *deep]:
                outcome = outcomes[id(row)]
                if row[5].done():
                    continue
                if isinstance(outcome, BaseException):
                    row[5].set_exception(outcome)
                else:
                    row[5].set_result(outcome)

    async def _one_by_one(
        self, schema: str, provider: str, channel_id: int, rows: list[tuple], outcomes: dict, reason: str = ""
    ) -> None:
        """Each row in a savepoint of its own, in one transaction (one WAL flush). A row the
        database refuses is written again as raw text with the reason; a row refused even so
        (its company's schema just went away) fails alone."""
        results: dict[int, bool | BaseException] = {}
        async with self.conn.transaction():
            for row in rows:
                try:
                    async with self.conn.transaction():
                        if reason:
                            keys = await self._insert_malformed(schema, provider, channel_id, row, reason)
                        else:
                            keys = await self._insert(schema, provider, channel_id, [row])
                    results[id(row)] = row[3] in keys
                    continue
                except psycopg.errors.DataError:
                    why = reason or ERR_MALFORMED
                except psycopg.Error as exc:
                    if self.conn.broken:
                        raise
                    logger.warning("webhook row refused by the database: %s", exc)
                    why = reason or ERR_NOT_STORED
                try:
                    async with self.conn.transaction():
                        keys = await self._insert_malformed(schema, provider, channel_id, row, why)
                    results[id(row)] = row[3] in keys
                except psycopg.Error as exc:
                    if self.conn.broken:
                        raise
                    logger.exception("webhook row could not be recorded")
                    results[id(row)] = exc
        outcomes.update(results)  # only once committed

    async def _insert(self, schema: str, provider: str, channel_id: int, rows: list[tuple]) -> set[str]:
        # Two array parameters instead of a statement per row: the statement costs about the
        # same whether it carries one delivery or a thousand.
        query = sql.SQL(
            "INSERT INTO {}.inbox_webhookevent"
            " (provider, channel_id, dedupe_key, payload, body, received_at, error, attempts)"
            " SELECT %s, %s, d, j::jsonb, '', now(), '', 0 FROM unnest(%b::text[], %b::text[]) AS t(d, j)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
        ).format(sql.Identifier(schema))
        keys = _text_array([row[3].encode() for row in rows])
        bodies = _text_array([row[4] for row in rows])
        cursor = await self.conn.execute(query, [provider, channel_id, keys, bodies])
        return {r[0] for r in await cursor.fetchall()}

    async def _insert_malformed(self, schema: str, provider: str, channel_id: int, row: tuple, reason: str) -> set[str]:
        """The body as text, parked as dead at once: nothing in it can be processed."""
        query = sql.SQL(
            "INSERT INTO {}.inbox_webhookevent"
            " (provider, channel_id, dedupe_key, payload, body, received_at, error, attempts, processed_at, dead_at)"
            " VALUES (%s, %s, %s, NULL, %s, now(), %s, 0, now(), now())"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
        ).format(sql.Identifier(schema))
        text = pg_text(row[4].decode("utf-8", errors="replace"))
        cursor = await self.conn.execute(query, [provider, channel_id, row[3], text, reason])
        return {r[0] for r in await cursor.fetchall()}


def on_public_domain(host: bytes) -> bool:
    """Whether a ``Host`` header names the public domain (the only one webhooks are served on)."""
    from django.conf import settings

    return host.split(b":", 1)[0].lower() == settings.BASE_DOMAIN.lower().encode("latin-1")


class WebhookIntake:
    """Accepting one Meta delivery: route, signature, group-committed insert, drain trigger.
    Shared by the ASGI fast path below and the dedicated intake server (``inbox.intake``)."""

    def __init__(self):
        self.writer = _GroupWriter()
        self.last_trigger: dict[str, float] = {}
        self.trailing: dict[str, asyncio.Task] = {}

    async def accept(self, channel_public_id: str, body: bytes, signature: bytes) -> tuple[int, bytes]:
        """``(status, text)`` for a ``POST`` with this body and ``X-Hub-Signature-256`` value."""
        target = webhooks.cached_target(channel_public_id)
        if target is None:
            target = await sync_to_async(webhooks.resolve_public, thread_sensitive=True)(channel_public_id)
        if target is None or target.channel.kind not in ("whatsapp_cloud", "sandbox"):
            return 404, b"unknown channel"
        secret = target.channel.app_secret or ""
        expected = b"sha256=" + hmac.digest(secret.encode(), body, "sha256").hex().encode()
        if not secret or not signature or not hmac.compare_digest(expected, signature.strip()):
            return 401, b"invalid signature"
        channel = target.channel
        key = "meta:" + hashlib.sha256(body).hexdigest()
        inserted = await self.writer.insert(target.schema, channel.kind, channel.pk, key, body)
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
        """Same "pending" flag as the Django view (``webhook_events.webhook_drain_trigger``): the
        company's due-work mark, one Redis command."""
        try:
            if await duework.amark(WEBHOOKS, schema, at=time.time() + DRAIN_GRACE):
                await asyncio.to_thread(enqueue, "inbox.webhook_drain", schema)
        except Exception:  # noqa: BLE001 - recorded; the periodic sweep processes it
            logger.warning("could not queue webhook processing for %s", schema)


class WebhookFastPath:
    def __init__(self, app):
        self.app = app
        self.intake = WebhookIntake()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        match = PATH_RE.match(scope.get("path", ""))
        if match is None or not self._on_public_domain(scope):
            return await self.app(scope, receive, send)
        body = await self._body(receive)
        if body is None:
            return await self._answer(send, 413, b"too large")
        signature = b""
        for name, value in scope.get("headers", []):
            if name == b"x-hub-signature-256":
                signature = value
        status, text = await self.intake.accept(match.group(1), body, signature)
        await self._answer(send, status, text)

    @staticmethod
    def _on_public_domain(scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"host":
                return on_public_domain(value)
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
