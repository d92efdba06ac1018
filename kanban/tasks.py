"""Celery tasks of the Kanban app: thin, tenant-explicit, one service call each."""

from __future__ import annotations

from celery import shared_task

from tenants.tasks import TenantTask


@shared_task(base=TenantTask, name="kanban.inbound", ignore_result=True)
def inbound(schema_name: str, payload: dict) -> None:
    """The inbox's ``on_inbound_message`` hook (payload documented in ``inbox.hooks``): a card
    for a new conversation where a pipeline asks for one, and the AI's next look at open cards
    of the conversation (debounced; the sweep below does the reading)."""
    from kanban.progression import inbound_noted
    from kanban.services import auto_card_for_conversation

    auto_card_for_conversation(
        conversation_id=payload["conversation"], conversation_created=bool(payload.get("conversation_created"))
    )
    inbound_noted(conversation_id=payload["conversation"])


@shared_task(base=TenantTask, name="kanban.ai_due", ignore_result=True)
def ai_due(schema_name: str) -> None:
    """The countdown of a debounce window: read the company's cards whose moment came."""
    from kanban.progression import sweep

    sweep()


@shared_task(name="kanban.ai_sweep_all", ignore_result=True)
def ai_sweep_all() -> None:
    """Beat: the AI reads the conversations of cards whose debounce is over, in the companies
    the due-work index holds as due."""
    from core.tasks import for_each_company
    from kanban.progression import sweep
    from kanban.wiring import AI_DUE_KIND

    for_each_company(lambda schema: sweep(), work=AI_DUE_KIND)
