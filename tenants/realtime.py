"""Realtime events: dicts with ``type`` and ``op`` sent to channel-layer groups after commit.

Groups are always derived from the company schema, so an event can only reach sockets of the
company that produced it.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tenants.context import require_tenant_schema


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
    layer = get_channel_layer()
    payload = {"type": "app.event", "event": json.loads(json.dumps(event, default=str))}
    for group in targets:
        async_to_sync(layer.group_send)(group, payload)


def send_event_on_commit(
    event: dict[str, Any], *, groups: list[str] | None = None, user_ids: list[int] | None = None
) -> None:
    """Send ``event`` when the current transaction commits; never for rolled-back work."""
    schema = require_tenant_schema()

    def _send():
        from django_tenants.utils import schema_context

        with schema_context(schema):
            send_event(event, groups=groups, user_ids=user_ids)

    transaction.on_commit(_send)
