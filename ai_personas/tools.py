"""Tools a persona may call (OpenAI function calling), in one registry.

Built-in tools: read the contact's fields and tags, add a tag, add a private note, hand off to
a person. Upper apps add theirs in ``AppConfig.ready()`` (the Kanban app registers "create or
move a card")::

    from ai_personas.tools import Tool, register
    register(Tool(name="kanban_card_move", label=_("Move a Kanban card"), description=...,
                  parameters={...JSON schema...}, handler=my_handler))

A handler gets a :class:`ToolContext` and the parsed arguments and returns a JSON-able dict
(shown to the model as the tool's result). In the playground ``ctx.dry_run`` is true: a
handler must then describe what it would do and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass
class ToolContext:
    persona: Any
    conversation: Any = None  # inbox.Conversation (None in the playground)
    contact: Any = None  # crm.Contact
    dry_run: bool = False
    handoff: tuple[str, str] | None = None  # (reason, summary) once the model asked for it
    actions: list[dict[str, Any]] = field(default_factory=list)  # what the tools did, for the log


@dataclass(frozen=True)
class Tool:
    name: str
    label: Any  # translated, for the persona form
    description: str  # for the model (English: models follow it best)
    parameters: dict[str, Any]
    handler: Callable[[ToolContext, dict[str, Any]], dict[str, Any]]
    always: bool = False  # offered even when not ticked on the persona (handoff)


_registry: dict[str, Tool] = {}


def register(tool: Tool) -> None:
    _registry[tool.name] = tool


def registered() -> list[Tool]:
    return sorted(_registry.values(), key=lambda t: t.name)


def get(name: str) -> Tool | None:
    return _registry.get(name)


def tools_for(persona) -> list[Tool]:
    chosen = set(persona.tools or [])
    return [t for t in registered() if t.always or t.name in chosen]


def openai_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters, "strict": True},
        }
        for t in tools
    ]


def run(ctx: ToolContext, name: str, arguments: dict[str, Any], allowed: list[Tool]) -> dict[str, Any]:
    tool = next((t for t in allowed if t.name == name), None)
    if tool is None:
        return {"error": f"unknown tool {name}"}
    try:
        result = tool.handler(ctx, arguments)
    except Exception as exc:  # noqa: BLE001 - a failing tool is reported to the model, never fatal
        result = {"error": str(exc)[:200]}
    ctx.actions.append({"tool": name, "arguments": arguments, "result": result, "dry_run": ctx.dry_run})
    return result


# --- built-in tools -----------------------------------------------------------------------------


def _contact_read(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    from crm.models import Tag

    contact = ctx.contact
    if contact is None:
        return {"contact": None}
    tags = list(Tag.objects.filter(id__in=contact.tag_ids or []).values_list("name", flat=True))
    return {
        "name": contact.name,
        "email": contact.email,
        "tags": sorted(tags),
        "fields": contact.custom_fields or {},
    }


def _tag_add(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    from crm.models import Tag

    name = str(args.get("tag", "")).strip()[:50]
    if not name:
        return {"error": "empty tag"}
    tag = Tag.objects.filter(name__iexact=name).first()
    if tag is None:
        return {
            "error": "no such tag; use one of the company's tags",
            "tags": list(Tag.objects.values_list("name", flat=True)[:50]),
        }
    if ctx.dry_run or ctx.contact is None:
        return {"would_add": tag.name}
    from crm.services import contact_update

    if tag.pk not in (ctx.contact.tag_ids or []):
        contact_update(contact=ctx.contact, data={"tag_ids": sorted({*(ctx.contact.tag_ids or []), tag.pk})})
    return {"added": tag.name}


def _note_add(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    text = str(args.get("note", "")).strip()[:2000]
    if not text:
        return {"error": "empty note"}
    if ctx.dry_run or ctx.conversation is None:
        return {"would_note": text}
    from inbox.services import note_add

    note_add(conversation=ctx.conversation, body=f"🤖 {ctx.persona.name}: {text}", by=None)
    return {"noted": True}


def _handoff(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    reason = str(args.get("reason", "")).strip()[:30] or "model"
    summary = str(args.get("summary", "")).strip()[:1500]
    ctx.handoff = (reason, summary)
    return {"handed_off": not ctx.dry_run, "would_hand_off": ctx.dry_run}


def register_builtin_tools() -> None:
    register(
        Tool(
            name="contact_read",
            label=_("Read the contact's fields and tags"),
            description="Read the customer's name, e-mail, tags and custom fields from the CRM.",
            parameters={"type": "object", "properties": {}, "required": [], "additionalProperties": False},
            handler=_contact_read,
        )
    )
    register(
        Tool(
            name="tag_add",
            label=_("Add a tag to the contact"),
            description="Add one of the company's existing tags to the customer.",
            parameters={
                "type": "object",
                "properties": {"tag": {"type": "string", "description": "Exact name of an existing tag"}},
                "required": ["tag"],
                "additionalProperties": False,
            },
            handler=_tag_add,
        )
    )
    register(
        Tool(
            name="note_add",
            label=_("Write a private note for the agents"),
            description="Write a private note in the conversation, visible to the company's agents only.",
            parameters={
                "type": "object",
                "properties": {"note": {"type": "string"}},
                "required": ["note"],
                "additionalProperties": False,
            },
            handler=_note_add,
        )
    )
    register(
        Tool(
            name="handoff",
            label=_("Hand off to a person"),
            description=(
                "Give the conversation to a human agent: when the customer asks for a person, when the "
                "knowledge does not answer the question, when the request is out of scope, or when the "
                "customer is upset. Summarize the case for the agent."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "enum": ["asked_for_human", "no_answer", "out_of_scope", "negative", "other"],
                    },
                    "summary": {"type": "string", "description": "Two or three sentences for the agent"},
                },
                "required": ["reason", "summary"],
                "additionalProperties": False,
            },
            handler=_handoff,
            always=True,
        )
    )
