"""Writes of the AI personas app: provider settings, personas, the AI state of a conversation.

Knowledge writes live in ``knowledge/indexing.py``; the reply pipeline in ``agent.py``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ai_personas import tools
from ai_personas.agent import emit_state, hand_off
from ai_personas.llm import LLM, Endpoint, LLMError, company_endpoint
from ai_personas.models import AIState, ConversationAI, KnowledgeBase, Persona, ProviderSettings, Schedule
from ai_personas.selectors import provider_settings

ERR_BASE_URL = gettext_noop("Enter a valid URL starting with http:// or https://.")
ERR_MODEL_NAME = gettext_noop("Model names have at most 100 characters.")
ERR_BUDGET_VALUE = gettext_noop("The budget must be a whole number of tokens (0 for no limit).")
ERR_PERSONA_NAME = gettext_noop("Give the persona a name (at most 80 characters).")
ERR_TEMPERATURE = gettext_noop("Temperature must be between 0 and 2.")
ERR_REPLY_LENGTH = gettext_noop("The maximum reply length must be between 50 and 4,000 characters.")
ERR_SCHEDULE = gettext_noop("Choose when the persona answers.")
ERR_TOOL = gettext_noop("Unknown tool: %(name)s.")
ERR_HOURS = gettext_noop("Business hours need days (0-6) and times as HH:MM, start before end.")
ERR_TURNS = gettext_noop("The number of replies before handing off must be between 0 and 100.")
ERR_DEBOUNCE = gettext_noop("The wait for more messages must be between 0 and 120 seconds.")
ERR_TRIGGER_KEYWORDS = gettext_noop("Give at least one keyword for a persona that answers on a keyword.")
ERR_KNOWLEDGE_BASE_UNKNOWN = gettext_noop("Unknown knowledge base.")
ERR_CHANNEL_UNKNOWN = gettext_noop("Unknown channel.")
MSG_TEST_OK = gettext_noop("Connected: the model %(model)s answered.")


@transaction.atomic
def provider_settings_save(
    *,
    base_url: str = "",
    api_key: str | None = None,
    chat_model: str = "",
    embedding_model: str = "",
    monthly_token_budget: int | None = None,
) -> ProviderSettings:
    """Save the company's endpoint. ``api_key=None`` keeps the stored key (the form never shows it)."""
    base_url = (base_url or "").strip()
    if base_url:
        try:
            URLValidator(schemes=["http", "https"])(base_url)
        except ValidationError as exc:
            raise ValidationError(_(ERR_BASE_URL)) from exc
    chat_model, embedding_model = (chat_model or "").strip(), (embedding_model or "").strip()
    if len(chat_model) > 100 or len(embedding_model) > 100:
        raise ValidationError(_(ERR_MODEL_NAME))
    if monthly_token_budget is not None:
        try:
            monthly_token_budget = int(monthly_token_budget)
        except (TypeError, ValueError) as exc:
            raise ValidationError(_(ERR_BUDGET_VALUE)) from exc
        if monthly_token_budget < 0:
            raise ValidationError(_(ERR_BUDGET_VALUE))
    current = provider_settings() or ProviderSettings()
    old_embedding = company_endpoint().embedding_model
    current.base_url, current.chat_model, current.embedding_model = base_url, chat_model, embedding_model
    current.monthly_token_budget = monthly_token_budget
    if api_key is not None:
        current.api_key = api_key.strip()
    current.save()
    if company_endpoint().embedding_model != old_embedding:
        from ai_personas.knowledge.indexing import knowledge_base_reindex

        for kb in KnowledgeBase.objects.exclude(embedding_model=""):
            knowledge_base_reindex(knowledge_base=kb)
    return current


