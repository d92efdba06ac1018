"""Celery tasks of the AI personas app: thin, tenant-explicit, one service call each."""

from __future__ import annotations

from celery import shared_task

from tenants.tasks import TenantTask


@shared_task(base=TenantTask, name="ai_personas.document_index", ignore_result=True)
def document_index(schema_name: str, document_id: int) -> None:
    from ai_personas.knowledge.indexing import document_index as index

    index(document_id=document_id)


@shared_task(base=TenantTask, name="ai_personas.inbound", ignore_result=True)
def inbound(schema_name: str, payload: dict) -> None:
    """The inbox's ``on_inbound_message`` hook (payload documented in ``inbox.hooks``)."""
    from ai_personas.agent import inbound_note

    inbound_note(message_id=payload["message"])


@shared_task(base=TenantTask, name="ai_personas.agent_message", ignore_result=True)
def agent_message(schema_name: str, payload: dict) -> None:
    """The inbox's ``on_agent_message`` hook: a person wrote, the AI steps back at once."""
    from ai_personas.agent import agent_replied

    agent_replied(conversation_id=payload["conversation"])


@shared_task(base=TenantTask, name="ai_personas.reply_due", ignore_result=True)
def reply_due(schema_name: str, conversation_id: int) -> None:
    from ai_personas.agent import reply_due as due

    due(conversation_id=conversation_id)


@shared_task(base=TenantTask, name="ai_personas.part_send", ignore_result=True)
def part_send(schema_name: str, part_id: int) -> None:
    from ai_personas.agent import part_send as send

    send(part_id=part_id)


@shared_task(name="ai_personas.replies_sweep_all", ignore_result=True)
def replies_sweep_all() -> None:
    """Beat: the safety net for replies and parts whose countdown task was lost, in the
    companies the due-work index holds as due."""
    from ai_personas.agent import AI_REPLIES, sweep
    from core.tasks import for_each_company

    for_each_company(lambda schema: sweep(), work=AI_REPLIES)
