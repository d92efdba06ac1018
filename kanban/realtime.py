"""Live board updates: ``{"type": "kanban", "op": "move" | "create" | "update", "pipeline": id,
"card": {...}}`` sent after commit to the group of one company's pipeline
(``board_group(pipeline_id)``), scoped to the company's schema by ``core.realtime``: another
company's socket can never be in it."""

from __future__ import annotations

from core.realtime import send_event_on_commit


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
    event = {"type": "kanban", "op": op, "pipeline": card.pipeline_id, "card": card_payload(card), **extra}
    send_event_on_commit(event, groups=[board_group(card.pipeline_id)])
