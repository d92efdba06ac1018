"""Provider webhooks on the public domain.

``/webhooks/whatsapp/<channel uuid>/`` (Meta Cloud API and the sandbox) and
``/webhooks/sms/<channel uuid>/`` (Twilio-compatible). The view does the minimum: resolve the
company through the public routing table, verify the signature on the raw body, record the event
with one ``INSERT ... ON CONFLICT DO NOTHING`` and answer 200. A worker processes the events in
batches (``inbox.tasks.webhook_drain``).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import get_public_schema_name

from inbox.models import Channel
from inbox.services.webhook_events import webhook_delivery_accept
from tenants.models import WebhookRoute

logger = logging.getLogger(__name__)

# Routes and channel secrets change rarely; a short in-process cache keeps the hot path at one
# INSERT per delivery. A rotated secret or a disconnected channel is picked up within the TTL.
CACHE_TTL = 10.0


@dataclass(frozen=True)
class _Target:
    company: Any  # tenants.Company
    schema: str
    channel: Any  # inbox.Channel (secrets decrypted)
    expires: float


_cache: dict[str, _Target] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _resolve(channel_public_id: str) -> _Target | None:
    """The company and the channel behind a webhook URL, or ``None``."""
    now = time.monotonic()
    cached = _cache.get(channel_public_id)
    if cached is not None and cached.expires > now:
        return cached
    try:
        public_id = uuid.UUID(channel_public_id)
    except ValueError:
        return None
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    route = WebhookRoute.objects.select_related("company").filter(channel_public_id=public_id).first()
    # A suspended company's deliveries are still recorded and processed (nothing is lost; it
    # sends nothing while suspended): only an unknown route is refused.
    if route is None:
        return None
    connection.set_tenant(route.company)  # type: ignore[attr-defined]
    channel = Channel.objects.filter(public_id=public_id, is_active=True).first()
    if channel is None:
        return None
    target = _Target(company=route.company, schema=route.company.schema_name, channel=channel, expires=now + CACHE_TTL)
    with _cache_lock:
        _cache[channel_public_id] = target
    return target


def cached_target(channel_public_id: str) -> _Target | None:
    """The cached route of a webhook URL, without touching the database (or ``None``)."""
    cached = _cache.get(channel_public_id)
    if cached is not None and cached.expires > time.monotonic():
        return cached
    return None


def resolve_public(channel_public_id: str) -> _Target | None:
    """``_resolve`` for callers outside a request (the ASGI fast path): leaves the connection
    in the public schema."""
    try:
        return _resolve(channel_public_id)
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def webhook_accept(
    *, channel_public_id: str, segment: str, body: bytes, headers, url: str, form: dict | None
) -> tuple[int, str]:
    """Resolve, verify and record one delivery. Returns (HTTP status, text)."""
    previous = getattr(connection, "tenant", None)
    try:
        target = _resolve(channel_public_id)
        if target is None:
            return 404, "unknown channel"
        if (segment == "sms") != (target.channel.kind == "sms"):
            return 404, "unknown channel"
        connection.set_tenant(target.company)  # type: ignore[attr-defined]
        accepted = webhook_delivery_accept(channel=target.channel, body=body, headers=headers, url=url, form=form)
        return (200, "ok") if accepted else (401, "invalid signature")
    finally:
        _restore(previous)


def _restore(previous) -> None:
    """Back to the schema the caller was in."""
    if previous is not None and previous.schema_name != get_public_schema_name():
        connection.set_tenant(previous)  # type: ignore[attr-defined]
    else:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def _form_lists(request: HttpRequest) -> dict:
    return {key: values if len(values) > 1 else values[0] for key, values in request.POST.lists()}


@csrf_exempt
def whatsapp_webhook(request: HttpRequest, channel_id) -> HttpResponse:
    if request.method == "GET":
        return _verify_subscription(request, str(channel_id))
    if request.method != "POST":
        return HttpResponse(status=405)
    status, text = webhook_accept(
        channel_public_id=str(channel_id),
        segment="whatsapp",
        body=request.body,
        headers=request.headers,
        url="",
        form=None,
    )
    return HttpResponse(text, status=status, content_type="text/plain")


@csrf_exempt
def sms_webhook(request: HttpRequest, channel_id) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    body = request.body
    status, text = webhook_accept(
        channel_public_id=str(channel_id),
        segment="sms",
        body=body,
        headers=request.headers,
        url=request.build_absolute_uri(),
        form=_form_lists(request),
    )
    if status == 200:
        # An empty TwiML answer: no automatic reply.
        return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', content_type="text/xml")
    return HttpResponse(text, status=status, content_type="text/plain")


def _verify_subscription(request: HttpRequest, channel_public_id: str) -> HttpResponse:
    previous = getattr(connection, "tenant", None)
    try:
        status, text = verify_subscription(
            channel_public_id,
            mode=request.GET.get("hub.mode", ""),
            token=request.GET.get("hub.verify_token", ""),
            challenge=request.GET.get("hub.challenge", ""),
        )
    finally:
        _restore(previous)
    return HttpResponse(text, status=status, content_type="text/plain")


def verify_subscription(channel_public_id: str, *, mode: str, token: str, challenge: str) -> tuple[int, str]:
    """Meta's ``GET`` handshake: echo ``hub.challenge`` when the verify token matches.
    Leaves the connection in the public schema (callers restore their own tenant)."""
    target = resolve_public(channel_public_id)
    if (
        target is None
        or mode != "subscribe"
        or not target.channel.verify_token
        or not hmac.compare_digest(token.encode(), target.channel.verify_token.encode())
    ):
        return 403, "verification failed"
    return 200, challenge
