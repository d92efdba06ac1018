"""What campaigns register in the inbox's hook registry (``inbox.hooks``) in ``ready()``: status
batches, inbound messages and Meta's template changes queue a campaigns task by name, after the inbox's commit. The
hooks carry no logic of their own (CODE-REVIEW rule 2); the tasks do the work."""

from __future__ import annotations


def register() -> None:
    from inbox import hooks

    hooks.register(hooks.ON_MESSAGE_STATUS, "campaigns.statuses")
    hooks.register(hooks.ON_INBOUND_MESSAGE, "campaigns.reply")
    hooks.register(hooks.ON_TEMPLATE_UPDATE, "campaigns.template_updates_apply")