def provider_test(*, endpoint: Endpoint | None = None) -> tuple[bool, str]:
    """ "Test connection": one tiny chat call (not counted in the budget); stores the result."""
    endpoint = endpoint or company_endpoint()
    try:
        model = LLM(endpoint, account=False).test_connection()
        ok, detail = True, _(MSG_TEST_OK) % {"model": model}
    except LLMError as exc:
        ok, detail = False, exc.message
    with transaction.atomic():
        current = provider_settings() or ProviderSettings()
        current.last_test_at, current.last_test_ok, current.last_test_detail = timezone.now(), ok, detail[:500]
        current.save()
    return ok, detail


# --- personas ----------------------------------------------------------------------------------


def _clean_keywords(values: Any) -> list[str]:
    if isinstance(values, str):
        values = values.replace("\n", ",").split(",")
    out: list[str] = []
    for value in values or []:
        value = str(value).strip()[:60]
        if value and value.lower() not in {v.lower() for v in out}:
            out.append(value)
    return out[:50]


def _clean_hours(hours: Any) -> dict:
    if not hours:
        return {}
    import re

    if not isinstance(hours, dict):
        raise ValidationError(_(ERR_HOURS))
    days = hours.get("days", [0, 1, 2, 3, 4])
    start, end = str(hours.get("start", "")), str(hours.get("end", ""))
    pattern = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
    if (
        not isinstance(days, list)
        or not all(isinstance(d, int) and 0 <= d <= 6 for d in days)
        or not pattern.match(start)
        or not pattern.match(end)
        or start >= end
    ):
        raise ValidationError(_(ERR_HOURS))
    return {"days": sorted(set(days)), "start": start, "end": end}


