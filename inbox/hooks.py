"""Upward calls from the inbox: how an app above it (campaigns, ai_personas, kanban) hears that
something happened here without the inbox importing it.

The hooks and their payloads (plain JSON: ids and short strings):

``on_inbound_message``
    A customer's message was stored (once per provider message id: a redelivery fires
    nothing). ``{"message": id, "conversation": id, "contact": id, "channel": id,
    "kind": "text" | "image" | ..., "conversation_created": bool,
    "conversation_reopened": bool, "at": iso time}``. Wakes an AI reply, stops a cadence on reply, moves a
    Kanban card.
``on_agent_message``
    A person of the company queued a message to the customer (text, media or reaction; not a
    private note, not an automatic reply). ``{"message": id, "conversation": id,
    "contact": id, "channel": id, "kind": ..., "sent_by": user id}``.
``on_message_status``
    Provider reports moved outbound messages forward (sent, delivered, read, failed), one
    call per applied batch of up to 1,000. ``{"channel": id, "statuses": [{"message": id,
    "conversation": id, "status": ..., "error_code": ..., "error_title": ..., "error_details": ...,
    "at": iso time}, ...], "callbacks": [...]}``. ``callbacks`` lists every status of the batch
    that carried our ``biz_opaque_callback_data`` (``{"callback", "provider_message_id",
    "status", "at", "error_code", "error_title", "error_details"}``), known message or not:
    campaigns settle their recipients by it. The hook fires when either list has something.
``on_template_update``
    A webhook delivery carried Meta's ``message_template_status_update`` or
    ``message_template_quality_update`` changes (the templates live in campaigns).
    ``{"channel": id, "updates": [{"kind": "status" | "quality", "waba_id": ...,
    "template_id": ..., "name": ..., "language": ..., "event": ..., "reason": ...,
    "quality": ..., "previous_quality": ..., "detail": ..., "timestamp": iso}, ...]}``.

An upper app registers the name of one of its Celery tasks in its ``AppConfig.ready()``::

    from inbox import hooks
    hooks.register(hooks.ON_INBOUND_MESSAGE, "ai_personas.inbound")

When the event happens, the task is queued by name once the transaction that stored it
commits, as ``task(schema_name, payload)`` (a ``TenantTask``: it runs in the company's schema).
Rolled-back work queues nothing, and a hook nobody registered for costs nothing. A hook has no
logic of its own: what follows is the task's work, in its own transaction, so a slow or
failing listener never slows or fails the inbox.
"""

from __future__ import annotations

from typing import Any

from core.tasks import enqueue_on_commit
from core.tenancy import require_tenant_schema

ON_INBOUND_MESSAGE = "on_inbound_message"
ON_AGENT_MESSAGE = "on_agent_message"
ON_MESSAGE_STATUS = "on_message_status"
ON_TEMPLATE_UPDATE = "on_template_update"
HOOKS = (ON_INBOUND_MESSAGE, ON_AGENT_MESSAGE, ON_MESSAGE_STATUS, ON_TEMPLATE_UPDATE)

_registry: dict[str, list[str]] = {hook: [] for hook in HOOKS}


def register(hook: str, task_name: str) -> None:
    """Queue the task registered as ``task_name`` whenever ``hook`` fires (idempotent). An
    unknown hook name fails here, in ``ready()``, not silently at the first event."""
    if hook not in _registry:
        raise ValueError(f"unknown inbox hook {hook!r}; the hooks are {', '.join(HOOKS)}")
    if task_name not in _registry[hook]:
        _registry[hook].append(task_name)


def unregister(hook: str, task_name: str) -> None:
    if task_name in _registry.get(hook, []):
        _registry[hook].remove(task_name)


def listeners(hook: str) -> tuple[str, ...]:
    """The task names registered for ``hook``."""
    return tuple(_registry[hook])


def fire(hook: str, payload: dict[str, Any]) -> None:
    """Queue every task registered for ``hook`` with ``(schema_name, payload)`` after commit."""
    names = _registry[hook]
    if not names:
        return
    schema = require_tenant_schema()
    for name in names:
        enqueue_on_commit(name, schema, payload)
