"""Live board updates: ``{"type": "kanban", "op": "move" | "create" | "update", "pipeline": id,
"card": {...}}`` sent after commit to the group of one company's pipeline
(``board_group(pipeline_id)``), scoped to the company's schema by ``core.realtime``: another
company's socket can never be in it."""

from __future__ import annotations

from django.db import transaction

from core.realtime import queued_sends, send_event
from tenants.context import require_tenant_schema


def board_group(pipeline_id: int) -> str:
    return f"kanban.{int(pipeline_id)}"


def card_payload(card) -> dict:
    return {
        "id": card.pk,
        "stage": card.stage_id,
        "rank": card.rank,
        "title": card.title,
        "value": str(card.value),
        "owner": card.owner_id,
        "tags": list(card.tag_ids or []),
        "reason": card.reason,
    }


def card_event_on_commit(op: str, card, **extra) -> None:
    """After commit, queue the event on the process's realtime sender (``core.realtime``) and
    return: the request that moved the card does not wait for the channel layer's round trip
    (events still leave in order; delivery is best effort either way)."""
    event = {"type": "kanban", "op": op, "pipeline": card.pipeline_id, "card": card_payload(card), **extra}
    groups = [board_group(card.pipeline_id)]
    schema = require_tenant_schema()

    def _send() -> None:
        from django_tenants.utils import schema_context

        with schema_context(schema), queued_sends():
            send_event(event, groups=groups)

    transaction.on_commit(_send)
