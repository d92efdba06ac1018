"""The thread's display classes, chosen once per kind of bubble instead of by a chain of
``{% if %}`` tags in every message: a thread page shows sixty messages, and the template
engine's cost is per tag evaluated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

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


# status -> (data-tick, classes, glyph) of an outbound message's delivery tick; the label is
# translated per render (``_ticks``).
TICKS: dict[str, tuple[str, str, str]] = {
    "read": ("read", "text-sm font-semibold leading-none tracking-[-0.3em] text-sky-700 dark:text-sky-300", "✓✓"),
    "delivered": (
        "delivered",
        "text-sm font-semibold leading-none tracking-[-0.3em] text-slate-600 dark:text-emerald-200",
        "✓✓",
    ),
    "sent": ("sent", "text-sm font-semibold leading-none text-slate-600 dark:text-emerald-200", "✓"),
    "failed": ("failed", "text-sm font-semibold leading-none text-red-600", "⚠"),
}


def _ticks() -> dict[str, SafeString]:
    """Each status's tick, in the active language; anything else is still being sent."""
    from ui.templatetags.ui import icon

    labels = {"read": _("Read"), "delivered": _("Delivered"), "sent": _("Sent"), "failed": _("Not delivered")}
    ticks = {
        status: format_html(
            '<span class="{}" data-tick="{}" title="{}" aria-label="{}">{}</span>',
            css,
            tick,
            labels[status],
            labels[status],
            glyph,
        )
        for status, (tick, css, glyph) in TICKS.items()
    }
    sending = _("Sending")
    ticks[""] = format_html(
        '<span class="text-slate-400" data-tick="queued" title="{}">{}</span>',
        sending,
        icon("clock", "h-3.5 w-3.5", sending),
    )
    return ticks


@register.filter
def with_bubbles(messages: Iterable[Any]) -> list[Any]:
    """The messages, each with ``side``, ``bubble`` (its side's classes), ``when_iso`` and
    ``when_label`` (its local time, as the ``date`` filter would give it) and, going out,
    ``tick`` (its delivery tick): computed here once per message, or once per render for
    what every message shares, instead of by template tags."""
    ticks = _ticks()
    out = []
    for message in messages:
        message.side = side(message)
        message.bubble = BUBBLES[message.side]
        local = timezone.localtime(message.created_at)
        message.when_iso = local.isoformat()
        message.when_label = local.strftime("%d/%m %H:%M")
        if message.side == "out":
            message.tick = ticks.get(message.status, ticks[""])
        out.append(message)
    return out
