"""Reads of the AI personas app."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from ai_personas.models import (
    AIMessage,
    AIState,
    ConversationAI,
    Document,
    KnowledgeBase,
    Persona,
    ProviderSettings,
)


def provider_settings() -> ProviderSettings | None:
    return ProviderSettings.objects.order_by("pk").first()


def persona_list() -> QuerySet[Persona]:
    return Persona.objects.annotate(kb_count=Count("knowledge_bases", distinct=True)).order_by("name", "id")


def knowledge_base_list() -> QuerySet[KnowledgeBase]:
    return KnowledgeBase.objects.annotate(
        document_count=Count("documents", distinct=True),
        ready_count=Count("documents", filter=Q(documents__status="ready"), distinct=True),
    ).order_by("name", "id")


def document_list(*, knowledge_base: KnowledgeBase) -> QuerySet[Document]:
    return Document.objects.filter(knowledge_base=knowledge_base).order_by("-created_at", "-id")


def conversation_state(*, conversation_id: int) -> dict:
    state = ConversationAI.objects.select_related("persona").filter(conversation_id=conversation_id).first()
    return {
        "state": state.state if state else AIState.ACTIVE,
        "persona": state.persona if state else None,
        "reason": state.handoff_reason if state else "",
        "turns": state.turns if state else 0,
        "exists": state is not None,
    }


def ai_messages(*, message_ids: list[int]) -> dict[int, AIMessage]:
    return {m.message_id: m for m in AIMessage.objects.filter(message_id__in=message_ids).select_related("persona")}


def ai_tokens_query(month_start) -> tuple[str, list]:
    """Tokens (in + out) used since the start of the company's month (the plan's AI limit)."""
    from ai_personas.models import UsageDay
    from tenants.limits import sum_query

    return sum_query(UsageDay.objects.filter(day__gte=month_start.date()), "tokens_in", "tokens_out")
