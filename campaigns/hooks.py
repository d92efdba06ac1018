"""What campaigns plug into the inbox's hook registry (``inbox.hooks``) in ``ready()``."""

from __future__ import annotations


def register() -> None:
    return None
