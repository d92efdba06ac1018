"""What campaigns plug into the inbox's hook registry (``inbox.hooks``) in ``ready()``: status
webhooks and inbound messages queue a campaigns task by name, after the inbox's commit. The
hooks carry no logic of their own (CODE-REVIEW rule 2)."""

from __future__ import annotations

from core.tasks import enqueue


def _statuses(schema: str, channel_id: int, changed: list, callbacks: list) -> None:
    enqueue("campaigns.statuses", schema, channel_id, changed, callbacks)


def _inbound(schema: str, channel_id: int, contact_id: int, message_id: int, at: str) -> None:
    enqueue("campaigns.reply", schema, channel_id, contact_id, message_id, at)


def register() -> None:
    from inbox import hooks

    hooks.on_statuses(_statuses)
    hooks.on_inbound(_inbound)
