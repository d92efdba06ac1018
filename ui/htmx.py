"""htmx helpers: toasts through ``HX-Trigger`` and Django messages on htmx responses."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpResponse

LEVELS = {"success", "error", "warning", "info"}


def toast_level(tag: str) -> str:
    """Map a Django message tag (``success``, ``error``, ``debug``...) to a toast level."""
    return tag if tag in LEVELS else ("error" if tag == "danger" else "info")


def _merge_trigger(response: HttpResponse, name: str, value) -> None:
    current = response.headers.get("HX-Trigger")
    triggers: dict = {}
    if current:
        try:
            triggers = json.loads(current)
        except ValueError:
            # A plain event name (or comma-separated names) without details.
            triggers = {n.strip(): None for n in current.split(",") if n.strip()}
    triggers[name] = value
    response.headers["HX-Trigger"] = json.dumps(triggers)


def trigger_toast(response: HttpResponse, message: str, *, level: str = "success") -> HttpResponse:
    """Ask the page to show a toast when this htmx response arrives. Returns ``response``."""
    _merge_trigger(response, "toast", {"message": str(message), "level": toast_level(level)})
    return response


class HtmxMessagesMiddleware:
    """On htmx requests that do not redirect, move pending Django messages into ``HX-Trigger``
    so they show as toasts now instead of on some later full page.

    Placed after MessageMiddleware (it reads the storage before that middleware saves it).
    Only the last message becomes a toast when several are pending: htmx triggers one event
    per name; the others are rare enough that the most recent one is what matters.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        # Boosted navigations render whole pages, whose toast region already shows them.
        if not htmx or htmx.boosted or "HX-Redirect" in response.headers:
            return response
        if 300 <= response.status_code < 400 or not hasattr(request, "_messages"):
            return response
        pending = list(messages.get_messages(request))  # iterating marks them as used
        if pending:
            last = pending[-1]
            trigger_toast(response, str(last), level=last.level_tag)
        return response
