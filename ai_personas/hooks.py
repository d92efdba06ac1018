"""What the AI listens to in the inbox: filled into the inbox's upward hook registry
(``inbox.hooks``) from ``AppConfig.ready()``. Each hook only queues a task by name after
commit; the work happens in ``agent``."""

from __future__ import annotations

import importlib

from core.tasks import enqueue_on_commit


def on_inbound_message(schema_name: str, message_id: int, **kwargs) -> None:
    enqueue_on_commit("ai_personas.inbound", schema_name, message_id)


def connect() -> None:
    try:
        inbox_hooks = importlib.import_module("inbox.hooks")
    except ImportError:
        return  # the inbox has no hook registry yet: nothing wakes the AI from the inbox
    register = getattr(inbox_hooks, "register", None)
    if callable(register):
        register("inbound_message", on_inbound_message)