def _persona_clean(data: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name or len(name) > 80:
            raise ValidationError(_(ERR_PERSONA_NAME))
        clean["name"] = name
    if "avatar" in data:
        clean["avatar"] = str(data["avatar"] or "").strip()[:8]
    for key in ("instructions",):
        if key in data:
            clean[key] = str(data[key] or "")[:20000]
    if "language" in data:
        clean["language"] = str(data["language"] or "pt-br")[:10]
    if "model" in data:
        model = str(data["model"] or "").strip()
        if len(model) > 100:
            raise ValidationError(_(ERR_MODEL_NAME))
        clean["model"] = model
    if "temperature" in data:
        try:
            temperature = float(data["temperature"])
        except (TypeError, ValueError) as exc:
            raise ValidationError(_(ERR_TEMPERATURE)) from exc
        if not 0 <= temperature <= 2:
            raise ValidationError(_(ERR_TEMPERATURE))
        clean["temperature"] = temperature
    if "max_reply_chars" in data:
        try:
            length = int(data["max_reply_chars"])
        except (TypeError, ValueError) as exc:
            raise ValidationError(_(ERR_REPLY_LENGTH)) from exc
        if not 50 <= length <= 4000:
            raise ValidationError(_(ERR_REPLY_LENGTH))
        clean["max_reply_chars"] = length
    if "schedule" in data:
        if data["schedule"] not in Schedule.values:
            raise ValidationError(_(ERR_SCHEDULE))
        clean["schedule"] = data["schedule"]
    if "business_hours" in data:
        clean["business_hours"] = _clean_hours(data["business_hours"])
    for key in ("trigger_keywords", "handoff_keywords"):
        if key in data:
            clean[key] = _clean_keywords(data[key])
    if "max_turns" in data:
        try:
            turns = int(data["max_turns"])
        except (TypeError, ValueError) as exc:
            raise ValidationError(_(ERR_TURNS)) from exc
        if not 0 <= turns <= 100:
            raise ValidationError(_(ERR_TURNS))
        clean["max_turns"] = turns
    if "debounce_seconds" in data:
        try:
            debounce = int(data["debounce_seconds"])
        except (TypeError, ValueError) as exc:
            raise ValidationError(_(ERR_DEBOUNCE)) from exc
        if not 0 <= debounce <= 120:
            raise ValidationError(_(ERR_DEBOUNCE))
        clean["debounce_seconds"] = debounce
    for key in ("handoff_on_negative", "is_active"):
        if key in data:
            clean[key] = bool(data[key])
    if "tools" in data:
        names = [str(n) for n in data["tools"] or []]
        for name in names:
            if tools.get(name) is None:
                raise ValidationError(_(ERR_TOOL) % {"name": name})
        clean["tools"] = sorted(set(names))
    return clean


def _set_relations(persona: Persona, knowledge_base_ids, channel_ids) -> None:
    """An id that names nothing is refused (the whole write rolls back), never dropped silently."""
    if knowledge_base_ids is not None:
        bases = list(KnowledgeBase.objects.filter(pk__in=set(knowledge_base_ids)))
        if len(bases) != len(set(knowledge_base_ids)):
            raise ValidationError(_(ERR_KNOWLEDGE_BASE_UNKNOWN))
        persona.knowledge_bases.set(bases)
    if channel_ids is not None:
        from inbox.models import Channel

        channels = list(Channel.objects.filter(pk__in=set(channel_ids)))
        if len(channels) != len(set(channel_ids)):
            raise ValidationError(_(ERR_CHANNEL_UNKNOWN))
        persona.channels.set(channels)


@transaction.atomic
def persona_create(
    *, data: dict[str, Any], knowledge_base_ids: list[int] | None = None, channel_ids: list[int] | None = None
) -> Persona:
    clean = _persona_clean({"name": data.get("name", ""), **data})
    if clean.get("schedule") == Schedule.KEYWORD and not clean.get("trigger_keywords"):
        raise ValidationError(_(ERR_TRIGGER_KEYWORDS))
    persona = Persona.objects.create(**clean)
    _set_relations(persona, knowledge_base_ids, channel_ids)
    return persona


@transaction.atomic
def persona_update(
    *,
    persona: Persona,
    data: dict[str, Any],
    knowledge_base_ids: list[int] | None = None,
    channel_ids: list[int] | None = None,
) -> Persona:
    clean = _persona_clean(data)
    schedule = clean.get("schedule", persona.schedule)
    keywords = clean.get("trigger_keywords", persona.trigger_keywords)
    if schedule == Schedule.KEYWORD and not keywords:
        raise ValidationError(_(ERR_TRIGGER_KEYWORDS))
    for key, value in clean.items():
        setattr(persona, key, value)
    if clean:
        persona.save(update_fields=[*clean.keys(), "updated_at"])
    _set_relations(persona, knowledge_base_ids, channel_ids)
    return persona


@transaction.atomic
def persona_delete(*, persona: Persona) -> None:
    ConversationAI.objects.filter(persona=persona).update(persona=None, due_at=None)
    persona.delete()


# --- the AI state of a conversation (the inbox panel's toggle) ----------------------------------


def _state(conversation_id: int) -> ConversationAI:
    from inbox.models import Conversation

    conversation = Conversation.objects.get(pk=conversation_id)
    state, _created = ConversationAI.objects.get_or_create(conversation=conversation)
    state = (
        ConversationAI.objects.select_for_update(of=("self",))
        .select_related("persona", "conversation")
        .get(pk=state.pk)
    )
    return state


@transaction.atomic
def conversation_ai_set(*, conversation_id: int, enabled: bool, by=None) -> ConversationAI:
    """The agent's toggle: off silences the AI here; on gives the conversation back to it."""
    state = _state(conversation_id)
    if enabled:
        state.state, state.handoff_reason, state.turns = AIState.ACTIVE, "", 0
        # Start from the latest customer message: what came before was a person's to answer.
        state.answered_inbound_id = state.last_inbound_id
        state.due_at = None
    else:
        state.state, state.due_at = AIState.OFF, None
        state.parts.filter(message_id=None, cancelled=False).update(cancelled=True)
    state.save(update_fields=["state", "handoff_reason", "turns", "answered_inbound_id", "due_at", "updated_at"])
    emit_state(state)
    return state


@transaction.atomic
def conversation_ai_hand_off(*, conversation_id: int, reason: str, summary: str = "") -> ConversationAI:
    state = _state(conversation_id)
    if state.state == AIState.ACTIVE:
        hand_off(state=state, reason=reason, summary=summary)
    return state
