"""Realtime events: dicts with ``type`` and ``op`` sent to channel-layer groups after commit.

Groups are always derived from the company schema, so an event can only reach sockets of the
company that produced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)
SEND_TIMEOUT = 5.0


def company_group(schema_name: str) -> str:
    return f"t.{schema_name}"


def user_group(schema_name: str, user_id: int) -> str:
    return f"t.{schema_name}.u.{user_id}"


def scoped_group(schema_name: str, name: str) -> str:
    return f"t.{schema_name}.{name}"


def send_event(event: dict[str, Any], *, groups: list[str] | None = None, user_ids: list[int] | None = None) -> None:
    schema = require_tenant_schema()
    targets = [scoped_group(schema, g) for g in groups] if groups else []
    targets += [user_group(schema, uid) for uid in (user_ids or [])]
    if not targets:
        targets = [company_group(schema)]
    payload = {"type": "app.event", "event": json.loads(json.dumps(event, default=str))}
    send_many((group, payload) for group in targets)


# Websocket close codes. Not a member (refused at connect, or removed while connected): the
# client stops retrying. Role changed: the client reconnects and is authorised afresh.
CLOSE_MEMBER_REMOVED = 4403
CLOSE_ROLE_CHANGED = 4001
# No company at this host (or an inactive one): refused before any consumer runs.
CLOSE_UNKNOWN_HOST = 4404


def membership_changed_on_commit(schema_name: str, user_id: int, *, removed: bool) -> None:
    """After commit, close the member's open sockets of that company: a removed member must
    stop receiving events at once, not at its next reconnection."""
    code = CLOSE_MEMBER_REMOVED if removed else CLOSE_ROLE_CHANGED
    message = {"type": "member.changed", "code": code}
    transaction.on_commit(lambda: send_many([(user_group(schema_name, user_id), message)]))


# Sync code (views, services, tasks) sends through one long-lived event loop per process.
# ``async_to_sync`` would build a new loop, and with it a new Redis connection, for every call:
# tens of milliseconds per event, most of an inbound message's path to an agent's screen.
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        # A forked Celery worker inherits the parent's loop object but not its thread.
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-sender", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


_queue_sends: contextvars.ContextVar[bool] = contextvars.ContextVar("realtime_queue_sends", default=False)


@contextlib.contextmanager
def queued_sends():
    """Inside this block, sends do not wait for their round trips (``send_many(wait=False)``):
    a periodic sweep over companies goes on with the next company while the events leave, in
    order, on the sender loop."""
    token = _queue_sends.set(True)
    try:
        yield
    finally:
        _queue_sends.reset(token)


def send_many(messages: Iterable[tuple[str, dict[str, Any]]], *, wait: bool | None = None) -> None:
    """Send ``(group, message)`` pairs concurrently on the process's sender loop.

    Best effort: realtime delivery never fails the caller's work (clients catch up from the
    event log after a reconnect); a failure is logged. ``wait=False`` returns at once: the
    batch is sent after every batch queued before it the same way (in order), which lets a
    worker go on with its next batch instead of waiting on the round trips. Unset, it waits
    except inside :func:`queued_sends`.
    """
    if wait is None:
        wait = not _queue_sends.get()
    batch = list(messages)
    if not batch:
        return
    layer = get_channel_layer()

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(group, message) for group, message in batch))

    loop = _sender_loop()
    if not wait:
        loop.call_soon_threadsafe(_send_after_queued, send_all, len(batch))
        return
    future = asyncio.run_coroutine_threadsafe(send_all(), loop)
    try:
        future.result(timeout=SEND_TIMEOUT)
    except Exception:  # noqa: BLE001 - see docstring
        future.cancel()
        logger.exception("realtime send of %d message(s) failed", len(batch))


# The last batch queued with ``wait=False``, per sender loop (only touched on that loop).
_queued_tail: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def _send_after_queued(send_all: Callable[[], Awaitable[None]], count: int) -> None:
    loop = asyncio.get_running_loop()
    previous = _queued_tail.get(loop)

    async def run() -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            await asyncio.wait_for(send_all(), SEND_TIMEOUT)
        except Exception:  # noqa: BLE001 - best effort, as for waited sends
            logger.exception("realtime send of %d message(s) failed", count)
        finally:
            if _queued_tail.get(loop) is task:
                del _queued_tail[loop]

    task = loop.create_task(run())
    _queued_tail[loop] = task


def send_event_on_commit(
    event: dict[str, Any],
    *,
    groups: list[str] | None = None,
    user_ids: list[int] | None = None,
    queued: bool = False,
) -> None:
    """Send ``event`` when the current transaction commits; never for rolled-back work.
    ``queued``: do not wait for the round trips (as inside :func:`queued_sends`), for a caller
    whose own latency counts more than the event's."""
    schema = require_tenant_schema()

    def _send():
        from django_tenants.utils import schema_context

        with schema_context(schema), queued_sends() if queued else contextlib.nullcontext():
            send_event(event, groups=groups, user_ids=user_ids)

    transaction.on_commit(_send)
