"""The thread's display classes, chosen once per kind of bubble instead of by a chain of
``{% if %}`` tags in every message: a thread page shows sixty messages, and the template
engine's cost is per tag evaluated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

register = template.Library()

# side -> (the row's alignment, the bubble's colours, the footer's colours)
BUBBLES: dict[str, dict[str, str]] = {
    "note": {
        "row": "justify-center",
        "box": "border border-amber-200 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 "
        "dark:text-amber-100",
        "meta": "text-slate-500 dark:text-slate-400",
    },
    "out": {
        "row": "justify-end",
        "box": "rounded-br-sm bg-emerald-100 text-slate-900 dark:bg-emerald-900 dark:text-emerald-50",
        "meta": "text-slate-600 dark:text-emerald-200",
    },
    "in": {
        "row": "justify-start",
        "box": "rounded-bl-sm bg-white text-slate-900 dark:bg-slate-800 dark:text-slate-100",
        "meta": "text-slate-500 dark:text-slate-400",
    },
}


def side(message: Any) -> str:
    """``note`` (a private note, centred), ``out`` (to the customer) or ``in``."""
    if message.kind == "note":
        return "note"
    return "out" if message.direction == "out" else "in"


@register.filter
def with_bubbles(messages: Iterable[Any]) -> list[Any]:
    """The messages, each with ``bubble`` (its side's classes) and ``side`` set."""
    out = []
    for message in messages:
        message.side = side(message)
        message.bubble = BUBBLES[message.side]
        out.append(message)
    return out
