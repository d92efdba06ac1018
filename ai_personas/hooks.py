"""What the AI listens to in the inbox: filled into the inbox's upward hook registry
(``inbox.hooks``) from ``AppConfig.ready()``. Each hook only queues a task by name after
commit; the work happens in ``agent``."""

from __future__ import annotations


def render_panel(request, conversation) -> str:
    """The AI section of the inbox's conversation panel: state, persona and the toggle."""
    from django.template.loader import render_to_string

    from ai_personas.llm import budget_state
    from ai_personas.selectors import conversation_state

    context = {
        "conversation": conversation,
        "ai": conversation_state(conversation_id=conversation.pk),
        "budget": budget_state(),
    }
    return render_to_string("ai_personas/partials/conversation_panel.html", context, request=request)


def connect() -> None:
    from inbox import hooks as inbox_hooks
    from inbox.extensions import register_panel_section

    register_panel_section("ai", render_panel)
    # A stored customer message queues ai_personas.inbound(schema, payload) after commit; a
    # person's message queues ai_personas.agent_message, and the AI steps back.
    inbox_hooks.register(inbox_hooks.ON_INBOUND_MESSAGE, "ai_personas.inbound")
    inbox_hooks.register(inbox_hooks.ON_AGENT_MESSAGE, "ai_personas.agent_message")
